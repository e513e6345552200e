"""StAdv: spatially transformed adversarial examples (Xiao et al., ICLR 2018), with EOT.

Instead of adding a perturbation to the pixels, the attack moves them: a flow field gives every
output pixel a displacement, and the adversarial image samples the clean one at the displaced
positions by bilinear interpolation (``torch.nn.functional.grid_sample``). The AGDM paper's
Table 5 evaluates it as an unseen threat at flow bound 0.05, the setting of Laidlaw et al.'s
perceptual-advex (whose StAdv bounds the flow's Linf norm in grid_sample's normalised
coordinates, where the image spans [-1, 1]); this module uses the same unit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Attack, madry_step_size, step_of
from .calls import gradient_steps
from .spec import AttackSpec, register
from .losses import margin_sum  # the CW margin StAdv ascends, as Xiao et al.

PAPER_BOUND = 0.05  # AGDM Table 5 / perceptual-advex: Linf of the flow, normalised coordinates
SMOOTHNESS = 0.05  # Xiao et al.'s weight tau of the flow loss


def identity_grid(x: Tensor) -> Tensor:
    """The sampling grid that leaves ``x`` (N x C x H x W) unchanged: N x H x W x 2, each pixel
    centre's (horizontal, vertical) position in [-1, 1] (``align_corners=False``)."""
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device).expand(x.shape[0], 2, 3)
    return F.affine_grid(theta, list(x.shape), align_corners=False)


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """``x`` resampled at each pixel's position moved by ``flow`` (N x H x W x 2, normalised
    coordinates), bilinearly; samples outside the image take the nearest border pixel, so the
    result stays in [0, 1]."""
    warped = F.grid_sample(x, identity_grid(x) + flow, mode="bilinear", padding_mode="border",
                           align_corners=False)
    return warped.clamp(0.0, 1.0)


def flow_smoothness(flow: Tensor) -> Tensor:
    """Xiao et al.'s flow loss per example (N): over every pixel p and each of its 4 neighbours q,
    sqrt(||du_p - du_q||^2 + ||dv_p - dv_q||^2). Each neighbouring pair appears twice in that sum
    (once from either end), hence the factor 2. A 1e-12 inside the root keeps the gradient finite
    (zero) where neighbours move alike."""
    vertical = (flow[:, 1:] - flow[:, :-1]).square().sum(-1)
    horizontal = (flow[:, :, 1:] - flow[:, :, :-1]).square().sum(-1)
    return 2 * ((vertical + 1e-12).sqrt().flatten(1).sum(1) + (horizontal + 1e-12).sqrt().flatten(1).sum(1))


class StAdv(Attack):
    """Untargeted StAdv with expectation over the defense's randomness.

    Projected signed-gradient ascent on the flow field f of
    ``sum_i margin(model(warp(x_i, f_i)), y_i) - smoothness * flow_smoothness(f_i)`` (the CW
    margin loss, :func:`margin_sum`, as Xiao et al. and perceptual-advex), each step's
    image gradient the EOT mean over ``eot`` stochastic forward passes
    (:meth:`Attack.eot_gradient`), carried onto the flow through the (deterministic) bilinear
    sampling. After every step the flow is clipped to ``[-bound, bound]`` per component. Xiao et
    al. instead minimise with L-BFGS and no hard bound; the bound is the evaluation threat model's.
    As PGD+EOT, the attack starts from the zero flow and returns the final iterate.

    Args:
        model: ``model(x) -> logits``; a zoo ``DefendedClassifier`` or any ``nn.Module``.
        bound: the largest displacement of any pixel along either axis, in grid_sample's
            normalised coordinates (the image side spans 2): a bound b moves a pixel at most
            ``b * W / 2`` pixels horizontally and ``b * H / 2`` vertically, i.e. 0.7 pixels on
            28 x 28 MNIST and 0.8 on 32 x 32 CIFAR-10 at the default 0.05 (the AGDM paper's
            Table 5, as perceptual-advex).
        steps: ascent steps (default 100).
        eot: EOT samples per gradient (default 20, as PGD+EOT).
        step_size: per-step flow change; default ``2.5 * bound / steps`` (Madry et al.'s rule).
        smoothness: the weight tau of the flow loss (default 0.05, Xiao et al.'s); 0 drops it.
        eot_batch: EOT samples per forward call (default all at once).
        seed: the attack's generator seed (unused by the attack itself: it has no random start).

    The threat name is ``StAdv`` (``norm`` of the base; ``eps`` is the bound).
    """

    norms = ("StAdv",)

    def __init__(self, model: nn.Module, *, bound: float = PAPER_BOUND, steps: int = 100, eot: int = 20,
                 step_size: float | None = None, smoothness: float = SMOOTHNESS, eot_batch: int | None = None,
                 seed: int = 0):
        super().__init__(model, norm="StAdv", eps=bound, seed=seed)
        if steps < 1 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise ValueError(f"steps, eot and eot_batch must be >= 1, got {steps}, {eot} and {eot_batch}")
        step_size = madry_step_size(self.eps, steps) if step_size is None else step_size
        if not step_size >= 0 or not smoothness >= 0:
            raise ValueError(f"step_size and smoothness must be >= 0, got {step_size!r} and {smoothness!r}")
        self.bound = self.eps
        self.steps = steps
        self.eot = eot
        self.step_size = float(step_size)
        self.smoothness = float(smoothness)
        self.eot_batch = eot_batch

    def perturb(self, x: Tensor, y: Tensor) -> Tensor:
        return warp(x, self.flow_field(x, y))

    def flow_field(self, x: Tensor, y: Tensor) -> Tensor:
        """The adversarial flow (N x H x W x 2, every component in [-bound, bound]) for clean ``x``
        and labels ``y``; ``warp(x, flow)`` is the adversarial image :meth:`__call__` returns."""
        self._check(x, y)
        if x.dim() != 4:
            raise ValueError(f"StAdv needs images N x C x H x W, got shape {tuple(x.shape)}")
        x, y = x.detach(), y.detach()
        flow = x.new_zeros((x.shape[0], x.shape[2], x.shape[3], 2))
        for _ in range(self.steps):
            flow = (flow + self.step_size * self._flow_gradient(x, y, flow).sign()).clamp(-self.bound, self.bound)
        return flow

    def _flow_gradient(self, x: Tensor, y: Tensor, flow: Tensor) -> Tensor:
        """The objective's gradient in the flow: the EOT image gradient pulled back through the
        sampling, minus ``smoothness`` times the flow loss's gradient."""
        with torch.enable_grad():
            flow = flow.detach().requires_grad_(True)
            warped = warp(x, flow)
            image_grad = self.eot_gradient(warped.detach(), y, self.eot, margin_sum, self.eot_batch)
            objective = (warped * image_grad).sum() - self.smoothness * flow_smoothness(flow).sum()
            return torch.autograd.grad(objective, flow)[0]


# ------------------------------------------------------------------------------ in the catalogue
def _build(model: nn.Module, *, norm: str, eps: float, seed: int, budget, attacker=None) -> StAdv:
    """StAdv with the PGD+EOT budget's steps and EOT samples (and its step fraction, of the bound)."""
    if norm != "StAdv":
        raise ValueError(f"stadv is the StAdv threat's attack, not {norm}'s")
    attack = StAdv(model, bound=eps, steps=budget.pgd_steps, eot=budget.pgd_eot, step_size=step_of(budget, eps),
                   seed=seed)
    return attack if attacker is None else attack.with_attacker(attacker)


register(AttackSpec(name="stadv", family="stadv", build=_build, threat="StAdv", default=True, order=30,
                    calls=lambda budget: gradient_steps(budget.pgd_steps, budget.pgd_eot)))
