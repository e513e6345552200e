"""The probability-flow ODE sampler of the VP-SDE backend (``purification.sampler: ode``): a
deterministic reverse chain, exact on a Gaussian prior, differentiable in every grad mode, with
the guidance in the score as for the SDE, and close to the SDE on the demo."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.data import mnist_demo
from zoo.models.diffusion import TruncatedVPSDE
from zoo.models.purifier import Purifier
from zoo.registry.schema import RegistryError, parse_registry

from helpers import sharpen_guidance, tiny_entry_dict, tiny_model
from test_vpsde import GaussianPriorEps, input_grad, seeded


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 1, 8, 8, generator=seeded(1), dtype=torch.float64) * 0.8 + 0.1


def gaussian_prior_purifier(sampler: str) -> Purifier:
    vpsde = TruncatedVPSDE(100, steps=1000, sampler=sampler)
    net = GaussianPriorEps(lambda t: torch.exp(2 * vpsde.log_mean_coeff(t.double() / 999)))
    return Purifier(net, vpsde)


def test_ode_is_the_exact_flow_of_a_gaussian_prior():
    """For x0 ~ N(m, s^2) the flow keeps (x_t - sqrt(abar_t) m) / sigma_t fixed: from the diffused
    x_{t*} the ODE must land on sqrt(abar_end) m + sigma_end * that, pixel by pixel; the SDE must not."""
    x = torch.full((4, 1, 16, 16), 0.5, dtype=torch.float64)  # pixel 0.5 = model space 0
    m, s = 0.2, 0.1
    ode = gaussian_prior_purifier("ode")
    noise = torch.randn(x.shape, generator=seeded(0), dtype=torch.float64)
    x_start = math.sqrt(1 - ode.diffusion.start_alpha_bar()) * noise
    mean_coeff = lambda t: math.exp(ode.diffusion.log_mean_coeff(torch.tensor(t, dtype=torch.float64)))
    sigma = lambda t: math.sqrt(mean_coeff(t) ** 2 * s ** 2 + 1 - mean_coeff(t) ** 2)
    standardized = (x_start - mean_coeff(0.1) * m) / sigma(0.1)
    expected = ((mean_coeff(1e-5) * m + sigma(1e-5) * standardized + 1) / 2).clamp(0, 1)
    with torch.no_grad():
        got = ode(x, generator=seeded(0))
        sde = gaussian_prior_purifier("sde")(x, generator=seeded(0))
    assert (got - expected).abs().max() < 1e-3  # measured 1.7e-4 with 1,000 Euler steps
    assert (sde - expected).abs().max() > 0.05  # the SDE re-draws noise: another purifier


def test_ode_reverse_chain_draws_no_noise_and_repeats_exactly(x, monkeypatch):
    drawn = []
    original = Purifier._noise
    monkeypatch.setattr(Purifier, "_noise", lambda self, like, g: drawn.append(1) or original(self, like, g))
    counts = {}
    for sampler in ("sde", "ode"):
        model = tiny_model("robust", seed=2, t_star=20, steps=5, backend="vpsde", sampler=sampler)
        drawn.clear()
        first = model.purify(x, generator=seeded(4))
        counts[sampler] = len(drawn)
        second = model.purify(x, generator=seeded(4))
        torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert counts == {"sde": 1 + 5, "ode": 1}  # the ODE's only randomness is the forward noising of x'


def test_ode_gradient_matches_finite_differences_and_grad_modes_agree(x):
    model = sharpen_guidance(tiny_model("robust", t_star=50, steps=3, scale=10.0, backend="vpsde", sampler="ode"))
    assert model.purifier.diffusion.sampler == "ode"
    v = torch.randn(x.shape, generator=seeded(2), dtype=torch.float64)
    analytic = float((input_grad(model, x) * v).sum())
    h = 1e-6
    with torch.no_grad():
        fd = (model(x + h * v, generator=seeded(0))[:, 3].sum() - model(x - h * v, generator=seeded(0))[:, 3].sum()) / (2 * h)
    assert analytic != 0 and analytic == pytest.approx(float(fd), rel=1e-6)
    grads = {mode: input_grad(sharpen_guidance(tiny_model("robust", seed=3, t_star=6, scale=5.0, backend="vpsde",
                                                          sampler="ode", grad_mode=mode)), x, seed=7)
             for mode in ("exact", "checkpoint", "recompute")}
    torch.testing.assert_close(grads["checkpoint"], grads["exact"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grads["recompute"], grads["exact"], rtol=1e-9, atol=1e-12)


def test_ode_guidance_is_in_the_score_at_half_the_sdes_weight(x):
    """The ODE's guidance shift per step is beta h / 2 times the gradient (the SDE's: beta h), and
    s = 0 is the unguided ODE exactly."""
    ode, sde = TruncatedVPSDE(50, steps=4, sampler="ode"), TruncatedVPSDE(50, steps=4)
    for i in range(4):
        assert ode.step_variance(i) == pytest.approx(sde.step_variance(i) / 2, rel=1e-12)
        assert ode.noise_variance(i) == 0.0 and sde.noise_variance(i) == sde.step_variance(i)
    unguided = tiny_model("none", seed=4, t_star=5, backend="vpsde", sampler="ode")
    zero = tiny_model("robust", seed=4, t_star=5, scale=0.0, backend="vpsde", sampler="ode")
    torch.testing.assert_close(zero.purify(x, generator=seeded(3)), unguided.purify(x, generator=seeded(3)),
                               rtol=0, atol=0)
    guided = sharpen_guidance(tiny_model("robust", seed=4, t_star=5, scale=50.0, backend="vpsde", sampler="ode"))
    assert (guided.purify(x, generator=seeded(3)) - unguided.purify(x, generator=seeded(3))).abs().max() > 1e-4


def test_ode_is_close_to_the_sde_on_the_demo():
    """diffpure-tiny-mnist on the VP-SDE, 32 test digits, one draw each (measured on 50: mean pixel
    0.139 vs 0.134, clean accuracy 100% vs 98%)."""
    x, y = (t[:32] for t in mnist_demo("test"))
    out = {}
    for sampler in ("sde", "ode"):
        model = zoo.load("diffpure-tiny-mnist", device="cpu", backend="vpsde", sampler=sampler)
        with torch.no_grad():
            purified = model.purify(x, generator=seeded(0))
            out[sampler] = (purified, float((model.classifier(purified).argmax(1) == y).float().mean()))
    (sde, sde_acc), (ode, ode_acc) = out["sde"], out["ode"]
    assert abs(float(sde.mean()) - float(ode.mean())) < 0.02
    assert float((sde.mean(0) - ode.mean(0)).abs().mean()) < 0.03
    assert min(sde_acc, ode_acc) >= 0.85 and abs(sde_acc - ode_acc) <= 0.1


def test_sampler_is_validated_and_overridable():
    with pytest.raises(RegistryError, match="sampler"):
        parse_registry(tiny_entry_dict("none", sampler="ode"))  # the DDPM backend has no ODE here
    with pytest.raises(RegistryError, match="sampler"):
        parse_registry(tiny_entry_dict("none", backend="vpsde", sampler="heun"))
    with pytest.raises(ValueError, match="needs backend 'vpsde'"):
        zoo.load("diffpure-tiny-mnist", device="cpu", pretrained=False, sampler="ode")
    model = zoo.load("diffpure-tiny-mnist", device="cpu", pretrained=False, backend="vpsde", sampler="ode")
    assert model.purifier.diffusion.sampler == "ode" and model.config.purification.sampler == "ode"
    with pytest.raises(ValueError, match="sampler must be one of"):
        TruncatedVPSDE(10, sampler="heun")
