"""The defended classifier: validate input -> diffuse to t* -> guided reverse chain -> classifier.

:class:`DefendedClassifier` is the ``torch.nn.Module`` that :func:`zoo.load` returns. Attacks call
``forward``; gradients flow from the logits to the input through every reverse step and through
the guidance terms (their input gradient is built with ``create_graph=True``, a double backward)
whenever the caller asks for input gradients, i.e. grad mode is on and the input requires grad.
Under ``torch.no_grad()`` (AutoAttack's evaluation calls) grad is enabled only inside the guidance
term, whose gradient is then detached.

Gradient modes (``grad_mode``):
    ``exact``       plain autograd through the whole chain.
    ``checkpoint``  the same gradient, recomputing each step's UNet call and guidance-gradient call
                    in the backward pass (non-reentrant ``torch.utils.checkpoint``), so memory no
                    longer holds every step's activations. The noise is drawn outside the
                    recomputed calls, so recomputation sees exactly the same values.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .diffusion import GaussianDiffusion
from .guidance import Guidance

if TYPE_CHECKING:
    from .registry import Entry

GRAD_MODES = ("exact", "checkpoint")


def to_model_space(pixels: Tensor) -> Tensor:
    return pixels * 2.0 - 1.0


def to_pixels(x: Tensor) -> Tensor:
    return (x + 1.0) / 2.0


class Purifier(nn.Module):
    """DDPM purification with optional guidance (Algorithm 1 of Lin et al.).

    Args:
        eps_net: noise predictor, ``eps = eps_net(x_t, t)`` on [-1, 1] images.
        diffusion: the (respaced) DDPM maths for t*.
        guidance: the guidance terms, or ``None`` for DiffPure (pattern ``none``).
        label_net: the network whose prediction on x' is y (default: the guidance net).
        grad_mode: ``exact`` or ``checkpoint`` (see the module docstring).
    """

    def __init__(self, eps_net: nn.Module, diffusion: GaussianDiffusion, guidance: Guidance | None = None,
                 label_net: nn.Module | None = None, grad_mode: str = "exact"):
        super().__init__()
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
        self.eps_net = eps_net
        self.diffusion = diffusion
        self.guidance = guidance
        self.label_net = label_net
        self.grad_mode = grad_mode

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Purify pixels ``x`` in [0, 1]; returns pixels in [0, 1] of the same shape."""
        need_graph = torch.is_grad_enabled() and x.requires_grad
        with torch.set_grad_enabled(need_graph):
            context = self._guidance_context(x)
            x_t = self.diffusion.q_sample(to_model_space(x), self._noise(x, generator))
            for i in reversed(range(self.diffusion.num_steps)):
                x_t = self._step(x_t, i, context, need_graph, generator)
            return to_pixels(x_t).clamp(0.0, 1.0)

    def _noise(self, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    def _guidance_context(self, x: Tensor):
        if self.guidance is None:
            return None
        labels = None
        if self.label_net is not None:
            with torch.no_grad():
                labels = self.label_net(x).argmax(dim=1)
        return self.guidance.context(x, labels)

    def _step(self, x_t: Tensor, i: int, context, need_graph: bool,
              generator: torch.Generator | None) -> Tensor:
        t = self.diffusion.model_timesteps[i].to(x_t.device).expand(x_t.shape[0])
        eps = self._call(self.eps_net, x_t, t)
        mean, variance = self.diffusion.p_mean_variance(eps, x_t, i)
        if variance == 0.0:  # the last step: no noise, and Sigma * gradient vanishes
            return mean
        gradient = None
        if context is not None:
            gradient = self._call(self._guidance_gradient, x_t, context.labels, context.ref_logits, need_graph)
        return self.diffusion.sample(self.diffusion.condition_mean(mean, variance, gradient), variance,
                                     self._noise(x_t, generator))

    def _guidance_gradient(self, x_t: Tensor, labels: Tensor, ref_logits: Tensor, need_graph: bool) -> Tensor:
        return self.guidance.gradient(x_t, to_pixels, labels, ref_logits, create_graph=need_graph)

    def _call(self, fn, *args):
        """Run ``fn``, recomputed in backward when checkpointing and a graph is being built."""
        if self.grad_mode == "checkpoint" and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)


class DefendedClassifier(nn.Module):
    """A zoo entry as one module: pixels in [0, 1], NCHW, float -> logits.

    ``purify(x)`` returns the purified images; a plain classifier entry has no purifier and
    ``purify`` is the identity. ``config`` is the registry :class:`~zoo.registry.Entry`.
    """

    def __init__(self, classifier: nn.Module, config: "Entry", purifier: Purifier | None = None):
        super().__init__()
        self.classifier = classifier
        self.purifier = purifier
        self.config = config

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.classifier(self.purify(x, generator))

    def purify(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.validate(x)
        return x if self.purifier is None else self.purifier(x, generator)

    def validate(self, x: Tensor) -> None:
        """Raise ``ValueError`` saying what was expected unless ``x`` is a float N x C x H x W
        batch of this entry's shape with every value in [0, 1]."""
        expected = tuple(self.config.input_shape)
        want = f"a float tensor of shape (N, {', '.join(map(str, expected))}) with values in [0, 1]"
        if not isinstance(x, Tensor):
            raise ValueError(f"{self.config.name} expects {want}, got a {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{self.config.name} expects {want}, got dtype {x.dtype}")
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.config.name} expects {want}, got shape {tuple(x.shape)}")
        bad = torch.stack([x.isnan().any(), (x < 0).any(), (x > 1).any()]).tolist()
        if bad[0]:
            raise ValueError(f"{self.config.name} expects {want}, got NaN values")
        if bad[1] or bad[2]:
            lo, hi = float(x.min()), float(x.max())
            raise ValueError(f"{self.config.name} expects {want}, got values in [{lo:.4g}, {hi:.4g}]")
