"""What the evaluation loop records and reports: every (attack, example) once, its test index, the
seconds it took per example, clean and adversarial re-draws from generators of their own, and a
tally of the batches, examples and new records."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from zoo.running.loop import run_attacks


class Journal:
    """The part of a journal ``run_attacks`` uses, in memory, optionally holding some results."""

    def __init__(self, done=()):
        self.held, self.records = set(done), []

    def done(self):
        return self.held

    def append(self, records):
        self.records += records


class Noisy(nn.Module):
    """Logits that are pure noise from torch's global RNG (a stand-in for a stochastic defense)."""

    def forward(self, x):
        return torch.randn(len(x), 10)


def identity(x, y):
    return x


def data(n):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(n) % 10


def test_tally_counts_batches_examples_and_new_records_only():
    x, y = data(7)
    journal = Journal(done={("a", 0), ("a", 1), ("a", 2), ("b", 4)})
    tally = run_attacks(Noisy(), x, y, {"a": identity, "b": identity}, journal, seed=0, draws=3, batch_size=3,
                        progress=False, test_indices=[10 + i for i in range(7)])
    # a: batch (0, 1, 2) is held, so 2 batches of 4 examples; b: all 3 batches (7 examples), 6 of them new
    assert tally == {"batches": 5, "examples": 11, "recorded": 10}
    assert sorted((r["attack"], r["index"]) for r in journal.records) == \
        [("a", i) for i in range(3, 7)] + [("b", i) for i in range(7) if i != 4]
    assert all(r["test_index"] == 10 + r["index"] for r in journal.records)
    assert all(len(r["clean_preds"]) == len(r["adv_preds"]) == 3 for r in journal.records)


def test_clean_and_adversarial_draws_do_not_share_noise():
    x, y = data(6)
    journal = Journal()
    run_attacks(Noisy(), x, y, {"a": identity}, journal, seed=0, draws=4, batch_size=6, progress=False)
    # the adversarial input is the clean one: equal predictions throughout would mean equal noise
    assert any(r["clean_preds"] != r["adv_preds"] for r in journal.records)


def test_seconds_are_per_example_in_milliseconds():
    x, y = data(4)

    def slow(x, y):
        time.sleep(0.2)
        return x

    journal = Journal()
    run_attacks(Noisy(), x, y, {"a": slow}, journal, seed=0, draws=1, batch_size=4, progress=False)
    for record in journal.records:
        assert 0.05 <= record["seconds"] < 0.4  # 0.2 s for the batch of 4: 0.05 s and a little per example
        assert record["seconds"] == round(record["seconds"], 3)
        assert isinstance(record["seconds"], float)


def test_anytime_needs_the_metric_it_stops_on():
    x, y = data(2)
    with pytest.raises(ValueError, match="the anytime protocol needs stop_on"):
        run_attacks(Noisy(), x, y, {"a": identity}, Journal(), seed=0, draws=1, batch_size=2, progress=False,
                    protocol="anytime")
