"""Predictions over independent purifications: seeded clean accuracy (one purification per
example) and the K re-draws every benchmark result is judged by (the anytime pool judges its
iterates with them, :mod:`zoo.running.pool`)."""
from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

from ..attacks.calls import ModelCalls
from ..common.devices import device_of
from ..models.predict import fraction_equal, predicted_labels


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 100, seed: int = 0,
             progress: bool = False) -> float:
    """Fraction of ``x`` classified as ``y``, one purification per example, batch by batch; all
    purification noise comes from one generator seeded with ``seed`` (on the model's device), so a
    result repeats for a given seed and batch size."""
    generator = torch.Generator(device=device_of(model)).manual_seed(seed)
    return fraction_equal(predicted_labels(model, x, batch_size, generator, progress), y)


@torch.no_grad()
def redraw_predictions(model: nn.Module, x: Tensor, draws: int, seed: int | None = None) -> Tensor:
    """Predictions of ``draws`` independent purifications of every example, as an N x draws tensor.

    All draws run as one batched forward (the batch repeated ``draws`` times): a single lucky
    forward pass must not count as robust, so every result is judged over many draws. With
    ``seed`` the noise comes from a generator of its own seeded with it (a zoo model takes it as
    ``generator=``; any other module runs with torch's global RNG seeded with it inside
    ``fork_rng``), so the draws share no random numbers with an attack that ran before, and the
    caller's global RNG is left as it was.
    """
    batch = x.repeat(draws, *([1] * (x.dim() - 1)))
    logits = model(batch) if seed is None else seeded_forward(model, batch, seed)
    return logits.argmax(1).view(draws, len(x)).T.cpu()


def seeded_forward(model: nn.Module, x: Tensor, seed: int) -> Tensor:
    """``model(x)`` with its noise from a generator of its own seeded with ``seed`` (a zoo model
    takes it as ``generator=``; any other module runs with torch's global RNG seeded with it inside
    ``fork_rng``): the same ``x`` and ``seed`` give the same logits, so a stochastic defense is a
    deterministic function of its input for a fixed seed; the caller's global RNG is left as it was.
    Gradients flow as in a plain call."""
    if "generator" in inspect.signature(model.forward).parameters:
        return model(x, generator=torch.Generator(device=device_of(model)).manual_seed(seed))
    device = device_of(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return model(x)


def redraw_calls(draws: int) -> ModelCalls:
    """Model calls per example of the attack loop's re-classifications: ``draws`` forwards of the
    clean input and ``draws`` of the adversarial one (:func:`redraw_predictions`, twice)."""
    return ModelCalls(forward=2 * draws)

