"""The inner maximum of TRADES (Zhang et al., 2019): the attack inside the guidance net's training
objective (Eq. 6 of Lin et al.), PGD on the divergence from the clean prediction."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.guidance import kl_distance
from .base import Attack, madry_step_size

START_STD = 0.001
"""Standard deviation of the Gaussian start around the clean input (TRADES's own)."""


class TRADES(Attack):
    """PGD that maximises KL(softmax f(x) || softmax f(x + delta)) over the eps-ball of ``norm``,
    as TRADES trains: the labels are not used (the target is the model's own clean prediction), so
    it needs no true label and follows whatever the model predicts.

    The start is ``x + START_STD * randn``, clamped to [0, 1], drawn from torch's GLOBAL RNG (not
    the attack's generator, unlike the other attacks' random starts): a training run seeds that RNG
    once and checkpoints it, so a seeded run repeats bit for bit and a resumed one continues the
    same sequence. Each step takes the gradient of the summed KL (one forward, no EOT) and moves
    ``step_size`` along the norm's steepest-ascent direction, projected back into the ball.
    The model is called as it stands (train mode included), as TRADES does.

    Args:
        model: ``model(x) -> logits``.
        norm: ``"Linf"`` (Eq. 6) or ``"L2"``.
        eps: radius of the ball, >= 0.
        steps: PGD iterations, >= 1.
        step_size: default ``2.5 * eps / steps`` (:func:`~zoo.attacks.base.madry_step_size`).
    """

    def __init__(self, model: nn.Module, *, norm: str, eps: float, steps: int, step_size: float | None = None):
        super().__init__(model, norm=norm, eps=eps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        step_size = madry_step_size(self.eps, steps) if step_size is None else step_size
        if not step_size >= 0:
            raise ValueError(f"step_size must be >= 0, got {step_size!r}")
        self.steps = steps
        self.step_size = float(step_size)

    def perturb(self, x: Tensor, y: Tensor) -> Tensor:
        with torch.no_grad():
            clean = self.model(x)

        def divergence(logits: Tensor, _labels: Tensor) -> Tensor:
            return kl_distance(clean, logits).sum()

        x_adv = (x + START_STD * torch.randn_like(x)).clamp(0, 1)
        for _ in range(self.steps):
            grad = self.eot_gradient(x_adv, y, 1, divergence)
            x_adv = self.ascend(x_adv, x, grad, self.step_size)
        return x_adv
