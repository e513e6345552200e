"""The Gaussian reverse step both samplers share: x_prev ~ N(mean + Sigma * gradient, Sigma)."""
from __future__ import annotations

from torch import Tensor


class GaussianReverseStep:
    """Guidance shift and noise of one reverse step, given its mean and variance Sigma."""

    @staticmethod
    def condition_mean(mean: Tensor, variance: float, gradient: Tensor | None) -> Tensor:
        """Shift the mean by Sigma * gradient (the guidance hook of Dhariwal & Nichol, 2021; for the
        VP-SDE, Sigma = G^2 h, so this adds the guidance to the score in the drift)."""
        return mean if gradient is None else mean + variance * gradient

    @staticmethod
    def sample(mean: Tensor, variance: float, noise: Tensor | None) -> Tensor:
        """Draw from N(mean, variance * I) given standard normal noise; ``None``: a step without noise."""
        return mean if noise is None else mean + variance ** 0.5 * noise

    def step_variance(self, i: int) -> float:
        """Sigma of chain position ``i``; each backend defines its own."""
        raise NotImplementedError(f"{type(self).__name__} must define step_variance")

    def noise_variance(self, i: int) -> float:
        """The variance of the noise step ``i`` adds (zero: it draws none). A Gaussian step's noise
        has the step's variance; a deterministic sampler (the probability-flow ODE) overrides this."""
        return self.step_variance(i)
