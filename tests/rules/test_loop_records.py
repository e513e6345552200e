"""What the evaluation loop records and reports: every (attack, example) once, its test index, the
seconds it took per example, clean and adversarial re-draws from generators of their own, and a
tally of the batches, examples and new records."""
from __future__ import annotations

import re
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
    with pytest.raises(ValueError, match="^the anytime protocol needs stop_on, the metric that decides when an example "
                                         "is broken$"):
        run_attacks(Noisy(), x, y, {"a": identity}, Journal(), seed=0, draws=1, batch_size=2, progress=False,
                    protocol="anytime")


def test_anytime_records_name_their_test_index_and_seconds_and_hand_their_kept_input_on():
    """The pooled (anytime) records are the final protocol's in these fields: the example's place in
    the test set, seconds per example in milliseconds; and each kept input goes to ``keep`` with its
    record's index before the record is journaled."""
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model, journal, kept = Decoy(), Journal(), []

    def keep(name, indices, x_kept):
        assert not any(r["index"] in indices for r in journal.records)  # not journaled yet
        kept.append((name, indices, x_kept.clone()))

    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    run_attacks(model, STARTS, LABELS, {"pgd": attack}, journal, seed=0, draws=5, batch_size=2, progress=False,
                test_indices=[30, 31, 32, 33], protocol="anytime", stop_on="vote", keep=keep)
    records = {r["index"]: r for r in journal.records}
    assert {i: r["test_index"] for i, r in records.items()} == {0: 30, 1: 31, 2: 32, 3: 33}
    assert all(isinstance(r["seconds"], float) and r["seconds"] == round(r["seconds"], 3) for r in records.values())
    assert sorted(i for _, (i,), _ in kept) == [0, 1, 2, 3] and all(name == "pgd" for name, _, _ in kept)
    by_index = {i: x for _, (i,), x in kept}
    assert by_index[0].shape == (1, 1, 1, 1) and float(by_index[0]) == pytest.approx(0.55)  # broken at iterate 1
    assert float(by_index[3]) == pytest.approx(0.6)  # wrong at the start: the start kept


def test_seconds_of_a_pooled_record_are_rounded_to_milliseconds(monkeypatch):
    """Measured seconds with more digits than milliseconds are cut to three."""
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT
    from zoo.running import pool

    ticks = iter(k * 0.123456789 for k in range(100000))
    monkeypatch.setattr(pool.time, "perf_counter", lambda: next(ticks))
    model, journal = Decoy(), Journal()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    run_attacks(model, STARTS, LABELS, {"pgd": attack}, journal, seed=0, draws=5, batch_size=2, progress=False,
                protocol="anytime", stop_on="vote")
    seconds = [r["seconds"] for r in journal.records]
    assert all(s > 0 and s == round(s, 3) for s in seconds) and any(s != round(s, 2) for s in seconds)


def test_a_run_whose_records_are_all_held_attacks_nothing_in_either_protocol():
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    journal = Journal(done={("pgd", i) for i in range(4)})
    for protocol in ("anytime", "final"):
        tally = run_attacks(model, STARTS, LABELS, {"pgd": attack}, journal, seed=0, draws=5, batch_size=2,
                            progress=False, protocol=protocol, stop_on="vote")
        assert tally == {"batches": 0, "examples": 0, "recorded": 0} and journal.records == []
    assert model.gradient_calls == [] and model.forward_rows == []


def test_the_progress_bar_shows_unless_turned_off(capsys):
    x, y = data(3)
    run_attacks(Noisy(), x, y, {"attack-a": identity}, Journal(), seed=0, draws=2, batch_size=3)
    assert "attack-a" in capsys.readouterr().err
    run_attacks(Noisy(), x, y, {"attack-a": identity}, Journal(), seed=0, draws=2, batch_size=3, progress=False)
    assert "attack-a" not in capsys.readouterr().err


def test_the_anytime_progress_bar_names_the_attack_and_the_headline_metric(capsys):
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    run_attacks(model, STARTS, LABELS, {"pgd-x": attack}, Journal(), seed=0, draws=5, batch_size=2,
                protocol="anytime", stop_on="worst")
    err = capsys.readouterr().err
    assert "pgd-x" in err and "(worst)" in err and "(vote)" not in err


class Zero(nn.Module):
    """Always class 0."""

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()


def test_the_final_progress_bar_shows_robust_accuracy_so_far_by_the_headline(capsys):
    """Labels 0, 1, 2 against a model that always says 0: one example of three is robust, 50% after
    the first batch of two, 33.3% after the second."""
    x, y = data(3)
    run_attacks(Zero(), x, y, {"attack-a": identity}, Journal(), seed=0, draws=2, batch_size=2, headline="worst")
    err = capsys.readouterr().err
    assert "robust=50.0% (worst)" in err and "robust=33.3% (worst)" in err
    assert re.search(r"\d(batch/s|s/batch)", err)  # the bar counts batches


def test_the_headline_given_wins_over_the_metric_the_pool_stops_on(capsys):
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    run_attacks(model, STARTS, LABELS, {"pgd": attack}, Journal(), seed=0, draws=5, batch_size=2,
                protocol="anytime", stop_on="worst", headline="mean")
    err = capsys.readouterr().err
    assert "(mean)" in err and "(worst)" not in err


def test_anytime_runs_an_attack_without_iterates_as_final_and_tallies_both():
    """Under ``anytime`` only attacks with iterates go to the pool; the others (here a plain function)
    run batch by batch as under ``final``, and the tally adds the two."""
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model, journal = Decoy(), Journal()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)
    tally = run_attacks(model, STARTS, LABELS, {"pgd": attack, "plain": identity}, journal, seed=0, draws=5,
                        batch_size=2, progress=False, protocol="anytime", stop_on="vote")
    plain = [r for r in journal.records if r["attack"] == "plain"]
    pooled = [r for r in journal.records if r["attack"] == "pgd"]
    assert len(plain) == len(pooled) == 4
    assert all("broken_at" not in r for r in plain) and all("broken_at" in r for r in pooled)
    # the pool's batches are its gradient steps (12 for these four examples), then 2 batches of 2
    assert tally == {"batches": 12 + 2, "examples": 8, "recorded": 8}


def test_the_final_protocol_hands_each_batchs_kept_examples_to_keep_before_journaling():
    x, y = data(5)
    journal, kept = Journal(done={("a", 1)}), []

    def shifted(x, y):
        return (x + 0.25).clamp(0, 1)

    def keep(name, indices, x_kept):
        assert not any(r["index"] in indices for r in journal.records)
        kept.append((name, indices, x_kept))

    run_attacks(Noisy(), x, y, {"a": shifted}, journal, seed=0, draws=1, batch_size=3, progress=False, keep=keep)
    assert [(name, indices) for name, indices, _ in kept] == [("a", [0, 2]), ("a", [3, 4])]
    torch.testing.assert_close(kept[0][2], shifted(x[[0, 2]], None))
    torch.testing.assert_close(kept[1][2], shifted(x[[3, 4]], None))


def test_with_fixed_noise_every_draw_of_a_batch_shares_the_noise():
    """``--fixed-noise`` (a weaker, labelled protocol): the loop fixes the noise of each batch before
    attacking it, so all K clean and adversarial draws of an example are the same draw."""
    from zoo.running.fixed_noise import FixedNoise

    x, y = data(4)
    journal = Journal()
    run_attacks(FixedNoise(Noisy()), x, y, {"a": identity}, journal, seed=0, draws=5, batch_size=2, progress=False)
    for r in journal.records:
        assert len(set(r["clean_preds"])) == 1 and r["adv_preds"] == r["clean_preds"]
    journal = Journal()
    run_attacks(Noisy(), x, y, {"a": identity}, journal, seed=0, draws=5, batch_size=2, progress=False)
    assert any(len(set(r["clean_preds"])) > 1 for r in journal.records)  # without it, the draws differ


@pytest.mark.parametrize("protocol", ["final", "anytime"])
def test_the_progress_bar_names_the_entry_and_the_attack(capsys, protocol):
    """A run of several entries shows which one is being attacked; without a model name, the attack alone."""
    from test_pool import LABELS, STARTS, Decoy
    from zoo.attacks import PGDEOT

    model = Decoy()
    attack = PGDEOT(model, norm="Linf", eps=0.45, steps=2, eot=3, step_size=0.1)
    for fields, label in (({"model": "entry-x"}, "entry-x pgd:"), (None, "pgd:")):
        run_attacks(model, STARTS, LABELS, {"pgd": attack}, Journal(), seed=0, draws=2, batch_size=2,
                    protocol=protocol, stop_on="vote", record_fields=fields)
        shown = {part.split(":")[0] + ":" for part in capsys.readouterr().err.split("\r") if "%|" in part}
        assert shown == {label}
