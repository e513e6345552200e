"""Rows per forward from the free memory: the EOT batch sized for the card, so nobody tunes it by hand.

An EOT attack repeats each batch of examples ``eot`` times and differentiates them in one forward
call (``Attack.eot_gradient``); ``eot_batch`` caps the repeats per call. How many rows fit depends
on the grad mode (``exact`` keeps every step's activations, ``recompute`` one step's), the chain
and the card, so it is measured, not guessed: :func:`gradient_bytes_per_row` runs one input
gradient on a few rows and reads the allocator's peak; :func:`fitting_rows` divides the free
memory (``torch.cuda.mem_get_info``, with headroom) by it. :func:`eot_batch_for` turns rows into
EOT samples per call: all ``eot`` when they fit, so a run that fits is computed exactly as without
sizing (same random numbers, same numbers); fewer only where all at once would run out of memory.
On the CPU nothing is probed and all samples go in one call (today's behaviour).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEADROOM = 0.8
"""Share of the free memory the rows may take (the allocator's fragmentation, the verdicts' forwards)."""


def gradient_bytes_per_row(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Peak CUDA bytes per row of one input gradient of the summed cross-entropy of ``model`` at
    ``x`` (rows on the model's CUDA device), above what was allocated before: includes the
    per-call fixed cost, so it over-estimates a little, on the safe side."""
    device = x.device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xg).float(), y, reduction="sum"), xg)
    torch.cuda.synchronize(device)
    return max(1.0, (torch.cuda.max_memory_allocated(device) - before) / len(x))


def fitting_rows(bytes_per_row: float, free_bytes: int, headroom: float = HEADROOM) -> int:
    """How many rows of ``bytes_per_row`` fit in ``headroom`` of ``free_bytes`` (at least 1)."""
    return max(1, int(headroom * free_bytes // bytes_per_row))


def eot_batch_for(rows: int | None, batch_size: int, eot: int) -> int | None:
    """EOT samples per forward call for ``batch_size`` examples when ``rows`` fit in one call:
    ``None`` (all ``eot`` at once) when they all fit or ``rows`` is ``None``, else as many as fit
    (at least one)."""
    if rows is None or rows >= batch_size * eot:
        return None
    return max(1, rows // batch_size)


def auto_rows(model: nn.Module, x: Tensor, y: Tensor) -> int | None:
    """Rows per gradient call that fit on ``x``'s device (``None`` off CUDA: no limit), measured on
    the rows of ``x`` (a few examples suffice) and the device's free memory."""
    if x.device.type != "cuda":
        return None
    per_row = gradient_bytes_per_row(model, x, y)
    free, _ = torch.cuda.mem_get_info(x.device)
    cached = torch.cuda.memory_reserved(x.device) - torch.cuda.memory_allocated(x.device)  # reusable
    return fitting_rows(per_row, free + cached)
