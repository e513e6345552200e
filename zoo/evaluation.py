"""Evaluating zoo models: clean accuracy with seeded purification."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm import tqdm


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 100, seed: int = 0, progress: bool = False) -> Tensor:
    """Predicted labels of ``x``, batch by batch; all purification noise comes from one generator
    seeded with ``seed``, so a run is reproducible for a given seed and batch size."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    preds = []
    for xb in tqdm(x.split(batch_size), desc="predict", disable=not progress, leave=False):
        preds.append(model(xb.to(device), generator=generator).argmax(1).cpu())
    return torch.cat(preds)


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 100, seed: int = 0,
             progress: bool = False) -> float:
    """Fraction of ``x`` classified as ``y`` (one seeded purification per example)."""
    return int((predict(model, x, batch_size, seed, progress) == y).sum()) / len(y)
