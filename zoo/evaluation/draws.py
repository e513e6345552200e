"""Predictions over independent purifications: seeded single predictions (clean accuracy) and the
K re-draws every benchmark result is judged by."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..common.devices import device_of


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 100, seed: int = 0, progress: bool = False) -> Tensor:
    """Predicted labels of ``x``, batch by batch; all purification noise comes from one generator
    seeded with ``seed``, so a run is reproducible for a given seed and batch size."""
    device = device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    preds = []
    for xb in tqdm(x.split(batch_size), desc="predict", disable=not progress, leave=False):
        preds.append(model(xb.to(device), generator=generator).argmax(1).cpu())
    return torch.cat(preds)


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 100, seed: int = 0,
             progress: bool = False) -> float:
    """Fraction of ``x`` classified as ``y`` (one seeded purification per example)."""
    return int((predict(model, x, batch_size, seed, progress) == y).sum()) / len(y)


@torch.no_grad()
def redraw_predictions(model: nn.Module, x: Tensor, draws: int) -> Tensor:
    """Predictions of ``draws`` independent purifications of every example, as an N x draws tensor.

    All draws run as one batched forward (the batch repeated ``draws`` times): a single lucky
    forward pass must not count as robust, so every result is judged over many draws.
    """
    logits = model(x.repeat(draws, *([1] * (x.dim() - 1))))
    return logits.argmax(1).view(draws, len(x)).T.cpu()
