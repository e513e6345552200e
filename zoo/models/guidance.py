"""The guidance terms of every guided pattern, as a gradient added to the reverse-step mean, and the
one implementation of that gradient (:meth:`GuidanceTerms.gradient`) that the purifier, its grad
modes, its observers and the diagnostics all use.

For pattern ``robust`` (AGDM, Algorithm 1) the gradient at x_t is

    s * grad_{x_t} [ log p_phi(y | x_t) - D(f_phi(x'), f_phi(x_t)) ]

and ``plain`` keeps only the first term, with the (non-robust) classifier as f_phi. ``none`` has no
guidance object at all. The guidance net sees x_t mapped back to pixel space, (x_t + 1) / 2, as it
is an ordinary classifier of [0, 1] images, not a time-conditioned one. One forward of f_phi per
step serves both terms.

Each pattern names its terms (``label``: s log p(y | x_t); ``robust``: -s D(f(x'), f(x_t)); GDMP's
``input``: -s D(x_t, x'_t), :class:`GDMPGuidance`), each a scalar summed over the batch; the guidance gradient is the gradient of their sum, one backward
pass. :meth:`GuidanceTerms.term_gradients` gives each term's own gradient (graph-free, one backward
each), for observers that want to see what each term does.

Choices the paper leaves open (documented in the README):
    y   the guidance net's prediction on x' (``label: guidance``), or the classifier's
        (``label: classifier``); never the true label, which a defense cannot know.
    D   KL(softmax f(x') || softmax f(x_t)) by default, the divergence the guidance net is
        trained with (Eq. 6, TRADES); ``mse`` and ``cosine`` of the logits are offered too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .spaces import to_model_space
from .ssim import ssim


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
    """What the guidance needs from the input x': the label y (``None``: a pattern without one) and
    the reference it compares x_t with (AGDM: the logits f_phi(x'); differentiable in x' when the
    caller asks for input gradients)."""

    labels: Tensor | None
    ref_logits: Tensor


class GuidanceTerms(nn.Module):
    """A guided pattern: named terms whose summed gradient at x_t shifts each reverse step's mean.

    Subclasses define :meth:`context` and :meth:`terms`; a pattern whose reference changes with the
    step (GDMP's diffused input) also :meth:`step_reference`, :meth:`step_weight` and ``draws_noise``.
    """

    pattern: str
    scale: float
    net: nn.Module | None  # the guidance network (``None``: a pattern without one); set by each subclass
    draws_noise: bool = False
    """Whether :meth:`step_reference` needs fresh standard normal noise on every guided step."""

    def context(self, x_adv: Tensor, labels: Tensor | None = None) -> GuidanceContext:
        raise NotImplementedError

    def terms(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
              reference: Tensor) -> dict[str, Tensor]:
        """Each term of the objective at x_t (model space), a scalar summed over the batch, scale included."""
        raise NotImplementedError

    def step_reference(self, reference: Tensor, alpha_bar: float, noise: Tensor | None) -> Tensor:
        """The reference a step with marginal ``alpha_bar`` compares x_t with (default: the context's)."""
        return reference

    def step_weight(self, alpha_bar: float) -> float:
        """A step-dependent factor on the gradient (default 1: the scale alone)."""
        return 1.0

    def objective(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
                  reference: Tensor) -> Tensor:
        """The sum of :meth:`terms`: what the guidance gradient is the gradient of."""
        return _total(self.terms(x_t, to_pixels, labels, reference))

    def gradient(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
                 ref_logits: Tensor, create_graph: bool) -> Tensor:
        """grad_{x_t} of the sum of :meth:`terms`; with ``create_graph`` the result stays
        differentiable in x_t and in the reference (a true double backward for attacks), otherwise
        it is detached."""
        if not create_graph:
            with torch.enable_grad():
                x_t = x_t.detach().requires_grad_(True)
                return torch.autograd.grad(self.objective(x_t, to_pixels, labels, ref_logits.detach()), x_t)[0]
        return torch.autograd.grad(self.objective(x_t, to_pixels, labels, ref_logits), x_t, create_graph=True)[0]

    def term_gradients(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
                       reference: Tensor) -> dict[str, Tensor]:
        """Each term's own gradient at x_t, detached (one forward, one backward per term): they sum
        to :meth:`gradient` up to rounding."""
        with torch.enable_grad():
            x_in = x_t.detach().requires_grad_(True)
            terms = self.terms(x_in, to_pixels, labels, reference.detach())
            names = list(terms)
            return {name: torch.autograd.grad(terms[name], x_in, retain_graph=k < len(names) - 1)[0]
                    for k, name in enumerate(names)}


def _total(terms: dict[str, Tensor]) -> Tensor:
    values = list(terms.values())
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


class Guidance(GuidanceTerms):
    """AGDM's guidance (``robust``) or plain classifier guidance (``plain``).

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
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {sorted(DISTANCES)}, got {distance!r}")
        self.net = net
        self.pattern = pattern
        self.scale = scale
        self.distance = DISTANCES[distance]

    def context(self, x_adv: Tensor, labels: Tensor | None = None) -> GuidanceContext:
        """Reference logits f_phi(x') (differentiable when grad is on) and y (default: argmax)."""
        ref = self.net(x_adv)
        return GuidanceContext(ref.argmax(dim=1) if labels is None else labels, ref)

    def terms(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
              reference: Tensor) -> dict[str, Tensor]:
        """``label``: s sum log p(y | x_t); ``robust`` (pattern robust only): -s sum D(f(x'), f(x_t))."""
        logits = self.net(to_pixels(x_t))
        terms = {"label": self.scale * F.log_softmax(logits, dim=1).gather(1, labels[:, None]).sum()}
        if self.pattern == "robust":
            terms["robust"] = -(self.scale * self.distance(reference, logits).sum())
        return terms


def mse_image_distance(x_t: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference of the images per example (over channels and pixels)."""
    return (x_t - target).pow(2).flatten(1).mean(dim=1)


def ssim_image_distance(x_t: Tensor, target: Tensor) -> Tensor:
    """1 - SSIM of the images per example."""
    return 1.0 - ssim(x_t, target)


IMAGE_DISTANCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": mse_image_distance,
    "ssim": ssim_image_distance,
}


class GDMPGuidance(GuidanceTerms):
    """GDMP's guidance (Wang et al. 2022, arXiv 2205.14969): towards the input, diffused to each step.

    The term is ``input``: -s_t sum over the batch of D(x_t, x'_t), where x'_t = sqrt(abar_t) x' +
    sqrt(1 - abar_t) z is the input diffused to the step's own marginal with fresh noise z (drawn
    per step, as GDMP draws it) and s_t = s * sqrt((1 - abar_t) / abar_t) GDMP's step-dependent
    scale (its ``compute_scale`` with the threat-dependent constant folded into s). D is computed
    in model space ([-1, 1]), per example (GDMP's code averages the MSE over the batch as well,
    which makes one example's guidance depend on the batch size; here it does not: s here equals
    GDMP's ``guide_scale`` * 3 / (2 eps) / batch size). No network and no label.

    Args:
        scale: s.
        distance: ``mse`` (GDMP's default) or ``ssim`` (D = 1 - SSIM).
    """

    draws_noise = True

    def __init__(self, scale: float, distance: str = "mse"):
        super().__init__()
        if distance not in IMAGE_DISTANCES:
            raise ValueError(f"GDMP's distance must be one of {sorted(IMAGE_DISTANCES)}, got {distance!r}")
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        self.net = None
        self.pattern = "gdmp"
        self.scale = scale
        self.distance = IMAGE_DISTANCES[distance]

    def context(self, x_adv: Tensor, labels: Tensor | None = None) -> GuidanceContext:
        """The reference is the input itself in model space (differentiable when grad is on); no label."""
        return GuidanceContext(None, to_model_space(x_adv))

    def step_reference(self, reference: Tensor, alpha_bar: float, noise: Tensor | None) -> Tensor:
        """x'_t: the input diffused to the step's marginal with the step's own noise."""
        if noise is None:
            raise ValueError("GDMP's guidance diffuses the input on every guided step: it needs that step's noise")
        return math.sqrt(alpha_bar) * reference + math.sqrt(1.0 - alpha_bar) * noise

    def step_weight(self, alpha_bar: float) -> float:
        """sqrt((1 - abar_t) / abar_t): GDMP's guidance grows with the step's noise level."""
        return math.sqrt((1.0 - alpha_bar) / alpha_bar)

    def terms(self, x_t: Tensor, to_pixels: Callable[[Tensor], Tensor], labels: Tensor | None,
              reference: Tensor) -> dict[str, Tensor]:
        """``input``: -s sum D(x_t, x'_t) (the step weight is applied to the gradient)."""
        return {"input": -(self.scale * self.distance(x_t, reference).sum())}
