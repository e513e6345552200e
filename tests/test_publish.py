"""Publishing: the model card carries the results it was built from, a dry run touches no network,
and entries without results or over a different existing bundle are refused."""
from __future__ import annotations

import json
import shutil
import socket

import pandas as pd
import pytest

import zoo
from zoo.publishing.card import PublishError
from zoo.publishing.publish import check_overwrite, publish
from zoo.reporting.files import latest_results

from helpers import CommandLine

cli = CommandLine("publish")  # as scripts/publish.py and agdm-zoo publish run it
NAME = "standard-tiny-mnist"


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory):
    out = tmp_path_factory.mktemp("leaderboard")
    zoo.run_benchmark([NAME], "Linf", ("pgd-eot",), out=out, n_examples=4, progress=False)
    return out


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_dry_run_writes_a_loadable_bundle_whose_card_carries_the_results(leaderboard, tmp_path, no_network, capsys):
    from huggingface_hub import ModelCard

    folder = tmp_path / "bundle"
    assert cli.main([NAME, "--repo", "someone/tiny", "--dry-run", "--leaderboard", str(leaderboard),
                     "--out", str(folder)]) == 0
    assert "dry run: would upload these 3 files" in capsys.readouterr().out
    card = ModelCard.load(folder / "README.md")
    assert "model-index" in card.content and 'zoo.load("hf://someone/tiny@main")' in card.text
    summary = pd.read_csv(leaderboard / "summary_Linf.csv")
    expected = {f"robust accuracy, {r.attack}, Linf eps={r.eps:g}": r.robust_acc_vote for r in summary.itertuples()}
    expected["clean accuracy (Linf run)"] = float(summary[summary.attack == "worst-case"].clean_acc_vote.iloc[0])
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == expected
    assert all(r.metric_args["reduced_budget"] and "PGD+EOT" in r.metric_args["budget"] for r in card.data.eval_results)
    assert zoo.load(str(folder), device="cpu").config.classifier.arch == "small-cnn"


def test_an_entry_without_results_is_refused(tmp_path, capsys):
    assert cli.main([NAME, "--repo", "someone/tiny", "--dry-run", "--leaderboard", str(tmp_path),
                     "--out", str(tmp_path / "b")]) == 2
    assert "no benchmark results for standard-tiny-mnist" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_latest_results_are_the_newest_run(leaderboard, tmp_path):
    shutil.copytree(leaderboard, tmp_path / "old")
    shutil.copytree(leaderboard, tmp_path / "new")
    for name, date in (("old", "2020-01-01T00:00:00+00:00"), ("new", "2030-01-01T00:00:00+00:00")):
        path = tmp_path / name / "provenance_Linf.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "date": date}))
    (found,) = latest_results(NAME, tmp_path)
    assert found.path == tmp_path / "new" / "summary_Linf.csv"
    assert latest_results("agdm-tiny-mnist", tmp_path) == []


def test_a_different_existing_bundle_is_not_overwritten_without_force(leaderboard, tmp_path, no_network):
    folder = tmp_path / "bundle"
    assert cli.main([NAME, "--repo", "someone/tiny", "--dry-run", "--leaderboard", str(leaderboard),
                     "--out", str(folder)]) == 0
    ours = json.loads((folder / "config.json").read_text())
    check_overwrite(folder, None, force=False)          # a new repo
    check_overwrite(folder, ours, force=False)          # the same bundle again
    other = {**ours, "entry": {**ours["entry"], "description": "someone else's"}}
    check_overwrite(folder, other, force=True)
    with pytest.raises(PublishError, match="--force"):
        publish(folder, "someone/tiny", private=False, force=False, existing=lambda repo, rev: other)
