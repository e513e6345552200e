"""One way to score: every consumer of the K draws (the leaderboard's metrics, the scale sweep, the
sanity checks, the attack loop's progress bar, the anytime judge, model cards and the submission
kit) gives the same verdicts, tied votes included.

A stand-in defense returns fixed draws per example, so each example's clean and adversarial draws
are known: [3, 3, 5, 5, 1] with label 3 is a tie for the most votes (wrong by the vote, though
label 3 is the smallest of the tied labels), and so is [2, 2, 7, 7] with label 2 at K = 4. The
expected verdicts are worked out by hand below; every consumer must reproduce them."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from zoo.publishing.card import site_cards
from zoo.publishing.submit_kit import write_kit
from zoo.registry import load_registry
from zoo.reporting.files import write_outputs
from zoo.reporting.metrics import per_example_frame, summarize
from zoo.running import loop
from zoo.running.journal import Journal
from zoo.running.pool import Pool, Slot
from zoo.studies import scale_sweep as sweep
from zoo.studies.sanity.bench import Bench
from zoo.studies.sanity.budget import SanityBudget

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "agdm-tiny-mnist"  # a registry entry, so that cards and kits can be written for it
SHIFT = 100.0  # the stand-in attack adds it: the defense then answers with the adversarial draws

# per K: (label, clean draws, adversarial draws) per example, then the hand-worked verdicts
CASES = {
    5: {"examples": [(3, [3, 3, 5, 5, 1], [3, 3, 3, 3, 3]),   # clean vote tied 2-2-1: wrong
                     (3, [3, 3, 3, 3, 3], [3, 3, 5, 5, 1]),   # adversarial vote tied: not robust
                     (5, [5, 5, 5, 1, 1], [5, 5, 5, 5, 5]),   # robust by vote, not worst-of-K (clean draws 4, 5)
                     (2, [2, 2, 2, 2, 2], [2, 2, 2, 2, 2])],
        "clean": {"vote": [0, 1, 1, 1], "worst": [0, 1, 0, 1], "mean": [0.4, 1, 0.6, 1]},
        "robust": {"vote": [0, 0, 1, 1], "worst": [0, 0, 0, 1], "mean": [0.4, 0.4, 0.6, 1]}},
    4: {"examples": [(2, [2, 2, 7, 7], [2, 2, 2, 2]),            # clean vote tied 2-2
                     (2, [2, 2, 2, 2], [7, 2, 2, 7]),            # adversarial vote tied 2-2
                     (4, [4, 4, 4, 1], [4, 4, 4, 4]),
                     (1, [1, 1, 1, 1], [1, 1, 1, 1])],
        "clean": {"vote": [0, 1, 1, 1], "worst": [0, 1, 0, 1], "mean": [0.5, 1, 0.75, 1]},
        "robust": {"vote": [0, 0, 1, 1], "worst": [0, 0, 0, 1], "mean": [0.5, 0.5, 0.75, 1]}},
}
METRICS = ("vote", "worst", "mean")


class FixedDraws(nn.Module):
    """A 'stochastic' defense with known draws: input n (a 1x1x1 image holding n) gets the clean
    draws of example n, input n + SHIFT its adversarial draws; draw j is the j-th copy of the batch
    (the K draws of :func:`~zoo.running.draws.redraw_predictions` run as one batch repeated K times)."""

    def __init__(self, examples):
        super().__init__()
        self.register_buffer("clean", torch.tensor([c for _, c, _ in examples]))
        self.register_buffer("adv", torch.tensor([a for _, _, a in examples]))
        self.k = self.clean.shape[1]

    def forward(self, x):
        flat = x.reshape(len(x), -1)[:, 0]
        index = (flat % SHIFT).round().long()
        draw = torch.arange(len(x)) // (len(x) // self.k)
        preds = torch.where(flat >= SHIFT, self.adv[index, draw], self.clean[index, draw])
        return nn.functional.one_hot(preds, 10).float()


def shift(x, y):
    return x + SHIFT


def case(k):
    spec = CASES[k]
    x = torch.arange(len(spec["examples"]), dtype=torch.float32).view(-1, 1, 1, 1)
    y = torch.tensor([label for label, _, _ in spec["examples"]])
    return FixedDraws(spec["examples"]), x, y, spec


def percent(values) -> float:
    return 100 * float(np.mean(values))


def attack_records(k, tmp_path, headline=None, progress=False):
    """The attack loop's records of the stand-in defense under the shifting 'attack'."""
    model, x, y, _ = case(k)
    with Journal(tmp_path / f"journal-{k}.jsonl", {"k": k}, resume=False) as journal:
        kwargs = {} if headline is None else {"headline": headline}
        loop.run_attacks(model, x, y, {"pgd-eot": shift}, journal, seed=0, draws=k, batch_size=len(x),
                         progress=progress, record_fields={"model": MODEL, "threat": "Linf", "eps": 0.3, "seed": 0},
                         **kwargs)
        return journal.records


@pytest.mark.parametrize("k", sorted(CASES))
def test_the_loop_draws_what_the_stand_in_defense_says(k, tmp_path):
    records = attack_records(k, tmp_path)
    assert [(r["label"], r["clean_preds"], r["adv_preds"]) for r in records] == [tuple(e) for e in CASES[k]["examples"]]


@pytest.mark.parametrize("k", sorted(CASES))
def test_leaderboard_metrics(k, tmp_path):
    row = summarize(per_example_frame(attack_records(k, tmp_path))).set_index("attack").loc["pgd-eot"]
    for metric in METRICS:
        assert row[f"robust_acc_{metric}"] == pytest.approx(percent(CASES[k]["robust"][metric]))
        assert row[f"clean_acc_{metric}"] == pytest.approx(percent(CASES[k]["clean"][metric]))


@pytest.mark.parametrize("k", sorted(CASES))
def test_scale_sweep_rows(k, tmp_path):
    records = [{**r, "pattern": "robust", "scale": 1.0} for r in attack_records(k, tmp_path)]
    row = sweep.summary(sweep.per_example(records)).set_index("attack").loc["pgd-eot"]
    assert row["robust_acc"] == pytest.approx(percent(CASES[k]["robust"]["vote"]))
    assert row["clean_acc"] == pytest.approx(percent(CASES[k]["clean"]["vote"]))
    assert row["robust_acc_all_draws"] == pytest.approx(percent(CASES[k]["robust"]["worst"]))


@pytest.mark.parametrize("k", sorted(CASES))
def test_the_sweeps_worst_case_is_the_leaderboards(k, tmp_path):
    """Two attacks whose clean draws differ (each re-draws them): the worst case over attacks of
    the sweep and of the leaderboard agree, clean accuracy included."""
    first = attack_records(k, tmp_path)
    second = [{**r, "attack": "pgd-eot-label", "clean_preds": r["adv_preds"], "adv_preds": r["clean_preds"]}
              for r in first]
    board = summarize(per_example_frame(first + second)).set_index("attack").loc["worst-case"]
    records = [{**r, "pattern": "robust", "scale": 1.0} for r in first + second]
    row = sweep.summary(sweep.per_example(records)).set_index("attack").loc[sweep.WORST]
    assert (row["clean_acc"], row["robust_acc"], row["robust_acc_all_draws"]) == pytest.approx(
        (board["clean_acc_vote"], board["robust_acc_vote"], board["robust_acc_worst"]))


@pytest.mark.parametrize("k", sorted(CASES))
def test_sanity_verdicts(k):
    model, x, y, spec = case(k)
    bench = Bench(model, x, y, threat="Linf", eps=0.3, budget=SanityBudget(n_examples=len(x), draws=k))
    outcome = bench.run(shift, "shift")
    assert outcome.vote.tolist() == [bool(v) for v in spec["robust"]["vote"]]
    assert outcome.worst.tolist() == [bool(v) for v in spec["robust"]["worst"]]
    assert bench.clean_accuracy == pytest.approx(np.mean(spec["clean"]["vote"]))


@pytest.mark.parametrize("metric", ["vote", "worst"])
@pytest.mark.parametrize("k", sorted(CASES))
def test_the_anytime_judge(k, metric):
    """The anytime pool's K-draw verdict on an iterate (a slot at its final iterate is judged
    either way): right exactly where the leaderboard scores it right."""
    model, x, y, spec = case(k)
    pool = Pool(model, None, attack_index=0, seed=0, draws=k, stop_on=metric, batch_size=len(x))

    def right(inputs):
        slots = [Slot(i, i, inputs[i:i + 1], y[i:i + 1], inputs[i:i + 1], torch.empty(0)) for i in range(len(x))]
        return np.array([s.outcome["broken_at"] is None for s in pool.judge(slots, candidate=False)])
    clean, adv = right(x), right(shift(x, y))
    assert clean.tolist() == [bool(v) for v in spec["clean"][metric]]
    assert (clean & adv).tolist() == [bool(v) for v in spec["robust"][metric]]


class Bar:
    """Stands in for tqdm: records what the progress bar shows."""

    shown: list = []

    def __init__(self, items, **kwargs):
        self.items = list(items)

    def __iter__(self):
        return iter(self.items)

    def set_postfix(self, *args, **kwargs):
        Bar.shown.append({**(args[0] if args else {}), **kwargs})


def bar_percent(monkeypatch, k, tmp_path, headline=None) -> tuple[float, str]:
    Bar.shown = []
    monkeypatch.setattr(loop, "tqdm", Bar)
    attack_records(k, tmp_path, headline=headline, progress=True)
    (shown,) = Bar.shown
    (text,) = shown.values()
    return float(re.search(r"([\d.]+)%", text).group(1)), text


@pytest.mark.parametrize("k", sorted(CASES))
def test_the_progress_bar_counts_the_vote_by_default(k, tmp_path, monkeypatch):
    value, _ = bar_percent(monkeypatch, k, tmp_path)
    assert value == pytest.approx(percent(CASES[k]["robust"]["vote"]), abs=0.05)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", sorted(CASES))
def test_the_progress_bar_shows_the_runs_headline(k, metric, tmp_path, monkeypatch):
    value, text = bar_percent(monkeypatch, k, tmp_path, headline=metric)
    assert value == pytest.approx(percent(CASES[k]["robust"][metric]), abs=0.05)
    assert metric in text


NAMES = {"vote": "majority vote", "worst": "worst-of-K", "mean": "mean over draws"}


def leaderboard(root, records, headline=None):
    """The run's files, written as the benchmark writes them; ``None``: an old provenance
    without ``headline`` (and tables led by the vote)."""
    provenance = {"command": "test", "commit": "abc", "date": "2026-01-01", "device": "test CPU",
                  "reduced_budget": True, "budget": "tiny"}
    if headline is not None:
        provenance["headline"] = headline
    write_outputs(root, records, provenance, {MODEL: load_registry()[MODEL]}, headline=headline or "vote")
    return root


@pytest.mark.parametrize("metric", [*METRICS, None])
@pytest.mark.parametrize("k", sorted(CASES))
def test_cards_and_the_kit_show_the_runs_headline(k, metric, tmp_path):
    root = leaderboard(tmp_path / "leaderboard", attack_records(k, tmp_path), metric)
    shown = metric or "vote"  # provenance without a headline: the vote, as before
    clean, robust = percent(CASES[k]["clean"][shown]), percent(CASES[k]["robust"][shown])
    card = site_cards(root)(MODEL)
    assert f"| pgd-eot | 0.3 | 4 | {clean:.2f} | {robust:.2f} |" in card
    assert NAMES[shown] in card
    kit = write_kit(MODEL, tmp_path / "kit", root)
    issue = kit.issue.read_text()
    assert f"pgd-eot: {robust:.2f}%" in issue and f"{NAMES[shown]} over K={k}" in issue
    assert f"**Clean accuracy**: {clean:.2f}%" in issue
    for other in set(NAMES) - {shown}:
        assert NAMES[other] not in issue.split("# Leaderboard Claim(s)")[1].split("# Model Zoo")[0]
