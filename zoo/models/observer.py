"""What the purifier shows an observer of its reverse chain: one frozen record per reverse step.

``purifier.observe(fn)`` (a context manager) calls ``fn(record)`` once per reverse step, in the
order the steps run, with the step's :class:`StepRecord`. The guidance diagnostic, the recompute
replay check and per-step losses on the chain's intermediate states (DiffAttack's) read the chain
through it instead of reaching into the purifier.

Gradients: in grad modes ``exact`` and ``checkpoint`` the record's tensors are the chain's own,
inside the autograd graph whenever the caller asks for input gradients (grad on and the input
requiring grad), so a loss on ``x_t`` or ``x_prev`` back-propagates exactly to the input. In
``recompute`` the chain runs forward without a graph (that is its point), so the records hold plain
values; asking for differentiable records there (``observe(fn, differentiable=True)``) raises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor


@dataclass(frozen=True)
class StepRecord:
    """One reverse step x_t -> x_prev = mean + guidance_shift + sqrt(noise_variance) * noise.

    Attributes:
        round: the diffuse-then-purify round (0 unless the purifier runs several, as GDMP does).
        step: 0 for the round's first reverse step (at t*), counting up.
        position: the chain position i (``num_steps - 1`` first, 0 last) the backend indexes by.
        model_time: the time label the noise network was given.
        x_t: the step's input (model space).
        mean: the unguided mean mu(x_t).
        variance: Sigma, the guidance's weight (and for a stochastic step the noise variance).
        noise_variance: the variance of the noise the step added (zero: it drew none).
        noise: the standard normal noise drawn, or ``None``.
        guidance_shift: what the guidance added to the mean (Sigma * weight * gradient), or ``None``.
        labels: the guidance's label y, or ``None``.
        reference: what the guidance compared x_t with on this step (f_phi(x') for AGDM, the
            input diffused to this step for GDMP), or ``None`` without guidance.
        x_prev: the step's output.
        term_shifts: call it for each guidance term's own shift (Sigma * weight * that term's
            gradient; detached, one guidance backward per term, computed on demand); ``{}``
            on a step without guidance.
    """

    round: int
    step: int
    position: int
    model_time: float
    x_t: Tensor
    mean: Tensor
    variance: float
    noise_variance: float
    noise: Tensor | None
    guidance_shift: Tensor | None
    labels: Tensor | None
    reference: Tensor | None
    x_prev: Tensor
    term_shifts: Callable[[], dict[str, Tensor]]


Observer = Callable[[StepRecord], None]
