"""The attack package: the threat model is respected, PGD+EOT follows its update rule and breaks an
undefended classifier, and EOT gradients are batched (one forward per chunk) yet exact."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.attacks import ATTACKS, PGDEOT, Attack
from zoo.attacks.losses import cross_entropy_sum

from helpers import tiny_model


def pattern(seed=0):
    """A fixed +-1 pattern over 1x8x8 pixels."""
    return torch.randint(0, 2, (1, 1, 8, 8), generator=torch.Generator().manual_seed(seed)).float() * 2 - 1


class Linear(nn.Module):
    """An undefended 2-class linear classifier with known weights: z = w . (x - 0.5), logits [z, -z]."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        z = ((x - 0.5) * self.w).flatten(1).sum(1)
        return torch.stack([z, -z], dim=1)


class NoisyMLP(nn.Module):
    """A small nonlinear model adding Gaussian noise from the global RNG to its input (a stand-in for
    purification); it logs each call's noise and batch size, and can replay a given noise."""

    def __init__(self, sigma=0.1):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 5))
        self.sigma, self.noises, self.replay = sigma, [], None

    def forward(self, x):
        noise = torch.randn(x.shape) if self.replay is None else self.replay
        self.noises.append(noise)
        return self.net(x + self.sigma * noise)


@pytest.fixture
def data():
    """Linearly separable data for ``Linear(pattern())``: class 0 brighter along w, margin 0.1 per pixel."""
    g = torch.Generator().manual_seed(1)
    s = torch.tensor([1.0, -1.0] * 8).view(-1, 1, 1, 1)
    x = (0.5 + 0.1 * s * pattern() + 0.02 * torch.randn(16, 1, 8, 8, generator=g)).clamp(0, 1)
    return x, (s.flatten() < 0).long()


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def linf(d):
    return d.flatten(1).abs().max(1).values


def l2(d):
    return d.flatten(1).norm(dim=1)


def test_registry_and_paper_defaults():
    assert ATTACKS["pgd-eot"] is PGDEOT and issubclass(PGDEOT, Attack)
    a = PGDEOT(Linear(pattern()), norm="Linf", eps=8 / 255)
    assert (a.steps, a.eot, a.step_size, a.random_start) == (200, 20, 0.007, False)
    b = PGDEOT(Linear(pattern()), norm="L2", eps=0.5, steps=100)
    assert b.step_size == pytest.approx(2.5 * 0.5 / 100)


@pytest.mark.parametrize("kwargs, word", [
    ({"norm": "L1", "eps": 0.1}, "L1"), ({"norm": "linf", "eps": 0.1}, "linf"),
    ({"norm": "Linf", "eps": -1.0}, "eps"), ({"norm": "L2", "eps": float("nan")}, "eps"),
    ({"norm": "Linf", "eps": 0.1, "steps": 0}, "steps"), ({"norm": "Linf", "eps": 0.1, "eot": 0}, "eot"),
    ({"norm": "Linf", "eps": 0.1, "eot_batch": 0}, "eot_batch"),
])
def test_bad_arguments_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        PGDEOT(Linear(pattern()), **kwargs)


def test_bad_inputs_raise(data):
    x, y = data
    attack = PGDEOT(Linear(pattern()), norm="Linf", eps=0.1, steps=1, eot=1)
    with pytest.raises(ValueError, match="long"):
        attack(x, y.float())
    with pytest.raises(ValueError, match="shape"):
        attack(x, y[:3])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack(x + 1.0, y)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_eps_zero_returns_x(norm, data):
    x, y = data
    model = Linear(pattern())
    x_adv = PGDEOT(model, norm=norm, eps=0.0, steps=5, eot=2, random_start=True)(x, y)
    assert torch.equal(x_adv, x)
    assert accuracy(model, x_adv, y) == accuracy(model, x, y) == 1.0


@pytest.mark.parametrize("norm, small, large, step", [("Linf", 0.05, 0.2, 0.02), ("L2", 0.4, 2.0, 0.1)])
def test_breaks_undefended_linear_model_only_with_enough_budget(norm, small, large, step, data):
    """The margin is 0.1 per pixel along w (|w| = 1): Linf needs eps > 0.1, L2 eps > 0.1 * 8 = 0.8
    (40 steps travel 0.8 in Linf, 4 in L2: enough to reach either ball's boundary)."""
    x, y = data
    model = Linear(pattern())
    assert accuracy(model, x, y) == 1.0
    assert accuracy(model, PGDEOT(model, norm=norm, eps=large, steps=40, eot=1, step_size=step)(x, y), y) == 0.0
    assert accuracy(model, PGDEOT(model, norm=norm, eps=small, steps=40, eot=1, step_size=step)(x, y), y) == 1.0


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_one_step_follows_the_update_rule(norm, data):
    """For the linear model the ascent direction of class 0's loss is -w: one Linf step moves every
    pixel by -step*sign(w), one L2 step by -step*w/||w||; class 1 the opposite way."""
    x, y = data
    w, step = pattern(), 0.01
    x_adv = PGDEOT(Linear(w), norm=norm, eps=1.0, steps=1, eot=3, step_size=step)(x, y)
    sign = (1 - 2 * y).view(-1, 1, 1, 1).float()
    unit = w.sign() if norm == "Linf" else w / w.norm()
    torch.testing.assert_close(x_adv - x, -sign * step * unit.expand_as(x))


@pytest.mark.parametrize("norm, eps", [("Linf", 0.03), ("Linf", 0.3), ("L2", 0.5), ("L2", 3.0)])
@pytest.mark.parametrize("random_start", [False, True])
def test_iterates_stay_in_ball_and_pixel_range(norm, eps, random_start):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 1, 8, 8, generator=g)
    x[0], x[1] = 0.0, 1.0  # saturated images: the [0, 1] clamp is active
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    model = NoisyMLP()
    x_adv = PGDEOT(model, norm=norm, eps=eps, steps=6, eot=2, step_size=eps / 2, random_start=random_start)(x, y)
    size = (linf if norm == "Linf" else l2)(x_adv - x)
    assert float(size.max()) <= eps * (1 + 1e-6)
    assert float(size.max()) >= 0.5 * eps  # it did move: the bound is not met by standing still
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_project_reaches_the_boundary_and_keeps_inner_points(norm):
    attack = PGDEOT(Linear(pattern()), norm=norm, eps=0.1)
    x = torch.full((3, 1, 8, 8), 0.5)
    far = x + torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    size = (linf if norm == "Linf" else l2)(attack.project(far, x) - x)
    torch.testing.assert_close(size, torch.full((3,), 0.1))
    near = x + 0.001 * torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(attack.project(near, x), near)


@pytest.mark.parametrize("eot_batch, calls", [(None, 1), (8, 1), (4, 2), (3, 3), (20, 1)])
def test_eot_gradient_is_one_batched_forward_per_chunk(eot_batch, calls):
    model = NoisyMLP()
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2])
    PGDEOT(model, norm="Linf", eps=0.1).eot_gradient(x, y, 8, cross_entropy_sum, eot_batch=eot_batch)
    sizes = [len(n) for n in model.noises]
    assert len(sizes) == calls and sum(sizes) == 8 * 3


@pytest.mark.parametrize("eot_batch", [None, 3])
def test_batched_eot_gradient_is_mean_of_per_sample_gradients(eot_batch):
    """Replaying each sample's noise one sample at a time gives per-sample gradients whose mean must
    equal the batched EOT gradient (also checks the repeats line up with their labels)."""
    model = NoisyMLP().double()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 3, 4])
    batched = PGDEOT(model, norm="Linf", eps=0.1).eot_gradient(x, y, 8, cross_entropy_sum, eot_batch=eot_batch)
    per_sample = []
    for noise in torch.cat(model.noises).split(3):
        model.replay = noise.double()
        xr = x.clone().requires_grad_(True)
        per_sample.append(torch.autograd.grad(cross_entropy_sum(model(xr), y), xr)[0])
    torch.testing.assert_close(batched, torch.stack(per_sample).mean(0))
    assert not torch.allclose(per_sample[0], per_sample[1])  # the noise matters, so the test is not vacuous


def test_deterministic_model_eot_gradient_is_its_gradient():
    model = NoisyMLP(sigma=0.0).double()
    x, y = torch.rand(4, 1, 8, 8, dtype=torch.float64), torch.tensor([1, 0, 2, 4])
    xr = x.clone().requires_grad_(True)
    expected = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)[0]
    with torch.no_grad():  # the attack turns grad on itself
        got = PGDEOT(model, norm="L2", eps=0.1).eot_gradient(x, y, 5, cross_entropy_sum, eot_batch=2)
    torch.testing.assert_close(got, expected)


def test_random_start_is_seeded(data):
    x, y = data
    model = Linear(pattern())

    def run(seed):
        return PGDEOT(model, norm="L2", eps=0.5, steps=2, eot=1, random_start=True, seed=seed)(x, y)

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_attacks_tiny_defended_classifier():
    model = tiny_model("robust", dtype=torch.float32, t_star=3)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    y = torch.tensor([0, 1, 2])
    attack = PGDEOT(model, norm="Linf", eps=0.05, steps=2, eot=2, step_size=0.03)

    def run():
        torch.manual_seed(0)  # the purification noise
        return attack(x, y)

    x_adv = run()
    assert x_adv.shape == x.shape and x_adv.dtype == torch.float32 and not x_adv.requires_grad
    assert float(linf(x_adv - x).max()) <= 0.05 + 1e-7 and float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert float(linf(x_adv - x).min()) > 0.0  # every input was moved
    torch.testing.assert_close(run(), x_adv, rtol=0, atol=0)
