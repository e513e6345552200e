"""The label-aware loss inside the anytime pool: its EOT samples draw their noise from the
generator the pool gives each example (so a pooled label-aware run repeats whatever else used the
global RNG), and their logits reach the pool's sink as the plain loss's do (the candidate breaks
come from them); the label term is added on top."""
from __future__ import annotations

import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.attacks.losses import AttackLoss, LabelAwareLoss

SAMPLES = 3


class Noisy(nn.Module):
    """A linear classifier of 1x2x2 inputs scaled by (1 + noise): its input gradient depends on the
    noise, which comes from ``generator`` when given."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 3)

    def forward(self, x, generator=None):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return self.linear((x * (1 + noise)).flatten(1) ** 2)


def setup():
    model, label_net = Noisy(), nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2])
    return PGDEOT(model, norm="Linf", eps=0.1), LabelAwareLoss(label_net, weight=0.5), x, y


def test_the_label_aware_eot_gradient_draws_its_noise_from_the_given_generator():
    attack, aware, x, y = setup()
    first = aware.gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global RNG moved on: it must not matter
    again = aware.gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    plain = AttackLoss().gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(first, plain + aware.label_gradient(x, y))
    other = aware.gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(8))
    assert not torch.allclose(first, other)


def test_the_label_aware_eot_samples_reach_the_sink_as_the_plain_loss_samples_do():
    attack, aware, x, y = setup()
    aware_sink, plain_sink = [], []
    aware.gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(7), sink=aware_sink)
    AttackLoss().gradient(attack, x, y, SAMPLES, None, generator=torch.Generator().manual_seed(7), sink=plain_sink)
    assert len(aware_sink) == 1 and aware_sink[0].shape == (SAMPLES, len(x), 3)
    assert torch.equal(aware_sink[0], plain_sink[0])
