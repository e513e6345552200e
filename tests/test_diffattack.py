"""DiffAttack: its gradient is the exact gradient of cross-entropy + lambda * the deviated-
reconstruction loss on the chain's intermediate states (finite differences on a float64 tiny
model, grad modes exact and checkpoint), differs from PGD+EOT's by that term, costs what the
catalogue says, and refuses what cannot carry the term (recompute, bpda, blind)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.attacks import PGDEOT, catalogue
from zoo.attacks.diffattack import DEVIATION_WEIGHT, DiffAttack
from zoo.attacks.gradients import attacker_model
from zoo.attacks.losses import label_aware_loss
from zoo.registry.schema import Budget

from helpers import sharpen_guidance, tiny_model


def inputs(n=2, seed=4):
    return torch.rand(n, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1


def objective(model, x_adv, x, y, seed):
    """The paper's L_cls + lambda * L_dev written out independently: cross-entropy of the logits
    plus the mean over reverse steps of the per-pixel squared distance between each step's output
    and the clean input's forward-diffusion mean sqrt(alpha_bar) * x (model space)."""
    torch.manual_seed(seed)
    records = []
    with model.purifier.observe(records.append, differentiable=True):
        logits = model(x_adv)
    chain = model.purifier.diffusion
    dev = 0
    for r in records:
        alpha_bar = 1.0 if r.position == 0 else chain.alpha_bar(r.position - 1)
        dev = dev + (r.x_prev - alpha_bar ** 0.5 * (2 * x - 1)).pow(2).mean(dim=(1, 2, 3))
    return F.cross_entropy(logits, y, reduction="sum") + DEVIATION_WEIGHT * (dev / len(records)).sum()


@pytest.mark.parametrize("mode", ["exact", "checkpoint"])
def test_gradient_is_the_full_objectives_by_finite_differences_and_not_pgds(mode):
    model = sharpen_guidance(tiny_model("robust", t_star=300, steps=4, scale=50.0, grad_mode=mode))
    x, y = inputs(), torch.tensor([3, 7])
    x_adv = (x + 0.05 * (2 * inputs(seed=9) - 1)).clamp(0, 1)
    attack = DiffAttack(model, norm="Linf", eps=0.1, eot=1)
    torch.manual_seed(11)
    grad = attack.gradient(x_adv, x, y)
    v = torch.rand(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype) * 2 - 1
    h = 1e-6
    with torch.no_grad():
        fd = (objective(model, x_adv + h * v, x, y, 11) - objective(model, x_adv - h * v, x, y, 11)) / (2 * h)
    assert float(fd) == pytest.approx(float((grad * v).sum()), rel=1e-5)

    torch.manual_seed(11)
    plain = PGDEOT(model, norm="Linf", eps=0.1, eot=1).loss.gradient(attack, x_adv, y, 1, None)
    assert (grad - plain).abs().max() > 1e-3 * plain.abs().max()  # the intermediate-state term counts
    torch.manual_seed(11)
    torch.testing.assert_close(DiffAttack(model, norm="Linf", eps=0.1, eot=1, weight=0.0).gradient(x_adv, x, y),
                               plain, rtol=0, atol=0)


def test_label_aware_twin_adds_exactly_the_label_networks_gradient():
    model = tiny_model("robust", t_star=3)
    x, y = inputs(), torch.tensor([1, 2])
    plain = DiffAttack(model, norm="Linf", eps=0.1, eot=1)
    aware = DiffAttack(model, norm="Linf", eps=0.1, eot=1, loss=label_aware_loss(model))
    torch.manual_seed(2)
    g_plain = plain.gradient(x, x, y)
    torch.manual_seed(2)
    g_aware = aware.gradient(x, x, y)
    torch.testing.assert_close(g_aware - g_plain, aware.loss.label_gradient(x, y), rtol=1e-9, atol=1e-12)
    assert catalogue.is_label_aware("diffattack-label") and catalogue.plain_twin("diffattack-label") == "diffattack"


def test_refuses_recompute_and_attackers_that_skip_the_chain():
    with pytest.raises(ValueError, match="checkpoint"):
        DiffAttack(tiny_model("none", t_star=3, grad_mode="recompute"), norm="Linf", eps=0.1)
    model = tiny_model("none", t_star=3)
    for mode in ("bpda", "blind"):
        with pytest.raises(ValueError, match=mode):
            DiffAttack(model, norm="Linf", eps=0.1).with_attacker(attacker_model(model, mode))


def test_on_a_plain_classifier_it_is_pgd_eot():
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    x, y = inputs(), torch.tensor([0, 1])
    a = DiffAttack(net, norm="Linf", eps=0.1, steps=3, eot=2)(x, y)
    torch.testing.assert_close(a, PGDEOT(net, norm="Linf", eps=0.1, steps=3, eot=2)(x, y), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["diffattack", "diffhammer"])
def test_calls_match_a_real_run(name):
    """Images through the classifier in forward-only and in gradient calls, as the catalogue predicts."""
    model = tiny_model("none", t_star=3)
    seen = {False: 0, True: 0}
    model.classifier.register_forward_pre_hook(
        lambda m, args: seen.__setitem__(torch.is_grad_enabled() and args[0].requires_grad,
                                         seen[torch.is_grad_enabled() and args[0].requires_grad] + args[0].shape[0]))
    budget = Budget(pgd_steps=3, pgd_eot=2, pgd_step_fraction=0.5)
    x, y = inputs(3), torch.tensor([0, 1, 2])
    catalogue.build_attack(name, model, norm="Linf", eps=0.1, seed=0, budget=budget)(x, y)
    calls = catalogue.attack_calls(name, budget)
    assert (seen[False], seen[True]) == (3 * calls.forward, 3 * calls.gradient)
