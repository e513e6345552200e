"""The defended classifier a zoo entry is: validate input -> purify (optional) -> classify."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..registry.schema import Entry


class DefendedClassifier(nn.Module):
    """A zoo entry as one module: pixels in [0, 1], NCHW, float -> logits.

    ``purifier`` is a :class:`~zoo.models.purifier.Purifier` or ``None``. ``purify(x)`` returns
    the purified images; a plain classifier entry has no purifier and
    ``purify`` is the identity. ``config`` is the registry :class:`~zoo.registry.Entry`.
    """

    def __init__(self, classifier: nn.Module, config: "Entry", purifier: nn.Module | None = None):
        super().__init__()
        self.classifier = classifier
        self.purifier = purifier
        self.config = config

    @property
    def label_network(self) -> nn.Module | None:
        """The purifier's label network (:attr:`Purifier.label_network`), ``None`` without guidance."""
        return None if self.purifier is None else self.purifier.label_network

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.classifier(self.purify(x, generator))

    def purify(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.validate(x)
        return x if self.purifier is None else self.purifier(x, generator)

    def validate(self, x: Tensor) -> None:
        """Raise ``ValueError`` saying what was expected unless ``x`` is a float N x C x H x W
        batch of this entry's shape with every value in [0, 1]."""
        expected = tuple(self.config.input_shape)
        want = f"a float tensor of shape (N, {', '.join(map(str, expected))}) with values in [0, 1]"
        if not isinstance(x, Tensor):
            raise ValueError(f"{self.config.name} expects {want}, got a {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{self.config.name} expects {want}, got dtype {x.dtype}")
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.config.name} expects {want}, got shape {tuple(x.shape)}")
        bad = torch.stack([x.isnan().any(), (x < 0).any(), (x > 1).any()]).tolist()
        if bad[0]:
            raise ValueError(f"{self.config.name} expects {want}, got NaN values")
        if bad[1] or bad[2]:
            lo, hi = float(x.min()), float(x.max())
            raise ValueError(f"{self.config.name} expects {want}, got values in [{lo:.4g}, {hi:.4g}]")
