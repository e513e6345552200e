"""Clean accuracy of zoo entries on the MNIST demo (the numbers in ``zoo/weights/mnist/clean_accuracy.json``),
one seeded purification per example, and the record that says how they were measured."""
from __future__ import annotations

import time
from typing import Iterator, Sequence

import torch

from ..common.devices import device_of
from ..common.provenance import provenance
from ..data import mnist_demo
from ..models.factory import create_model
from ..registry.resolve import get_entry, with_overrides
from .draws import accuracy


def clean_accuracies(names: Sequence[str], split: str = "test", n_examples: Sequence[int] = (200, 1000),
                     batch_size: int = 100, seed: int = 0, device=None, overrides: dict | None = None,
                     progress: bool = True) -> Iterator[tuple[str, dict[str, float], torch.device]]:
    """For each entry in turn: (name, {str(N): accuracy on the split's first N examples}, device).

    ``split``: ``test`` (the demo test split) or ``val`` (held-out training digits, for choosing
    settings); ``overrides``: purification settings changed for every entry (e.g. ``t_star``)."""
    x, y = mnist_demo(split)
    for name in names:
        model = create_model(with_overrides(get_entry(name), **(overrides or {})), device=device)
        yield name, {str(n): accuracy(model, x[:n], y[:n], batch_size, seed, progress=progress)
                     for n in n_examples}, device_of(model)


def clean_accuracy_record(results: dict[str, dict[str, float]], device: torch.device, *, seed: int,
                          batch_size: int, split: str, overrides: dict, start: float) -> dict:
    """The JSON record of :func:`clean_accuracies`' results, with their provenance (``start``: the
    ``time.time()`` the measurement began)."""
    return {"provenance": provenance(device, seed=seed, batch_size=batch_size, split=split, overrides=overrides,
                                     wall_seconds=round(time.time() - start, 1)),
            "clean_accuracy": results}
