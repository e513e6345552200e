"""The purifier: diffuse to t* -> guided reverse chain (repeated for several rounds, GDMP's schedule).

:class:`Purifier` types against :class:`~zoo.models.diffusion.base.ReverseProcess` (any backend)
and :class:`~zoo.models.guidance.GuidanceTerms` (any guided pattern). Attacks call the
:class:`~zoo.models.defended.DefendedClassifier` around it; gradients flow from the logits to the
input through every reverse step and through the guidance terms (their input gradient is built
with ``create_graph=True``, a double backward) whenever the caller asks for input gradients, i.e. grad mode is on and the input requires grad.
Under ``torch.no_grad()`` (AutoAttack's evaluation calls) grad is enabled only inside the guidance
term, whose gradient is then detached.

Gradient modes (``grad_mode``):
    ``exact``       plain autograd through the whole chain.
    ``checkpoint``  the same gradient, recomputing each step's UNet call and guidance-gradient call
                    in the backward pass (non-reentrant ``torch.utils.checkpoint``), so memory no
                    longer holds every step's activations. The noise is drawn outside the
                    recomputed calls, so recomputation sees exactly the same values.
    ``recompute``   the same gradient again, DiffAttack-style: the reverse chain runs forward with
                    no graph at all, keeping only each step's input x_t (memory O(t* x image),
                    flat in activations); the backward pass walks the steps from last to first,
                    rebuilding one step's graph at a time (the guidance gradient with
                    ``create_graph=True``) and back-propagating through it
                    (:class:`~zoo.models.recompute.RecomputedChain`).
                    It costs one extra graph-free forward of the chain; ``checkpoint`` costs more
                    (it recomputes each guidance gradient twice) and keeps more per step.

Observers (:meth:`Purifier.observe`) see every reverse step as a frozen
:class:`~zoo.models.observer.StepRecord` (:mod:`zoo.models.observer` says which grad modes keep the
records in the autograd graph).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .defended import DefendedClassifier
from .diffusion import ReverseProcess
from .guidance import GuidanceContext, GuidanceTerms
from .observer import Observer, StepRecord
from .noise import draw_normal
from .recompute import RecomputedChain
from .spaces import to_model_space, to_pixels

RUNS_PER_STEP = {"exact": (1, 1), "checkpoint": (2, 3), "recompute": (2, 2)}
"""(UNet forwards per reverse step, guidance-gradient computations per noisy step) of one
input-gradient call, by grad mode: ``exact`` runs each once; ``checkpoint`` runs the UNet again
in the backward pass and the guidance gradient twice more (once for the first-order, once for the
double backward); ``recompute`` runs both once graph-free and once more when the step is
replayed. Counted with hooks in tests/test_estimate.py; ``zoo.running.estimate`` reads its
cost from it."""

GRAD_MODES = tuple(RUNS_PER_STEP)

__all__ = ["DefendedClassifier", "GRAD_MODES", "Purifier", "RUNS_PER_STEP", "RecomputedChain", "to_model_space",
           "to_pixels"]


def check_grad_mode(grad_mode: str) -> str:
    """``grad_mode``, refusing anything but :data:`GRAD_MODES`."""
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
    return grad_mode


class Purifier(nn.Module):
    """Diffusion purification with optional guidance (Algorithm 1 of Lin et al.; Eq. 18 for the VP-SDE).

    Args:
        eps_net: noise predictor, ``eps = eps_net(x_t, t)`` on [-1, 1] images (``t`` the
            diffusion's ``model_time``: a long step index for DDPM, a float label for the VP-SDE).
        diffusion: the reverse process (any :class:`~zoo.models.diffusion.base.ReverseProcess`).
        guidance: the guidance terms, or ``None`` for DiffPure (pattern ``none``).
        label_net: the network whose prediction on x' is y (default: the guidance net).
        grad_mode: ``exact``, ``checkpoint`` or ``recompute`` (see the module docstring).
        rounds: diffuse-then-purify rounds, each diffusing the previous round's output to t* again
            (GDMP's schedule; 1: the single chain of DiffPure and AGDM). The guidance keeps
            comparing with the input x' in every round.
    """

    def __init__(self, eps_net: nn.Module, diffusion: ReverseProcess, guidance: GuidanceTerms | None = None,
                 label_net: nn.Module | None = None, grad_mode: str = "exact", rounds: int = 1):
        super().__init__()
        check_grad_mode(grad_mode)
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
        self.eps_net = eps_net
        self.diffusion = diffusion
        self.guidance = guidance
        self.label_net = label_net
        self.grad_mode = grad_mode
        self.rounds = rounds
        self._observers: list[tuple[Observer, bool]] = []

    @property
    def label_network(self) -> nn.Module | None:
        """The network whose argmax on x' is the guidance label y (``label_net``, else the guidance
        net), or ``None`` without a label (no guidance, or GDMP's). Exposed so an attack can aim at it."""
        if self.guidance is None:
            return None
        return self.guidance.net if self.label_net is None else self.label_net

    @contextmanager
    def observe(self, fn: Observer, differentiable: bool = False) -> Iterator["Purifier"]:
        """Call ``fn(record)`` with a :class:`~zoo.models.observer.StepRecord` on every reverse step
        run inside the ``with`` block. ``differentiable=True`` promises records inside the autograd
        graph: a call that asks for input gradients in grad mode ``recompute`` (whose forward keeps
        no graph) then raises ``ValueError`` instead of handing out detached states."""
        entry = (fn, differentiable)
        self._observers.append(entry)
        try:
            yield self
        finally:
            self._observers.remove(entry)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Purify pixels ``x`` in [0, 1]; returns pixels in [0, 1] of the same shape."""
        need_graph = torch.is_grad_enabled() and x.requires_grad
        recompute = need_graph and self.grad_mode == "recompute"
        if recompute and any(differentiable for _, differentiable in self._observers):
            raise ValueError("grad_mode 'recompute' runs the reverse chain without a graph, so its intermediate "
                             "states cannot carry gradients: observe them in grad mode 'exact' or 'checkpoint'")
        with torch.set_grad_enabled(need_graph):
            context = self._guidance_context(x)
            x_0 = to_model_space(x)
            for r in range(self.rounds):
                x_t = self.diffusion.q_sample(x_0, self._noise(x, generator))
                if recompute:
                    x_0 = self._recomputed_chain(x_t, context, generator, r)
                else:
                    for i in reversed(range(self.diffusion.num_steps)):
                        x_t = self._step(x_t, i, context, need_graph, generator, r)
                    x_0 = x_t
            return to_pixels(x_0).clamp(0.0, 1.0)

    def rebuild_step(self, record: StepRecord) -> Tensor:
        """The step ``record`` saw, run again from its ``x_t`` with its noise, with a graph (the
        guidance gradient with ``create_graph=True``), as grad mode ``recompute`` replays a step in
        its backward pass; its output equals ``record.x_prev`` when the replay is faithful."""
        with torch.enable_grad():
            context = None
            if record.reference is not None:
                context = GuidanceContext(record.labels, record.reference.detach().requires_grad_(True))
            x_t = record.x_t.detach().requires_grad_(True)
            mean, variance = self._denoised_mean(x_t, record.position)
            if variance == 0.0:
                return mean.detach()
            gradient = None
            if context is not None:
                gradient = self._call(self._guidance_gradient, x_t, context.labels, context.ref_logits, True)
                gradient = _weighted(gradient, self.guidance.step_weight(self.diffusion.alpha_bar(record.position)))
            shifted = self.diffusion.condition_mean(mean, variance, gradient)
            return self.diffusion.sample(shifted, variance, record.noise).detach()

    def _recomputed_chain(self, x_start: Tensor, context, generator: torch.Generator | None, r: int) -> Tensor:
        """One round's reverse chain as one :class:`RecomputedChain` node: differentiable in x_{t*}
        and in the guidance reference (the input's only other way into the chain)."""
        labels = reference = None
        if context is not None:
            labels, reference = context.labels, context.ref_logits
        return RecomputedChain.apply(x_start, reference, self, labels, generator, r)

    def _noise(self, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return draw_normal(like.shape, generator, device=like.device, dtype=like.dtype)

    def _step_noise(self, like: Tensor, i: int, generator: torch.Generator | None) -> Tensor | None:
        """The standard normal noise step ``i`` adds, or ``None`` on a step without noise (the DDPM
        chain's last, of zero variance; every step of the probability-flow ODE), which draws none.
        Drawn outside the network calls that ``checkpoint`` recomputes, so a recomputation never
        draws again."""
        if self.diffusion.noise_variance(i) == 0.0:
            return None
        return self._noise(like, generator)

    def _draw(self, like: Tensor, i: int, context, generator) -> tuple[Tensor | None, Tensor | None]:
        """Step ``i``'s noise, then the guidance's own noise (GDMP's diffused reference) where it
        draws any: on guided steps of nonzero variance."""
        noise = self._step_noise(like, i, generator)
        guided = context is not None and self.guidance.draws_noise and self.diffusion.step_variance(i) != 0.0
        return noise, (self._noise(like, generator) if guided else None)

    def _guidance_context(self, x: Tensor):
        if self.guidance is None:
            return None
        labels = None
        if self.label_net is not None:
            with torch.no_grad():
                labels = self.label_net(x).argmax(dim=1)
        return self.guidance.context(x, labels)

    def _step(self, x_t: Tensor, i: int, context, need_graph: bool,
              generator: torch.Generator | None, r: int = 0) -> Tensor:
        """One reverse step x_t -> x_{t-1} on chain position ``i``, its noise drawn from ``generator``."""
        noise, guide_noise = self._draw(x_t, i, context, generator)
        return self._advance(x_t, i, context, need_graph, noise, guide_noise, r)

    def _advance(self, x_t: Tensor, i: int, context, need_graph: bool, noise: Tensor | None,
                 guide_noise: Tensor | None, r: int) -> Tensor:
        """One reverse step with its noise given; observers see it."""
        mean, variance = self._denoised_mean(x_t, i)
        gradient = reference = None
        if variance == 0.0:  # the last step: no noise, and Sigma * gradient vanishes
            x_prev = mean
        else:
            if context is not None:
                gradient, reference = self._weighted_gradient(x_t, i, context, guide_noise, need_graph)
            x_prev = self.diffusion.sample(self.diffusion.condition_mean(mean, variance, gradient), variance, noise)
        if self._observers:
            self._notify(x_t, i, r, mean, variance, noise, gradient, context, reference, x_prev)
        return x_prev

    def _weighted_gradient(self, x_t: Tensor, i: int, context, guide_noise: Tensor | None,
                           need_graph: bool) -> tuple[Tensor, Tensor]:
        """The guidance gradient of step ``i`` (its step weight included) and the reference it used."""
        alpha_bar = self.diffusion.alpha_bar(i)
        reference = self.guidance.step_reference(context.ref_logits, alpha_bar, guide_noise)
        gradient = self._call(self._guidance_gradient, x_t, context.labels, reference, need_graph)
        return _weighted(gradient, self.guidance.step_weight(alpha_bar)), reference

    def _notify(self, x_t, i, r, mean, variance, noise, gradient, context, reference, x_prev) -> None:
        shift = None if gradient is None else variance * gradient
        weight = 1.0 if gradient is None else self.guidance.step_weight(self.diffusion.alpha_bar(i))

        def term_shifts() -> dict[str, Tensor]:
            if gradient is None:
                return {}
            parts = self.guidance.term_gradients(x_t, to_pixels, context.labels, reference)
            return {name: variance * _weighted(g, weight) for name, g in parts.items()}

        record = StepRecord(round=r, step=self.diffusion.num_steps - 1 - i, position=i,
                            model_time=self.diffusion.model_time(i), x_t=x_t, mean=mean, variance=variance,
                            noise_variance=self.diffusion.noise_variance(i), noise=noise, guidance_shift=shift,
                            labels=None if context is None else context.labels, reference=reference,
                            x_prev=x_prev, term_shifts=term_shifts)
        for fn, _ in list(self._observers):
            fn(record)

    def _denoised_mean(self, x_t: Tensor, i: int) -> tuple[Tensor, float]:
        """mu(x_t) and Sigma of step ``i``: the UNet's part of the step."""
        # filled on the device: copying the CPU index over would synchronise a GPU on every step
        t = torch.full((x_t.shape[0],), self.diffusion.model_time(i), device=x_t.device,
                       dtype=self.diffusion.model_timesteps.dtype)
        eps = self._call(self.eps_net, x_t, t)
        return self.diffusion.p_mean_variance(eps, x_t, i)

    def _guidance_gradient(self, x_t: Tensor, labels: Tensor | None, ref_logits: Tensor, need_graph: bool) -> Tensor:
        return self.guidance.gradient(x_t, to_pixels, labels, ref_logits, create_graph=need_graph)

    def _call(self, fn, *args):
        """Run ``fn``, recomputed in backward when checkpointing and a graph is being built."""
        if self.grad_mode == "checkpoint" and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)


def _weighted(gradient: Tensor, weight: float) -> Tensor:
    """``weight * gradient``, the gradient itself when the weight is 1 (no extra node, same bits)."""
    return gradient if weight == 1.0 else weight * gradient
