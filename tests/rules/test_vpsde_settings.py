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


def test_grid_edges_and_refusals():
    """One step for t* = 1 (less than dt to cover), exactly t* steps when t_end = 0 (float rounding
    must not add one), ``steps`` from 1, t_end in [0, t*); the grid is kept in float64."""
    import torch

    assert TruncatedVPSDE(1).num_steps == 1
    for t_star in (50, 100, 300):
        sde = TruncatedVPSDE(t_star, t_end=0.0)
        assert sde.num_steps == t_star
        assert sde.times.dtype == torch.float64 and sde.variances.dtype == torch.float64
        assert float(sde.times[-1]) == t_star / 1000  # the first step starts at t* exactly
    assert TruncatedVPSDE(10, steps=1).num_steps == 1
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        TruncatedVPSDE(10, steps=0)
    with pytest.raises(ValueError, match=r"t_end must be in \[0, t\*=0.01\), got 0.01"):
        TruncatedVPSDE(10, t_end=0.01)
    with pytest.raises(ValueError, match="noising must be one of"):
        TruncatedVPSDE(10, noising="ode")


@pytest.mark.parametrize("sampler, share", [("sde", 1.0), ("ode", 0.5)])
def test_each_steps_weight_is_beta_times_its_length_in_float64(sampler, share):
    """DiffPure's grid for t* = 100: steps of 0.001 from 0.1 down to 1e-5, the last one shorter; a
    step's variance (the guidance weight) is beta(t) h (half for the ODE), with t its upper end."""
    sde = TruncatedVPSDE(100, sampler=sampler)
    times = [0.1 - k * 0.001 for k in range(100)] + [1e-5]
    for i in range(sde.num_steps):
        t_hi, t_lo = times[99 - i], times[100 - i]  # chain position 0 is the last step
        expected = share * (0.1 + t_hi * (20.0 - 0.1)) * (t_hi - t_lo)
        assert sde.step_variance(i) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("t_star, steps", [(100, 4), (333, 7)])
def test_each_chain_position_knows_the_marginal_alpha_bar_of_its_start_time(t_star, steps):
    """alpha-bar(t) = exp(-1/2 t^2 (beta_max - beta_min) - t beta_min) at the time position i starts
    from; positions run as DDPM's chain numbers them (0 the last step, near t_end), so the last
    position starts from t* (the continuous start alpha-bar) and alpha-bar falls with i."""
    sde = TruncatedVPSDE(t_star, steps=steps)
    for i in range(sde.num_steps):
        t = float(sde.times[i])
        assert sde.alpha_bar(i) == pytest.approx(math.exp(-0.5 * t * t * (20.0 - 0.1) - t * 0.1), rel=1e-12)
    start = TruncatedVPSDE(t_star, noising="continuous").start_alpha_bar()
    assert sde.alpha_bar(sde.num_steps - 1) == pytest.approx(start, rel=1e-12)
    assert all(sde.alpha_bar(i) > sde.alpha_bar(i + 1) for i in range(sde.num_steps - 1))
