"""The two image spaces: pixels in [0, 1] (what classifiers and attacks see) and the diffusion
model's space [-1, 1] (where the reverse chain runs)."""
from __future__ import annotations

from torch import Tensor


def to_model_space(pixels: Tensor) -> Tensor:
    return pixels * 2.0 - 1.0


def to_pixels(x: Tensor) -> Tensor:
    return (x + 1.0) / 2.0
