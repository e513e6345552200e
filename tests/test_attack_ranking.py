"""Attacks ranked per entry, strongest first, with paired tests (zoo.reporting.attack_ranking)."""
from __future__ import annotations

import pandas as pd
import pytest

from zoo.reporting.attack_ranking import rank_attacks, ranking_markdown
from test_two_runs import frame


def test_the_strongest_attack_leads_and_is_compared_on_the_same_examples():
    n = 60
    strong = [1] * 10 + [0] * 50  # 16.7% robust
    near = [1] * 12 + [0] * 48  # breaks all but two more examples than strong
    weak = [1] * 40 + [0] * 20  # 66.7%: 30 examples robust only against it
    data = pd.concat([frame({"weak": weak, "strong": strong, "near": near}, range(n)),
                      frame({"only": [1] * 5}, range(5)).assign(model="single")], ignore_index=True)
    ranking = rank_attacks(data, "vote")
    assert set(ranking["model"]) == {"m"}  # one attack on "single": nothing to rank
    assert ranking["attack"].tolist() == ["strong", "near", "weak"] and ranking["rank"].tolist() == [1, 2, 3]
    rows = ranking.set_index("attack")
    assert rows.loc["weak", "vs_strongest"] == round(100 * 30 / n, 2) and rows.loc["weak", "vs_strongest_lo"] > 0
    assert rows.loc["near", "vs_strongest_lo"] < 0 < rows.loc["near", "vs_strongest_hi"]
    assert pd.isna(rows.loc["strong", "vs_strongest"])
    text = ranking_markdown(ranking, {"command": "c", "commit": "x"})
    assert "strongest: **strong** (16.67%); stronger beyond the interval than weak; within the interval of near" in text


def test_an_attack_is_called_strongest_only_when_it_beats_another_beyond_the_interval_and_ties_are_named():
    n = 60
    data = frame({"a": [1] * 10 + [0] * 50, "b": [1] * 10 + [0] * 50, "c": [1] * 12 + [0] * 48}, range(n))
    text = ranking_markdown(rank_attacks(data, "vote"), {})
    assert "lowest robust accuracy: **a** (16.67%), tied with b; not separated from b, c at n = 60" in text
    assert "strongest" not in text.split("\n\n")[1]
    data = frame({"a": [1] * 10 + [0] * 50, "b": [1] * 10 + [0] * 50, "w": [1] * 40 + [0] * 20}, range(n))
    text = ranking_markdown(rank_attacks(data, "vote"), {})
    assert "strongest: **a** (16.67%), tied with b; stronger beyond the interval than w; within the interval of b" in text


def test_a_tie_keeps_the_runs_attack_order_and_the_worst_case_is_not_ranked():
    data = frame({"b": [1, 0, 0, 1], "a": [0, 1, 0, 1]}, range(4))
    info = {"b": {"order": 0}, "a": {"order": 1}}
    assert rank_attacks(data, "vote", info)["attack"].tolist() == ["b", "a"]
    assert rank_attacks(data, "vote", {"b": {"order": 1}, "a": {"order": 0}})["attack"].tolist() == ["a", "b"]


def test_the_command_ranks_a_finished_run_without_touching_its_files(tmp_path):
    import json

    from zoo.cli import main

    frame({"p": [1, 1, 0, 1], "q": [0, 0, 0, 1]}, range(4)).to_csv(tmp_path / "per_example_m_Linf.csv", index=False)
    run = {"command": "run it", "commit": "abc", "headline": "worst", "attacks": {"p": {"order": 0}, "q": {"order": 1}}}
    (tmp_path / "provenance_Linf.json").write_text(json.dumps(run))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["rank-attacks", str(tmp_path)]) == 0
    text = (tmp_path / "attack_ranking_Linf.md").read_text()
    assert "Attacks ranked per entry by the robust accuracy they leave (worst, %)" in text  # the run's headline
    assert "lowest robust accuracy: **q** (25.00%); not separated from p at n = 4" in text and "`run it`" in text
    assert pd.read_csv(tmp_path / "attack_ranking_Linf.csv")["attack"].tolist() == ["q", "p"]
    assert json.loads((tmp_path / "attack_ranking_Linf.json").read_text())["run"]["command"] == "run it"
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items())
    frame({"p": [1]}, [0]).to_csv(tmp_path / "per_example_m_Linf.csv", index=False)
    with pytest.raises(ValueError, match="two or more attacks"):
        main(["rank-attacks", str(tmp_path), "--debug"])
