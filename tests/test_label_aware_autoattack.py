"""The label-aware AutoAttack: its logits' gradient reaches x' through the label network (where the
plain attacker's label path carries nothing), it breaks a toy guided defense with a weak label
network that plain AutoAttack leaves standing, its decisions and scores stay on the real defense,
its calls are the ones --estimate counts, and its names reach the records and tables."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from zoo.attacks import autoattack_catalogue as aa_catalogue, catalogue
from zoo.attacks.catalogue import ATTACK_ORDER, TITLES, attacks_for, autoattack_version, build_attack
from zoo.attacks.gradients import LabelAware, attacker_model, label_aware_attacker
from zoo.attacks.losses import cross_entropy_sum
from zoo.running import estimate as est
from zoo.registry import get_entry
from zoo.registry.schema import parse_registry

from helpers import tiny_entry_dict, tiny_model
from test_attacks import Linear
from test_estimate import AlwaysRight
from test_label_aware import FixedLogits, ToyGuided

AA_BUDGET = {"n_iter": 5, "eot_iter": 1, "n_restarts": 1}


def budget(**autoattack):
    """What the catalogue reads off a budget, for AutoAttack only."""
    return SimpleNamespace(pgd_step_fraction=None, batch_size=4, autoattack=autoattack or AA_BUDGET)


def input_gradient(module, x, y, seed=0):
    torch.manual_seed(seed)  # the chain's noise: the same draws for every module compared
    xg = x.clone().requires_grad_(True)
    return torch.autograd.grad(cross_entropy_sum(module(xg), y), xg)[0]


def test_label_aware_logits_reach_x_through_the_label_network():
    model = tiny_model("robust")
    model.purifier.label_net = copy.deepcopy(model.purifier.guidance.net)  # y from a network of its own
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    plain = input_gradient(attacker_model(model, "exact"), x, y)
    # the plain attacker's label path is zero: labels that no longer depend on x give the same gradient
    frozen = tiny_model("robust")
    frozen.purifier.label_net = FixedLogits(model.purifier.label_net, x)
    assert torch.equal(plain, input_gradient(attacker_model(frozen, "exact"), x, y))
    # w = 0: CE of log_softmax(final) is CE of final, the plain gradient exactly
    torch.testing.assert_close(input_gradient(label_aware_attacker(model, weight=0.0), x, y), plain)
    # w > 0: the label path is the gradient through label_net with the final logits held fixed
    aware = input_gradient(label_aware_attacker(model, weight=2.0), x, y)
    cut = LabelAware(model, FixedLogits(model.purifier.label_net, x), weight=2.0)  # the same values, no label path
    label_path = aware - input_gradient(cut, x, y)
    torch.manual_seed(0)
    final = model(x).detach()
    xg = x.clone().requires_grad_(True)
    z = torch.log_softmax(final, -1) + 2.0 * torch.log_softmax(model.purifier.label_net(xg), -1)
    by_hand = torch.autograd.grad(cross_entropy_sum(z, y), xg)[0]
    assert by_hand.abs().max() > 1e-3
    torch.testing.assert_close(label_path, by_hand)


def test_label_aware_logits_compose_with_an_ablation_gradient():
    model = tiny_model("plain")
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([3, 4])
    bpda = attacker_model(model, "bpda")
    aware = label_aware_attacker(model, bpda, weight=1.0)
    assert aware.label == bpda.label and aware.is_ablation and aware.defense is model
    assert label_aware_attacker(model).label == "exact" and not label_aware_attacker(model).is_ablation
    assert not torch.allclose(input_gradient(aware, x, y), input_gradient(bpda, x, y))
    torch.testing.assert_close(input_gradient(label_aware_attacker(model, bpda, 0.0), x, y),
                               input_gradient(bpda, x, y))
    with pytest.raises(ValueError, match="label network"):
        label_aware_attacker(tiny_model("none"))
    with pytest.raises(ValueError, match="label weight"):
        label_aware_attacker(model, weight=-1.0)


class Linear3(Linear):
    """:class:`Linear` with a third class, always at -10 (DLR needs 3 classes): logits [z, -z, -10]."""

    def forward(self, x):
        two = super().forward(x)
        return torch.cat([two, torch.full_like(two[:, :1], -10.0)], dim=1)


def toy_guided():
    """:class:`ToyGuided` with 3-class heads: a weak label net reading ``v``, a classifier reading
    ``p`` (orthogonal), the input pulled 90% of the way to the label's prototype."""
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 2, (1, 1, 8, 8), generator=g).float() * 2 - 1
    half = torch.ones(64)
    half[torch.randperm(64, generator=g)[:32]] = -1
    v = p * half.view(1, 1, 8, 8)
    model = ToyGuided(p, v)
    model.label_network, model.classifier = Linear3(v), Linear3(p)
    x = (0.5 + 0.05 * v + 0.05 * p) + 0.001 * torch.arange(4.0).view(4, 1, 1, 1)  # four distinct inputs
    return model, x, torch.zeros(4, dtype=torch.long)


def test_label_aware_autoattack_breaks_a_toy_guided_defense_plain_autoattack_does_not():
    model, x, y = toy_guided()
    assert torch.equal(model(x).argmax(1), y)
    kw = dict(norm="Linf", eps=0.1, seed=0, budget=budget())
    plain = build_attack("autoattack-rand", model, **kw)
    aware = build_attack("autoattack-rand-label", model, **kw)
    assert isinstance(aware.decider.gradient_model, LabelAware) and plain.decider.gradient_model is None
    x_plain, x_aware = plain(x, y), aware(x, y)
    assert torch.equal(model(x_plain).argmax(1), y)  # the untouched label keeps the defense right
    assert (model(x_aware).argmax(1) != y).all()  # the label flipped, and the defense followed it
    assert (model.label_network(x_aware).argmax(1) != y).all()
    assert (aware.scores == 0).all() and (plain.scores == 1).all()


class Counted(nn.Module):
    """``net`` logging (images, gradient call?) for every call."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, x):
        self.calls.append((x.shape[0], torch.is_grad_enabled()))
        return self.net(x)


class Confident(nn.Module):
    """Class ``cls`` by a margin of 8 whatever the input (with a small gradient)."""

    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 10, dtype=x.dtype)
        logits[:, self.cls] = 8.0
        return logits + 1e-3 * x.flatten(1).sum(1, keepdim=True) * torch.linspace(0, 1, 10, dtype=x.dtype)


@pytest.mark.parametrize("version, aa", [("rand", {"n_iter": 2, "eot_iter": 2}),
                                         ("standard", {"n_iter": 2, "n_target_classes": 2, "n_queries": 3})])
def test_decisions_stay_on_the_defense_and_calls_match_the_estimate(version, aa):
    """The defense is always right, its label net always wrong: the label-aware logits call every
    point wrong, yet nothing is broken (decisions and scores are the defense's), the label net
    serves gradient calls only, and the defense sees exactly the calls --estimate counts."""
    n = 3
    model = AlwaysRight()
    model.label_network = Counted(Confident(1))
    x, y = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.zeros(n, dtype=torch.long)
    name = f"autoattack-{version}-label"
    attack = build_attack(name, model, norm="Linf", eps=0.05, seed=0, budget=budget(**aa))
    with torch.no_grad():
        assert (attack.decider.gradient_model(x).argmax(1) != y).all()  # the combined logits: all wrong
    model.calls.clear(), model.label_network.calls.clear()
    x_adv = attack(x, y)
    counted, label_calls = model.counted(), list(model.label_network.calls)
    assert (model(x_adv).argmax(1) == y).all() and (attack.scores == 1).all()
    calls = catalogue.attack_calls(name, budget(**aa))
    assert calls == aa_catalogue.autoattack_calls(version, aa)
    assert counted == (n * calls.forward + n * aa_catalogue.check_calls(version), n * (calls.gradient + calls.jacobian))
    assert label_calls and all(grad for _, grad in label_calls)  # never consulted for a decision
    label_images = sum(images for images, _ in label_calls)
    assert label_images == n * (calls.gradient + calls.jacobian)
    # --estimate adds those label-net evaluations, to the guidance net or to the classifier that gives y
    by_guidance = est.label_term_evals(parse_registry(tiny_entry_dict("robust"))["tiny"], name, calls, 5)
    by_classifier = est.label_term_evals(parse_registry(tiny_entry_dict("robust", label="classifier"))["tiny"],
                                         name, calls, 5)
    assert n * by_guidance.guidance_forward == n * by_classifier.classifier_forward == label_images
    assert by_guidance.classifier_forward == by_classifier.guidance_forward == 0
    assert est.label_term_evals(parse_registry(tiny_entry_dict("robust"))["tiny"], f"autoattack-{version}",
                                calls, 5) == est.NetworkEvals()


def test_catalogue_names_order_and_guided_entries_only():
    for version in ("standard", "rand"):
        name = f"autoattack-{version}-label"
        assert ATTACK_ORDER.index(name) == ATTACK_ORDER.index(f"autoattack-{version}") + 1
        assert TITLES[name] == f"autoattack-{version} (label-aware)" and autoattack_version(name) == version
        assert name in catalogue.default_attacks("Linf") and name not in catalogue.default_attacks("StAdv")
    both = ("autoattack-rand", "autoattack-rand-label")
    assert attacks_for(get_entry("agdm-tiny-mnist"), both) == both
    assert attacks_for(get_entry("guided-tiny-mnist"), both) == both
    assert attacks_for(get_entry("diffpure-tiny-mnist"), both) == ("autoattack-rand",)
    assert attacks_for(get_entry("standard-tiny-mnist"), both) == ("autoattack-rand",)


@pytest.mark.parametrize("version, expected", [("rand", ("autoattack-rand", "autoattack-rand-label")),
                                               ("both", ("autoattack-standard", "autoattack-standard-label",
                                                         "autoattack-rand", "autoattack-rand-label"))])
def test_cli_all_runs_the_label_aware_autoattack_of_the_versions_asked(version, expected):
    import zoo.cli.benchmark as cli

    chosen = cli.attacks_of(cli.parse_args(["--threat", "Linf", "--version", version]))
    assert tuple(a for a in chosen if a.startswith("autoattack")) == expected
    label_only = cli.attacks_of(cli.parse_args(["--threat", "Linf", "--version", version, "--attack",
                                                "autoattack-label"]))
    assert label_only == tuple(a for a in expected if a.endswith("-label"))


def test_cli_estimate_counts_the_label_aware_autoattack(capsys):
    import zoo.cli.benchmark as cli

    assert cli.main(["--threat", "Linf", "--model", "guided-tiny-mnist", "diffpure-tiny-mnist", "--version", "rand",
                     "--device", "cpu", "--estimate", "--steps", "2", "--n-examples", "2"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    shown = {(row[0], row[1]): row for row in rows if len(row) > 5 and row[0].endswith("tiny-mnist")}
    assert ("diffpure-tiny-mnist", "autoattack-rand") in shown and ("diffpure-tiny-mnist", "autoattack-rand-label") not in shown
    plain, aware = shown["guided-tiny-mnist", "autoattack-rand"], shown["guided-tiny-mnist", "autoattack-rand-label"]
    assert aware[2:5] == plain[2:5] and int(aware[3]) > 0  # n, forward and gradient calls: the plain attack's


def test_records_and_tables_name_the_label_aware_autoattack(tmp_path):
    written = zoo.run_benchmark(["guided-tiny-mnist"], "Linf", ("autoattack-rand", "autoattack-rand-label"),
                                out=tmp_path, n_examples=2, overrides={"steps": 2}, progress=False)
    rows = pd.read_csv(tmp_path / "per_example_guided-tiny-mnist_Linf.csv")
    assert set(rows["attack"]) == {"autoattack-rand", "autoattack-rand-label"}
    summary = pd.read_csv(written["summary_Linf.csv"])
    assert {"autoattack-rand", "autoattack-rand-label", "worst-case"} <= set(summary["attack"])
    table = (tmp_path / "results_Linf.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| defense"))
    assert header.index("autoattack-rand |") < header.index("autoattack-rand-label")
    assert "autoattack-rand-label = autoattack-rand (label-aware)" in table
