"""VP-SDE purification maths (Appendix A.2 of Lin et al.; Song et al. 2021), with no network inside.

The forward SDE dx = -1/2 beta(t) x dt + sqrt(beta(t)) dw, beta(t) = beta_min + t (beta_max - beta_min),
is reversed from t* to ``t_end`` by Euler-Maruyama on Eq. (18): per step of length h from time t,

    x <- x + h * [1/2 beta(t) x + beta(t) (score(x, t) + g(x, t))] + sqrt(beta(t) h) z,

with score = -eps(x, t) / std(t) from a noise-predicting network and g the guidance gradient (both
terms, scale s, as for DDPM). :class:`TruncatedVPSDE` implements
:class:`~zoo.models.diffusion.base.ReverseProcess` as
:class:`~zoo.models.diffusion.ddpm.TruncatedDDPM` does, so the purifier, its gradient
modes and its no_grad behaviour serve both: the step "mean" is the drift part, its "variance"
G^2 h = beta(t) h, and Sigma * gradient is exactly the guidance's share of the drift.

Time: ``t_star`` counts steps of the N-step schedule as for DDPM (DiffPure's ``--t``), so the
continuous t* is ``t_star / N`` (100 -> 0.1). The network is given ``t * (N - 1)`` (score-SDE's
continuous VP label, 99.9 at t = 0.1; for a DDPM UNet, the matching fractional step index). The
default grid is DiffPure's (torchsde's fixed dt = 1/N from t* down to ``t_end`` = 1e-5, the last
step shorter: 100 network calls for t* = 0.1); ``steps`` spreads that many equal steps instead.

``sampler="ode"`` integrates the probability-flow ODE of the same SDE instead (Song et al. 2021,
Eq. 13), by Euler steps with the guidance in the score as for the SDE:

    x <- x + h * [1/2 beta(t) x + 1/2 beta(t) (score(x, t) + g(x, t))],

half the SDE's score and guidance drift and no noise: the reverse chain is a deterministic,
differentiable map of x_{t*} (only the forward noising of x' is random). Through the purifier its
"variance" is the guidance weight beta(t) h / 2 and :meth:`noise_variance` is zero, so no step draws
noise. With the exact score it carries the prior's marginal at t* to the data law (for a Gaussian
prior, an affine map, checked in the tests); from a diffused x' it is a different purifier than the
SDE, whose reverse steps re-draw noise.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .step import GaussianReverseStep

NOISING = ("ddpm", "continuous")
SAMPLERS = ("sde", "ode")


class TruncatedVPSDE(GaussianReverseStep):
    """The VP-SDE forward marginal at t* and the Euler-Maruyama reverse step.

    Args:
        t_star: forward steps of the N-step schedule (continuous t* = t_star / N).
        steps: reverse steps (default: DiffPure's grid of dt = 1/N, t_star steps).
        beta_min, beta_max: the linear beta(t) (score-SDE's VP: 0.1 and 20).
        num_timesteps: N (1000; the discrete DDPM betas are beta(t) / N).
        t_end: where the reverse integration stops (score-SDE and DiffPure: 1e-5).
        noising: ``ddpm`` diffuses x' with the discrete DDPM alpha-bar of step t_star, as DiffPure
            does; ``continuous`` with the SDE's own marginal at t*.
        sampler: ``sde`` (Euler-Maruyama on the reverse SDE, DiffPure's) or ``ode`` (Euler on the
            probability-flow ODE: no noise in the reverse chain).
    """

    def __init__(self, t_star: int, steps: int | None = None, beta_min: float = 0.1, beta_max: float = 20.0,
                 num_timesteps: int = 1000, t_end: float = 1e-5, noising: str = "ddpm", sampler: str = "sde"):
        if not 1 <= t_star <= num_timesteps:
            raise ValueError(f"t_star must be in [1, {num_timesteps}], got {t_star}")
        if noising not in NOISING:
            raise ValueError(f"noising must be one of {NOISING}, got {noising!r}")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if not 0 < beta_min < beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
        t0 = t_star / num_timesteps
        if not 0 <= t_end < t0:
            raise ValueError(f"t_end must be in [0, t*={t0}), got {t_end}")
        self.t_star, self.num_timesteps, self.noising, self.sampler = t_star, num_timesteps, noising, sampler
        self.beta_min, self.beta_max = beta_min, beta_max
        times = self._grid(t0, t_end, steps, 1.0 / num_timesteps)
        # chain position i = 0 is the last step, as for DDPM: reorder so index i runs t_end -> t*
        t_hi = torch.tensor(times[:-1][::-1], dtype=torch.float64)
        h = t_hi - torch.tensor(times[1:][::-1], dtype=torch.float64)
        beta = self.beta(t_hi)
        self.times = t_hi
        self.model_timesteps = (t_hi * (num_timesteps - 1)).float()
        share = 0.5 if sampler == "ode" else 1.0  # the ODE's drift has half the score (and guidance)
        self.variances = share * beta * h  # SDE: G(t)^2 h, the noise variance; ODE: the guidance weight
        self._x_coef = 1.0 + 0.5 * beta * h
        self._eps_coef = share * beta * h / self.std(t_hi)

    @staticmethod
    def _grid(t0: float, t_end: float, steps: int | None, dt: float) -> list[float]:
        """Times t* = t_0 > t_1 > ... > t_n = t_end visited by the reverse chain."""
        if steps is not None:
            if steps < 1:
                raise ValueError(f"steps must be >= 1, got {steps}")
            return [t0 + (t_end - t0) * k / steps for k in range(steps + 1)]
        n = max(1, math.ceil((t0 - t_end) / dt - 1e-9))
        return [t0 - k * dt for k in range(n)] + [t_end]

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: Tensor) -> Tensor:
        """log sqrt(alpha-bar(t)) = -1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min."""
        return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def std(self, t: Tensor) -> Tensor:
        """The marginal standard deviation sqrt(1 - alpha-bar(t))."""
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_mean_coeff(t)))

    def start_alpha_bar(self) -> float:
        """alpha-bar that x' is diffused with (see ``noising``)."""
        if self.noising == "ddpm":
            n = self.num_timesteps
            betas = torch.linspace(self.beta_min / n, self.beta_max / n, n, dtype=torch.float64)
            return float(torch.prod(1.0 - betas[: self.t_star]))
        t0 = torch.tensor(self.t_star / self.num_timesteps, dtype=torch.float64)
        return float(torch.exp(2.0 * self.log_mean_coeff(t0)))

    @property
    def num_steps(self) -> int:
        return len(self.model_timesteps)

    @property
    def noisy_steps(self) -> int:
        """Steps that add noise and the guidance shift: every Euler-Maruyama step."""
        return self.num_steps

    def model_time(self, i: int) -> float:
        """The time label the network is given on chain position ``i``."""
        return float(self.model_timesteps[i])

    def alpha_bar(self, i: int) -> float:
        """alpha-bar(t) of the SDE's marginal at the time chain position ``i`` starts from."""
        return float(torch.exp(2.0 * self.log_mean_coeff(self.times[i])))

    def step_variance(self, i: int) -> float:
        """Sigma of chain position ``i``: G^2 h (the ODE: the guidance weight beta h / 2)."""
        return float(self.variances[i])

    def noise_variance(self, i: int) -> float:
        """The variance of the noise step ``i`` adds: G^2 h for the SDE, none for the ODE."""
        return 0.0 if self.sampler == "ode" else self.step_variance(i)

    def q_sample(self, x0: Tensor, noise: Tensor) -> Tensor:
        """x_{t*} = sqrt(abar) x0 + sqrt(1 - abar) eps."""
        abar = self.start_alpha_bar()
        return math.sqrt(abar) * x0 + math.sqrt(1.0 - abar) * noise

    def p_mean_variance(self, eps: Tensor, x: Tensor, i: int) -> tuple[Tensor, float]:
        """The Euler-Maruyama step's deterministic part and its noise variance on position ``i``:
        x + h (1/2 beta x - beta eps / std) and beta h (ODE: x + h (1/2 beta x - 1/2 beta eps / std)
        and the guidance weight beta h / 2)."""
        return float(self._x_coef[i]) * x - float(self._eps_coef[i]) * eps, float(self.variances[i])
