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
    assert "robust=25.0% (vote)" in last  # one example of four never broken


def test_the_pool_bar_accumulates_robust_accuracy_over_the_examples_as_they_finish(capsys):
    """One example in flight at a time, one step each: 0.45 is broken, 0.15 and 0.0 are not (yet),
    0.6 is wrong at the start: robust so far 0/1, 1/2, 2/3, then 2/4."""
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=1, eot=3, step_size=0.1)
    pool = Pool(model, attack, attack_index=0, seed=0, draws=5, stop_on="vote", batch_size=1)
    pool.run(STARTS, LABELS, [0, 1, 2, 3], lambda records: None, lambda slot: slot.index, progress=True)
    shown = [part.split("robust=")[1].split("]")[0] for part in capsys.readouterr().err.split("\r") if "robust=" in part]
    changes = [value for k, value in enumerate(shown) if k == 0 or value != shown[k - 1]]
    assert changes == ["0.0% (vote)", "50.0% (vote)", "66.7% (vote)", "50.0% (vote)"]


def test_the_clean_draws_of_an_example_are_its_own_seeded_draws():
    """An example's K clean draws come from its own seed (run seed, attack, test index, "clean",
    iteration 0), whoever shares the pool."""
    from zoo.running.pool import draws_of
    from zoo.running.shards import example_seed

    from zoo.models.noise import draw_normal

    class Noisy(torch.nn.Module):
        accepts_row_generators = True  # draws each row's noise from that row's generator

        def forward(self, x, generator=None):
            return draw_normal((len(x), 10), generator) + x.flatten(1)[:, :1]

    class Still:
        eot, steps, attacker = 1, 1, None

        def start(self, x, generator):
            return x.clone()

        def step(self, x_adv, x0, y, generator=None, sink=None):
            sink.append(torch.randn(1, len(x_adv), 10))
            return x_adv

    x, y = torch.rand(3, 1, 1, 1), torch.zeros(3, dtype=torch.long)
    pool = Pool(Noisy(), Still(), attack_index=2, seed=7, draws=4, stop_on="vote", batch_size=3,
                test_indices=[10, 11, 12])
    slots = pool.enter(x, y, [0, 1, 2])
    for j, slot in enumerate(slots):
        expected = draws_of(Noisy(), x[j:j + 1], 4, [example_seed(7, 2, 10 + j, "clean", 0)])[0]
        assert slot.clean.tolist() == expected.tolist()


class RowNoisy(torch.nn.Module):
    """A two-class model of one pixel drawing each row's noise from that row's generator."""

    accepts_row_generators = True

    def forward(self, x, generator=None):
        from zoo.models.noise import draw_normal

        p = x.flatten(1)[:, :1]
        return torch.cat([0.5 - p, torch.zeros_like(p)], 1) + 0.01 * draw_normal((len(x), 2), generator).to(x.dtype)


def test_an_examples_random_start_is_drawn_from_its_own_seed():
    from zoo.attacks import PGDEOT
    from zoo.running.shards import example_seed

    model = RowNoisy()
    attack = PGDEOT(model, norm="Linf", eps=0.1, steps=2, eot=1, random_start=True)
    x = torch.full((3, 1, 1, 1), 0.3, dtype=torch.float64)
    pool = Pool(model, attack, attack_index=1, seed=5, draws=2, stop_on="vote", batch_size=3, test_indices=[4, 5, 6])
    slots = pool.enter(x, torch.zeros(3, dtype=torch.long), [0, 1, 2])
    for j, slot in enumerate(slots):
        start = attack.start(x[j:j + 1], torch.Generator().manual_seed(example_seed(5, 1, 4 + j, "start")))
        torch.testing.assert_close(slot.x_adv, start)


def test_the_attackers_gradient_noise_suits_the_attacker_not_the_defense():
    """A defense drawing row by row, attacked through an attacker module that takes no generator:
    the attacker's EOT samples run on the seeded global RNG, so the pool runs."""
    from zoo.attacks import PGDEOT

    class Plain(torch.nn.Module):
        def forward(self, x):
            return RowNoisy()(x, None)

    model = RowNoisy()
    attack = PGDEOT(model, norm="Linf", eps=0.3, steps=3, eot=2, step_size=0.1).with_attacker(Plain())
    pool = Pool(model, attack, attack_index=0, seed=0, draws=3, stop_on="vote", batch_size=2)
    written = []
    x = torch.tensor([0.3, 0.1], dtype=torch.float64).view(2, 1, 1, 1)
    pool.run(x, torch.zeros(2, dtype=torch.long), [0, 1], written.extend, lambda slot: slot.outcome["broken_at"])
    assert len(written) == 2  # both examples finished


def test_the_seconds_charged_to_the_examples_add_up_to_at_most_the_wall_time():
    import time

    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    pool = Pool(model, attack, attack_index=0, seed=0, draws=5, stop_on="vote", batch_size=2)
    started = time.perf_counter()
    finished = []
    pool.run(STARTS, LABELS, [0, 1, 2, 3], lambda records: None, finished.append)
    wall = time.perf_counter() - started
    charged = sum(slot.seconds for slot in finished)
    assert 0.5 * wall <= charged <= wall  # every timed call is charged whole, once, to the examples in it


def test_a_duck_typed_attack_without_an_attacker_attribute_runs_in_the_pool():
    class Still:
        eot, steps = 1, 1

        def start(self, x, generator):
            return x.clone()

        def step(self, x_adv, x0, y, generator=None, sink=None):
            sink.append(torch.zeros(1, len(x_adv), 2))
            return x_adv

    pool = Pool(RowNoisy(), Still(), attack_index=0, seed=0, draws=2, stop_on="vote", batch_size=2)
    written = []
    pool.run(torch.full((2, 1, 1, 1), 0.3), torch.zeros(2, dtype=torch.long), [0, 1], written.extend,
             lambda slot: slot.index)
    assert sorted(written) == [0, 1]
