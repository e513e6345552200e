"""The defense module as attacks use it: exact input gradients through the chain and the guidance."""
from __future__ import annotations

import pytest
import torch

from zoo.models.guidance import Guidance

from helpers import sharpen_guidance, tiny_model


def seeded_logit(model, x, seed=0, cls=3):
    return model(x, generator=torch.Generator().manual_seed(seed))[:, cls].sum()


def input_grad(model, x, seed=0):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(seeded_logit(model, x, seed), x)[0]


def finite_difference(model, x, v, h=1e-6, seed=0):
    with torch.no_grad():
        return (seeded_logit(model, x + h * v, seed) - seeded_logit(model, x - h * v, seed)) / (2 * h)


@pytest.fixture(scope="module")
def robust_model():
    """A tiny AGDM whose guidance net is linear with large weights: its log-softmax has enough
    curvature that the double-backward part of the input gradient is far above float64 noise."""
    return sharpen_guidance(tiny_model("robust", t_star=50, steps=3, scale=10.0))


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.8 + 0.1


def test_input_gradient_matches_finite_differences(robust_model, x):
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    analytic = (input_grad(robust_model, x) * v).sum()
    assert float(analytic) == pytest.approx(float(finite_difference(robust_model, x, v)), rel=1e-6)


def test_gradient_is_not_detached_from_guidance(robust_model, x, monkeypatch):
    """With the double backward dropped (guidance gradient detached), the input gradient changes
    and no longer matches finite differences: the test above would catch a detached shortcut."""
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    full = input_grad(robust_model, x)
    original = Guidance.gradient
    monkeypatch.setattr(Guidance, "gradient",
                        lambda self, *a, create_graph: original(self, *a, create_graph=False))
    detached = input_grad(robust_model, x)
    assert not torch.allclose(full, detached, rtol=1e-4, atol=0)
    fd = float(finite_difference(robust_model, x, v))
    assert float((detached * v).sum()) != pytest.approx(fd, rel=1e-4)


def test_no_grad_calls_work_and_agree(robust_model, x):
    with torch.no_grad():
        out = robust_model(x, generator=torch.Generator().manual_seed(5))
    assert not out.requires_grad
    torch.testing.assert_close(out, robust_model(x, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("pattern", ["none", "plain", "robust"])
def test_checkpointed_and_plain_gradients_agree(pattern, x):
    exact = tiny_model(pattern, seed=3, t_star=4, scale=5.0)
    ckpt = tiny_model(pattern, seed=3, t_star=4, scale=5.0, grad_mode="checkpoint")
    torch.testing.assert_close(input_grad(ckpt, x, seed=7), input_grad(exact, x, seed=7))


def test_seeded_calls_are_reproducible_and_noise_matters(robust_model, x):
    a = robust_model.purify(x, generator=torch.Generator().manual_seed(11))
    b = robust_model.purify(x, generator=torch.Generator().manual_seed(11))
    c = robust_model.purify(x, generator=torch.Generator().manual_seed(12))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    torch.manual_seed(4)
    d = robust_model(x)
    torch.manual_seed(4)
    torch.testing.assert_close(robust_model(x), d)


def test_purified_images_are_valid_pixels(robust_model, x):
    out = robust_model.purify(x)
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_respaced_chain_runs_requested_steps(x, monkeypatch):
    model = tiny_model("none", t_star=20, steps=4)
    calls = []
    eps_net = model.purifier.eps_net
    monkeypatch.setattr(eps_net, "forward", lambda x_t, t: calls.append(t[0].item()) or torch.zeros_like(x_t))
    model.purify(x)
    assert calls == [19, 13, 6, 0]
