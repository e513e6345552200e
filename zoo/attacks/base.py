"""The shared base of the attacks: threat model, projection, random starts, batched EOT gradients.

Each attack is one file holding one :class:`Attack` subclass that implements ``perturb`` (the
layout of torchattacks). Attacks call ``model(x)`` for logits. A zoo
:class:`~zoo.models.purifier.DefendedClassifier` draws fresh purification noise from torch's global RNG on
every forward, so a run is reproducible only if the caller seeds it (``torch.manual_seed``); the
attack never touches the global RNG. The attack's own randomness (random starts) comes from a
``torch.Generator`` seeded with ``seed``.
"""
from __future__ import annotations

import abc
from typing import Callable

import torch
from torch import Tensor, nn

NORMS = ("Linf", "L2")

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``loss_fn(logits, labels) -> scalar``, summed (not averaged) over the examples."""


def madry_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s PGD step, ``2.5 * eps / steps`` (all the steps together travel 2.5 eps)."""
    return 2.5 * eps / steps


def step_of(budget, eps: float) -> float | None:
    """A budget's step (its ``pgd_step_fraction`` of eps), or ``None`` for the attack's own default."""
    return None if budget.pgd_step_fraction is None else budget.pgd_step_fraction * eps


def batch_norms(v: Tensor) -> Tensor:
    """Per-example L2 norms of ``v`` (N x ...), shaped N x 1 x ... to broadcast against ``v``."""
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))


class Attack(abc.ABC):
    """An attack bounded by an eps-ball of ``norm`` around each input, in pixel space [0, 1].

    Args:
        model: the model to attack, ``model(x) -> logits``: a zoo ``DefendedClassifier`` (stochastic)
            or any ``nn.Module``.
        norm: ``"Linf"`` or ``"L2"``, the norm of the ball.
        eps: the radius of the ball, >= 0.
        seed: seeds the attack's own generator (random starts); not the model's noise.

    ``norms`` lists the threat names a subclass accepts (the eps-balls by default; a non-ball
    threat such as StAdv names its own). :meth:`with_attacker` takes the EOT gradients from
    another module (:mod:`.gradients`) while ``model`` stays the defense.
    """

    norms = NORMS

    def __init__(self, model: nn.Module, *, norm: str, eps: float, seed: int = 0):
        if norm not in self.norms:
            raise ValueError(f"norm must be one of {self.norms}, got {norm!r}")
        if not eps >= 0:  # also refuses NaN
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        self.model = model
        self.norm = norm
        self.eps = float(eps)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.attacker: nn.Module | None = None  # None: gradients from ``model`` itself

    def with_attacker(self, attacker: nn.Module) -> "Attack":
        """Take gradients from ``attacker`` (e.g. :func:`.gradients.attacker_model`) instead of
        ``model``; returns the attack itself. ``model`` is still the defense attacked."""
        self.attacker = attacker
        return self

    @property
    def gradient_label(self) -> str:
        """How this attack's gradients are taken, for records: ``exact`` unless an ablation
        attacker (``label``) was given."""
        return getattr(self.attacker, "label", "exact")

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial examples (N x C x H x W in [0, 1], detached) for ``x`` (the same shape, in
        [0, 1]) with true labels ``y`` (N, long). Works under ``torch.no_grad()`` too."""
        self._check(x, y)
        return self.perturb(x.detach(), y.detach()).detach()

    @abc.abstractmethod
    def perturb(self, x: Tensor, y: Tensor) -> Tensor:
        """The attack itself, on validated, detached inputs."""

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """``x_adv`` moved into the eps-ball around ``x`` (Linf: clip each pixel; L2: shrink the
        perturbation to length eps), then clamped to [0, 1]. The clamp keeps the point in the ball:
        ``x`` is in [0, 1], so clamping only moves coordinates towards ``x``."""
        delta = x_adv - x
        if self.norm == "Linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            delta = delta * (self.eps / batch_norms(delta).clamp_min(1e-12)).clamp(max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def direction(self, grad: Tensor) -> Tensor:
        """The steepest-ascent direction of unit ``norm``: sign(g) for Linf, g / ||g||_2 for L2."""
        if self.norm == "Linf":
            return grad.sign()
        return grad / batch_norms(grad).clamp_min(1e-12)

    def ascend(self, x_adv: Tensor, x: Tensor, grad: Tensor, step_size: float) -> Tensor:
        """One projected gradient-ascent step: ``x_adv`` moved ``step_size`` along :meth:`direction`
        of ``grad``, then projected back into the ball around ``x`` (:meth:`project`)."""
        return self.project(x_adv + step_size * self.direction(grad), x)

    def random_point(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A uniformly random point of the eps-ball around each input, clamped to [0, 1]: the
        random start. Drawn on the CPU from the attack's generator (or ``generator``, a CPU one),
        so it is the same on any device."""
        shape, dtype = x.shape, x.dtype
        generator = self.generator if generator is None else generator
        if self.norm == "Linf":
            delta = (2 * torch.rand(shape, generator=generator, dtype=dtype) - 1) * self.eps
        else:
            direction = torch.randn(shape, generator=generator, dtype=dtype)
            u = torch.rand(shape[0], generator=generator, dtype=dtype).view(-1, *([1] * (x.dim() - 1)))
            radius = self.eps * u ** (1.0 / x[0].numel())  # uniform in the ball, not on its shell
            delta = direction / batch_norms(direction).clamp_min(1e-12) * radius
        return self.project(x + delta.to(x.device), x)

    def eot_gradient(self, x_adv: Tensor, y: Tensor, samples: int, loss_fn: LossFn,
                     eot_batch: int | None = None, generator=None, sink: list | None = None) -> Tensor:
        """Expectation over transformation: the mean over ``samples`` stochastic forward passes of
        the input gradient of ``loss_fn(model(x_adv), y)``, one gradient per example.

        The batch is repeated ``k`` times along dim 0 and run as ONE forward call, so the samples
        cost one batched pass instead of ``samples`` small ones; ``eot_batch`` caps ``k`` (samples
        per forward) to bound memory, default all ``samples`` at once. ``loss_fn`` must sum over
        examples, so an example's gradient does not depend on how many others share the batch.

        ``generator`` (default: the model's own noise, torch's global RNG for a zoo model) is passed
        to the model as ``generator=``, repeated with the batch when it is a
        :class:`~zoo.models.noise.RowGenerators` (each example's samples from its own generator).
        ``sink``: a list that receives each forward call's logits, detached, as
        samples x N x classes: the EOT samples are a verdict on ``x_adv`` at no extra model call
        (the anytime protocol's candidates, :mod:`zoo.running.pool`).
        """
        if samples < 1 or (eot_batch is not None and eot_batch < 1):
            raise ValueError(f"samples and eot_batch must be >= 1, got {samples} and {eot_batch}")
        chunk = samples if eot_batch is None else min(eot_batch, samples)
        total = torch.zeros_like(x_adv)
        with torch.enable_grad():
            for start in range(0, samples, chunk):
                total += self._summed_gradient(x_adv, y, min(chunk, samples - start), loss_fn, generator, sink)
        return total / samples

    def _summed_gradient(self, x_adv: Tensor, y: Tensor, k: int, loss_fn: LossFn, generator=None,
                         sink: list | None = None) -> Tensor:
        """The sum over ``k`` noise draws of each example's gradient, from one forward call
        (autograd sums the repeats' gradients back onto ``x``)."""
        x = x_adv.detach().requires_grad_(True)
        model = self.model if self.attacker is None else self.attacker
        batch = x.repeat(k, *([1] * (x.dim() - 1)))
        if generator is None:
            logits = model(batch)
        else:
            logits = model(batch, generator=generator.repeat(k) if hasattr(generator, "repeat") else generator)
        if sink is not None:
            sink.append(logits.detach().view(k, len(x), -1))
        return torch.autograd.grad(loss_fn(logits, y.repeat(k)), x)[0]

    @staticmethod
    def _check(x: Tensor, y: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise ValueError(f"x must be a float tensor N x C x H x W, got {getattr(x, 'shape', type(x))}")
        if not isinstance(y, Tensor) or y.dtype != torch.long or tuple(y.shape) != (x.shape[0],):
            raise ValueError(f"y must be a long tensor of shape ({x.shape[0]},), got "
                             f"{getattr(y, 'dtype', type(y))} {tuple(getattr(y, 'shape', ()))}")
        if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise ValueError(f"x must have values in [0, 1], got [{float(x.min()):.4g}, {float(x.max()):.4g}]")
