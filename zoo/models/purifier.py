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
    ``recompute``   the same gradient again, DiffAttack-style: the reverse chain runs forward with
                    no graph at all, keeping only each step's input x_t (memory O(t* x image),
                    flat in activations); the backward pass walks the steps from last to first,
                    rebuilding one step's graph at a time (the guidance gradient with
                    ``create_graph=True``) and back-propagating through it (:class:`RecomputedChain`).
                    It costs one extra graph-free forward of the chain; ``checkpoint`` costs more
                    (it recomputes each guidance gradient twice) and keeps more per step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

from .diffusion import TruncatedDDPM, TruncatedVPSDE
from .guidance import Guidance, GuidanceContext

if TYPE_CHECKING:
    from ..registry.schema import Entry

RUNS_PER_STEP = {"exact": (1, 1), "checkpoint": (2, 3), "recompute": (2, 2)}
"""(UNet forwards per reverse step, guidance-gradient computations per noisy step) of one
input-gradient call, by grad mode: ``exact`` runs each once; ``checkpoint`` runs the UNet again
in the backward pass and the guidance gradient twice more (once for the first-order, once for the
double backward); ``recompute`` runs both once graph-free and once more when the step is
replayed. Counted with hooks in tests/test_estimate.py; ``zoo.running.estimate`` reads its
cost from it."""

GRAD_MODES = tuple(RUNS_PER_STEP)


def check_grad_mode(grad_mode: str) -> str:
    """``grad_mode``, refusing anything but :data:`GRAD_MODES`."""
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
    return grad_mode


def to_model_space(pixels: Tensor) -> Tensor:
    return pixels * 2.0 - 1.0


def to_pixels(x: Tensor) -> Tensor:
    return (x + 1.0) / 2.0


class Purifier(nn.Module):
    """Diffusion purification with optional guidance (Algorithm 1 of Lin et al.; Eq. 18 for the VP-SDE).

    Args:
        eps_net: noise predictor, ``eps = eps_net(x_t, t)`` on [-1, 1] images (``t`` the
            diffusion's ``model_time``: a long step index for DDPM, a float label for the VP-SDE).
        diffusion: the (respaced) DDPM chain or the VP-SDE Euler-Maruyama chain for t*.
        guidance: the guidance terms, or ``None`` for DiffPure (pattern ``none``).
        label_net: the network whose prediction on x' is y (default: the guidance net).
        grad_mode: ``exact``, ``checkpoint`` or ``recompute`` (see the module docstring).
    """

    def __init__(self, eps_net: nn.Module, diffusion: TruncatedDDPM | TruncatedVPSDE, guidance: Guidance | None = None,
                 label_net: nn.Module | None = None, grad_mode: str = "exact"):
        super().__init__()
        check_grad_mode(grad_mode)
        self.eps_net = eps_net
        self.diffusion = diffusion
        self.guidance = guidance
        self.label_net = label_net
        self.grad_mode = grad_mode

    @property
    def label_network(self) -> nn.Module | None:
        """The network whose argmax on x' is the guidance label y (``label_net``, else the guidance
        net), or ``None`` without guidance. Exposed so an attack can aim at the label too."""
        if self.guidance is None:
            return None
        return self.guidance.net if self.label_net is None else self.label_net

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Purify pixels ``x`` in [0, 1]; returns pixels in [0, 1] of the same shape."""
        need_graph = torch.is_grad_enabled() and x.requires_grad
        with torch.set_grad_enabled(need_graph):
            context = self._guidance_context(x)
            x_t = self.diffusion.q_sample(to_model_space(x), self._noise(x, generator))
            if need_graph and self.grad_mode == "recompute":
                x_t = self._recomputed_chain(x_t, context, generator)
            else:
                for i in reversed(range(self.diffusion.num_steps)):
                    x_t = self._step(x_t, i, context, need_graph, generator)
            return to_pixels(x_t).clamp(0.0, 1.0)

    def _recomputed_chain(self, x_start: Tensor, context, generator: torch.Generator | None) -> Tensor:
        """The reverse chain as one :class:`RecomputedChain` node: differentiable in x_{t*} and in
        the reference logits f_phi(x') (the input's only other way into the chain)."""
        labels = ref_logits = None
        if context is not None:
            labels, ref_logits = context.labels, context.ref_logits
        return RecomputedChain.apply(x_start, ref_logits, self, labels, generator)

    def _noise(self, like: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    def _step_noise(self, like: Tensor, i: int, generator: torch.Generator | None) -> Tensor | None:
        """The standard normal noise step ``i`` adds, or ``None`` on a step without noise (the DDPM
        chain's last, of zero variance; every step of the probability-flow ODE), which draws none. Drawn outside the network calls that ``checkpoint`` recomputes, so a
        recomputation never draws again."""
        if self.diffusion.noise_variance(i) == 0.0:
            return None
        return self._noise(like, generator)

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
        """One reverse step x_t -> x_{t-1} on chain position ``i``, its noise drawn from ``generator``."""
        noise = self._step_noise(x_t, i, generator)
        mean, variance = self._denoised_mean(x_t, i)
        if variance == 0.0:  # the last step: no noise, and Sigma * gradient vanishes
            return mean
        gradient = None
        if context is not None:
            gradient = self._call(self._guidance_gradient, x_t, context.labels, context.ref_logits, need_graph)
        return self.diffusion.sample(self.diffusion.condition_mean(mean, variance, gradient), variance, noise)

    def _denoised_mean(self, x_t: Tensor, i: int) -> tuple[Tensor, float]:
        """mu(x_t) and Sigma of step ``i``: the UNet's part of the step."""
        # filled on the device: copying the CPU index over would synchronise a GPU on every step
        t = torch.full((x_t.shape[0],), self.diffusion.model_time(i), device=x_t.device,
                       dtype=self.diffusion.model_timesteps.dtype)
        eps = self._call(self.eps_net, x_t, t)
        return self.diffusion.p_mean_variance(eps, x_t, i)

    def _guidance_gradient(self, x_t: Tensor, labels: Tensor, ref_logits: Tensor, need_graph: bool) -> Tensor:
        return self.guidance.gradient(x_t, to_pixels, labels, ref_logits, create_graph=need_graph)

    def _call(self, fn, *args):
        """Run ``fn``, recomputed in backward when checkpointing and a graph is being built."""
        if self.grad_mode == "checkpoint" and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)


class RecomputedChain(torch.autograd.Function):
    """The whole reverse chain as one autograd node with flat activation memory (``recompute``).

    ``apply(x_start, ref_logits, purifier, labels, generator) -> x_0`` (model space).

    Forward: runs every step without a graph (the guidance gradient detached, as under
    ``no_grad``), storing only each step's input x_t (the step's noise is an additive constant,
    which its Jacobian does not depend on, so it need not be kept). Backward: from the last step
    to the first, rebuilds that one step's graph from its stored input (UNet term and guidance
    term one after the other, the guidance gradient with ``create_graph=True``, a double backward:
    :func:`replay_step`) and pulls the incoming gradient back through it, giving the gradient
    w.r.t. the step's input and adding the step's share of the gradient w.r.t. ``ref_logits`` =
    f_phi(x'). Outside this node, autograd carries both on to the input x' (through q_sample and
    through f_phi). ``labels`` (an argmax) are constants and the networks' parameters are frozen,
    so these are all the gradients there are.
    """

    @staticmethod
    def forward(ctx, x_start, ref_logits, purifier, labels, generator):
        context = None if labels is None else GuidanceContext(labels, ref_logits.detach())
        num_steps = purifier.diffusion.num_steps
        # one block for all stored inputs: no per-step allocations left scattered between the
        # steps' temporaries (which would fragment the CPU heap and the CUDA caching allocator)
        states = x_start.new_empty((num_steps, *x_start.shape))
        x_t = x_start.detach()
        for k, i in enumerate(reversed(range(num_steps))):
            states[k].copy_(x_t)
            x_t = purifier._step(x_t, i, context, False, generator)
        ctx.purifier, ctx.labels, ctx.states = purifier, labels, states
        ctx.ref_logits = None if ref_logits is None else ref_logits.detach()
        return x_t

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        want_ref = ctx.ref_logits is not None and ctx.needs_input_grad[1]
        grad_x, grad_ref = grad_out, None
        num_steps = ctx.purifier.diffusion.num_steps
        for k in reversed(range(num_steps)):  # the k-th stored step ran at chain position i
            i = num_steps - 1 - k
            grad_x, ref_part = replay_step(ctx.purifier, ctx.states[k], i, ctx.labels, ctx.ref_logits, grad_x,
                                           want_ref)
            if ref_part is not None:
                grad_ref = ref_part if grad_ref is None else grad_ref + ref_part
        ctx.states = None  # free the stored chain as soon as it has been replayed
        return grad_x, grad_ref, None, None, None


def replay_step(purifier: Purifier, x_t: Tensor, i: int, labels: Tensor | None, ref_logits: Tensor | None,
                grad_out: Tensor, want_ref: bool = True) -> tuple[Tensor, Tensor | None]:
    """Vector-Jacobian product of one reverse step, rebuilt from its input ``x_t``: the gradients
    of ``<grad_out, step(x_t)>`` w.r.t. x_t and, if ``want_ref``, w.r.t. ``ref_logits`` (``None``
    where the step does not use them: no guidance, plain guidance, or the last step). ``labels``
    ``None`` means no guidance.

    The step is mu(x_t) + Sigma * g(x_t, f(x')) + sqrt(Sigma) * noise, a UNet term plus a guidance
    term, so its VJP is the sum of theirs. They are taken one after the other, each on its own
    graph (the guidance gradient built with ``create_graph=True``, a double backward), so only one
    network's graph is alive at a time: the peak is the larger of the two, not their sum. The noise
    is an additive constant and drops out, so it is never stored."""
    with torch.enable_grad():
        x_in = x_t.detach().requires_grad_(True)
        mean, variance = purifier._denoised_mean(x_in, i)
        grad_x = torch.autograd.grad(mean, x_in, grad_out)[0]
        del mean
        if variance == 0.0 or labels is None:
            return grad_x, None
        x_in = x_t.detach().requires_grad_(True)
        ref = ref_logits.detach().requires_grad_(want_ref)
        gradient = purifier._guidance_gradient(x_in, labels, ref, True)
        shift = purifier.diffusion.condition_mean(torch.zeros_like(x_in), variance, gradient)  # Sigma * g
        grads = torch.autograd.grad(shift, (x_in, ref) if want_ref else (x_in,), grad_out, allow_unused=True)
    return grad_x + grads[0], (grads[1] if want_ref else None)


def replay_mismatch(purifier: Purifier, x: Tensor, generator: torch.Generator) -> list[float]:
    """Does ``recompute`` rebuild the steps its forward ran? Per reverse step, the largest absolute
    difference between the step's output in a real recompute-mode forward on pixels ``x`` (graph
    free, as :class:`RecomputedChain` runs it) and the same step rebuilt with a graph from its stored
    input (the guidance gradient with ``create_graph=True``, as the backward replays it), the step's
    noise redrawn from the generator state the forward drew it from. All zeros: the replay is the
    forward, so the gradient is taken at the chain the defense ran. The purifier is left as it was."""
    recorded = []
    original, mode = purifier._step, purifier.grad_mode

    def recording(x_t, i, context, need_graph, gen):
        state = gen.get_state()
        out = original(x_t, i, context, need_graph, gen)
        recorded.append((x_t.detach().clone(), i, context, state, out.detach().clone()))
        return out

    purifier.grad_mode, purifier._step = "recompute", recording
    try:
        with torch.enable_grad():
            purifier(x.detach().clone().requires_grad_(True), generator)
    finally:
        purifier.grad_mode = mode
        del purifier._step  # the instance attribute; the class's method shows through again
    mismatch = []
    for x_t, i, context, state, out in recorded:
        generator.set_state(state)
        with torch.enable_grad():
            if context is not None:
                context = GuidanceContext(context.labels, context.ref_logits.detach().requires_grad_(True))
            replayed = original(x_t.requires_grad_(True), i, context, True, generator)
        mismatch.append(float((replayed.detach() - out).abs().max()))
    return mismatch


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

    @property
    def label_network(self) -> nn.Module | None:
        """The purifier's label network (:attr:`Purifier.label_network`), ``None`` without guidance."""
        return None if self.purifier is None else self.purifier.label_network

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
