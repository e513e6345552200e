"""The VP-SDE's settings: the t* and beta ranges it accepts, and the alpha-bar x' is diffused with,
in float64 (the discrete DDPM product of step t*, or the SDE's own marginal)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.models.diffusion import TruncatedVPSDE


@pytest.mark.parametrize("t_star", [1, 1000])
def test_t_star_from_one_to_the_schedule_length_is_accepted(t_star):
    assert TruncatedVPSDE(t_star, steps=2).t_star == t_star


@pytest.mark.parametrize("kwargs, message", [
    ({"t_star": 0}, r"t_star must be in \[1, 1000\]"), ({"t_star": 1001}, r"t_star must be in \[1, 1000\]"),
    ({"t_star": 10, "beta_min": 0.0}, "need 0 < beta_min < beta_max"),
    ({"t_star": 10, "beta_min": 5.0, "beta_max": 5.0}, "need 0 < beta_min < beta_max"),
])
def test_settings_outside_the_ranges_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TruncatedVPSDE(**kwargs)


@pytest.mark.parametrize("t_star", [1, 100, 333])
def test_x_prime_is_diffused_with_alpha_bar_in_float64(t_star):
    betas = np.linspace(0.1 / 1000, 20.0 / 1000, 1000)
    assert TruncatedVPSDE(t_star).start_alpha_bar() == pytest.approx(float(np.prod(1 - betas[:t_star])), rel=1e-13)
    t = t_star / 1000
    continuous = math.exp(2 * (-0.25 * t * t * (20.0 - 0.1) - 0.5 * t * 0.1))
    assert TruncatedVPSDE(t_star, noising="continuous").start_alpha_bar() == pytest.approx(continuous, rel=1e-13)
