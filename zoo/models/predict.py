"""A model's predicted labels for a data set, batch by batch: the one prediction loop that clean
accuracy (evaluation) and the training read-outs share."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..common.devices import device_of


@torch.no_grad()
def predicted_labels(model: nn.Module, x: Tensor, batch_size: int = 500,
                     generator: torch.Generator | None = None, progress: bool = False) -> Tensor:
    """``model``'s labels (argmax of its logits) for ``x``, in batches of ``batch_size`` moved to the
    model's device; returned on the CPU. ``generator`` is passed to every call (a zoo
    :class:`~zoo.models.purifier.DefendedClassifier` then draws all its purification noise from it,
    so the labels repeat for a given seed and batch size); without it the model is called as
    ``model(x)``, as any classifier can be."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = device_of(model)
    kwargs = {} if generator is None else {"generator": generator}
    batches = tqdm(x.split(batch_size), desc="predict", disable=not progress, leave=False)
    return torch.cat([model(xb.to(device), **kwargs).argmax(1).cpu() for xb in batches])


def fraction_equal(a: Tensor, b: Tensor) -> float:
    """The fraction of positions where two label vectors agree (an exact count over the length):
    accuracy against true labels, or the agreement of two models."""
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"need two label vectors of one non-zero length, got {tuple(a.shape)} and {tuple(b.shape)}")
    return int((a.cpu() == b.cpu()).sum()) / len(a)
