"""The DDPM chain's schedule (zoo.models.diffusion.ddpm): Ho et al.'s 1000-step linear betas by
default; a one-step chain is the step at t* itself; t* may be anything from 1 to the schedule's
length, and a bad t* or step count is refused naming the range."""
from __future__ import annotations

import re

import pytest
import torch

from zoo.models.diffusion.ddpm import TruncatedDDPM, linear_betas, respaced_indices


def test_the_default_schedule_is_ho_et_als_thousand_linear_betas():
    betas = linear_betas()
    assert len(betas) == 1000 and betas.dtype == torch.float64
    assert float(betas[0]) == pytest.approx(1e-4) and float(betas[-1]) == pytest.approx(0.02)


@pytest.mark.parametrize("t_star", [1, 2, 7])
def test_a_one_step_chain_is_the_step_at_t_star(t_star):
    assert respaced_indices(t_star, 1) == [t_star - 1]
    assert TruncatedDDPM(linear_betas(10), t_star, 1).model_time(0) == t_star - 1


def test_t_star_runs_from_one_to_the_schedules_length():
    betas = linear_betas(10)
    assert TruncatedDDPM(betas, 1).num_steps == 1 and TruncatedDDPM(betas, 10).num_steps == 10
    for bad in (0, 11):
        with pytest.raises(ValueError, match=f"^{re.escape(f't_star must be in [1, 10], got {bad}')}$"):
            TruncatedDDPM(betas, bad)


@pytest.mark.parametrize("steps", [0, 6])
def test_a_step_count_outside_one_to_t_star_is_refused_naming_the_range(steps):
    with pytest.raises(ValueError, match=f"^{re.escape(f'steps must be in [1, t_star=5], got {steps}')}$"):
        respaced_indices(5, steps)


def test_the_forward_marginal_takes_one_alpha_bar_per_example_as_a_tensor():
    """DDPM training draws one step per example: q_sample with a tensor of alpha-bars is, row by
    row, q_sample with each row's number, sqrt(abar) x0 + sqrt(1 - abar) eps."""
    from zoo.models.diffusion.ddpm import q_sample

    x0 = torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    noise = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    abar = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64).view(3, 1, 1, 1)
    got = q_sample(x0, noise, abar)
    for i, a in enumerate([0.9, 0.5, 0.1]):
        torch.testing.assert_close(got[i], q_sample(x0[i], noise[i], a))
        torch.testing.assert_close(got[i], a ** 0.5 * x0[i] + (1 - a) ** 0.5 * noise[i])


def test_the_chain_names_the_t_star_it_diffuses_to():
    assert TruncatedDDPM(linear_betas(10), 7, 3).t_star == 7
