"""AutoAttack with repeated-draw decisions: honest on a stochastic defense (no example is returned
unattacked and then scored robust on fresh draws), and exactly plain ``run_standard_evaluation``
on a deterministic model."""
from __future__ import annotations

import pytest
import torch
from pyautoattack import AutoAttack
from torch import nn

from zoo.attacks import PGDEOT
from zoo.attacks.autoattack import AutoAttackEval

N_CLASSES = 10


class FlakyUntilShifted(nn.Module):
    """A toy stochastic defense. Its class is the brightest of the first 10 pixels; each forward
    draws, per example, whether it answers that class (probability ``p``) or the next one, so a
    clean input is right on about 69% of draws. Shifting the mean intensity by 0.01 or more (one
    step of any Linf attack at eps 0.1 that follows the gradient) makes it answer the next class on
    every draw. The truth for any attack at that eps: 0% robust."""

    def __init__(self, p: float = 0.69):
        super().__init__()
        self.p = p

    def forward(self, x):
        flat = x.flatten(1)
        own = flat[:, :N_CLASSES].argmax(1)
        other = (own + 1) % N_CLASSES
        flip = torch.rand(len(x), device=x.device) >= self.p
        answer = torch.where(flip, other, own)
        shift = flat.mean(1, keepdim=True) - 0.5
        push = nn.functional.one_hot(other, N_CLASSES) - nn.functional.one_hot(own, N_CLASSES)
        return nn.functional.one_hot(answer, N_CLASSES).to(x.dtype) + 200.0 * shift * push.to(x.dtype)


def toy_digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n 1x8x8 images, mean intensity exactly 0.5, class c marked bright at pixel c."""
    y = torch.arange(n) % N_CLASSES
    x = torch.full((n, 64), 0.5)
    x[torch.arange(n), y] = 0.75
    x[torch.arange(n), y + N_CLASSES] = 0.25
    return x.view(n, 1, 8, 8), y


def robust_vote(model, x, x_adv, y, draws: int = 5) -> float:
    """Robust accuracy as the benchmark scores it: clean and adversarial majority votes over
    ``draws`` fresh purifications both right."""
    with torch.no_grad():
        clean = torch.stack([model(x).argmax(1) for _ in range(draws)])
        adv = torch.stack([model(x_adv).argmax(1) for _ in range(draws)])
    right = lambda preds: (preds == y).float().mean(0) > 0.5
    return float((right(clean) & right(adv)).float().mean())


SMALL = {"n_iter": 5, "n_restarts": 1, "eot_iter": 2, "n_target_classes": 2, "n_queries": 20}


@pytest.mark.parametrize("version", ["standard", "rand"])
def test_autoattack_is_as_honest_as_pgd_eot_on_a_stochastic_defense(version):
    model = FlakyUntilShifted()
    x, y = toy_digits(200)
    torch.manual_seed(0)
    assert 0.6 < robust_vote(model, x, x, y) < 0.95  # unattacked, the votes are mostly right
    pgd = PGDEOT(model, norm="Linf", eps=0.1, steps=2, eot=2, step_size=0.05)(x, y)
    aa = AutoAttackEval(model, norm="Linf", eps=0.1, version=version, budget=SMALL, batch_size=100)(x, y)
    torch.manual_seed(1)
    assert robust_vote(model, x, pgd, y) <= 0.03
    assert robust_vote(model, x, aa, y) <= 0.03  # plain run_standard_evaluation: about 25-30%


class Deterministic(nn.Module):
    """A small fixed ReLU net, broken on some inputs and robust on others at eps 0.05."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, N_CLASSES))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("version, budget", [
    ("standard", {"n_iter": 3, "n_target_classes": 2, "n_queries": 10}),
    ("rand", {"n_iter": 4, "eot_iter": 2}),
    ("standard", {"n_iter": 2, "n_target_classes": 2, "n_queries": 5, "n_restarts": 2,
                  "attacks_to_run": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"]}),
], ids=["standard", "rand", "all-sub-attacks"])
def test_deterministic_model_gets_plain_autoattacks_result(version, budget):
    from zoo.attacks.autoattack import configure

    model = Deterministic().eval()
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(16, 1, 8, 8, generator=gen)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:4] = (y[:4] + 1) % N_CLASSES  # a few misclassified from the start
    plain = AutoAttack(model, norm="Linf", eps=0.05, version=version, seed=0, device="cpu")
    plain.verbose = False
    configure(plain, budget)
    expected, _ = plain.run_standard_evaluation(x, y, batch_size=10)
    ours = AutoAttackEval(model, norm="Linf", eps=0.05, version=version, seed=0, batch_size=10, budget=budget,
                          decision_draws=3)(x, y)
    changed = (expected != x).flatten(1).any(1)
    assert 0 < int(changed.sum()) < len(x) - 4  # some broken, some not: the comparison means something
    assert torch.equal(ours, expected)
    assert torch.equal(ours.flatten(1).ne(x.flatten(1)).any(1), changed)
