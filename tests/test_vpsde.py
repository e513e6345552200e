"""The VP-SDE backend (Appendix A.2): Euler-Maruyama on the reverse SDE with the guidance added to
the score, through the same purifier, gradient modes and no_grad behaviour as the DDPM chain."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from zoo.models.diffusion import TruncatedDDPM, TruncatedVPSDE, linear_betas
from zoo.models.purifier import Purifier
from zoo.registry.schema import RegistryError, parse_registry

from helpers import sharpen_guidance, tiny_entry_dict, tiny_model

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "score_sde_ddpmpp_deep_continuous_cifar10.json"


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def input_grad(model, x, seed=0, cls=3):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(model(x, generator=seeded(seed))[:, cls].sum(), x)[0]


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 1, 8, 8, generator=seeded(1), dtype=torch.float64) * 0.8 + 0.1


class GaussianPriorEps(nn.Module):
    """The exact noise prediction E[eps | x_t] for data x0 ~ N(m, s^2) per pixel, given alpha-bar
    as a function of the network's time label: a toy score with a known purification law."""

    def __init__(self, alpha_bar_of_label, m=0.2, s=0.1):
        super().__init__()
        self.alpha_bar_of_label, self.m, self.s = alpha_bar_of_label, m, s

    def forward(self, x, t):
        abar = self.alpha_bar_of_label(t).to(x.dtype)[:, None, None, None]
        return torch.sqrt(1 - abar) * (x - torch.sqrt(abar) * self.m) / (abar * self.s ** 2 + 1 - abar)


def test_many_small_vpsde_steps_match_the_ddpm_chain_and_the_exact_law():
    """From x' = 0 (model space) diffused to t* = 100, both chains should draw from the law of x0
    given x_{t*} under the prior: mean m + k (x' - m), known variance. Measured on 25,600 pixels;
    the VP-SDE runs 1,000 Euler steps over the same time span."""
    abar_disc = torch.cumprod(1 - linear_betas(), 0)
    ddpm = TruncatedDDPM(linear_betas(), 100)
    vpsde = TruncatedVPSDE(100, steps=1000)
    ddpm_net = GaussianPriorEps(lambda t: abar_disc[t.long()])
    vp_net = GaussianPriorEps(lambda t: torch.exp(2 * vpsde.log_mean_coeff(t.double() / 999)))
    x = torch.full((100, 1, 16, 16), 0.5, dtype=torch.float64)  # pixel 0.5 = model space 0
    stats = {}
    for name, net, diffusion in [("ddpm", ddpm_net, ddpm), ("vpsde", vp_net, vpsde)]:
        with torch.no_grad():
            out = Purifier(net, diffusion)(x, generator=seeded(0)) * 2 - 1
        stats[name] = (float(out.mean()), float(out.std()))
    print(stats)
    ab, m, s, xp = float(abar_disc[99]), 0.2, 0.1, 0.0
    denom = ab * s ** 2 + 1 - ab
    mean = m + ab * s ** 2 / denom * (xp - m)
    std = math.sqrt((math.sqrt(ab) * s ** 2 / denom) ** 2 * (1 - ab) + s ** 2 * (1 - ab) / denom)
    for name, (got_mean, got_std) in stats.items():
        assert got_mean == pytest.approx(mean, abs=3e-3), name
    # measured: VP-SDE std within 0.5% of the exact law; the DDPM chain's fixed_small variance 3.6% low
    assert stats["vpsde"][1] == pytest.approx(std, rel=0.015)
    assert stats["ddpm"][1] == pytest.approx(std, rel=0.05)
    assert stats["vpsde"][0] == pytest.approx(stats["ddpm"][0], abs=4e-3)
    assert stats["vpsde"][1] == pytest.approx(stats["ddpm"][1], rel=0.06)


def test_default_grid_is_diffpures():
    """t* = 100 -> 100 Euler steps of dt 1e-3 from t = 0.1 down to 1e-5 (the last one shorter),
    network labels t * 999 from 99.9 down to about 1.0, as the fixture's torchsde simulation says."""
    steps = json.loads(FIXTURE.read_text())["diffpure_purification_cifar10"]["euler_steps"]
    for t_star in (75, 100, 125):
        sde = TruncatedVPSDE(t_star)
        want = steps[str(t_star)]
        assert sde.num_steps == want["n_steps_network_evals"]
        assert sde.model_time(sde.num_steps - 1) == pytest.approx(want["first_label"], rel=1e-6)
        # torchsde accumulates its time in float32 (last label 1.0003 for t* 100); the grid here is float64
        assert sde.model_time(0) == pytest.approx(want["last_label"], rel=2e-3)
        assert float(sde.variances[0] / sde.beta(sde.times[0])) == pytest.approx(want["last_step_ds"], rel=2e-3)
    # DiffPure's noising: the discrete DDPM alpha-bar of step 100 (signal 0.9471103)
    assert math.sqrt(TruncatedVPSDE(100).start_alpha_bar()) == pytest.approx(0.9471103, abs=1e-6)
    assert math.sqrt(1 - TruncatedVPSDE(100, noising="continuous").start_alpha_bar()) == pytest.approx(0.3220525, abs=1e-6)


def test_scale_zero_equals_the_unguided_sde(x):
    guided = tiny_model("robust", seed=4, t_star=5, scale=0.0, backend="vpsde")
    unguided = tiny_model("none", seed=4, t_star=5, backend="vpsde")
    torch.testing.assert_close(guided(x, generator=seeded(3)), unguided(x, generator=seeded(3)), rtol=0, atol=0)
    torch.testing.assert_close(input_grad(guided, x), input_grad(unguided, x), rtol=1e-12, atol=1e-14)
    other = sharpen_guidance(tiny_model("robust", seed=4, t_star=5, scale=50.0, backend="vpsde"))
    moved = other.purify(x, generator=seeded(3)) - unguided.purify(x, generator=seeded(3))
    assert moved.abs().max() > 1e-4  # the guidance does act when s > 0


def test_gradient_matches_finite_differences(x):
    model = sharpen_guidance(tiny_model("robust", t_star=50, steps=3, scale=10.0, backend="vpsde"))
    assert isinstance(model.purifier.diffusion, TruncatedVPSDE)
    v = torch.randn(x.shape, generator=seeded(2), dtype=torch.float64)
    analytic = float((input_grad(model, x) * v).sum())
    h = 1e-6
    with torch.no_grad():
        fd = (model(x + h * v, generator=seeded(0))[:, 3].sum() - model(x - h * v, generator=seeded(0))[:, 3].sum()) / (2 * h)
    assert analytic == pytest.approx(float(fd), rel=1e-6)


@pytest.mark.parametrize("pattern", ["none", "plain", "robust"])
def test_grad_modes_agree_and_no_grad_matches(pattern, x):
    models = {mode: sharpen_guidance(tiny_model(pattern, seed=3, t_star=6, scale=5.0, backend="vpsde", grad_mode=mode))
              for mode in ("exact", "checkpoint", "recompute")}
    grads = {mode: input_grad(m, x, seed=7) for mode, m in models.items()}
    torch.testing.assert_close(grads["checkpoint"], grads["exact"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grads["recompute"], grads["exact"], rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        out = models["recompute"](x, generator=seeded(8))
    assert not out.requires_grad
    torch.testing.assert_close(out, models["exact"](x, generator=seeded(8)))


def test_backend_is_validated_and_overridable():
    doc = tiny_entry_dict("none", backend="sde")
    with pytest.raises(RegistryError, match="backend"):
        parse_registry(doc)
    with pytest.raises(ValueError, match="backend"):
        zoo.load("diffpure-tiny-mnist", device="cpu", pretrained=False, backend="sde")
    model = zoo.load("diffpure-tiny-mnist", device="cpu", pretrained=False, backend="vpsde")
    assert isinstance(model.purifier.diffusion, TruncatedVPSDE)
    assert model.purifier.diffusion.num_steps == model.config.purification.steps
