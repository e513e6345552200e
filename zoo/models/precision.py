"""Attack precision: the attacker's gradients in bf16, every verdict in fp32.

An attack spends nearly all of its time on input gradients through the reverse chain (UNet,
guidance with its double backward, classifier). Those gradients only steer the attack: which
examples count as broken is decided by the defense's own fp32 forward passes (the loop's K
re-draws, AutoAttack's decisions). So the gradients may be computed at lower precision where that
does not weaken the attack, while the defense is judged exactly as it is.

``fp32`` (the default) changes nothing. ``bf16`` runs the attacker's forward (and hence its
autograd graph) under ``torch.autocast`` with bfloat16: convolutions and matrix products in bf16,
reductions and softmax in fp32 as autocast decides, the logits handed back in fp32. Every grad
mode keeps the precision in its backward pass: ``exact`` records the cast operations in its graph;
``checkpoint`` (non-reentrant ``torch.utils.checkpoint``) restores the autocast state when it
recomputes; ``recompute`` stores the state with its chain (:func:`autocast_state`) and replays
each step under it (:func:`replayed_under`), since its backward runs outside the forward's
autocast region. bf16 keeps fp32's exponent range, so no loss scaling is needed (fp16 would need
one and is not offered).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

PRECISIONS = ("fp32", "bf16")
"""Attacker-gradient precisions (``--attack-precision``); ``fp32`` is the default."""

_DTYPES = {"bf16": torch.bfloat16}

AutocastState = tuple[str, bool, torch.dtype]
"""(device type, enabled, dtype) of autocast as a forward pass found it."""


def check_precision(precision: str) -> str:
    """``precision``, refusing anything but :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"attack precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


@contextlib.contextmanager
def attack_precision(precision: str, device_type: str) -> Iterator[None]:
    """Run the enclosed forward (and the graph it records) at ``precision`` on ``device_type``
    (``cpu`` or ``cuda``); ``fp32`` leaves autocast as it is."""
    if check_precision(precision) == "fp32":
        yield
        return
    with torch.autocast(device_type, dtype=_DTYPES[precision]):
        yield


def autocast_state(device_type: str) -> AutocastState:
    """Autocast's state for ``device_type`` now, for a backward pass to replay under."""
    return device_type, torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type)


def replayed_under(state: AutocastState) -> contextlib.AbstractContextManager:
    """A context that restores ``state`` (:func:`autocast_state`) for a recomputation."""
    device_type, enabled, dtype = state
    return torch.autocast(device_type, dtype=dtype, enabled=enabled)


class PrecisionAttacker(nn.Module):
    """``inner`` (the defense, or an ablation attacker) with its forward at ``precision``; the
    logits come back in fp32. Attacks take their gradients from it (``Attack.with_attacker``);
    the defense they are judged on stays the fp32 model. ``label`` is the inner attacker's."""

    def __init__(self, inner: nn.Module, precision: str):
        super().__init__()
        self.inner = inner
        self.precision = check_precision(precision)

    @property
    def label(self) -> str:
        return getattr(self.inner, "label", "exact")

    @property
    def is_ablation(self) -> bool:
        return bool(getattr(self.inner, "is_ablation", False))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        with attack_precision(self.precision, x.device.type):
            logits = self.inner(x) if generator is None else self.inner(x, generator)
        return logits.float()


def gradient_module(model: nn.Module, attacker: nn.Module | None, precision: str) -> nn.Module | None:
    """The module an attack takes its gradients from at ``precision``: ``attacker`` (``None``:
    ``model`` itself) as it is for ``fp32``, wrapped in :class:`PrecisionAttacker` otherwise."""
    if check_precision(precision) == "fp32":
        return attacker
    return PrecisionAttacker(model if attacker is None else attacker, precision)
