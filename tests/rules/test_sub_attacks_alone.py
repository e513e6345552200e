"""Each AutoAttack sub-attack run alone through the repeated-draw loop is plain AutoAttack's on a
deterministic model (the same labels, seed, targets and restarts as ``run_standard_evaluation``
gives it), and on a stochastic one an example broken on every draw does not stop APGD's restarts
on the examples that are only partly broken."""
from __future__ import annotations

import pytest
import torch
from pyautoattack import AutoAttack

from zoo.attacks.autoattack import AutoAttackEval, configure
from zoo.attacks.draw_decisions import row_keys

from rules.test_partial_breaks import AttackedRows, RightOnSomeLooks, toy_digits
from test_honest_autoattack import N_CLASSES, Deterministic


@pytest.mark.parametrize("sub_attack", ["apgd-ce", "apgd-t", "fab", "fab-t", "square"])
def test_one_sub_attack_alone_is_plain_autoattacks(sub_attack):
    budget = {"n_iter": 3, "n_target_classes": 2, "n_queries": 20, "n_restarts": 2, "attacks_to_run": [sub_attack]}
    model = Deterministic().eval()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % N_CLASSES
    plain = AutoAttack(model, norm="Linf", eps=0.15, version="standard", seed=0, device="cpu")
    plain.verbose = False
    configure(plain, budget)
    expected, _ = plain.run_standard_evaluation(x, y, batch_size=16)
    ours = AutoAttackEval(model, norm="Linf", eps=0.15, seed=0, batch_size=16, budget=budget, decision_draws=3)(x, y)
    assert bool((expected != x).flatten(1).any(1)[3:].any())  # something broken: the comparison means something
    assert torch.equal(ours, expected)


def test_an_example_broken_everywhere_does_not_end_the_others_restarts():
    x, y = toy_digits(6)
    model = RightOnSomeLooks(period=3)
    model.fragile_class, model.fragile_at = 0, set(row_keys(x[:1]))  # example 0: broken by the first restart
    attack = AutoAttackEval(model, norm="Linf", eps=0.1, batch_size=6, decision_draws=5,
                            budget={"attacks_to_run": ["apgd-ce"], "n_iter": 3, "n_restarts": 3})
    spy = AttackedRows(attack.adversary.apgd)
    attack(x, y)
    assert spy.runs == [6, 5, 5]  # all six, then the five only partly broken, on every restart
    assert attack.scores.tolist()[0] == 0.0 and bool((attack.scores[1:] > 0).all())


@pytest.mark.parametrize("sub_attack, name", [("apgd-ce", "apgd"), ("apgd-dlr", "apgd"), ("apgd-t", "apgd_targeted"),
                                              ("square", "square")])
def test_a_sub_attack_given_the_true_labels_spends_nothing_on_examples_wrong_on_every_draw(sub_attack, name):
    """The sub-attacks get the true labels, so an example misclassified on every clean draw (handed
    to the first sub-attack in a batch of its own) is seen as broken and not attacked, as plain
    AutoAttack skips it; attacked against the defense's own wrong prediction instead, it would cost
    a run and be pushed towards its true class."""
    budget = {"n_iter": 2, "n_target_classes": 1, "n_queries": 5, "n_restarts": 1, "attacks_to_run": [sub_attack]}
    model = Deterministic().eval()
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % N_CLASSES  # wrong on every draw of this deterministic model
    attack = AutoAttackEval(model, norm="Linf", eps=0.15, seed=0, batch_size=8, budget=budget, decision_draws=3)
    spy = AttackedRows(getattr(attack.adversary, name))
    attack(x, y)
    assert spy.runs == [5]  # the five live examples once; never the three wrong ones


def test_fab_t_runs_once_per_target_whatever_the_restarts_of_the_budget():
    """As ``run_standard_evaluation`` sets it up: FAB-T's restarts are its targets, one run each;
    the budget's ``n_restarts`` is FAB's (untargeted) count."""
    budget = {"n_iter": 2, "n_target_classes": 2, "n_restarts": 3, "attacks_to_run": ["fab-t"]}
    model = Deterministic().eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = model(x).argmax(1)
    attack = AutoAttackEval(model, norm="Linf", eps=0.001, seed=0, batch_size=6, budget=budget, decision_draws=2)
    spy = AttackedRows(attack.adversary.fab)
    attack(x, y)
    assert spy.runs == [6, 6]  # two targets, one run each, nothing broken at this eps
