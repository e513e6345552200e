"""Grad mode ``recompute``: the reverse chain as one autograd node with flat activation memory.

The chain runs forward with no graph, keeping only each step's input x_t (and, for a guidance
that draws noise on every step, GDMP's, that noise); the backward pass walks the steps from last
to first, rebuilding one step's graph at a time and back-propagating through it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .guidance import GuidanceContext
from .precision import autocast_state, replayed_under


class RecomputedChain(torch.autograd.Function):
    """The whole reverse chain of one round as one autograd node (``recompute``).

    ``apply(x_start, ref_logits, purifier, labels, generator, round_index) -> x_0`` (model space);
    ``ref_logits`` is the guidance context's reference (AGDM: f_phi(x'); GDMP: x' itself), ``None``
    without guidance.

    Forward: runs every step without a graph (the guidance gradient detached, as under
    ``no_grad``), storing only each step's input x_t (the step's noise is an additive constant,
    which its Jacobian does not depend on, so it need not be kept; a guidance's own per-step noise
    is kept, as the step's guidance depends on it). Backward: from the last step to the first,
    rebuilds that one step's graph from its stored input (UNet term and guidance term one after the
    other, the guidance gradient with ``create_graph=True``, a double backward: :func:`replay_step`)
    and pulls the incoming gradient back through it (under the autocast state the forward ran in,
:mod:`.precision`), giving the gradient w.r.t. the step's input and
    adding the step's share of the gradient w.r.t. the reference. Outside this node, autograd
    carries both on to the input x' (through q_sample and through the reference). ``labels`` (an
    argmax) are constants and the networks' parameters are frozen, so these are all the gradients.
    """

    @staticmethod
    def forward(ctx, x_start, ref_logits, purifier, labels, generator, round_index=0):
        context = None if ref_logits is None else GuidanceContext(labels, ref_logits.detach())
        num_steps = purifier.diffusion.num_steps
        # one block for all stored inputs: no per-step allocations left scattered between the
        # steps' temporaries (which would fragment the CPU heap and the CUDA caching allocator)
        states = x_start.new_empty((num_steps, *x_start.shape))
        guide_noise = None
        if context is not None and purifier.guidance.draws_noise:
            guide_noise = x_start.new_zeros((num_steps, *x_start.shape))
        x_t = x_start.detach()
        for k, i in enumerate(reversed(range(num_steps))):
            states[k].copy_(x_t)
            noise, g_noise = purifier._draw(x_t, i, context, generator)
            if g_noise is not None:
                guide_noise[k].copy_(g_noise)
            x_t = purifier._advance(x_t, i, context, False, noise, g_noise, round_index)
        ctx.purifier, ctx.labels, ctx.states, ctx.guide_noise = purifier, labels, states, guide_noise
        ctx.autocast = autocast_state(x_start.device.type)  # the replay runs at the forward's precision
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
            g_noise = None if ctx.guide_noise is None else ctx.guide_noise[k]
            with replayed_under(ctx.autocast):
                grad_x, ref_part = replay_step(ctx.purifier, ctx.states[k], i, ctx.labels, ctx.ref_logits, grad_x,
                                               want_ref, g_noise)
            if ref_part is not None:
                grad_ref = ref_part if grad_ref is None else grad_ref + ref_part
        ctx.states = ctx.guide_noise = None  # free the stored chain as soon as it has been replayed
        return grad_x, grad_ref, None, None, None, None


def replay_step(purifier: nn.Module, x_t: Tensor, i: int, labels: Tensor | None, ref_logits: Tensor | None,
                grad_out: Tensor, want_ref: bool = True,
                guide_noise: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Vector-Jacobian product of one reverse step of ``purifier`` (a
    :class:`~zoo.models.purifier.Purifier`), rebuilt from its input ``x_t``: the gradients
    of ``<grad_out, step(x_t)>`` w.r.t. x_t and, if ``want_ref``, w.r.t. the guidance reference
    ``ref_logits`` (``None`` where the step does not use it: no guidance, plain guidance, or the
    last step). ``ref_logits`` ``None`` means no guidance.

    The step is mu(x_t) + Sigma * g(x_t, reference) + sqrt(Sigma) * noise, a UNet term plus a
    guidance term, so its VJP is the sum of theirs. They are taken one after the other, each on its
    own graph (the guidance gradient built with ``create_graph=True``, a double backward), so only
    one network's graph is alive at a time: the peak is the larger of the two, not their sum. The
    noise is an additive constant and drops out, so it is never stored."""
    with torch.enable_grad():
        x_in = x_t.detach().requires_grad_(True)
        mean, variance = purifier._denoised_mean(x_in, i)
        grad_x = torch.autograd.grad(mean, x_in, grad_out)[0]
        del mean
        if variance == 0.0 or ref_logits is None:
            return grad_x, None
        x_in = x_t.detach().requires_grad_(True)
        ref = ref_logits.detach().requires_grad_(want_ref)
        gradient, _ = purifier._weighted_gradient(x_in, i, GuidanceContext(labels, ref), guide_noise, True)
        shift = purifier.diffusion.condition_mean(torch.zeros_like(x_in), variance, gradient)  # Sigma * g
        grads = torch.autograd.grad(shift, (x_in, ref) if want_ref else (x_in,), grad_out, allow_unused=True)
    return grad_x + grads[0], (grads[1] if want_ref else None)
