"""PGD with expectation over transformation (EOT), as Lee & Kim (2023) evaluate purification defenses."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Attack, madry_step_size, step_of
from .calls import gradient_steps
from .losses import LABEL_WEIGHT, LOSSES, AttackLoss, check_loss, label_aware_loss
from .spec import AttackSpec, register

LINF_STEP_SIZE = 0.007  # Lee & Kim's step for Linf (with eps = 8/255 on CIFAR-10)


class PGDEOT(Attack):
    """PGD+EOT of Lee & Kim, "Robust Evaluation of Diffusion-Based Adversarial Purification" (ICCV 2023).

    Untargeted projected gradient ascent on the cross-entropy, each step's gradient the mean input
    gradient over ``eot`` stochastic forward passes (:meth:`Attack.eot_gradient`, batched), so the
    attack follows the expected loss of a randomised defense rather than one noise draw.

        Linf:  x <- P(x + step_size * sign(g))
        L2:    x <- P(x + step_size * g / ||g||_2)      (per-example norm)

    where P projects onto the eps-ball of ``norm`` around the clean input and clamps to [0, 1]
    after every step. As in the paper, the attack starts at x (unless ``random_start``) and returns
    the FINAL iterate, not the best one seen: the purified prediction is itself random, so "best"
    would be judged on one noise draw. The anytime protocol (:mod:`zoo.running.pool`) instead
    judges every iterate and stops attacking an example at its first confirmed breaking iterate.

    Args:
        model: ``model(x) -> logits``; a zoo ``DefendedClassifier`` or any ``nn.Module``.
        norm: ``"Linf"`` or ``"L2"`` (required: the threat model of the evaluation).
        eps: radius of the ball, >= 0 (required; the paper: 8/255 Linf, 0.5 L2 on CIFAR-10).
        steps: PGD iterations (default 200, the paper's).
        eot: EOT samples per gradient (default 20, the paper's).
        step_size: default 0.007 for Linf (the paper's). For L2 the default is ``2.5 * eps / steps``
            (Madry et al.'s rule, the one ``zoo.training`` uses). The authors' released L2 attack instead
            takes 0.007 * sign(g) steps projected onto the L2 ball; pass ``step_size`` to change it.
        random_start: start at a uniformly random point of the ball (default ``False``, as the paper).
        eot_batch: EOT samples per forward call (default ``None``: all ``eot`` in one call); lower
            it to bound memory, the result is the same in distribution.
        seed: seeds the random start's generator (default 0). The defense's own noise comes from
            torch's global RNG; seed it with ``torch.manual_seed`` for reproducible runs.
        loss: the loss ascended, a :class:`~zoo.attacks.losses.AttackLoss` (default: Lee & Kim's
            cross-entropy of the final logits; :class:`~zoo.attacks.losses.LabelAwareLoss` also
            attacks the guidance label's network).

    Shapes:
        x: N x C x H x W float in [0, 1]; y: N long (true labels); returns N x C x H x W in [0, 1].
    """

    def __init__(self, model: nn.Module, *, norm: str, eps: float, steps: int = 200, eot: int = 20,
                 step_size: float | None = None, random_start: bool = False, eot_batch: int | None = None,
                 seed: int = 0, loss: AttackLoss | None = None):
        super().__init__(model, norm=norm, eps=eps, seed=seed)
        if steps < 1 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise ValueError(f"steps, eot and eot_batch must be >= 1, got {steps}, {eot} and {eot_batch}")
        if step_size is None:
            step_size = LINF_STEP_SIZE if norm == "Linf" else madry_step_size(self.eps, steps)
        if not step_size >= 0:
            raise ValueError(f"step_size must be >= 0, got {step_size!r}")
        self.steps = steps
        self.eot = eot
        self.step_size = float(step_size)
        self.random_start = random_start
        self.eot_batch = eot_batch
        self.loss = loss or AttackLoss()

    iterates = True
    """Its iterates can be judged one by one: the anytime protocol runs it in the attack loop's pool
    (:mod:`zoo.running.pool`), through :meth:`start` and :meth:`step`."""

    def perturb(self, x: Tensor, y: Tensor) -> Tensor:
        x_adv = self.start(x)
        for _ in range(self.steps):
            x_adv = self.step(x_adv, x, y)
        return x_adv

    def start(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The first iterate: ``x`` itself, or with ``random_start`` a random point of the ball
        (from ``generator``, a CPU one, default the attack's own)."""
        return self.random_point(x, generator) if self.random_start else x.clone()

    def step(self, x_adv: Tensor, x: Tensor, y: Tensor, generator=None, sink: list | None = None) -> Tensor:
        """One PGD+EOT iteration from ``x_adv`` (the ball is around ``x``); ``generator`` (the
        purification noise) and ``sink`` (receives the EOT logits at ``x_adv``) as in
        :meth:`~zoo.attacks.Attack.eot_gradient`."""
        grad = self.loss.gradient(self, x_adv, y, self.eot, self.eot_batch, generator, sink)
        return self.ascend(x_adv, x, grad, self.step_size)


# ------------------------------------------------------------------------------ in the catalogue
LABEL_AWARE = "pgd-eot-label"
"""PGD+EOT with the label-aware loss (:class:`~zoo.attacks.losses.LabelAwareLoss`)."""


def pgd_name(loss: str = "ce", label_aware: bool = False) -> str:
    """The catalogue name of PGD+EOT with ``loss`` (``ce``: no suffix), plain or label-aware."""
    base = LABEL_AWARE if label_aware else "pgd-eot"
    return base if check_loss(loss) == "ce" else f"{base}-{loss}"


def _builder(loss: str, label_aware: bool):
    def build(model: nn.Module, *, norm: str, eps: float, seed: int, budget, attacker=None) -> PGDEOT:
        objective = label_aware_loss(model, LABEL_WEIGHT, loss) if label_aware else AttackLoss(loss)
        attack = PGDEOT(model, norm=norm, eps=eps, steps=budget.pgd_steps, eot=budget.pgd_eot,
                        step_size=step_of(budget, eps), seed=seed, loss=objective)
        return attack if attacker is None else attack.with_attacker(attacker)
    return build


def _title(loss: str, label_aware: bool) -> str:
    if loss == "ce":
        return "pgd-eot (label-aware)" if label_aware else "pgd-eot (Lee & Kim loss)"
    return f"pgd-eot (label-aware, {loss})" if label_aware else f"pgd-eot ({loss})"


for _i, _loss in enumerate(LOSSES):
    for _aware in (False, True):
        register(AttackSpec(
            name=pgd_name(_loss, _aware), family=LABEL_AWARE if _aware else "pgd-eot", build=_builder(_loss, _aware),
            calls=lambda budget: gradient_steps(budget.pgd_steps, budget.pgd_eot), order=10 + 2 * _i + _aware,
            title=_title(_loss, _aware), label_aware=_aware, plain_twin=pgd_name(_loss), default=_loss == "ce",
            options={"loss": _loss}, anytime=True))
