"""Noise drawn row by row, each row from a generator of its own: so a row's purification noise
depends only on its own generator, never on which other rows share the batch.

The attack loop's pool (:mod:`zoo.running.pool`) refills freed slots with new examples, so the
company an example keeps changes from step to step (and between a run and its resume). With one
generator per example, passed to a zoo model as ``generator=`` (:meth:`Purifier._noise` draws from
it), an example's noise, and so its result, is the same in any batch.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class RowGenerators:
    """One ``torch.Generator`` per row of the batch a model is called on.

    ``generators[r]`` draws row ``r``'s noise; the same generator object may serve several rows
    (an example repeated for its EOT samples or K draws), which then draw from it in row order.
    """

    def __init__(self, generators: Sequence[torch.Generator]):
        if not generators:
            raise ValueError("RowGenerators needs one generator per row, got none")
        self.generators = list(generators)

    def repeat(self, times: int) -> "RowGenerators":
        """The generators of a batch repeated ``times`` along dim 0 (as ``x.repeat``)."""
        return RowGenerators(self.generators * times)

    def randn(self, shape: Sequence[int], device=None, dtype=None) -> Tensor:
        """Standard normal noise of ``shape`` (rows first), row ``r`` from ``generators[r]``."""
        if shape[0] != len(self.generators):
            raise ValueError(f"noise for {shape[0]} rows asked of {len(self.generators)} row generators")
        rows = [torch.randn(tuple(shape[1:]), generator=g, device=device, dtype=dtype) for g in self.generators]
        return torch.stack(rows)


def draw_normal(shape: Sequence[int], generator, device=None, dtype=None) -> Tensor:
    """Standard normal noise from ``generator``: a ``torch.Generator`` (or ``None``, the global
    RNG), or :class:`RowGenerators` (each row from its own)."""
    if isinstance(generator, RowGenerators):
        return generator.randn(shape, device=device, dtype=dtype)
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
