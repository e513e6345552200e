"""The losses PGD+EOT can ascend (zoo.attacks.losses): the CW margin and DLR on hand-checked
logits, DLR against pyautoattack's own implementation, the label-aware loss with each of them,
and the catalogue's loss variants of PGD+EOT."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.attacks.catalogue import ATTACK_ORDER, TITLES, attacks_for, build_attack, with_loss
from zoo.attacks.pgd_eot import LABEL_AWARE
from zoo.attacks.losses import LOSSES, AttackLoss, LabelAwareLoss, dlr_sum, margin_sum
from zoo.registry.resolve import get_entry

from helpers import tiny_model


def test_margin_and_dlr_by_hand():
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 6.0, 4.0]])
    y = torch.tensor([0, 1, 3])
    # margins (best wrong - true): 1 - 3, 3 - 1, 6 - 4; largest minus third largest: 3, 3, 6 - 2
    assert float(margin_sum(logits, y)) == pytest.approx(-2 + 2 + 2)
    assert float(dlr_sum(logits, y)) == pytest.approx(-2 / 3 + 2 / 3 + 2 / 4)
    # DLR does not change when the logits are shifted and scaled; the margin scales with them
    assert float(dlr_sum(5 * logits + 7, y)) == pytest.approx(float(dlr_sum(logits, y)))
    assert float(margin_sum(5 * logits + 7, y)) == pytest.approx(5 * float(margin_sum(logits, y)))
    with pytest.raises(ValueError, match="at least 3 classes"):
        dlr_sum(torch.zeros(1, 2), torch.tensor([0]))


def test_dlr_equals_autoattacks_dlr_on_the_same_logits():
    from pyautoattack.autopgd_base import APGDAttack

    apgd = APGDAttack(nn.Identity(), norm="Linf", eps=0.1, loss="dlr", device="cpu")
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(64, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (64,), generator=g)
    y[:16] = logits[:16].argmax(1)  # true class on top for some rows, elsewhere for the others
    theirs = apgd.dlr_loss(logits, y)
    assert not torch.allclose(theirs, theirs[0].expand_as(theirs))  # rows differ: the test can tell them apart
    torch.testing.assert_close(dlr_sum(logits, y), theirs.sum())
    ours = [float(dlr_sum(logits[i:i + 1], y[i:i + 1])) for i in range(len(y))]
    torch.testing.assert_close(torch.tensor(ours, dtype=torch.float64), theirs)
    # and the gradient APGD-DLR ascends
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    dlr_sum(a, y).backward()
    apgd.dlr_loss(b, y).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_label_aware_loss_composes_with_the_chosen_loss(loss):
    torch.manual_seed(0)
    label_net = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 2, 4])
    aware = LabelAwareLoss(label_net, weight=0.5, loss=loss)
    assert aware.name == f"{loss}+label" and AttackLoss(loss).name == loss
    xg = x.clone().requires_grad_(True)
    (0.5 * LOSSES[loss](label_net(xg), y)).backward()
    torch.testing.assert_close(aware.label_gradient(x, y), xg.grad)
    others = [name for name in LOSSES if name != loss]
    assert all(not torch.allclose(aware.label_gradient(x, y), LabelAwareLoss(label_net, 0.5, o).label_gradient(x, y))
               for o in others)  # the loss reaches the label term


def test_bad_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        AttackLoss("hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        with_loss(("pgd-eot",), "hinge")


def test_catalogue_names_every_loss_variant_and_builds_it():
    assert with_loss(("pgd-eot", LABEL_AWARE, "autoattack-rand"), "dlr") == (
        "pgd-eot-dlr", "pgd-eot-label-dlr", "autoattack-rand")
    assert with_loss(("pgd-eot-dlr",), "ce") == ("pgd-eot",)
    assert TITLES["pgd-eot-dlr"] == "pgd-eot (dlr)" and TITLES["pgd-eot-label-margin"] == "pgd-eot (label-aware, margin)"
    assert ATTACK_ORDER.index("pgd-eot-label-dlr") == ATTACK_ORDER.index("pgd-eot-dlr") + 1
    assert attacks_for(get_entry("diffpure-tiny-mnist"), ("pgd-eot-dlr", "pgd-eot-label-dlr")) == ("pgd-eot-dlr",)
    model = tiny_model("plain")
    budget = get_entry("agdm-tiny-mnist").budget
    attack = build_attack("pgd-eot-label-margin", model, norm="Linf", eps=0.1, seed=0, budget=budget)
    assert isinstance(attack, PGDEOT) and isinstance(attack.loss, LabelAwareLoss)
    assert attack.loss.loss == "margin" and attack.loss.label_net is model.label_network
    assert build_attack("pgd-eot-dlr", model, norm="Linf", eps=0.1, seed=0, budget=budget).loss.fn is dlr_sum


def test_pgd_eot_ascends_the_chosen_loss():
    """One PGD step on a linear classifier: the losses' gradients differ, so their steps do; CE
    and the margin are convex in x here, so a signed step along the gradient raises each."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).double()
    x = torch.rand(8, 1, 4, 4, dtype=torch.float64)
    y = model(x).argmin(1)
    steps = {name: PGDEOT(model, norm="Linf", eps=0.05, steps=1, eot=1, loss=AttackLoss(name))(x, y) for name in LOSSES}
    assert not torch.equal(steps["ce"], steps["margin"]) and not torch.equal(steps["margin"], steps["dlr"])
    with torch.no_grad():
        for name in ("ce", "margin"):
            assert float(LOSSES[name](model(steps[name]), y)) > float(LOSSES[name](model(x), y))


@pytest.mark.parametrize("build", ["loss", "attacker"])
def test_both_label_aware_attacks_refuse_a_missing_label_net_and_a_negative_weight(build):
    """One set of checks for the label-aware loss and the label-aware attacker (losses.check_label_term)."""
    from zoo.attacks.gradients import LabelAware

    make = (lambda net, w: LabelAwareLoss(net, w)) if build == "loss" else (lambda net, w: LabelAware(nn.Identity(), net, w))
    with pytest.raises(ValueError, match=f"label-aware {build} needs a label network"):
        make(None, 1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="label weight must be >= 0"):
            make(nn.Identity(), bad)
    assert make(nn.Identity(), 2).weight == 2.0
