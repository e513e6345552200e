"""The DDPM maths and the guided reverse step, against hand computations."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo.models.diffusion import TruncatedDDPM, linear_betas, respaced_indices
from zoo.models.guidance import Guidance, kl_distance
from zoo.models.purifier import Purifier


def test_unrespaced_chain_is_plain_ddpm():
    betas = linear_betas()
    d = TruncatedDDPM(betas, t_star=70)
    assert d.model_timesteps.tolist() == list(range(70))
    torch.testing.assert_close(d.betas, betas[:70])
    abar = torch.cumprod(1 - betas, 0)
    # posterior variance of Ho et al.: beta_t (1 - abar_{t-1}) / (1 - abar_t), zero at t = 1
    t = 40
    assert float(d.posterior_variance[t]) == pytest.approx(float(betas[t] * (1 - abar[t - 1]) / (1 - abar[t])))
    assert float(d.posterior_variance[0]) == 0.0


def test_respacing_keeps_alpha_bar_and_starts_at_t_star():
    betas = linear_betas()
    idx = respaced_indices(100, 10)
    assert len(idx) == 10 and idx[0] == 0 and idx[-1] == 99
    d = TruncatedDDPM(betas, t_star=100, steps=10)
    abar = torch.cumprod(1 - betas, 0)
    torch.testing.assert_close(d.alphas_cumprod, abar[idx])
    torch.testing.assert_close(torch.cumprod(1 - d.betas, 0), abar[idx])


def test_q_sample_matches_eq7():
    d = TruncatedDDPM(linear_betas(), t_star=70)
    x0, noise = torch.rand(2, 3), torch.randn(2, 3)
    abar = float(torch.cumprod(1 - linear_betas(), 0)[69])
    torch.testing.assert_close(d.q_sample(x0, noise), math.sqrt(abar) * x0 + math.sqrt(1 - abar) * noise)


class ZeroEps(nn.Module):
    """A toy diffusion model predicting zero noise: mu = x / sqrt(alpha)."""

    def forward(self, x, t):
        return torch.zeros_like(x)


class Linear2(nn.Module):
    """Two-class linear logits [w . p, 0] on pixels p: a guidance net with a known gradient."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, p):
        z = (p.flatten(1) * self.w).sum(1)
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def one_step(pattern: str | None, scale: float, x_t, x_adv, seed=0):
    """The first (noisy) reverse step of a 2-step chain with a zero-noise DM and linear guidance."""
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    d = TruncatedDDPM(linear_betas().double(), t_star=2)
    guidance = None if pattern is None else Guidance(Linear2(w), pattern, scale)
    purifier = Purifier(ZeroEps(), d, guidance)
    context = purifier._guidance_context(x_adv)
    return purifier._step(x_t, 1, context, False, torch.Generator().manual_seed(seed)), d, w


def hand_step(x_t, x_adv, scale, pattern, d, w, seed=0):
    """The same step by hand: mu + Sigma * s * grad, plus sqrt(Sigma) * noise."""
    alpha = 1 - float(d.betas[1])
    var = float(d.posterior_variance[1])
    mean = x_t / math.sqrt(alpha)
    p = (x_t + 1) / 2
    z = (p * w).sum(1, keepdim=True)
    sig = torch.sigmoid(z)
    z_adv = (x_adv * w).sum(1, keepdim=True)
    y_is_0 = (z_adv > 0).double()  # argmax of [z, 0]
    # d/dx log softmax_y([z, 0]) = (1{y=0} - sigmoid(z)) * w * dp/dx, with dp/dx = 1/2
    grad = (y_is_0 - sig) * w * 0.5
    if pattern == "robust":
        # D = KL(q || p) with q = softmax(f(x')), p = softmax(f(x_t)); dD/dz = sigmoid(z) - q_0
        q0 = torch.sigmoid(z_adv)
        grad = grad - (sig - q0) * w * 0.5
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(seed), dtype=x_t.dtype)
    return mean + var * scale * grad + math.sqrt(var) * noise


@pytest.mark.parametrize("pattern", ["plain", "robust"])
def test_guided_step_equals_hand_computation(pattern):
    x_t = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.4, 0.9]], dtype=torch.float64)
    x_adv = torch.tensor([[0.2, 0.9, 0.1], [0.8, 0.1, 0.3]], dtype=torch.float64)
    got, d, w = one_step(pattern, 2.0, x_t, x_adv)
    torch.testing.assert_close(got, hand_step(x_t, x_adv, 2.0, pattern, d, w))


def test_scale_zero_equals_unguided_step():
    x_t = torch.randn(4, 3, dtype=torch.float64)
    x_adv = torch.rand(4, 3, dtype=torch.float64)
    unguided, _, _ = one_step(None, 1.0, x_t, x_adv)
    for pattern in ("plain", "robust"):
        torch.testing.assert_close(one_step(pattern, 0.0, x_t, x_adv)[0], unguided)


def test_each_guidance_term_has_the_right_sign():
    """A small guided step raises log p(y | x) (plain) and lowers D(f(x'), f(x)) (robust's extra term)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5)).double()
    x_adv = torch.rand(8, 3, 2, 2, dtype=torch.float64)
    x_t = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    to_pixels = lambda x: (x + 1) / 2  # noqa: E731
    plain = Guidance(net, "plain")
    ctx = plain.context(x_adv)
    g_plain = plain.gradient(x_t, to_pixels, ctx.labels, ctx.ref_logits, create_graph=False)
    logp = lambda x: torch.log_softmax(net(to_pixels(x)), 1).gather(1, ctx.labels[:, None]).sum()  # noqa: E731
    assert logp(x_t + 1e-3 * g_plain) > logp(x_t)
    g_robust = Guidance(net, "robust").gradient(x_t, to_pixels, ctx.labels, ctx.ref_logits, create_graph=False)
    g_distance = g_plain - g_robust  # = grad of D
    dist = lambda x: kl_distance(ctx.ref_logits, net(to_pixels(x))).sum()  # noqa: E731
    assert dist(x_t - 1e-3 * g_distance) < dist(x_t)
    assert dist(x_t + 1e-3 * g_robust - 1e-3 * g_plain) < dist(x_t)
