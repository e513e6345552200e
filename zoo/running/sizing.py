"""The EOT batch of a run's attacks: given (``--eot-batch``) or sized from the free memory."""
from __future__ import annotations

from torch import Tensor, nn

from ..models.batching import auto_rows, eot_batch_for

PROBE_ROWS = 4
"""Examples the memory probe differentiates (one gradient call, before the attacks start)."""


def size_eot_batches(attacks: dict, gradient_model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int,
                     eot: int, given: int | None = None) -> int | None:
    """Set ``eot_batch`` (EOT samples per forward call) on every attack that has one and return it:
    ``given`` when set, else what fits in the free memory for ``batch_size`` examples of ``eot``
    samples (:func:`zoo.models.batching.eot_batch_for`; ``None``, all at once, when they fit or off
    CUDA). ``x``, ``y``: a few examples on the model's device for the probe."""
    if given is not None and given < 1:
        raise ValueError(f"eot_batch must be >= 1, got {given}")
    wanted = [a for a in attacks.values() if hasattr(a, "eot_batch")]
    if given is None and wanted:
        given = eot_batch_for(auto_rows(gradient_model, x[:PROBE_ROWS], y[:PROBE_ROWS]), batch_size, eot)
    for attack in wanted:
        attack.eot_batch = given
    return given
