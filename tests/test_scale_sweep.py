"""The scale sweep: it refuses the test split, resumes without recomputing anything it has, its
tables follow from the records, and the demo's scale in checkpoints.yaml is the one the committed
sweep's criterion picks."""
from __future__ import annotations

import json
from pathlib import Path

import dataclasses

import pandas as pd
import pytest
import torch

from zoo.attacks.pgd_eot import PGDEOT
from zoo.studies import scale_sweep as sweep

from helpers import CommandLine, tiny_entry_dict

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "leaderboard" / "scale_sweep"
cli = CommandLine("scale-sweep")  # as agdm-zoo scale-sweep and scripts/scale_sweep.py run it

TINY = dict(scales=(0.0, 1.0), n_examples=2, steps=1, eot=1, draws=2, batch_size=2)


@pytest.mark.parametrize("split", ["test", "train", "fit"])
def test_the_sweep_refuses_any_split_but_validation(split, capsys):
    with pytest.raises(ValueError, match="never 'test'" if split == "test" else "val"):
        sweep.SweepSettings(split=split)
    assert cli.main(["--split", split, "--out", "/nonexistent/never-written"]) == 2
    assert "val" in capsys.readouterr().err


@pytest.fixture
def tiny_demo(monkeypatch):
    """The sweep on 1x8x8 random-weight stand-ins of the demo entries and 8x8 'digits': milliseconds."""
    from zoo.models.factory import create_model
    from zoo.registry.schema import parse_registry

    patterns = {sweep.BASELINE: "none", **{name: p for p, name in sweep.BASES.items()}}
    entries = {name: parse_registry(tiny_entry_dict(p))["tiny"] for name, p in patterns.items()}
    entries = {name: dataclasses.replace(e, name=name) for name, e in entries.items()}
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(sweep, "get_entry", entries.__getitem__)
    monkeypatch.setattr(sweep, "mnist_demo", lambda split: (x, torch.tensor([0, 1, 2, 3])))
    monkeypatch.setattr(sweep, "create_model", lambda entry, device: create_model(entry, device, pretrained=False))


def test_resuming_recomputes_nothing_it_has(tmp_path, monkeypatch, tiny_demo):
    calls = []
    perturb = PGDEOT.perturb
    monkeypatch.setattr(PGDEOT, "perturb", lambda self, x, y: calls.append(len(x)) or perturb(self, x, y))
    settings = sweep.SweepSettings(**TINY)
    first = sweep.run_sweep(settings, tmp_path, progress=False)
    # DiffPure 1 attack, 2 patterns x 2 scales x 2 attacks, 2 label nets alone: one batch of 2 each
    assert len(calls) == 1 + 8 + 2
    calls.clear()
    again = sweep.run_sweep(settings, tmp_path, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(pd.DataFrame(again), pd.DataFrame(first))  # NaN scales compare equal
    grown = sweep.run_sweep(sweep.SweepSettings(**{**TINY, "scales": (0.0, 1.0, 3.0)}), tmp_path, progress=False)
    assert len(calls) == 4  # only the new scale: 2 patterns x 2 attacks
    assert len(grown) == len(first) + 8
    with pytest.raises(ValueError, match="other settings"):
        sweep.run_sweep(sweep.SweepSettings(**{**TINY, "steps": 2}), tmp_path, progress=False)


def record(model, attack, index, clean, adv, pattern="robust", scale=1.0, label=3):
    return {"model": model, "attack": attack, "index": index, "label": label, "clean_preds": clean,
            "adv_preds": adv, "pattern": pattern, "scale": scale}


def test_worst_case_is_robust_only_under_every_attack_and_intervals_are_wilson():
    records = [record("robust-s1", "pgd-eot", 0, [3, 3, 3], [3, 3, 1]),        # robust by vote, not all draws
               record("robust-s1", "pgd-eot-label", 0, [3, 3, 3], [1, 1, 3]),  # broken by the label-aware loss
               record("robust-s1", "pgd-eot", 1, [3, 3, 3], [3, 3, 3]),
               record("robust-s1", "pgd-eot-label", 1, [3, 3, 3], [3, 3, 3]),
               record("robust-s1", "pgd-eot", 2, [1, 1, 3], [3, 3, 3]),        # wrong on clean: never robust
               record("robust-s1", "pgd-eot-label", 2, [1, 1, 3], [3, 3, 3])]
    table = sweep.summary(sweep.per_example(records)).set_index("attack")
    assert table.loc["pgd-eot", "robust_acc"] == pytest.approx(200 / 3)
    assert table.loc["pgd-eot", "robust_acc_all_draws"] == pytest.approx(100 / 3)
    assert table.loc["pgd-eot-label", "robust_acc"] == pytest.approx(100 / 3)
    assert table.loc[sweep.WORST, "robust_acc"] == pytest.approx(100 / 3)
    assert table.loc[sweep.WORST, "clean_acc"] == pytest.approx(200 / 3)
    lo, hi = table.loc["pgd-eot", ["robust_lo", "robust_hi"]]
    assert lo < 200 / 3 < hi and (lo, hi) == pytest.approx(sweep.wilson(2, 3))
    assert table.loc["pgd-eot", "attack_title"] == "pgd-eot (Lee & Kim loss)"
    assert table.loc["pgd-eot-label", "attack_title"] == "pgd-eot (label-aware)"


def test_pick_follows_the_criterion():
    def row(model, pattern, scale, attack, clean, robust, half=5.0):
        return {"model": model, "pattern": pattern, "scale": scale, "attack": attack, "clean_acc": clean,
                "robust_acc": robust, "robust_lo": robust - half, "robust_hi": robust + half}

    table = pd.DataFrame([row(sweep.BASELINE, "none", float("nan"), "pgd-eot", 90.0, 20.0),
                          row("robust-s0", "robust", 0.0, sweep.WORST, 90.0, 20.0),
                          row("robust-s1", "robust", 1.0, sweep.WORST, 90.0, 22.0),
                          row("robust-s10", "robust", 10.0, sweep.WORST, 89.5, 40.0),
                          row("robust-s30", "robust", 30.0, sweep.WORST, 89.5, 40.0),   # a tie: the smaller wins
                          row("robust-s100", "robust", 100.0, sweep.WORST, 85.0, 70.0)])  # clean too low
    pick = sweep.pick_scale(table, "robust")
    assert (pick["scale"], pick["decided"]) == (10.0, True)
    close = table.assign(robust_acc=lambda t: t["robust_acc"].where(t["scale"] != 10.0, 25.0))
    close.loc[close["scale"] == 30.0, "robust_acc"] = 24.0
    pick = sweep.pick_scale(close, "robust")
    assert (pick["scale"], pick["decided"]) == (10.0, False)  # 3 points over s=1, within its half-width 5


@pytest.mark.skipif(not (COMMITTED / "scale_sweep.csv").is_file(), reason="no committed sweep")
def test_the_demo_scale_is_the_committed_sweeps_pick():
    from zoo.registry import get_entry

    table = pd.read_csv(COMMITTED / "scale_sweep.csv")
    committed = json.loads((COMMITTED / "scale_pick.json").read_text())
    for pattern, name in sweep.BASES.items():
        pick = sweep.pick_scale(table, pattern)
        assert pick == next(p for p in committed if p["pattern"] == pattern)
        expected = pick["scale"] if pick["decided"] else 1.0
        assert get_entry(name).purification.scale == expected


def test_doubling_check_pairs_the_same_digits_and_tests_the_difference():
    """Doubling the steps: paired difference per (model, attack), McNemar on the discordant digits;
    a row that moves beyond its interval is called out."""
    from scipy.stats import binomtest

    from zoo.studies.scale_sweep_report import doubling_check, doubling_markdown

    def frame(robust_a, robust_b):
        rows = [{"model": "robust-s100", "attack": "pgd-eot", "index": i, "robust": r} for i, r in enumerate(robust_a)]
        rows += [{"model": "plain-s100", "attack": "pgd-eot", "index": i, "robust": r} for i, r in enumerate(robust_b)]
        return pd.DataFrame(rows)

    same = [True] * 10 + [False] * 10
    short = frame(same, [True] * 20)
    long = frame([True] * 9 + [False] * 11, [False] * 20)  # robust: one digit lost; plain: all twenty
    table = doubling_check(short, long).set_index("model")
    assert table.loc["robust-s100", "difference"] == pytest.approx(-5.0)
    assert table.loc["robust-s100", "p_value"] == 1.0 and table.loc["robust-s100", "changes_little"]
    assert table.loc["plain-s100", "difference"] == -100.0 and not table.loc["plain-s100", "changes_little"]
    assert table.loc["plain-s100", "p_value"] == pytest.approx(binomtest(0, 20, 0.5).pvalue)
    text = doubling_markdown(table.reset_index(), 5, 10, {"budget": "REDUCED: x"})
    assert "1 of 2 rows move beyond their interval" in text and "| NO |" in text


def test_compare_with_refuses_a_sweep_of_other_settings_before_running(tmp_path, capsys, tiny_demo):
    import json

    short = tmp_path / "short"
    short.mkdir()
    (short / "provenance.json").write_text(json.dumps({"settings": {**vars(cli.parse_args([])), "n_examples": 3,
                                                                    "out": str(short)}}))
    args = ["--compare-with", str(short), "--steps", "10", "--out", str(tmp_path / "long"), "--no-progress"]
    assert cli.main(args) == 2
    assert "n_examples 3 vs 16" in capsys.readouterr().err and not (tmp_path / "long").exists()


def test_compare_with_writes_the_doubling_check_end_to_end(tmp_path, tiny_demo):
    tiny = ["--scales", "0", "1", "--n-examples", "2", "--eot", "1", "--draws", "2", "--batch-size", "2", "--no-progress"]
    assert cli.main([*tiny, "--steps", "1", "--out", str(tmp_path / "short")]) == 0
    assert cli.main([*tiny, "--steps", "2", "--out", str(tmp_path / "long"), "--compare-with", str(tmp_path / "short")]) == 0
    table = pd.read_csv(tmp_path / "long" / "doubling.csv")
    summary = pd.read_csv(tmp_path / "long" / "scale_sweep.csv")
    assert set(zip(table["model"], table["attack"])) == set(zip(summary["model"], summary["attack"]))  # worst-case too
    assert (table["n"] == 2).all() and "2 PGD steps" in (tmp_path / "long" / "doubling.md").read_text()


def test_rescore_rewrites_the_tables_from_the_draws_and_keeps_the_runs_provenance(tmp_path, tiny_demo, capsys):
    """--rescore attacks nothing, scores the committed draws as a fresh run scores them, keeps the
    original provenance (adding its own under ``rescored``) and refuses other settings."""
    tiny = ["--scales", "0", "1", "--n-examples", "2", "--eot", "1", "--draws", "2", "--batch-size", "2",
            "--steps", "1", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(tiny) == 0
    before = {name: (tmp_path / name).read_text() for name in ("scale_sweep.csv", "per_example.csv", "provenance.json")}
    ran = json.loads(before["provenance.json"])
    examples = pd.read_csv(tmp_path / "per_example.csv")
    label, was_robust = examples.loc[0, "label"], bool(examples.loc[0, "robust"])
    # as if the committed draws were other than what the tables say: row 0's verdict flips
    examples.loc[0, ["clean_preds", "adv_preds"]] = [f"{label} {label}", "9 9" if was_robust else f"{label} {label}"]
    examples.to_csv(tmp_path / "per_example.csv", index=False)
    (tmp_path / "journal").rename(tmp_path / "moved")  # nothing may be attacked or read from journals
    assert cli.main([*tiny, "--rescore"]) == 0
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert {k: v for k, v in record.items() if k != "rescored"} == ran and record["rescored"]["command"]
    rescored = pd.read_csv(tmp_path / "per_example.csv")
    assert bool(rescored.loc[0, "robust"]) is not was_robust
    assert (tmp_path / "scale_sweep.csv").read_text() != before["scale_sweep.csv"]
    assert "re-scored from the committed draws" in (tmp_path / "scale_sweep.md").read_text()
    assert not (tmp_path / "journal").exists()
    assert cli.main([*tiny, "--rescore", "--draws", "3"]) == 2
    assert "draws 2 vs 3" in capsys.readouterr().err
