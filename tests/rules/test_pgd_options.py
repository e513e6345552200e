"""PGD+EOT's options act as documented: ``eot_batch`` caps the EOT samples per forward call (for
either loss), and ``random_start`` starts the anytime iterations, as the final ones, at the
seeded random point of the ball."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.attacks.losses import LabelAwareLoss


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.calls = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("label_aware", [False, True])
@pytest.mark.parametrize("eot_batch, calls", [(None, 1), (1, 4), (2, 2), (3, 2)])
def test_eot_batch_caps_the_samples_per_forward_call(eot_batch, calls, label_aware):
    torch.manual_seed(0)
    model = Counting()
    loss = LabelAwareLoss(nn.Sequential(nn.Flatten(), nn.Linear(64, 10))) if label_aware else None
    x, y = torch.rand(2, 1, 8, 8), torch.tensor([1, 2])
    attack = PGDEOT(model, norm="Linf", eps=0.1, steps=1, eot=4, eot_batch=eot_batch, loss=loss)
    attack(x, y)
    assert model.calls == calls


@pytest.mark.parametrize("random_start", [False, True])
def test_the_pool_starts_where_the_final_attack_starts(random_start):
    """The anytime pool begins an example at ``start(x, generator)`` and steps with ``step``; with
    the same generator and no noise that is exactly the final attack's path."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([1, 2, 3])
    attack = PGDEOT(model, norm="Linf", eps=0.1, steps=2, eot=1, random_start=random_start, seed=5)
    first = attack.start(x, torch.Generator().manual_seed(5))
    start = PGDEOT(model, norm="Linf", eps=0.1, steps=2, random_start=True, seed=5).random_point(x)
    assert torch.equal(first, start if random_start else x)
    stepped = attack.step(attack.step(first, x, y), x, y)
    final = PGDEOT(model, norm="Linf", eps=0.1, steps=2, eot=1, random_start=random_start, seed=5)(x, y)
    assert torch.allclose(stepped, final)
