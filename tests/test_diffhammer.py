"""DiffHammer: the E-step's weights single out the draws that share a vulnerability, so on a
defense whose purifications come from two modes (one breakable within the ball, one not, whose
gradient is larger and opposite) the selective attack breaks the vulnerable mode where uniform EOT
averaging (PGD+EOT, or DiffHammer without its weights) walks the wrong way; the in-loop
N-evaluation returns the iterate most draws broke; the catalogue's call count holds."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT, catalogue
from zoo.attacks.diffhammer import DiffHammer
from zoo.attacks.gradients import attacker_model
from zoo.attacks.losses import AttackLoss
from zoo.registry.schema import Budget

from helpers import tiny_model

EPS = 0.25


class TwoModes(nn.Module):
    """Each purification (each call and row, from torch's global RNG) is mode A with probability
    1/2, broken once pixel 0 rises 0.15 above 0.5 (reachable: eps = 0.25), or mode B, broken only
    0.5 below it (unreachable), whose margin falls twice as fast as A's rises: their mean gradient
    points away from A's vulnerability. Logits [0, margin]; the true class is 0."""

    def forward(self, x):
        u = x.flatten(1)[:, 0] - 0.5
        mode_a = torch.rand(x.shape[0], dtype=x.dtype) < 0.5
        margin = torch.where(mode_a, 10 * (u - 0.15), -20 * u - 10)
        return torch.stack([torch.zeros_like(margin), margin], 1)


def attack_toy(attack):
    torch.manual_seed(0)
    x, y = torch.full((4, 1, 1, 2), 0.5, dtype=torch.float64), torch.zeros(4, dtype=torch.long)
    return attack(x, y)[:, 0, 0, 0] - 0.5  # how far pixel 0 moved


def test_selective_attack_breaks_the_vulnerable_mode_where_uniform_eot_does_not():
    settings = dict(norm="Linf", eps=EPS, steps=10, step_size=0.05)
    hammered = attack_toy(DiffHammer(TwoModes(), draws=8, **settings))
    assert (hammered > 0.15).all()  # every mode-A purification of the result misclassifies
    uniform = attack_toy(DiffHammer(TwoModes(), draws=8, selective=False, **settings))
    pgd = attack_toy(PGDEOT(TwoModes(), eot=8, loss=AttackLoss("margin"), **settings))
    assert (uniform < 0.15).all() and (pgd < 0.15).all()  # no purification of theirs is broken


def test_e_step_weights_the_draws_that_one_perturbation_breaks_together():
    attack = DiffHammer(TwoModes(), norm="Linf", eps=EPS)
    x = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    direction = torch.tensor([1.0, 0.0], dtype=torch.float64).view(1, 1, 1, 2)
    # draws 0-2 near their boundary and pushed up; draw 3 far from it, with a larger opposite gradient
    losses = torch.tensor([[-1.5], [-1.0], [-2.0], [-10.0]], dtype=torch.float64)
    grads = torch.stack([10 * direction, 10 * direction, 10 * direction, -20 * direction])
    q = attack.e_step(x, x, losses, grads)[:, 0]
    assert (q[:3] > 0.5).all() and q[3] < 1e-4
    assert (q[:3] > torch.sigmoid(losses[:3, 0])).all()  # r* moved towards the shared vulnerability


class BrokenOnce(nn.Module):
    """Deterministic, right everywhere except on its second call (the draws judging iterate 1)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        true = torch.full((x.shape[0],), -1.0 if self.calls == 2 else 10.0, dtype=x.dtype)
        return torch.stack([true, 1e-3 * x.flatten(1).sum(1)], 1)


def test_returns_the_iterate_its_n_evaluation_found_broken_not_the_last():
    x, y = torch.full((2, 1, 1, 2), 0.5, dtype=torch.float64), torch.zeros(2, dtype=torch.long)
    out = DiffHammer(BrokenOnce(), norm="Linf", eps=EPS, steps=4, draws=3, step_size=0.05)(x, y)
    torch.testing.assert_close(out, x + 0.05)  # iterate 1; the last is x + 0.2


def test_refuses_attackers_whose_logits_are_not_the_defenses():
    model = tiny_model("none", t_star=3)
    for mode in ("blind", "surrogate"):
        kw = {"steps": 2} if mode == "surrogate" else {}
        with pytest.raises(ValueError, match=mode):
            DiffHammer(model, norm="Linf", eps=0.1).with_attacker(attacker_model(model, mode, **kw))


def test_registered_with_its_cost():
    spec = catalogue.spec("diffhammer")
    assert not spec.default and not spec.label_aware and spec.threat == "eps-ball"
    calls = catalogue.attack_calls("diffhammer", Budget(pgd_steps=7, pgd_eot=3))
    assert (calls.forward, calls.gradient) == (3, 21)
