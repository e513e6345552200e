"""GDMP's guidance term by term: the input diffused to each step's marginal with that step's noise,
the step weight, the one ``input`` term (-s sum D, MSE by default, 1 - SSIM on request) and its
gradient, which points x_t towards the diffused input."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.models.guidance import GDMPGuidance, mse_image_distance
from zoo.models.ssim import ssim

G = torch.Generator().manual_seed(0)
X_T, REF, NOISE = (torch.rand(3, 1, 8, 8, generator=G, dtype=torch.float64) * 2 - 1 for _ in range(3))


def identity(x):
    return x


def test_gdmp_names_its_pattern_and_defaults_to_the_mse():
    guidance = GDMPGuidance(2.0)
    assert guidance.pattern == "gdmp" and guidance.net is None and guidance.draws_noise
    terms = guidance.terms(X_T, identity, None, REF)
    assert list(terms) == ["input"]
    assert torch.allclose(terms["input"], -2.0 * mse_image_distance(X_T, REF).sum())


@pytest.mark.parametrize("alpha_bar", [0.9, 0.25])
def test_the_reference_is_the_input_diffused_to_the_steps_marginal(alpha_bar):
    got = GDMPGuidance(1.0).step_reference(REF, alpha_bar, NOISE)
    assert torch.allclose(got, math.sqrt(alpha_bar) * REF + math.sqrt(1 - alpha_bar) * NOISE)
    assert GDMPGuidance(1.0).step_weight(alpha_bar) == pytest.approx(math.sqrt((1 - alpha_bar) / alpha_bar))


def test_the_ssim_distance_is_one_minus_ssim_and_zero_for_the_same_image():
    guidance = GDMPGuidance(1.5, distance="ssim")
    terms = guidance.terms(X_T, identity, None, REF)
    assert torch.allclose(terms["input"], -1.5 * (1.0 - ssim(X_T, REF)).sum())
    assert torch.allclose(guidance.terms(REF, identity, None, REF)["input"], torch.zeros((), dtype=torch.float64),
                          atol=1e-12)


@pytest.mark.parametrize("distance", ["mse", "ssim"])
def test_the_term_gradient_moves_x_t_towards_the_reference(distance):
    guidance = GDMPGuidance(1.0, distance=distance)
    gradients = guidance.term_gradients(X_T, identity, None, REF)
    assert list(gradients) == ["input"]
    total = guidance.gradient(X_T, identity, None, REF, create_graph=False)
    assert torch.allclose(gradients["input"], total)
    before = guidance.terms(X_T, identity, None, REF)["input"]
    after = guidance.terms(X_T + 1e-3 * total, identity, None, REF)["input"]
    assert after > before  # -D rises: x_t came closer to the diffused input
