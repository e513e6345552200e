"""AGDM's guidance terms, as a gradient added to the reverse-step mean.

For pattern ``robust`` (AGDM, Algorithm 1) the gradient at x_t is

    s * grad_{x_t} [ log p_phi(y | x_t) - D(f_phi(x'), f_phi(x_t)) ]

and ``plain`` keeps only the first term, with the (non-robust) classifier as f_phi. ``none`` has no
guidance object at all. The guidance net sees x_t mapped back to pixel space, (x_t + 1) / 2, as it
is an ordinary classifier of [0, 1] images, not a time-conditioned one. One forward of f_phi per
step serves both terms.

Choices the paper leaves open (documented in the README):
    y   the guidance net's prediction on x' (``label: guidance``), or the classifier's
        (``label: classifier``); never the true label, which a defense cannot know.
    D   KL(softmax f(x') || softmax f(x_t)) by default, the divergence the guidance net is
        trained with (Eq. 6, TRADES); ``mse`` and ``cosine`` of the logits are offered too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def kl_distance(ref_logits: Tensor, logits: Tensor) -> Tensor:
    """KL(softmax(ref) || softmax(logits)) per example."""
    ref_log_p = F.log_softmax(ref_logits, dim=1)
    return (ref_log_p.exp() * (ref_log_p - F.log_softmax(logits, dim=1))).sum(dim=1)


def mse_distance(ref_logits: Tensor, logits: Tensor) -> Tensor:
    """Mean squared difference of the logits per example."""
    return (ref_logits - logits).pow(2).mean(dim=1)


def cosine_distance(ref_logits: Tensor, logits: Tensor) -> Tensor:
    """1 - cosine similarity of the logits per example."""
    return 1.0 - F.cosine_similarity(ref_logits, logits, dim=1)


DISTANCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "kl": kl_distance,
    "mse": mse_distance,
    "cosine": cosine_distance,
}


@dataclass
class GuidanceContext:
    """What the guidance needs from the input x': the label y and the reference logits f_phi(x')."""

    labels: Tensor
    ref_logits: Tensor


class Guidance(nn.Module):
    """The guidance term of one purification pattern.

    Args:
        net: f_phi, a classifier of pixels in [0, 1] returning logits.
        pattern: ``plain`` (log-probability term only) or ``robust`` (both terms).
        scale: s, multiplying the whole gradient.
        distance: key of :data:`DISTANCES` (used by ``robust`` only).
    """

    def __init__(self, net: nn.Module, pattern: str, scale: float = 1.0, distance: str = "kl"):
        super().__init__()
        if pattern not in ("plain", "robust"):
            raise ValueError(f"guidance pattern must be 'plain' or 'robust', got {pattern!r}")
        self.net = net
        self.pattern = pattern
        self.scale = scale
        self.distance = DISTANCES[distance]

    def context(self, x_adv: Tensor, labels: Tensor | None = None) -> GuidanceContext:
        """Reference logits f_phi(x') (differentiable when grad is on) and y (default: argmax)."""
        ref = self.net(x_adv)
        return GuidanceContext(ref.argmax(dim=1) if labels is None else labels, ref)

    def objective(self, x_t_pixels: Tensor, labels: Tensor, ref_logits: Tensor) -> Tensor:
        """s * sum over the batch of [log p(y | x_t) - D(f(x'), f(x_t))] (robust) or the first term."""
        logits = self.net(x_t_pixels)
        value = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).sum()
        if self.pattern == "robust":
            value = value - self.distance(ref_logits, logits).sum()
        return self.scale * value

    def gradient(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor,
                 ref_logits: Tensor, create_graph: bool) -> Tensor:
        """grad_{x_t} of :meth:`objective`; with ``create_graph`` the result stays differentiable
        in x_t and x' (a true double backward for attacks), otherwise it is detached."""
        if not create_graph:
            with torch.enable_grad():
                x_t = x_t.detach().requires_grad_(True)
                obj = self.objective(to_pixels(x_t), labels, ref_logits.detach())
                return torch.autograd.grad(obj, x_t)[0]
        obj = self.objective(to_pixels(x_t), labels, ref_logits)
        return torch.autograd.grad(obj, x_t, create_graph=True)[0]
