"""``agdm-zoo reproduce``: the paper's tables as run specs, what is missing offline, the side-by-side
markdown (ours beside the paper's, never mixed) and the demo table end to end."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

import zoo.registry.resolve as resolve
from zoo.reporting.files import Run, read_summary
from zoo.reporting.metrics import SUMMARY_COLUMNS
from zoo.registry.schema import Budget
from zoo.registry.sources import SourceError, cached, robustbench_checkpoint, parse_source
from zoo.registry.store import default_registry
from zoo.studies import paper_tables, reproduce as rep
from zoo.studies.paper_tables import LINF_EPS, TABLES, get_table
from zoo.studies.side_by_side import NOT_IN_PAPER, NOT_RUN, PAPER_LABEL, side_by_side

from helpers import CommandLine

cli = CommandLine("reproduce")  # as scripts/reproduce.py and agdm-zoo reproduce run it


def read_markdown_table(markdown: str) -> pd.DataFrame:
    """The side-by-side table of ``markdown``, one row per table row, the header as columns."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0])


@pytest.fixture
def empty_machine(tmp_path, monkeypatch):
    """No weights cached anywhere, offline, no data sets."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("AGDM_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def blocks(listing: str) -> dict[str, str]:
    """``--list`` output split into one text per table, keyed by its first word(s) before ':'."""
    return {block.split(":")[0]: block for block in listing.strip().split("\n\n")}


def test_list_names_every_table_and_flags_missing_weights_offline(empty_machine, capsys):
    assert cli.main(["--list", "--data-dir", str(empty_machine / "data")]) == 0
    found = blocks(capsys.readouterr().out)
    assert set(found) == {f"Table {n}" for n in range(1, 8)} | {"demo"}
    assert "all here, ready to run" in found["demo"]
    standard = robustbench_checkpoint(parse_source("robustbench://cifar10/Linf/Standard"))
    assert str(empty_machine) in str(standard)
    for n in range(1, 8):
        assert "missing here" in found[f"Table {n}"] and "ready to run" not in found[f"Table {n}"]
    # each missing source named once, with where it goes and how to get it
    assert found["Table 6"].count("robustbench://cifar10/Linf/Standard") == 1 and str(standard) in found["Table 6"]
    assert "hf://google/ddpm-cifar10-32@main" in found["Table 6"] and "agdm-zoo download" in found["Table 6"]
    assert "user://cifar10/wrn-70-16.safetensors" in found["Table 7"] and "no public download" in found["Table 7"]
    assert "gdrive://" in found["Table 1"] and "cifar-10-batches-py" in found["Table 1"]
    assert "cifar-100-python" in found["Table 3"] and "user://cifar100/ddpm" in found["Table 3"]
    assert "gap:" not in found["Table 5"]  # StAdv is in the benchmark now (--threat StAdv)
    # the protocol: PGD+EOT tables at t* = 100, DiffPure's own row at 0.1 on the VP-SDE
    assert "attacks pgd-eot" in found["Table 6"] and found["Table 6"].count("(t* = 100)") == 3
    assert "t* = 0.1 (VP-SDE" in found["Table 1"] and "attacks autoattack-rand" in found["Table 1"]
    assert "(t* = 125)" in found["Table 5"] and "L2, eps = 1," in found["Table 5"]


def test_a_file_put_in_place_is_no_longer_missing(empty_machine):
    table = get_table("6")
    path = robustbench_checkpoint(parse_source("robustbench://cifar10/Linf/Standard"))
    assert cached("robustbench://cifar10/Linf/Standard") is None
    assert any(line.startswith("robustbench://cifar10/Linf/Standard") for line in rep.missing(table))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in")
    assert cached("robustbench://cifar10/Linf/Standard") == path
    assert not any(line.startswith("robustbench://cifar10/Linf/Standard") for line in rep.missing(table))


def test_reproduce_refuses_before_running_when_weights_are_missing(empty_machine):
    out = empty_machine / "out"
    with pytest.raises(SourceError, match="(?s)Table 7 cannot run here.*wrn-70-16"):
        rep.reproduce("7", out=out, data_dir=empty_machine / "data")
    assert not out.exists()
    assert cli.main(["7", "--out", str(out), "--data-dir", str(empty_machine / "data")]) == 2


def test_table_specs_map_to_the_papers_entries_threats_and_t_star():
    assert get_table("table6") is get_table("Table 6") is TABLES["6"]
    with pytest.raises(ValueError, match="unknown table '8'.*1, 2, 3, 4, 5, 6, 7, demo"):
        get_table("8")
    t6 = get_table("6")
    assert t6.t_star == 100 and t6.entries == ("diffpure-wrn28-cifar10", "guided-wrn28-cifar10", "agdm-wrn28-cifar10")
    assert [(r.threat, r.eps, r.attacks) for r in rep.runs_of(t6)] == [("Linf", LINF_EPS, ("pgd-eot",)),
                                                                        ("L2", 0.5, ("pgd-eot",))]
    t1 = get_table("1")
    nie = [row for row in t1.rows if row.label == "Nie et al. (2022)"]
    assert t1.t_star is None and [row.entries for row in nie] == [{"cifar10": "diffpure-sde-wrn28-cifar10"}]
    assert rep.runs_of(t1)[0].attacks == ("autoattack-rand",)
    t4 = {r.threat: r.entries for r in rep.runs_of(get_table("4"))}
    assert set(t4["Linf"]) == {f"{p}-wrn28-{d}" for p in ("diffpure", "guided", "agdm") for d in ("cifar10", "cifar100")}
    assert t4["L2"] == ("diffpure-wrn28-cifar10", "guided-wrn28-cifar10", "agdm-wrn28-cifar10")
    t5 = get_table("5")
    assert [(r.threat, r.eps) for r in rep.runs_of(t5)] == [("Linf", LINF_EPS), ("L2", 1.0), ("StAdv", 0.05)]
    assert rep.runs_of(t5)[2].attacks == ("stadv",) and rep.gaps_of(t5) == {}
    registry = default_registry()
    for name in t5.entries:
        assert registry[name].purification.t_star == 125
    assert get_table("7").entries == ("diffpure-wrn70-cifar10", "agdm-wrn70-cifar10")
    assert get_table("3").entries[-1] == "agdm-wrn28-cifar100"  # after the AT rows (tests/test_rb_baselines.py)
    for table in TABLES.values():  # every row names a registry entry
        assert all(name in registry for name in table.entries)


def test_reproduce_passes_the_protocol_to_the_benchmark(tmp_path, monkeypatch):
    calls = []

    def fake_benchmark(names, threat, attacks, **kw):
        calls.append((list(names), threat, attacks, kw["eps"], kw["overrides"], kw["n_examples"], kw["subset_seed"],
                      kw["shard"], kw["resume"]))
        Path(kw["out"]).mkdir(parents=True, exist_ok=True)
        return {"summary": Path(kw["out"]) / f"summary_{threat}.csv"}

    monkeypatch.setattr(rep, "missing", lambda table, data_dir: [])
    monkeypatch.setattr(rep, "benchmark", fake_benchmark)
    written = rep.reproduce("6", out=tmp_path, n_examples=512, subset_seed=0, resume=True)
    entries = ["diffpure-wrn28-cifar10", "guided-wrn28-cifar10", "agdm-wrn28-cifar10"]
    assert calls == [(entries, "Linf", ("pgd-eot",), LINF_EPS, {"t_star": 100}, 512, 0, None, True),
                     (entries, "L2", ("pgd-eot",), 0.5, {"t_star": 100}, 512, 0, None, True)]
    table = read_markdown_table(written["reproduce_6.md"].read_text())
    assert set(table["PGD+EOT Linf: robust acc.: ours"]) == {NOT_RUN}  # nothing recorded: never the paper's
    assert list(table[f"PGD+EOT Linf: robust acc.: {PAPER_LABEL}"]) == ["46.84", "24.06", "64.06"]
    calls.clear()
    assert rep.reproduce("1", out=tmp_path / "t1")
    assert calls[0][4] is None  # Table 1 keeps each entry's own t* (DiffPure's row runs at 0.1)
    calls.clear()
    monkeypatch.setattr(rep, "missing", lambda table, data_dir: ["weights"])
    with pytest.raises(SourceError, match="weights"):
        rep.reproduce("6", out=tmp_path, shard=(1, 4))
    assert not calls
    assert rep.reproduce("6", out=tmp_path, merge_only=True)  # merging shards needs no weights here
    assert len(calls) == 2


def fake_run(table, threat, values, reduced=True) -> Run:
    """A summary for every (entry, attack) of ``table``'s columns under ``threat``: clean and robust
    accuracies from ``values[(entry, attack)] = (clean, robust)``, with made-up intervals."""
    rows = []
    for (entry, attack), (clean, robust) in values.items():
        row = {c: 0.0 for c in SUMMARY_COLUMNS}
        row.update(model=entry, threat=threat, eps=0.5, attack=attack, n=7, k=3)
        for metric in ("vote", "worst", "mean"):
            row.update({f"clean_acc_{metric}": clean, f"robust_acc_{metric}": robust,
                        f"clean_acc_{metric}_lo": clean - 1, f"clean_acc_{metric}_hi": clean + 1,
                        f"robust_acc_{metric}_lo": robust - 1, f"robust_acc_{metric}_hi": robust + 1})
        rows.append(row)
    return Run(Path("fake"), threat, pd.DataFrame(rows), {"reduced_budget": reduced, "commit": "abc"})


def test_side_by_side_keeps_the_papers_numbers_labelled_and_apart_from_ours():
    t6 = get_table("6")
    ours = {"Linf": {("diffpure-wrn28-cifar10", "pgd-eot"): (11.0, 1.0), ("guided-wrn28-cifar10", "pgd-eot"): (12.0, 2.0),
                     ("agdm-wrn28-cifar10", "pgd-eot"): (13.0, 3.0)},
            "L2": {("diffpure-wrn28-cifar10", "pgd-eot"): (21.0, 4.0), ("guided-wrn28-cifar10", "pgd-eot"): (22.0, 5.0)}}
    runs = {threat: fake_run(t6, threat, values) for threat, values in ours.items()}
    markdown = side_by_side(t6, runs)
    table = read_markdown_table(markdown)
    assert list(table["zoo entry"]) == ["`diffpure-wrn28-cifar10`", "`guided-wrn28-cifar10`", "`agdm-wrn28-cifar10`"]
    for i, row in enumerate(t6.rows):
        for column in t6.columns:
            assert table[f"{column.title}: {PAPER_LABEL}"][i] == row.paper[column.key]
            mine = ours[column.threat].get((row.entries["cifar10"], column.attack))
            cell = table[f"{column.title}: ours"][i]
            if mine is None:
                assert cell == NOT_RUN  # agdm's L2 run is missing: not the paper's 85.55
            else:
                value = mine[0] if column.metric == "clean" else mine[1]
                assert cell == f"{value:.2f} [{value - 1:.2f}, {value + 1:.2f}]"
    paper_columns = [c for c in table.columns if c.endswith(PAPER_LABEL)]
    assert len(paper_columns) == len(t6.columns) == 4 and len(table.columns) == 2 + 2 * len(t6.columns)
    printed = {value for row in t6.rows for value in row.paper.values()}
    ours_columns = [c for c in table.columns if c.endswith(": ours")]
    assert not printed & set(table[ours_columns].to_numpy().ravel())
    assert table[f"PGD+EOT L2: robust acc.: {PAPER_LABEL}"][1] == "-"  # the paper prints none; we ran it
    assert table["PGD+EOT L2: robust acc.: ours"][1].startswith("5.00")
    assert "REDUCED budget" in markdown and "t* = 100 for every purifying entry" in markdown
    assert "not reproduced (no zoo entry): Yoon et al. (2021), Lee & Kim (2023)" in markdown


def test_side_by_side_marks_gaps_and_rows_the_paper_lacks():
    t5, demo = get_table("5"), get_table("demo")
    table = read_markdown_table(side_by_side(t5, {}, gaps={"StAdv": "not in the benchmark"}))  # as before StAdv was
    assert list(table["StAdv: robust acc.: ours"]) == ["gap", "gap"]
    assert list(table[f"StAdv: robust acc.: {PAPER_LABEL}"]) == ["55.0", "59.4"]
    table = read_markdown_table(side_by_side(demo, {}))
    assert f"AutoAttack rand: robust acc.: {PAPER_LABEL}" not in table.columns  # the paper has no such column
    robust = f"PGD+EOT Linf: robust acc.: {PAPER_LABEL}"
    assert list(table[robust]) == [row.paper["Linf robust"] for row in get_table("6").rows] + [NOT_IN_PAPER]


def test_reproduce_demo_runs_end_to_end(tmp_path, monkeypatch, capsys):
    tiny = Budget(reduced=True, n_examples=4, draws=1, pgd_steps=1, pgd_eot=1, pgd_step_fraction=1.0, batch_size=2)
    registry = {name: dataclasses.replace(entry, budget=tiny) if hasattr(entry, "budget") else entry
                for name, entry in default_registry().items()}
    monkeypatch.setattr(resolve, "default_registry", lambda: registry)
    demo = paper_tables.DEMO  # its PGD+EOT columns (AutoAttack's cost is checked by its own tests)
    monkeypatch.setitem(paper_tables.TABLES, "demo", dataclasses.replace(demo, columns=demo.columns[:3]))
    out = tmp_path / "demo"
    assert cli.main(["demo", "--n-examples", "2", "--out", str(out)]) == 0
    assert f"wrote {out / 'reproduce_demo.md'}" in capsys.readouterr().out
    markdown = (out / "reproduce_demo.md").read_text()
    table = read_markdown_table(markdown)
    summary = read_summary(out / "summary_Linf.csv")
    assert set(summary["n"]) == {2}
    for i, row in enumerate(paper_tables.TABLES["demo"].rows):
        entry = row.entries["mnist"]
        for column in paper_tables.TABLES["demo"].columns:
            cell = table[f"{column.title}: ours"][i]
            found = summary[(summary["model"] == entry) & (summary["attack"] == column.attack)]
            if found.empty:
                assert cell == NOT_RUN and entry in ("diffpure-tiny-mnist", "standard-tiny-mnist")
            else:
                assert cell.startswith(f"{found.iloc[0][f'{column.metric}_acc_vote']:.2f} [")
    assert list(table[f"PGD+EOT Linf: standard acc.: {PAPER_LABEL}"]) == ["90.07", "93.50", "90.42", NOT_IN_PAPER]
    assert "REDUCED budget" in markdown and "n = 2 test examples, K = 1" in markdown


def test_the_estimate_costs_the_tables_t_star_as_its_run_uses_it(monkeypatch):
    """Table 6 runs at t* = 100 while its entries declare 70: the estimate is asked for the chain
    the run will use (the same overrides), not the entries' own."""
    asked = []
    monkeypatch.setattr(rep, "estimate", lambda names, threat, attacks, **kw: asked.append(kw) or "")
    rep.estimate_table("6")
    assert asked and all(kw["overrides"] == {"t_star": 100} for kw in asked)
    asked.clear()
    rep.estimate_table("demo")
    assert asked and all(kw["overrides"] is None for kw in asked)
