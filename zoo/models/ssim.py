"""Structural similarity (Wang et al. 2004) per example, differentiable, for GDMP's SSIM guidance.

A Gaussian window (11 x 11, sigma 1.5) per channel, the constants C1 = 0.01^2 and C2 = 0.03^2 of
a unit data range, and the mean of the SSIM map over channels and pixels (zero-padded borders, as
the common PyTorch implementations that GDMP uses compute it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

WINDOW, SIGMA, C1, C2 = 11, 1.5, 0.01 ** 2, 0.03 ** 2


def gaussian_window(channels: int, like: Tensor) -> Tensor:
    """The normalised 2-D Gaussian window, one per channel (a depthwise convolution kernel)."""
    r = torch.arange(WINDOW, dtype=like.dtype, device=like.device) - WINDOW // 2
    g = torch.exp(-r ** 2 / (2 * SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, WINDOW, WINDOW).contiguous()


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """SSIM(a, b) of each example of two N x C x H x W batches, shape (N,)."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two N x C x H x W batches of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    c = a.shape[1]
    w = gaussian_window(c, a)

    def blur(v: Tensor) -> Tensor:
        return F.conv2d(v, w, padding=WINDOW // 2, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a ** 2 + mu_b ** 2 + C1) * (var_a + var_b + C2))
    return index.flatten(1).mean(dim=1)
