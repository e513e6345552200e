"""zoo.reporting (metrics, tables, model_info, files): votes and means over K draws, RobustBench's robust-only-if-clean-correct rule, the
per-example worst case, CSVs that add up to the summary, RobustBench model_info, atomic writes."""
from __future__ import annotations

import dataclasses
import json
import random

import pandas as pd
import pytest

from zoo.common.files import atomic_write_text
from zoo.attacks import catalogue
from zoo.reporting import metrics, model_info, tables

INFO = catalogue.describe(catalogue.names())
"""What a run records of the catalogue's attacks (their table order, titles, plain twins)."""
from zoo.reporting.files import write_outputs
from zoo.common.compat import robustbench
from zoo.scoring.verdicts import vote_label
from zoo.registry import load_registry

EPS = 8 / 255


def rec(attack, index, label, clean, adv, model="m", threat="Linf", eps=EPS, seed=0):
    return {"model": model, "threat": threat, "eps": eps, "attack": attack, "index": index, "label": label,
            "clean_preds": clean, "adv_preds": adv, "seed": seed}


# K = 3. Answers worked out by hand in the comments.
HAND = [
    # label 1: clean votes 1 (right, 2/3 draws), adv votes 2 (wrong, 1/3); both right only in draw 0
    rec("pgd-eot", 0, 1, [1, 1, 2], [1, 2, 2]),
    # label 0: clean all right; adv votes 0 (right, 2/3); both right in draws 0, 1
    rec("pgd-eot", 1, 0, [0, 0, 0], [0, 0, 3]),
    # label 2: clean is a three-way tie -> smallest label 1 (wrong, 1/3); adv all right; both right in draw 2
    rec("pgd-eot", 2, 2, [1, 3, 2], [2, 2, 2]),
    # autoattack on examples 0 and 1 only (example 2 missing: the worst case uses the common 0, 1)
    rec("autoattack-standard", 0, 1, [1, 1, 1], [1, 1, 0]),   # robust by vote; robust draws 2/3
    rec("autoattack-standard", 1, 0, [0, 0, 0], [4, 4, 0]),   # not robust by vote; robust draws 1/3
]


def row(frame, attack, index):
    (match,) = frame.index[(frame["attack"] == attack) & (frame["index"] == index)]
    return frame.loc[match]


def summary_row(summary, attack, model="m"):
    (match,) = summary.index[(summary["attack"] == attack) & (summary["model"] == model)]
    return summary.loc[match]


def test_votes_and_means_per_example():
    frame = metrics.per_example_frame(HAND)
    assert list(frame[["attack", "index"]].itertuples(index=False, name=None)) == [
        ("autoattack-standard", 0), ("autoattack-standard", 1), ("pgd-eot", 0), ("pgd-eot", 1), ("pgd-eot", 2)]
    assert [f"clean_pred_{j}" for j in range(3)] + [f"adv_pred_{j}" for j in range(3)] == \
        [c for c in frame.columns if "_pred_" in c]
    r = row(frame, "pgd-eot", 0)
    assert (r["clean_vote"], r["adv_vote"]) == (1, 2)
    assert r["clean_correct_mean"] == pytest.approx(2 / 3) and r["adv_correct_mean"] == pytest.approx(1 / 3)
    assert r["clean_vote_correct"] and not r["adv_vote_correct"]
    assert r["robust_correct_mean"] == pytest.approx(1 / 3)
    r = row(frame, "pgd-eot", 2)
    assert r["clean_vote"] == 1  # tie between 1, 3 and 2 goes to the smallest label
    assert r["clean_correct_mean"] == pytest.approx(1 / 3)
    assert vote_label([3, 5, 5, 3]) == 3 and vote_label([7, 2, 7]) == 7

    pgd = summary_row(metrics.summarize(frame), "pgd-eot")
    assert pgd["n"] == 3 and pgd["k"] == 3
    assert pgd["clean_acc_vote"] == 66.67                   # votes right on examples 0, 1
    assert pgd["clean_acc_mean"] == 66.67                   # (2/3 + 1 + 1/3) / 3
    assert pgd["robust_acc_vote"] == 33.33                  # only example 1
    assert pgd["robust_acc_mean"] == 44.44                  # (1/3 + 2/3 + 1/3) / 3


def test_robust_never_exceeds_clean():
    frame = metrics.per_example_frame(HAND)
    r = row(frame, "pgd-eot", 2)  # adversarially right, clean wrong: not robust
    assert r["adv_vote_correct"] and not r["clean_vote_correct"] and not r["robust_vote_correct"]
    pgd = summary_row(metrics.summarize(frame), "pgd-eot")
    assert frame.loc[frame["attack"] == "pgd-eot", "adv_vote_correct"].mean() == pytest.approx(2 / 3)
    assert pgd["robust_acc_vote"] == 33.33 < 66.67

    rng = random.Random(0)
    labels = [rng.randrange(3) for _ in range(40)]
    records = [rec(attack, i, labels[i], [rng.randrange(3) for _ in range(4)], [rng.randrange(3) for _ in range(4)])
               for attack in ("pgd-eot", "autoattack-rand") for i in range(40)]
    frame = metrics.per_example_frame(records)
    assert (frame["robust_correct_mean"] <= frame["clean_correct_mean"]).all()
    assert (frame["robust_correct_mean"] <= frame["adv_correct_mean"]).all()
    assert (~frame["robust_vote_correct"] | frame["clean_vote_correct"]).all()
    summary = metrics.summarize(frame)
    assert (summary["robust_acc_vote"] <= summary["clean_acc_vote"]).all()
    assert (summary["robust_acc_mean"] <= summary["clean_acc_mean"]).all()


def test_worst_case_combines_attacks_per_example():
    summary = metrics.summarize(metrics.per_example_frame(HAND), INFO)
    assert list(summary["attack"]) == ["pgd-eot", "autoattack-standard", "worst-case"]
    aa = summary_row(summary, "autoattack-standard")
    assert (aa["n"], aa["clean_acc_vote"], aa["robust_acc_vote"], aa["robust_acc_mean"]) == (2, 100.0, 50.0, 50.0)
    worst = summary_row(summary, "worst-case")
    assert worst["n"] == 2                 # example 2 was not attacked by AutoAttack
    # example 0 falls to pgd, example 1 to autoattack: 0 %, below both attacks' own 33.33 and 50
    assert worst["robust_acc_vote"] == 0.0
    assert worst["robust_acc_mean"] == 33.33   # min(1/3, 2/3) and min(2/3, 1/3)
    assert worst["clean_acc_vote"] == 100.0
    assert worst["clean_acc_mean"] == 91.67    # (mean(2/3, 1) + mean(1, 1)) / 2


def test_bad_records_raise_value_error():
    with pytest.raises(ValueError, match="disagree on K"):
        metrics.per_example_frame([rec("pgd-eot", 0, 1, [1, 1, 1], [1, 1, 1]),
                                   rec("pgd-eot", 1, 1, [1, 1], [1, 1])])
    with pytest.raises(ValueError, match="disagree on K"):
        metrics.per_example_frame([rec("pgd-eot", 0, 1, [1, 1, 1], [1, 1])])
    broken = rec("pgd-eot", 0, 1, [1], [1])
    del broken["label"]
    with pytest.raises(ValueError, match="label"):
        metrics.per_example_frame([broken])
    with pytest.raises(ValueError, match="more than once"):
        metrics.per_example_frame([rec("pgd-eot", 0, 1, [1], [1])] * 2)
    with pytest.raises(ValueError):
        metrics.per_example_frame([])


def test_format_eps():
    assert tables.format_eps("Linf", 8 / 255) == "8/255"
    assert tables.format_eps("Linf", 0.3) == "0.3"
    assert tables.format_eps("L2", 0.5) == "0.5"
    assert tables.format_eps("Linf", 0.0) == "0"


def test_model_info_is_robustbench_model_info():
    rb = robustbench()
    fields = [f.name for f in dataclasses.fields(rb.utils.ModelInfo)]
    entry = load_registry()["agdm-wrn28-cifar10"]
    summary = metrics.summarize(metrics.per_example_frame([{**r, "model": entry.name} for r in HAND]))
    provenance = {"command": "benchmark.py", "seed": 0, "reduced_budget": True, "budget": "n=3, K=3"}
    info = model_info.model_info(entry, summary, "Linf", EPS, provenance)
    assert list(info) == fields + ["provenance"]
    model = rb.utils.ModelInfo(**{k: v for k, v in info.items() if k != "provenance"})
    assert model.eps == "8/255" and model.dataset == "cifar10"
    assert info["clean_acc"] == "100.00"            # the worst-case row's clean vote
    assert info["autoattack_acc"] == "50.00"        # autoattack-standard, vote
    assert info["reported"] == "" and info["additional_data"] is False
    assert info["number_forward_passes"] == 3
    assert info["name"] == entry.description
    assert info["provenance"] == provenance
    assert "majority vote" in info["footnote"] and "K=3" in info["footnote"]
    assert "REDUCED" in info["footnote"] and "0.00%" in info["footnote"]   # the worst case
    json.dumps(info)
    without_aa = summary[summary["attack"] != "autoattack-standard"]
    assert model_info.model_info(entry, without_aa, "Linf", EPS, provenance)["autoattack_acc"] is None
    full = model_info.model_info(entry, summary, "Linf", EPS, {**provenance, "reduced_budget": False})
    assert "REDUCED" not in full["footnote"]
    per_model = {**provenance, "budget": {entry.name: "n=3, K=3 (ours)", "other-model": "n=99"}}
    footnote = model_info.model_info(entry, summary, "Linf", EPS, per_model)["footnote"]
    assert "n=3, K=3 (ours)" in footnote and "n=99" not in footnote


def test_markdown_names_headline_and_reduced_budget():
    summary = metrics.summarize(metrics.per_example_frame(HAND), INFO)
    provenance = {"attacks": INFO, "command": "python scripts/benchmark.py --threat Linf", "commit": "abc123", "seed": 7,
                  "device": "cpu", "date": "2024-01-01", "wall_seconds": 12.5, "versions": {"torch": "2.0"},
                  "reduced_budget": True, "budget": "n=3, K=3, PGD+EOT 5 steps"}
    text = tables.markdown_table(summary, provenance)
    table = text.index("| defense")
    head, tail = text[:table], text[table:]
    assert "REDUCED" in head and "PGD+EOT 5 steps" in head
    assert "majority vote" in head and "vote" in head and "8/255" in head and "K = 3" in head
    assert "| defense | standard acc | pgd-eot | autoattack-standard | worst-case |" in tail
    assert "| m | 100.00 (91.67) | 33.33 (44.44) | 50.00 (50.00) | 0.00 (33.33) |" in tail
    for value in ("abc123", "python scripts/benchmark.py --threat Linf", "12.5", "torch 2.0", "seed: 7"):
        assert value in tail
    full = tables.markdown_table(summary, {**provenance, "reduced_budget": False})
    assert "REDUCED" not in full
    mean = tables.markdown_table(summary, provenance, headline="mean")
    assert "**mean**" in mean and "| m | 91.67 (100.00) | 44.44 (33.33) |" in mean
    with pytest.raises(ValueError):
        tables.markdown_table(summary, provenance, headline="median")


def random_records(rng, models, attacks, n, k):
    out = []
    for model in models:
        labels = [rng.randrange(4) for _ in range(n)]
        for attack in attacks:
            for i in range(n):
                if attack == "autoattack-rand" and i % 5 == 0:
                    continue  # not every attack on every example
                out.append(rec(attack, i, labels[i], [rng.randrange(4) for _ in range(k)],
                               [rng.randrange(4) for _ in range(k)], model=model, eps=0.3))
    return out


def test_write_outputs_csv_adds_up_and_no_temp_files(tmp_path):
    registry = load_registry()
    models = ["agdm-tiny-mnist", "diffpure-tiny-mnist"]
    entries = {name: registry[name] for name in models}
    k = 5
    records = random_records(random.Random(1), models, ["pgd-eot", "autoattack-standard", "autoattack-rand"], 30, k)
    provenance = {"command": "x", "seed": 0, "reduced_budget": True, "budget": "small", "wall_seconds": 1.0}
    paths = write_outputs(tmp_path, records, provenance, entries)

    expected = {f"per_example_{m}_Linf.csv" for m in models} | {f"model_info/{m}_Linf.json" for m in models} | \
        {f"draws_ablation_{m}_Linf.png" for m in models} | \
        {"summary_Linf.csv", "results_Linf.md", "provenance_Linf.json", "draws_ablation_Linf.csv", "draws_ablation_Linf.md"}
    assert set(paths) == expected
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == expected                     # nothing else, in particular no temporary files
    assert all(paths[name] == tmp_path / name for name in expected)
    assert json.loads((tmp_path / "provenance_Linf.json").read_text()) == provenance
    for m in models:
        info = json.loads((tmp_path / f"model_info/{m}_Linf.json").read_text())
        assert info["eps"] == "0.3" and info["provenance"] == provenance
    assert "REDUCED" in (tmp_path / "results_Linf.md").read_text()

    summary = pd.read_csv(tmp_path / "summary_Linf.csv")
    for m in models:
        df = pd.read_csv(tmp_path / f"per_example_{m}_Linf.csv")
        clean = df[[f"clean_pred_{j}" for j in range(k)]].to_numpy()
        adv = df[[f"adv_pred_{j}" for j in range(k)]].to_numpy()
        y = df["label"].to_numpy()[:, None]
        # recompute from the raw predictions: pandas' mode lists every tied label, and a tied vote
        # counts as wrong (issue 12), so a vote is the mode only where the mode is unique (else -1)
        def unique_vote(columns):
            modes = df[columns].mode(axis=1)
            tied = modes[1].notna() if 1 in modes.columns else pd.Series(False, index=df.index)
            return modes[0].where(~tied, -1).to_numpy()

        vote_clean = unique_vote([f"clean_pred_{j}" for j in range(k)])
        vote_adv = unique_vote([f"adv_pred_{j}" for j in range(k)])
        df["c_mean"] = (clean == y).mean(axis=1)
        df["r_mean"] = ((clean == y) & (adv == y)).mean(axis=1)
        df["c_vote"] = vote_clean == y[:, 0]
        df["r_vote"] = (vote_clean == y[:, 0]) & (vote_adv == y[:, 0])
        for attack, part in df.groupby("attack"):
            s = summary_row(summary, attack, m)
            assert s["n"] == len(part)
            assert s["clean_acc_mean"] == pytest.approx(100 * part["c_mean"].mean(), abs=0.005)
            assert s["clean_acc_vote"] == pytest.approx(100 * part["c_vote"].mean(), abs=0.005)
            assert s["robust_acc_mean"] == pytest.approx(100 * part["r_mean"].mean(), abs=0.005)
            assert s["robust_acc_vote"] == pytest.approx(100 * part["r_vote"].mean(), abs=0.005)
        common = df.groupby("index").filter(lambda g: len(g) == df["attack"].nunique())
        worst = common.groupby("index").agg(r_vote=("r_vote", "all"), r_mean=("r_mean", "min"))
        s = summary_row(summary, "worst-case", m)
        assert s["n"] == len(worst) == 24
        assert s["robust_acc_vote"] == pytest.approx(100 * worst["r_vote"].mean(), abs=0.005)
        assert s["robust_acc_mean"] == pytest.approx(100 * worst["r_mean"].mean(), abs=0.005)
        assert s["robust_acc_vote"] <= summary[summary["model"] == m]["robust_acc_vote"].min()


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path, monkeypatch):
    from zoo.common import files

    target = tmp_path / "summary_Linf.csv"
    atomic_write_text(target, "old\n")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary_Linf.csv"]


def test_write_outputs_refuses_unknown_model(tmp_path):
    with pytest.raises(ValueError, match="not in entries"):
        write_outputs(tmp_path, HAND, {}, {})
    assert not any(tmp_path.iterdir())
