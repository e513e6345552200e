"""GDMP (Wang et al. 2022) as a guidance pattern: its settings validated, its rounds, its guidance
term towards the diffused input, and its input gradient (second-order path included) equal to
finite differences in every grad mode."""
from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.models.guidance import GDMPGuidance, GuidanceTerms
from zoo.models.purifier import GRAD_MODES
from zoo.registry.schema import parse_registry

from helpers import tiny_entry_dict, tiny_model

H = 1e-6


def gdmp(grad_mode="exact", scale=2e6, distance="mse", rounds=2, t_star=4):
    """A tiny GDMP model whose guidance is strong enough to matter: a shift of about 0.2 (x'_t - x_t)."""
    return tiny_model("gdmp", t_star=t_star, scale=scale, distance=distance, rounds=rounds, grad_mode=grad_mode)


def inputs():
    return torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) * 0.9 + 0.05


def projected(model, x, weights, seed=4):
    return model(x, generator=torch.Generator().manual_seed(seed)) @ weights


def fd_error(model, x) -> float:
    """Largest relative error of autograd's directional derivative against central differences."""
    gen = torch.Generator().manual_seed(8)
    weights = torch.randn(10, generator=gen, dtype=torch.float64)
    z = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(projected(model, z, weights).sum(), z)[0]
    worst = 0.0
    for _ in range(2):
        v = torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1
        with torch.no_grad():
            fd = (projected(model, x + H * v, weights) - projected(model, x - H * v, weights)) / (2 * H)
        ad = (grad * v).flatten(1).sum(1)
        worst = max(worst, float(((fd - ad).abs() / torch.maximum(fd.abs(), ad.abs()).clamp_min(1e-10)).max()))
    return worst


@pytest.mark.parametrize("mode", GRAD_MODES)
@pytest.mark.parametrize("distance, scale", [("mse", 2e6), ("ssim", 2e4)])
def test_input_gradient_matches_finite_differences_in_every_grad_mode(mode, distance, scale):
    assert fd_error(gdmp(mode, distance=distance, scale=scale), inputs()) < 1e-5


def test_grad_modes_give_one_gradient():
    x = inputs()
    grads = []
    for mode in GRAD_MODES:
        z = x.clone().requires_grad_(True)
        gdmp(mode)(z, generator=torch.Generator().manual_seed(1))[:, 2].sum().backward()
        grads.append(z.grad)
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0], rtol=1e-9, atol=1e-12)


def test_dropping_the_second_order_path_is_caught(monkeypatch):
    """The guidance gradient detached (its value kept, its derivative in x_t and x' lost): the
    finite-difference check fails, as DiffBreak found for GDMP's published gradient."""
    model, x = gdmp(), inputs()
    assert fd_error(model, x) < 1e-5
    original = GuidanceTerms.gradient

    def detached(self, x_t, to_pixels, labels, reference, create_graph):
        return original(self, x_t, to_pixels, labels, reference, create_graph=False) + 0.0 * x_t

    monkeypatch.setattr(GuidanceTerms, "gradient", detached)
    assert fd_error(model, x) > 1e-3


def test_the_guidance_term_changes_the_output_and_its_removal_is_seen():
    x, seed = inputs(), torch.Generator().manual_seed(2)
    guided = gdmp()
    unguided = gdmp(scale=0.0)
    with torch.no_grad():
        a = guided.purify(x, torch.Generator().manual_seed(2))
        b = unguided.purify(x, seed)
    assert (a - b).abs().max() > 1e-3


def test_guidance_pulls_towards_the_diffused_input():
    """One guided step's shift is Sigma * s * w_t * 2 (x'_t - x_t) / (C H W): towards x'_t."""
    model = gdmp(rounds=1)
    records = []
    with torch.no_grad(), model.purifier.observe(records.append):
        model.purify(inputs(), torch.Generator().manual_seed(0))
    r = records[0]
    abar = model.purifier.diffusion.alpha_bar(r.position)
    want = r.variance * 2e6 * math.sqrt((1 - abar) / abar) * 2 * (r.reference - r.x_t) / 64
    torch.testing.assert_close(r.guidance_shift, want, rtol=1e-10, atol=1e-14)


def test_rounds_restart_the_chain_from_the_previous_output():
    model = gdmp(rounds=3)
    records = []
    with torch.no_grad(), model.purifier.observe(records.append):
        model.purify(inputs(), torch.Generator().manual_seed(0))
    assert [r.round for r in records] == [0] * 4 + [1] * 4 + [2] * 4
    assert [r.step for r in records] == [0, 1, 2, 3] * 3


@pytest.mark.parametrize("bad, match", [({"distance": "kl"}, "distance"), ({"rounds": 0}, "rounds"),
                                        ({"scale": -1.0}, "scale"), ({"pattern": "gdmpp"}, "pattern")])
def test_bad_settings_are_refused(bad, match):
    settings = {"distance": "mse", **bad}
    pattern = settings.pop("pattern", "gdmp")
    with pytest.raises(ValueError, match=match):
        parse_registry(tiny_entry_dict(pattern, **settings))


def test_gdmp_takes_no_guidance_net_and_no_label():
    doc = tiny_entry_dict("gdmp", distance="mse")
    doc["tiny"]["guidance"] = doc["tiny"]["classifier"]
    with pytest.raises(ValueError, match="no guidance net"):
        parse_registry(doc)
    model = gdmp()
    assert model.label_network is None and model.purifier.guidance.net is None
    with pytest.raises(ValueError, match="distance"):
        GDMPGuidance(1.0, "kl")


def test_the_entries_build():
    for name in ("gdmp-tiny-mnist", "gdmp-wrn28-cifar10"):
        model = zoo.load(name, device="cpu", pretrained=False)
        p = model.config.purification
        assert p.pattern == "gdmp" and p.rounds == 4 and model.purifier.rounds == 4
    assert zoo.list_models(dataset="mnist", pattern="gdmp") == ["gdmp-tiny-mnist"]
