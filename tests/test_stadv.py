"""StAdv (zoo.attacks.stadv): the flow loss on hand-checked fields, the warp, the bound, EOT, and
the attack breaking the undefended demo classifier at the paper's bound 0.05."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.attacks import StAdv
from zoo.attacks.stadv import flow_smoothness, margin_sum, warp
from zoo.data import mnist_demo


def test_flow_loss_by_hand():
    flow = torch.zeros(2, 5, 5, 2)
    flow[1] = 0.3  # a constant flow is perfectly smooth
    assert flow_smoothness(flow).tolist() == pytest.approx([0.0, 0.0], abs=1e-4)
    one = torch.zeros(1, 5, 5, 2)
    one[0, 2, 2] = torch.tensor([0.3, 0.4])  # one interior pixel moved by length 0.5
    # 4 neighbours, each pair counted from both ends: 8 * 0.5
    assert float(flow_smoothness(one)) == pytest.approx(4.0, abs=1e-4)


def test_margin_by_hand():
    logits = torch.tensor([[2.0, 5.0, 1.0], [0.0, -1.0, 3.0]])
    assert float(margin_sum(logits, torch.tensor([1, 0]))) == pytest.approx((2 - 5) + (3 - 0))


def test_warp_zero_flow_is_identity_and_a_shift_moves_pixels():
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(warp(x, torch.zeros(2, 6, 6, 2)), x)
    shift = torch.zeros(2, 6, 6, 2)
    shift[..., 0] = 2.0 / 6  # one pixel to the right in normalised units (the side spans 2)
    torch.testing.assert_close(warp(x, shift)[..., :-1], x[..., 1:])


@pytest.fixture(scope="module")
def demo(one_thread):
    model = zoo.load("standard-tiny-mnist", device="cpu")
    x, y = mnist_demo("test")
    return model, x[:16], y[:16]


def test_breaks_the_undefended_demo_classifier_within_the_bound(demo):
    model, x, y = demo
    attack = StAdv(model, bound=0.05, steps=20, eot=1)
    flow = attack.flow_field(x, y)
    assert flow.shape == (16, 28, 28, 2)
    assert float(flow.abs().max()) <= 0.05 + 1e-7
    x_adv = warp(x, flow)  # what attack(x, y) returns
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean()
        robust = (model(x_adv).argmax(1) == y).float().mean()
    assert clean >= 0.8 and robust <= 0.1
    # a much smaller bound leaves the classifier mostly right: the bound is what limits the attack
    small = StAdv(model, bound=0.002, steps=20, eot=1)
    with torch.no_grad():
        assert (model(small(x, y)).argmax(1) == y).float().mean() >= clean - 0.2


def test_zero_bound_returns_x(demo):
    model, x, y = demo
    torch.testing.assert_close(StAdv(model, bound=0.0, steps=2, eot=1)(x[:4], y[:4]), x[:4])


class Counting(nn.Module):
    """A noisy linear classifier that records the batch size of every forward call."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return self.linear(x + 0.01 * torch.randn_like(x))


def test_eot_batches_the_defenses_randomness():
    model = Counting()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    StAdv(model, steps=3, eot=4, eot_batch=2)(x, torch.tensor([0, 2]))
    assert model.sizes == [4] * 6  # per step: 2 forward calls of 2 samples x 2 examples


@pytest.mark.parametrize("kwargs, word", [
    ({"bound": -0.1}, "eps"), ({"steps": 0}, "steps"), ({"smoothness": -1.0}, "smoothness"),
])
def test_bad_arguments_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        StAdv(nn.Identity(), **kwargs)


def test_threat_name_and_bad_input():
    attack = StAdv(nn.Identity())
    assert attack.norm == "StAdv" and attack.bound == 0.05
    with pytest.raises(ValueError, match="N x C x H x W"):
        attack.flow_field(torch.rand(3, 4), torch.zeros(3, dtype=torch.long))
