"""Two runs compared example by example (zoo.reporting.two_runs, agdm-zoo compare-runs)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from zoo.reporting.two_runs import compare_runs


def frame(attacks: dict[str, list[int]], indices) -> pd.DataFrame:
    """Per-example rows of one entry: ``attacks`` maps an attack to its robust verdict per example
    (the same for vote and worst)."""
    rows = []
    for attack, robust in attacks.items():
        for position, (test_index, ok) in enumerate(zip(indices, robust)):
            rows.append({"model": "m", "threat": "Linf", "eps": 0.3, "attack": attack, "index": position,
                         "test_index": test_index, "label": 0, "clean_vote_correct": True,
                         "clean_worst_correct": True, "clean_correct_mean": 1.0, "robust_vote_correct": bool(ok),
                         "robust_worst_correct": bool(ok), "robust_correct_mean": float(ok)})
    return pd.DataFrame(rows)


def test_only_shared_attacks_and_examples_are_paired_and_the_change_is_b_minus_a():
    old = frame({"p": [1, 1, 1, 1, 1, 1, 0, 0, 1, 1], "q": [1] * 10}, range(10))  # test indices 0..9
    new = frame({"p": [1, 0, 0, 1, 1, 0, 0, 1, 1, 1], "r": [0] * 10}, range(2, 12))  # 2..11
    table = compare_runs(old, new)
    assert set(table["attack"]) == {"p"}  # q and r ran in one run only; one shared attack: no worst case
    vote = table[table["metric"] == "vote"].iloc[0]
    # shared test indices 2..9: old [1,1,1,1,0,0,1,1], new (its first 8) [1,0,0,1,1,0,0,1]
    assert vote["n"] == 8
    assert vote["a"] == 75.0 and vote["b"] == 50.0 and vote["change"] == -25.0
    assert (vote["a_only"], vote["b_only"]) == (3, 1)  # robust in A only / in B only
    assert vote["change_lo"] < -25.0 < vote["change_hi"] and vote["a_lo"] < 75.0 < vote["a_hi"]
    swapped = compare_runs(new, old).iloc[0]
    assert swapped["change"] == 25.0 and (swapped["a_only"], swapped["b_only"]) == (1, 3)
    assert swapped["change_lo"] == pytest.approx(-vote["change_hi"]) and swapped["p_value"] == vote["p_value"]


def test_the_worst_case_is_over_the_attacks_both_runs_ran():
    old = frame({"p": [1, 1, 0, 1], "q": [1, 0, 1, 1], "extra": [0, 0, 0, 0]}, range(4))
    new = frame({"p": [1, 1, 1, 1], "q": [0, 1, 1, 1]}, range(4))
    table = compare_runs(old, new, metrics=["vote"]).set_index("attack")
    assert set(table.index) == {"p", "q", "worst-case"}
    # A: min(p, q) = [1,0,0,1] (extra, which B lacks, is not counted); B: [0,1,1,1]
    assert table.loc["worst-case", "a"] == 50.0 and table.loc["worst-case", "b"] == 75.0
    assert (table.loc["worst-case", "a_only"], table.loc["worst-case", "b_only"]) == (1, 2)


def test_runs_with_nothing_in_common_are_refused(tmp_path):
    from zoo.reporting.files import read_per_example

    with pytest.raises(ValueError, match="share no"):
        compare_runs(frame({"p": [1]}, [0]), frame({"q": [1]}, [0]))
    with pytest.raises(FileNotFoundError, match="per_example_\\*_Linf.csv"):
        read_per_example(tmp_path, "Linf")


def test_the_command_writes_the_table_with_both_runs_budgets(tmp_path):
    from zoo.cli import main

    for name, steps, robust in (("old", 5, [1, 1, 0, 0]), ("new", 20, [1, 0, 0, 0])):
        folder = tmp_path / name
        folder.mkdir()
        frame({"p": robust}, range(4)).to_csv(folder / "per_example_m_Linf.csv", index=False)
        settings = [{"model": "m", "pgd_steps": steps, "pgd_eot": 2, "draws": 5, "protocol": "final"}]
        (folder / "provenance_Linf.json").write_text(json.dumps({"command": f"run {name}", "commit": "abc",
                                                                 "settings": settings}))
    assert main(["compare-runs", str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    text = (tmp_path / "new" / "versus_old_Linf.md").read_text()
    assert "`run old`" in text and "`run new`" in text
    assert "| m | p | vote | 4 | 5 x 2, K = 5, final | 50.00" in text and "| 20 x 2, K = 5, final | 25.00" in text
    rows = pd.read_csv(tmp_path / "new" / "versus_old_Linf.csv")
    assert np.allclose(rows["change"], -25.0)
    record = json.loads((tmp_path / "new" / "versus_old_Linf.json").read_text())
    assert record["runs"]["A"]["command"] == "run old" and record["runs"]["B"]["settings"][0]["pgd_steps"] == 20


def test_each_entry_is_paired_on_the_examples_both_runs_gave_it():
    old = pd.concat([frame({"p": [1] * 10}, range(10)), frame({"p": [1] * 20}, range(20)).assign(model="y")])
    new = pd.concat([frame({"p": [0] * 20}, range(20)), frame({"p": [0] * 10}, range(10)).assign(model="y")])
    table = compare_runs(old, new, metrics=["vote"]).set_index("model")
    assert table.loc["m", "n"] == 10 and table.loc["y", "n"] == 10
    assert table.loc["m", "change"] == table.loc["y", "change"] == -100.0
