"""The fixed-noise protocol (``--fixed-noise``, reference only): the attack and the verdict share the
purification noise, as some papers evaluate, so a stochastic defense is judged as one fixed,
deterministic function per batch.

:class:`FixedNoise` wraps the defended model: every forward of a batch ``B`` examples long (or of
any whole multiple of it: EOT samples and the K re-draws repeat the batch) runs each copy with a
generator seeded afresh with the batch's seed, so every EOT sample, every draw of the verdict and
the attack's last forward see the same noise, example by example. A call of another size (an
attack that evaluates a subset, as AutoAttack does) runs once with that seed: fixed noise of its
own. The K draws of a verdict are therefore identical (vote = worst = mean), and numbers made so
are labelled a weaker, reference-only protocol (:data:`zoo.common.wording.FIXED_NOISE_LABEL`)
wherever they appear; the field's honest protocol draws fresh noise (the default).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .draws import seeded_forward


class FixedNoise(nn.Module):
    """``model`` with its noise fixed per batch (see the module docstring); :meth:`fix` before each batch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.inner = model
        self.seed, self.batch = 0, 0

    def fix(self, seed: int, batch: int) -> None:
        """The seed and length of the batch about to be attacked and judged."""
        self.seed, self.batch = int(seed), int(batch)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The model with the batch's fixed noise; ``generator`` (the re-draws') is ignored on purpose."""
        if self.batch and len(x) % self.batch == 0:
            return torch.cat([seeded_forward(self.inner, chunk, self.seed) for chunk in x.split(self.batch)])
        return seeded_forward(self.inner, x, self.seed)


def fix_noise(model: nn.Module, seed: int, batch: int) -> None:
    """:meth:`FixedNoise.fix` when ``model`` is one; nothing otherwise (the honest protocol)."""
    if isinstance(model, FixedNoise):
        model.fix(seed, batch)
