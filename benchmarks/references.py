"""Reference implementations the harness measures zoo's gradient modes against.

Both are written here from the maths, sharing nothing with ``zoo.models.purifier`` or ``zoo.guidance``
except the networks themselves (the same eps network, guidance net and classifier objects):

``AutogradReference``  (reference a) the DDPM reverse chain with guidance as one plain autograd
                       graph, no checkpointing: what an attack gets from the most direct code.
                       It draws its noise in zoo's order, so its gradient must equal ``exact``'s.
``AdjointSDEReference`` (reference b) DiffPure-style: the reverse VP-SDE in continuous time,
                       solved with ``torchsde.sdeint_adjoint`` (Ito, diagonal noise, Euler, as
                       DiffPure's ``RevVPSDE``), t* Euler steps with the same eps network and, for
                       guided patterns, the same guidance gradient added to the drift (beta(t) * s *
                       grad, the continuous counterpart of DDPM's Sigma * s * grad). Its gradient
                       is the adjoint method's (memory flat in t*), not the discrete chain's.

Each is an ``nn.Module`` ``(x, generator=None) -> logits`` on pixels in [0, 1], so zoo's attacks
can run on it unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def guidance_objective(net: nn.Module, x_t: Tensor, labels: Tensor, ref_logits: Tensor | None,
                       scale: float) -> Tensor:
    """s * sum_batch [log p(y | x_t) - KL(softmax f(x') || softmax f(x_t))]; the KL term only when
    ``ref_logits`` is given (robust guidance). The net sees x_t mapped to pixels."""
    log_p = F.log_softmax(net((x_t + 1.0) / 2.0), dim=1)
    value = log_p.gather(1, labels[:, None]).sum()
    if ref_logits is not None:
        ref_log_p = F.log_softmax(ref_logits, dim=1)
        value = value - (ref_log_p.exp() * (ref_log_p - log_p)).sum()
    return scale * value


def guidance_gradient(net: nn.Module, x_t: Tensor, labels: Tensor, ref_logits: Tensor | None,
                      scale: float) -> Tensor:
    """grad_{x_t} of :func:`guidance_objective`; differentiable (double backward) when a graph is
    being built, otherwise computed on a detached copy and returned detached."""
    if torch.is_grad_enabled() and x_t.requires_grad:
        obj = guidance_objective(net, x_t, labels, ref_logits, scale)
        return torch.autograd.grad(obj, x_t, create_graph=True)[0]
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        ref = None if ref_logits is None else ref_logits.detach()
        return torch.autograd.grad(guidance_objective(net, x, labels, ref, scale), x)[0]


class _Parts(nn.Module):
    """The networks and settings of a zoo model, read once (nothing of zoo's sampler is used)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        purifier, entry = model.purifier, model.config
        p = entry.purification
        if p.pattern != "none" and (p.distance != "kl" or p.label != "guidance"):
            raise ValueError("the references implement distance 'kl' and label 'guidance' only")
        self.eps_net = purifier.eps_net
        self.classifier = model.classifier
        self.guide = None if purifier.guidance is None else purifier.guidance.net
        self.robust = p.pattern == "robust"
        self.scale = float(p.scale)
        self.t_star = p.t_star
        if p.num_steps != p.t_star:
            raise ValueError("the references run the full chain: steps must equal t_star")
        s = p.schedule
        self.register_buffer("betas", torch.linspace(s.beta_start, s.beta_end, s.num_timesteps,
                                                     dtype=torch.float64), persistent=False)

    def context(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """(labels, reference logits) from the guidance net on x' (``None, None`` without guidance)."""
        if self.guide is None:
            return None, None
        ref = self.guide(x)
        return ref.argmax(1), (ref if self.robust else None)


class AutogradReference(_Parts):
    """Reference (a): the guided DDPM chain t*, ..., 1 as one autograd graph (no checkpointing)."""

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        need_graph = torch.is_grad_enabled() and x.requires_grad
        with torch.set_grad_enabled(need_graph):
            labels, ref = self.context(x)
            betas = self.betas.tolist()
            abar = list(torch.cumprod(1.0 - self.betas, 0).tolist())
            a = abar[self.t_star - 1]
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_t = math.sqrt(a) * (2.0 * x - 1.0) + math.sqrt(1.0 - a) * noise
            for t in range(self.t_star, 0, -1):  # 1-based step t uses schedule index t - 1
                x_t = self._step(x_t, t, betas, abar, labels, ref, generator)
            return self.classifier(((x_t + 1.0) / 2.0).clamp(0.0, 1.0))

    def _step(self, x_t, t, betas, abar, labels, ref, generator):
        beta, a = betas[t - 1], abar[t - 1]
        a_prev = abar[t - 2] if t > 1 else 1.0
        noise = torch.randn(x_t.shape, generator=generator, device=x_t.device, dtype=x_t.dtype) if t > 1 else None
        steps = torch.full((x_t.shape[0],), t - 1, device=x_t.device, dtype=torch.long)
        mean = (x_t - beta / math.sqrt(1.0 - a) * self.eps_net(x_t, steps)) / math.sqrt(1.0 - beta)
        if t == 1:
            return mean
        var = beta * (1.0 - a_prev) / (1.0 - a)
        if labels is not None:
            mean = mean + var * guidance_gradient(self.guide, x_t, labels, ref, self.scale)
        return mean + math.sqrt(var) * noise


class ReverseVPSDE(nn.Module):
    """DiffPure's reverse VP-SDE in solver time s in [1 - t*/T, 1] (physical time tau = 1 - s):

        dx = [ beta(tau)/2 x + beta(tau) (score(x, tau) + s * grad guidance) ] ds + sqrt(beta(tau)) dW,

    with beta(tau) = T * (beta_start + tau (beta_end - beta_start)), score = -eps / sqrt(1 - abar(tau))
    and the eps network queried at the discrete timestep tau * T - 1. States are flattened to
    (batch, C*H*W) as torchsde wants."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, parts: _Parts, shape: tuple[int, ...], labels: Tensor | None, ref: Tensor | None):
        super().__init__()
        self.parts, self.shape, self.labels, self.ref = parts, shape, labels, ref
        self.T = len(parts.betas)
        self.b0, self.b1 = float(parts.betas[0]) * self.T, float(parts.betas[-1]) * self.T
        self.nfe = 0

    def beta(self, tau: float) -> float:
        return self.b0 + tau * (self.b1 - self.b0)

    def abar(self, tau: float) -> float:
        return math.exp(-(self.b0 * tau + 0.5 * (self.b1 - self.b0) * tau * tau))

    def f(self, s: Tensor, y: Tensor) -> Tensor:
        self.nfe += 1
        tau = 1.0 - float(s)
        x = y.view(self.shape)
        steps = torch.full((x.shape[0],), max(tau * self.T - 1.0, 0.0), device=x.device, dtype=x.dtype)
        score = -self.parts.eps_net(x, steps) / math.sqrt(1.0 - self.abar(tau))
        if self.labels is not None:
            score = score + guidance_gradient(self.parts.guide, x, self.labels, self.ref, self.parts.scale)
        beta = self.beta(tau)
        return (0.5 * beta * x + beta * score).flatten(1)

    def g(self, s: Tensor, y: Tensor) -> Tensor:
        return torch.full_like(y, math.sqrt(self.beta(1.0 - float(s))))


class AdjointSDEReference(_Parts):
    """Reference (b): DiffPure-style purification by ``torchsde.sdeint_adjoint`` (Euler, t* steps).

    The Brownian motion is a ``torchsde.BrownianInterval`` seeded from ``generator`` (or the
    global RNG), so forward and adjoint pass see the same path. ``last_nfe`` counts the drift
    evaluations of the last call (forward and adjoint together)."""

    eps_dt = 1e-5  # DiffPure's: stop short of tau = 0, where the score's 1/sqrt(1 - abar) blows up

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        import torchsde

        need_graph = torch.is_grad_enabled() and x.requires_grad
        with torch.set_grad_enabled(need_graph):
            labels, ref = self.context(x)
            a = self.abar_discrete()
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_t = math.sqrt(a) * (2.0 * x - 1.0) + math.sqrt(1.0 - a) * noise
            sde = ReverseVPSDE(self, tuple(x.shape), labels, ref)
            ts = torch.tensor([1.0 - self.t_star / sde.T + self.eps_dt, 1.0 - self.eps_dt], device=x.device,
                              dtype=x.dtype)
            t0, t1 = ts.tolist()  # the values ts holds in x's dtype, so the Brownian interval agrees
            where = generator.device if generator is not None else x.device
            entropy = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=where))
            bm = torchsde.BrownianInterval(t0, t1, size=(x.shape[0], x[0].numel()), dtype=x.dtype,
                                           device=x.device, entropy=entropy)
            dt = (t1 - t0) / self.t_star * (1 + 1e-9)  # exactly t* Euler steps
            y0 = x_t.flatten(1)
            if need_graph:
                params = () if ref is None else (ref,)
                ys = torchsde.sdeint_adjoint(sde, y0, ts, bm=bm, method="euler", dt=dt, adjoint_params=params)
            else:
                ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=dt)
            self.last_nfe = sde.nfe
            x0 = ys[-1].view(x.shape)
            return self.classifier(((x0 + 1.0) / 2.0).clamp(0.0, 1.0))

    def abar_discrete(self) -> float:
        """abar of step t* in the discrete schedule: the diffusion x' gets is the same as zoo's."""
        return float(torch.cumprod(1.0 - self.betas, 0)[self.t_star - 1])
