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
    def sample(mean: Tensor, variance: float, noise: Tensor) -> Tensor:
        """Draw from N(mean, variance * I) given standard normal noise."""
        return mean + variance ** 0.5 * noise
