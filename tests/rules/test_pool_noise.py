"""The anytime pool's noise for a model without row generators (zoo.running.pool.with_noise): torch's
global RNG seeded from the rows' example seeds, inside fork_rng: the same seeds give the same
numbers, different seeds different ones (2^63 seeds, not a handful), the caller's RNG is left as it
was, and any callable may stand for the model. Also Pool.run's defaults: no bar, the vote."""
from __future__ import annotations

import pytest
import torch

from zoo.running.pool import Pool, with_noise


def draw(seeds, model=None):
    return with_noise(lambda generator: torch.randn(4), model or torch.nn.Identity(), seeds)


def test_the_same_seeds_give_the_same_noise_and_leave_the_callers_rng_alone():
    torch.manual_seed(1)
    before = torch.random.get_rng_state()
    torch.testing.assert_close(draw([3, 9]), draw([3, 9]))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_distinct_seed_lists_give_distinct_noise():
    noises = {tuple(draw([7, k]).tolist()) for k in range(300)}
    assert len(noises) == 300


def test_any_callable_may_stand_for_the_model():
    def model(x):
        return x

    torch.testing.assert_close(draw([3, 9], model), draw([3, 9]))


def test_pool_run_by_default_shows_no_bar_and_scores_by_the_vote(capsys):
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    pool = Pool(model, attack, attack_index=0, seed=0, draws=5, stop_on="vote", batch_size=2)
    written = []
    steps = pool.run(STARTS, LABELS, [0, 1, 2, 3], written.extend, lambda slot: slot.index)
    assert steps == 12 and sorted(written) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""


def test_pool_runs_bar_counts_examples_out_of_the_total(capsys):
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    pool = Pool(model, attack, attack_index=0, seed=0, draws=5, stop_on="vote", batch_size=2)
    pool.run(STARTS, LABELS, [0, 1, 2, 3], lambda records: None, lambda slot: slot.index, progress=True)
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert last.startswith("100%|") and "4/4" in last and ("ex/s" in last or "s/ex" in last)
    assert "25.0% (vote)" in last  # one example of four never broken
