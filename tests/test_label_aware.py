"""The label-aware attack loss: its gradient reaches x' through the label network (where the plain
loss's label path carries nothing), it breaks a toy guided defense with a weak label network that
the plain loss leaves standing, and the catalogue runs it on guided entries only."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.attacks.catalogue import ATTACK_ORDER, attacks_for, build_attack
from zoo.attacks.pgd_eot import LABEL_AWARE
from zoo.attacks.losses import AttackLoss, LabelAwareLoss, cross_entropy_sum, label_aware_loss
from zoo.running.protocol import settings_for
from zoo.registry import get_entry

from helpers import tiny_model
from test_attacks import Linear


def test_label_network_is_the_one_whose_argmax_is_the_label():
    robust = tiny_model("robust")
    assert robust.label_network is robust.purifier.guidance.net
    by_classifier = tiny_model("robust", label="classifier")
    assert by_classifier.label_network is by_classifier.classifier
    assert tiny_model("none").label_network is None
    with pytest.raises(ValueError, match="label network"):
        label_aware_loss(tiny_model("none"))


class FixedLogits(nn.Module):
    """``net``'s logits on ``x`` (repeated as the EOT batch repeats x), whatever the input: the same
    labels with no path back to the input."""

    def __init__(self, net, x):
        super().__init__()
        self.logits = net(x).detach()

    def forward(self, x):
        return self.logits.repeat(len(x) // len(self.logits), 1)


def seeded_gradient(model, loss, x, y, seed=0):
    torch.manual_seed(seed)
    attack = PGDEOT(model, norm="Linf", eps=0.1, steps=1, eot=2, loss=loss)
    return attack.loss.gradient(attack, x, y, attack.eot, None)


def test_gradient_reaches_x_through_the_label_network_where_the_plain_loss_has_none():
    model = tiny_model("robust")
    model.purifier.label_net = copy.deepcopy(model.purifier.guidance.net)  # y from a network of its own
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    plain = seeded_gradient(model, AttackLoss(), x, y)
    # the plain loss's label path is zero: labels that no longer depend on x give the same gradient
    frozen = tiny_model("robust")  # the same weights (same seed)
    frozen.purifier.label_net = FixedLogits(model.purifier.label_net, x)
    assert torch.equal(plain, seeded_gradient(frozen, AttackLoss(), x, y))
    # the label-aware loss adds w * grad CE(label_net(x'), y): nonzero, linear in w, absent at w = 0
    xr = x.clone().requires_grad_(True)
    by_hand = torch.autograd.grad(cross_entropy_sum(model.purifier.label_net(xr), y), xr)[0]
    assert by_hand.abs().max() > 1e-3
    for w in (0.0, 0.5, 2.0):
        aware = seeded_gradient(model, label_aware_loss(model, w), x, y)
        torch.testing.assert_close(aware - plain, w * by_hand)


class ToyGuided(nn.Module):
    """A guided defense in miniature: y = argmax of a weak linear label net on x', the input pulled
    90% of the way to class y's prototype, then a linear classifier. The label net reads direction
    ``v``, the classifier direction ``p``, with <p, v> = 0."""

    def __init__(self, p, v, pull=0.9):
        super().__init__()
        self.p, self.v, self.pull = p, v, pull
        self.label_network = Linear(v)
        self.classifier = Linear(p)

    def forward(self, x):
        with torch.no_grad():
            labels = self.label_network(x).argmax(1)
        prototypes = 0.5 + 0.4 * self.p * (1 - 2 * labels.view(-1, 1, 1, 1).to(x.dtype))
        return self.classifier((1 - self.pull) * x + self.pull * prototypes)


def test_label_aware_loss_breaks_a_toy_guided_defense_the_plain_loss_does_not():
    g = torch.Generator().manual_seed(0)
    p = torch.randint(0, 2, (1, 1, 8, 8), generator=g).double() * 2 - 1
    half = torch.ones(64, dtype=torch.float64)
    half[torch.randperm(64, generator=g)[:32]] = -1
    v = p * half.view(1, 1, 8, 8)  # orthogonal to p
    assert float((p * v).sum()) == 0
    model = ToyGuided(p, v)
    x = (0.5 + 0.05 * v + 0.05 * p).repeat(4, 1, 1, 1)
    y = torch.zeros(4, dtype=torch.long)
    assert torch.equal(model(x).argmax(1), y)  # correct on clean inputs
    kwargs = dict(norm="Linf", eps=0.1, steps=5, eot=1, step_size=0.05)
    plain = PGDEOT(model, **kwargs)(x, y)
    aware = PGDEOT(model, loss=label_aware_loss(model), **kwargs)(x, y)
    assert torch.equal(model(plain).argmax(1), y)  # the untouched label keeps the defense right
    assert (model(aware).argmax(1) != y).all()  # the label flipped, and the defense followed it
    assert (model.label_network(aware).argmax(1) != y).all()


def test_catalogue_runs_the_label_aware_attack_on_guided_entries_only():
    assert ATTACK_ORDER.index(LABEL_AWARE) == ATTACK_ORDER.index("pgd-eot") + 1
    both = ("pgd-eot", LABEL_AWARE)
    assert attacks_for(get_entry("agdm-tiny-mnist"), both) == both
    assert attacks_for(get_entry("guided-tiny-mnist"), both) == both
    assert attacks_for(get_entry("diffpure-tiny-mnist"), both) == ("pgd-eot",)
    assert settings_for(get_entry("standard-tiny-mnist"), "Linf", both).attacks == ("pgd-eot",)
    with pytest.raises(ValueError, match="no guidance label"):
        settings_for(get_entry("diffpure-tiny-mnist"), "Linf", (LABEL_AWARE,))
    model = tiny_model("plain")
    entry = get_entry("agdm-tiny-mnist")
    attack = build_attack(LABEL_AWARE, model, norm="Linf", eps=0.1, seed=0, budget=entry.budget)
    assert isinstance(attack.loss, LabelAwareLoss) and attack.loss.label_net is model.label_network
    plain = build_attack("pgd-eot", model, norm="Linf", eps=0.1, seed=0, budget=entry.budget)
    assert type(plain.loss) is AttackLoss
