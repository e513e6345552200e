"""Which gradient broke what (zoo.studies.sanity.ablation, ``agdm-zoo gradient-ablation``): on
a toy purifier whose Jacobian is far from the identity, bpda and blind leave examples robust that
the exact gradient breaks, every non-exact row is labelled ablation-only, and the files say so."""
from __future__ import annotations

import pandas as pd
import pytest
from torch import nn

import zoo
from zoo.cli import main as cli
from zoo.data import mnist_demo
from zoo.studies.sanity import SanityBudget
from zoo.studies.sanity.ablation import gradient_ablation, write_ablation
from zoo.studies.sanity.bench import Bench
from zoo.models.purifier import DefendedClassifier
from zoo.registry import get_entry

pytestmark = pytest.mark.usefixtures("one_thread")


class Invert(nn.Module):
    """A toy purifier: x -> 1 - x (deterministic; its Jacobian is minus the identity)."""

    def forward(self, x, generator=None):
        return 1 - x


class OnInverted(nn.Module):
    """The demo classifier reading an inverted image, so that classifier(Invert(x)) is the demo
    classifier on x: the defense is undefended, and only the exact gradient knows it."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z):
        return self.net(1 - z)


@pytest.fixture(scope="module")
def bench():
    standard = zoo.load("standard-tiny-mnist", device="cpu")
    toy = DefendedClassifier(OnInverted(standard.classifier), get_entry("standard-tiny-mnist"), Invert())
    x, y = mnist_demo("test")
    budget = SanityBudget(n_examples=12, draws=1, pgd_steps=5, pgd_eot=1, pgd_step_fraction=0.5, batch_size=12)
    return Bench(toy, x[:12], y[:12], threat="Linf", eps=0.3, budget=budget)


def test_bpda_and_blind_rows_differ_from_exact_on_a_toy_purifier(bench):
    table = gradient_ablation(bench, surrogates=[])
    rows = table.set_index("mode")
    assert list(rows.index) == ["exact", "bpda", "blind"]
    assert bench.clean_accuracy > 0.8
    assert rows.loc["exact", "robust_vote"] == 0.0
    for mode in ("bpda", "blind"):  # the wrong sign / the wrong point: far weaker, beyond the intervals
        assert rows.loc[mode, "robust_vote_lo"] > rows.loc["exact", "robust_vote_hi"]
    assert rows.loc["exact", "ablation_only"] == False  # noqa: E712 - a numpy bool
    assert rows.loc[["bpda", "blind"], "ablation_only"].all()
    assert all("ablation-only" in g for g in rows.loc[["bpda", "blind"], "gradient"])
    assert (rows["robust_worst"] <= rows["robust_vote"]).all()


def test_the_files_label_the_ablation_rows(bench, tmp_path):
    table = gradient_ablation(bench, surrogates=[])
    meta = {"model": "toy", "threat": "Linf", "eps": 0.3, "budget_note": bench.budget.describe(),
            "provenance": {"command": "test"}}
    paths = write_ablation(table, meta, tmp_path)
    read = pd.read_csv(paths["gradient_ablation_Linf.csv"])
    assert read["ablation_only"].tolist() == [False, True, True]
    text = paths["gradient_ablation_Linf.md"].read_text()
    assert "REDUCED sanity budget" in text and text.count("| yes |") == 2 and text.count("| no |") == 1


def test_the_command_refuses_an_entry_without_a_purifier(capsys):
    assert cli(["gradient-ablation", "standard-tiny-mnist", "--device", "cpu", "--n-examples", "2"]) == 2
    assert "purif" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["gradient-ablation", "agdm-tiny-mnist", "--surrogate", "steps"])
