"""The RobustBench submission kit: its model_info validates against the installed RobustBench's
ModelInfo, sits in RobustBench's layout under RobustBench's naming, carries the summary's numbers,
and the issue names the route (purification defenses: external evaluation / paper entry)."""
from __future__ import annotations

import dataclasses
import json
import random
import re

import pandas as pd
import pytest

from zoo.common.compat import robustbench
from zoo.reporting.files import write_outputs
from zoo.reporting.paper import PAPER
from zoo.publishing.submit_kit import (ROUTE_EXTERNAL, ROUTE_LEADERBOARD, ROUTE_NONE, KitError, robustbench_name,
                                        route, write_kit)
from zoo.registry import get_entry, load_registry

from helpers import CommandLine

cli = CommandLine("submit-kit")  # as scripts/submit_kit.py and agdm-zoo submit-kit run it
MODELS = ["agdm-tiny-mnist", "standard-tiny-mnist"]
ATTACKS = ["pgd-eot", "autoattack-standard", "autoattack-rand"]
# RobustBench's convention: <Name><Year><FirstWord>, optionally _<suffix> (e.g. Gowal2020Uncovering_28_10_extra)
CONVENTION = re.compile(r"^(?P<name>[A-Z][a-z]+)(?P<year>\d{4})(?P<word>[A-Z][a-z]*)(_[A-Za-z0-9-]+)?$")


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory):
    """Results written by the zoo's own writer from random records (REDUCED budget)."""
    root = tmp_path_factory.mktemp("leaderboard")
    rng = random.Random(5)
    records = []
    for model in MODELS:
        for attack in ATTACKS:
            for i in range(10):
                label = i % 4
                records.append({"model": model, "threat": "Linf", "eps": 0.3, "attack": attack, "index": i,
                                "label": label, "clean_preds": [label if rng.random() < .9 else 9 for _ in range(3)],
                                "adv_preds": [label if rng.random() < .5 else 9 for _ in range(3)], "seed": 0})
    provenance = {"command": "python scripts/benchmark.py --threat Linf", "commit": "abc", "date": "2026-01-01",
                  "device": "test CPU", "reduced_budget": True, "budget": "tiny"}
    registry = load_registry()
    write_outputs(root, records, provenance, {m: registry[m] for m in MODELS})
    return root


def test_model_info_validates_against_robustbench_and_carries_the_numbers(leaderboard, tmp_path):
    kit = write_kit("agdm-tiny-mnist", tmp_path / "kit", leaderboard)
    (path,) = kit.model_info
    name = robustbench_name(get_entry("agdm-tiny-mnist"))
    assert path == tmp_path / "kit" / "model_info" / "mnist" / "Linf" / f"{name}.json"
    info = json.loads(path.read_text())
    model_info_class = robustbench().utils.ModelInfo
    assert set(info) == {f.name for f in dataclasses.fields(model_info_class)}
    assert dataclasses.asdict(model_info_class(**info)) == info
    summary = pd.read_csv(leaderboard / "summary_Linf.csv").set_index(["model", "attack"])
    assert info["clean_acc"] == f"{summary.loc[('agdm-tiny-mnist', 'worst-case'), 'clean_acc_vote']:.2f}"
    assert info["autoattack_acc"] == f"{summary.loc[('agdm-tiny-mnist', 'autoattack-standard'), 'robust_acc_vote']:.2f}"
    assert info["dataset"] == "mnist" and info["eps"] == "0.3" and info["additional_data"] is False


def test_names_follow_robustbenchs_convention_and_are_unique_per_dataset():
    surname = PAPER["authors"].split(",")[0].split()[-1]
    year = re.search(r"\d{4}", PAPER["venue"]).group(0)
    word = PAPER["name"].split()[0]
    names = {}
    for entry in load_registry().values():
        name = robustbench_name(entry)
        match = CONVENTION.match(name)
        assert match, name
        assert (match["name"], match["year"], match["word"]) == (surname, year, word) == ("Lin", "2024", "Robust")
        names.setdefault(entry.dataset, []).append(name)
    assert all(len(found) == len(set(found)) for found in names.values()), names
    assert robustbench_name(get_entry("agdm-wrn28-cifar10")) == "Lin2024Robust_agdm-wrn28"


def test_the_issue_has_every_field_and_names_the_route(leaderboard, tmp_path):
    kit = write_kit("agdm-tiny-mnist", tmp_path / "kit", leaderboard, code_url="https://example.org/agdm-zoo")
    text = kit.issue.read_text()
    for field in ("Paper Title", "Paper URL", "Paper authors", "Architecture", "Threat Model", "eps",
                  "Clean accuracy", "Robust accuracy", "Additional data", "Evaluation method", "Checkpoint and code",
                  "license"):
        assert f"**{field}**" in text or f"{field}:" in text, field
    assert kit.route == ROUTE_EXTERNAL and "deterministic defenses only" in text and ROUTE_EXTERNAL in text
    assert "REDUCED" in text and "https://example.org/agdm-zoo" in text and "zoo/weights/mnist" in text
    assert "- [ ] add the model to the Model Zoo" in text
    kit_json = json.loads((tmp_path / "kit" / "kit.json").read_text())
    assert kit_json["route"] == ROUTE_EXTERNAL and kit_json["robustbench_name"] == kit.name


def test_routes_follow_determinism_and_dataset():
    assert route(get_entry("agdm-wrn28-cifar10"))[0] == ROUTE_EXTERNAL
    assert route(get_entry("diffpure-wrn28-cifar10"))[0] == ROUTE_EXTERNAL
    standard = get_entry("standard-tiny-mnist")
    assert route(standard)[0] == ROUTE_NONE
    assert route(dataclasses.replace(standard, dataset="cifar10"))[0] == ROUTE_LEADERBOARD


def test_an_entry_without_results_is_refused(leaderboard, tmp_path, capsys):
    with pytest.raises(KitError, match="no benchmark results for guided-tiny-mnist"):
        write_kit("guided-tiny-mnist", tmp_path / "kit", leaderboard)
    assert not (tmp_path / "kit").exists()
    assert cli.main(["standard-tiny-mnist", "--out", str(tmp_path / "k2"), "--leaderboard", str(leaderboard)]) == 0
    assert "Lin2024Robust_standard-tiny" in capsys.readouterr().out
    assert cli.main(["no-such-entry", "--leaderboard", str(leaderboard)]) == 2
    assert "unknown zoo entry" in capsys.readouterr().err
