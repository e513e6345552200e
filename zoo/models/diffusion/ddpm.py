"""DDPM schedule and reverse-step maths, with no network inside.

The sampler is kept apart from the noise-prediction network (as diffusers keeps schedulers apart
from models): :class:`TruncatedDDPM` (the chain cut at t*, optionally respaced) only turns a noise prediction into the mean and variance
of p(x_{t-1} | x_t), and shifts that mean by a guidance gradient (guided-diffusion's
``condition_mean``). Timesteps follow the paper: t* counts forward steps, so t*=70 diffuses with
alpha-bar of step 70, which is index 69 of a 0-based schedule (the index a diffusers UNet is given).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .step import GaussianReverseStep


def linear_betas(num_timesteps: int = 1000, start: float = 1e-4, end: float = 0.02) -> Tensor:
    """The linear beta schedule of Ho et al. (2020), in float64 for exact products."""
    return torch.linspace(start, end, num_timesteps, dtype=torch.float64)


def alphas_cumprod(betas: Tensor) -> Tensor:
    """alpha-bar of every step, prod_{s <= t} (1 - beta_s), in float64."""
    return torch.cumprod(1.0 - betas.double(), dim=0)


def q_sample(x0: Tensor, noise: Tensor, abar: float | Tensor) -> Tensor:
    """Eq. (7), the forward marginal: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.

    ``abar``: a number (one step for the whole batch, as purification diffuses to t*) or a tensor
    broadcast over ``x0`` (one step per example, as DDPM training draws them)."""
    if isinstance(abar, Tensor):
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    return math.sqrt(abar) * x0 + math.sqrt(1.0 - abar) * noise


def respaced_indices(t_star: int, steps: int) -> list[int]:
    """0-based schedule indices visited by a chain of ``steps`` steps starting at step ``t_star``.

    ``steps == t_star`` is the plain DDPM chain t*, t*-1, ..., 1; fewer steps spread evenly over
    the same range (the respacing of Nichol & Dhariwal, 2021) and always start at t*.
    """
    if not 1 <= steps <= t_star:
        raise ValueError(f"steps must be in [1, t_star={t_star}], got {steps}")
    if steps == 1:
        return [t_star - 1]
    stride = (t_star - 1) / (steps - 1)
    return sorted({round(i * stride) for i in range(steps)})


class TruncatedDDPM(GaussianReverseStep):
    """The forward marginal q(x_t | x_0) and the (respaced) DDPM reverse step.

    Args:
        betas: the full training schedule (length T).
        t_star: how many forward steps to diffuse the input (paper: 70, or 100 for PGD+EOT).
        steps: reverse steps actually run (default ``t_star``: the unrespaced chain).

    The reverse variance is the posterior variance of the (respaced) chain ("fixed_small", as
    ``google/ddpm-cifar10-32`` ships); it is zero on the last step, which therefore adds no noise
    and no guidance, as in guided-diffusion.
    """

    def __init__(self, betas: Tensor, t_star: int, steps: int | None = None):
        if not 1 <= t_star <= len(betas):
            raise ValueError(f"t_star must be in [1, {len(betas)}], got {t_star}")
        indices = respaced_indices(t_star, steps or t_star)
        abar = alphas_cumprod(betas)[indices]
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        beta = 1.0 - abar / abar_prev
        self.t_star = t_star
        self.model_timesteps = torch.tensor(indices, dtype=torch.long)
        self.alphas_cumprod = abar
        self.betas = beta
        self.posterior_variance = beta * (1.0 - abar_prev) / (1.0 - abar)
        self._eps_coef = beta / torch.sqrt(1.0 - abar)
        self._mean_coef = 1.0 / torch.sqrt(1.0 - beta)

    @property
    def num_steps(self) -> int:
        return len(self.model_timesteps)

    @property
    def noisy_steps(self) -> int:
        """Steps of nonzero variance: each adds noise and the guidance shift (all but the last)."""
        return int((self.posterior_variance != 0).sum())

    def model_time(self, i: int) -> int:
        """The (0-based) schedule index the network is given on chain position ``i``."""
        return int(self.model_timesteps[i])

    def alpha_bar(self, i: int) -> float:
        """alpha-bar of the (respaced) schedule at chain position ``i``: x_t of that step is
        sqrt(abar) x0 + sqrt(1 - abar) eps in distribution."""
        return float(self.alphas_cumprod[i])

    def step_variance(self, i: int) -> float:
        """Sigma of chain position ``i`` (zero on the last step)."""
        return float(self.posterior_variance[i])

    def q_sample(self, x0: Tensor, noise: Tensor) -> Tensor:
        """Eq. (7) at t*: x_{t*} = sqrt(abar_{t*}) x0 + sqrt(1 - abar_{t*}) eps (:func:`q_sample`)."""
        return q_sample(x0, noise, float(self.alphas_cumprod[-1]))

    def p_mean_variance(self, eps: Tensor, x: Tensor, i: int) -> tuple[Tensor, float]:
        """Mean and variance of p(x_prev | x) on chain position ``i`` (0 = the last step).

        mu = (x - beta / sqrt(1 - abar) * eps) / sqrt(alpha), the paper's mu_theta.
        """
        mean = float(self._mean_coef[i]) * (x - float(self._eps_coef[i]) * eps)
        return mean, float(self.posterior_variance[i])
