"""Bring your own defense: any ``nn.Module`` mapping pixels in [0, 1] to logits, described as a
synthetic :class:`~zoo.registry.schema.Entry` so that a benchmark of it runs the entries' protocol
(settings, journal, tables, model_info) unchanged, without a registry entry.

The description holds what the protocol needs: the dataset, the input shape (from the examples),
the number of classes (from one forward pass), ``{threat: eps}`` and the budget (the published
protocol, :class:`~zoo.registry.schema.Budget`'s defaults, unless one is given). It has no
purification, so the label-aware attack, which needs a guidance label, is not run on it.

Examples ``data=(x, y)`` may have any shape (images or not: N x anything, values in [0, 1], the box
the attacks keep their iterates in; the eps-balls are per-example norms over all of an example's
values) and any number of classes; examples that match no registry dataset are filed under
:data:`~zoo.registry.schema.OWN_DATA`, and every output is named after ``name``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data import load_test_set
from ..registry.schema import DATASETS, OWN_DATA, Budget, Component, Entry

GUESSED = {((1, 28, 28), 10): "mnist", ((3, 32, 32), 10): "cifar10", ((3, 32, 32), 100): "cifar100"}
"""The dataset an own defense is filed under when only its examples are given (shape, classes)."""


@dataclass(frozen=True)
class OwnDefense:
    """A user's module, its synthetic entry and the examples it is evaluated on (``None``: the
    entry's dataset through :func:`zoo.data.load_test_set`)."""

    entry: Entry
    model: nn.Module
    data: tuple[Tensor, Tensor] | None


def own_defense(model: nn.Module, threat: str, *, name: str | None, eps: float | None, dataset: str | None = None,
                data: tuple[Tensor, Tensor] | None = None, budget: Budget | None = None,
                data_dir="./data") -> OwnDefense:
    """Describe ``model`` as an entry called ``name`` under ``threat`` at ``eps``, evaluated on
    ``data=(x, y)`` or on ``dataset``'s test set. Bad input raises a ``ValueError`` naming it."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"an own defense must be a torch.nn.Module (pixels in [0, 1] -> logits), "
                         f"got {type(model).__name__}")
    if not name:
        raise ValueError("an own defense needs name= (--name): the tables and journals are filed under it")
    if eps is None or eps <= 0:
        raise ValueError(f"an own defense needs eps > 0 (eps=, --eps) for {threat}: it declares none, got {eps}")
    if (dataset is None) == (data is None):
        raise ValueError("an own defense needs exactly one of dataset= (e.g. 'mnist') and data=(x, y)")
    if budget is not None and not isinstance(budget, Budget):
        raise ValueError(f"budget must be a zoo.registry.schema.Budget, got {type(budget).__name__}")
    if dataset is not None and dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    probe = check_data(data) if data is not None else load_test_set(dataset, 1, data_dir)[0]
    num_classes = classes_of(model, probe[:1])
    shape = tuple(int(v) for v in probe.shape[1:])
    if dataset is None:
        dataset = GUESSED.get((shape, num_classes), OWN_DATA)
    entry = Entry(name=name, dataset=dataset, input_shape=shape, num_classes=num_classes,
                  classifier=Component(arch=f"own module {type(model).__name__}", source=f"user://{name}"),
                  threats={threat: float(eps)}, budget=budget or Budget(),
                  description=f"{name} (own defense, {type(model).__name__})")
    return OwnDefense(entry, model, data)


def check_data(data) -> Tensor:
    """The inputs of ``data=(x, y)``, after checking both (N x anything floats in [0, 1], one integer label each)."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)):
        raise ValueError("data must be a pair (x, y) of tensors")
    x, y = data
    if x.ndim < 2 or not x.is_floating_point() or len(x) == 0:
        raise ValueError(f"data x must be a non-empty float tensor (N, ...): one row per example, got {x.dtype} of "
                         f"shape {tuple(x.shape)}")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("data x must hold values in [0, 1] (the box the attacks keep their iterates in): rescale it")
    if y.shape != (len(x),) or y.is_floating_point():
        raise ValueError(f"data y must hold one integer label per image ({len(x)}), got {y.dtype} of shape {tuple(y.shape)}")
    return x


def classes_of(model: nn.Module, x: Tensor) -> int:
    """The number of logits ``model`` returns for one example (one forward pass, no gradients)."""
    device = next(model.parameters(), torch.empty(0)).device
    with torch.no_grad():
        logits = model(x.to(device))
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"the model must return logits (N, classes); for one image it returned "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    return int(logits.shape[1])
