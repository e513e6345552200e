"""The interface every reverse-process backend implements, so the purifier serves them all blindly.

A backend is the maths of one truncated reverse chain, with no network inside: how the input is
diffused to t* (``q_sample``), the marginal alpha-bar at every chain position (``alpha_bar``, what
GDMP diffuses its reference with and scales its guidance by), and each reverse step as a Gaussian
N(mean + Sigma * gradient, noise variance) whose mean comes from a noise prediction
(``p_mean_variance``), is shifted by guidance (``condition_mean``) and is sampled (``sample``).
Chain positions run ``num_steps - 1`` (the first step, at t*) down to 0 (the last).
:class:`~zoo.models.diffusion.ddpm.TruncatedDDPM` and
:class:`~zoo.models.diffusion.vpsde.TruncatedVPSDE` implement it.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class ReverseProcess(Protocol):
    """A truncated reverse diffusion chain (the purifier's only view of a backend)."""

    t_star: int
    model_timesteps: Tensor
    """The network's time input per chain position (its dtype is the one the network is given)."""

    @property
    def num_steps(self) -> int:
        """Reverse steps in the chain."""

    @property
    def noisy_steps(self) -> int:
        """Steps of nonzero variance: each adds the guidance shift (and noise, for a stochastic chain)."""

    def model_time(self, i: int) -> int | float:
        """The time label the network is given on chain position ``i``."""

    def alpha_bar(self, i: int) -> float:
        """alpha-bar of the forward marginal at the state chain position ``i`` starts from."""

    def step_variance(self, i: int) -> float:
        """Sigma of position ``i``: the weight of the guidance gradient in the step's mean."""

    def noise_variance(self, i: int) -> float:
        """The variance of the noise position ``i`` adds (zero: it draws none)."""

    def q_sample(self, x0: Tensor, noise: Tensor) -> Tensor:
        """The input ``x0`` (model space) diffused to t* with standard normal ``noise``."""

    def p_mean_variance(self, eps: Tensor, x: Tensor, i: int) -> tuple[Tensor, float]:
        """The unguided mean of position ``i`` from the noise prediction ``eps`` at ``x``, and Sigma."""

    def condition_mean(self, mean: Tensor, variance: float, gradient: Tensor | None) -> Tensor:
        """The mean shifted by Sigma * ``gradient`` (``None``: unshifted)."""

    def sample(self, mean: Tensor, variance: float, noise: Tensor | None) -> Tensor:
        """mean + sqrt(variance) * ``noise`` (``None``: the mean)."""
