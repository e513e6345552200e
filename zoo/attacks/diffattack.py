"""DiffAttack (Kang, Song & Li, "DiffAttack: Evasion Attacks Against Diffusion-Based Adversarial
Purification", NeurIPS 2023): PGD+EOT on the classification loss plus the deviated-reconstruction
loss on the reverse chain's intermediate states.

The paper (Sec. 3.2, 3.4, App. D.2) maximises

    L = L_cls + lambda * L_dev,    L_dev = E_t [ alpha(t) * E d(x_t, x'_t) ]

where x_t is the diffusion (forward) process's sample of the clean example x_0 at time t, x'_t
the reverse process's sample at the same time when the adversarial example is purified, alpha(t)
the reciprocal of the number of time steps used (a plain average), lambda = 1.0, and t uniform
over the whole chain (their Fig. 4: uniform beats early-only or late-only steps). Here:

* t runs over EVERY reverse step of every round: x'_t is each step's output (``StepRecord.x_prev``,
  the last one being the purified image), read through the purifier's step observer inside the
  autograd graph, so the gradient of L_dev is exact through the whole chain and the guidance.
* d is the per-pixel mean squared distance in model space [-1, 1] (the paper leaves d's form open).
  With a squared distance, the forward sample's own noise (independent of the attacked chain) adds
  a constant to E d, so x_t is replaced by its mean sqrt(alpha_bar_t) * x_0: the exact gradient of
  the expectation, with no extra randomness.
* L_cls is Lee & Kim's cross-entropy (or the label-aware loss for ``diffattack-label``) and the
  attack is this package's PGD+EOT (:class:`~zoo.attacks.pgd_eot.PGDEOT`: its steps, EOT samples,
  step size and anytime protocol), L_dev riding on the same forward passes: no extra model call.
  The paper runs the loss inside AutoAttack's APGD (100 iterations, 20 EOT); the budget's PGD+EOT
  is used here so the two attacks are compared at one cost.
* Memory: the paper's segment-wise forwarding-backwarding is the purifier's ``checkpoint`` grad
  mode (a step's graph rebuilt in the backward pass). Grad mode ``recompute`` keeps no graph of the
  intermediate states at all, so DiffAttack refuses it (use ``checkpoint``: the same exact gradient).

On an entry without a purifier (a plain classifier) there is no chain and L_dev is 0: DiffAttack is
PGD+EOT there. Ablation attackers (:mod:`zoo.attacks.gradients`) ``bpda`` and ``blind`` do not
differentiate the chain, so DiffAttack refuses them; ``surrogate`` observes the surrogate chain.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import Tensor, nn

from ..models.spaces import to_model_space
from .base import LossFn, step_of
from .calls import gradient_steps
from .losses import LABEL_WEIGHT, AttackLoss, LabelAwareLoss, label_aware_loss
from .pgd_eot import PGDEOT
from .spec import AttackSpec, register

DEVIATION_WEIGHT = 1.0
"""lambda, the weight of the deviated-reconstruction loss (the paper's, App. D.2)."""

NAME = "diffattack"
LABEL_AWARE = "diffattack-label"


def chain_purifier(module: nn.Module):
    """The purifier whose reverse chain ``module``'s input gradient runs through, or ``None`` (no
    purifier). Refuses ablation attackers that skip the chain and the ``recompute`` grad mode, which
    keeps no graph of the intermediate states (``ValueError`` saying what to use instead)."""
    mode = getattr(module, "mode", "exact")
    if mode in ("bpda", "blind"):
        raise ValueError(f"DiffAttack's deviated-reconstruction loss is taken on the reverse chain's states, "
                         f"which the {mode!r} attacker gradient does not differentiate: use 'exact' or 'surrogate'")
    inner = getattr(module, "chain", None) or getattr(module, "defense", None) or module
    purifier = getattr(inner, "purifier", None)
    if purifier is not None and purifier.grad_mode == "recompute":
        raise ValueError("DiffAttack needs the reverse chain's intermediate states inside the autograd graph, and grad "
                         "mode 'recompute' runs the chain without one: use grad mode 'checkpoint' (the same exact "
                         "gradient, memory-light like the paper's segment-wise forwarding-backwarding) or 'exact'")
    return purifier


def reference_scale(diffusion, position: int) -> float:
    """sqrt(alpha_bar) of the forward marginal at the time of the output of chain position
    ``position`` (the state position ``position - 1`` starts from; 1 for the last step's output,
    the purified image itself)."""
    return 1.0 if position == 0 else diffusion.alpha_bar(position - 1) ** 0.5


def deviation(records, clean: Tensor, diffusion) -> Tensor:
    """L_dev per row: the mean over the observed reverse steps of the per-pixel mean squared
    distance between each step's output x'_t and sqrt(alpha_bar_t) * ``clean`` (model space, one row
    per example; the rows of ``records`` are whole repeats of it, as an EOT forward makes them)."""
    if not records:
        raise ValueError("no reverse step was observed: is the model's purifier the one being attacked?")
    repeats = records[0].x_prev.shape[0] // clean.shape[0]
    reference = clean.repeat(repeats, *([1] * (clean.dim() - 1)))
    total = 0
    for r in records:
        target = reference_scale(diffusion, r.position) * reference
        total = total + (r.x_prev - target).pow(2).flatten(1).mean(1)
    return total / len(records)


class DiffAttack(PGDEOT):
    """PGD+EOT on L_cls + ``weight`` * L_dev (module docstring), every other setting as
    :class:`~zoo.attacks.pgd_eot.PGDEOT`'s.

    Args:
        weight: lambda >= 0 (default :data:`DEVIATION_WEIGHT`, the paper's 1.0; 0 gives PGD+EOT).
        others: as :class:`~zoo.attacks.pgd_eot.PGDEOT` (``loss`` is L_cls: Lee & Kim's
            cross-entropy by default, a :class:`~zoo.attacks.losses.LabelAwareLoss` for the
            label-aware twin).
    """

    def __init__(self, model: nn.Module, *, norm: str, eps: float, weight: float = DEVIATION_WEIGHT, **pgd):
        super().__init__(model, norm=norm, eps=eps, **pgd)
        if not weight >= 0:
            raise ValueError(f"the deviated-reconstruction weight must be >= 0, got {weight!r}")
        self.weight = float(weight)
        self.purifier = chain_purifier(model)

    def with_attacker(self, attacker: nn.Module) -> "DiffAttack":
        self.purifier = chain_purifier(attacker)
        return super().with_attacker(attacker)

    def step(self, x_adv: Tensor, x: Tensor, y: Tensor, generator=None, sink: list | None = None) -> Tensor:
        """One iteration from ``x_adv``: the EOT gradient of the whole objective against clean ``x``
        (``generator``, ``sink`` as :meth:`~zoo.attacks.pgd_eot.PGDEOT.step`'s, for the anytime pool)."""
        return self.ascend(x_adv, x, self.gradient(x_adv, x, y, generator, sink), self.step_size)

    def gradient(self, x_adv: Tensor, x: Tensor, y: Tensor, generator=None, sink: list | None = None) -> Tensor:
        """The EOT mean input gradient of L_cls + lambda * L_dev at ``x_adv`` (clean input ``x``): one
        batched forward and backward per EOT chunk, the chain's states observed on the way."""
        with self._observed() as records:
            grad = self.eot_gradient(x_adv, y, self.eot, self._objective(records, x), self.eot_batch, generator,
                                     sink)
        if isinstance(self.loss, LabelAwareLoss):  # its label term takes no EOT (see zoo.attacks.losses)
            grad = grad + self.loss.label_gradient(x_adv, y)
        return grad

    @contextmanager
    def _observed(self) -> Iterator[list]:
        records: list = []
        if self.purifier is None or self.weight == 0.0:
            yield records
            return
        with self.purifier.observe(records.append, differentiable=True):
            yield records

    def _objective(self, records: list, x: Tensor) -> LossFn:
        """``loss_fn(logits, y)``: L_cls of the logits plus lambda * L_dev of the states the forward
        that made them recorded (consumed, so each EOT chunk sees its own)."""
        clean = to_model_space(x)

        def objective(logits: Tensor, y: Tensor) -> Tensor:
            value = self.loss.fn(logits, y)
            if records:
                value = value + self.weight * deviation(records, clean, self.purifier.diffusion).sum()
                records.clear()
            return value
        return objective


# ------------------------------------------------------------------------------ in the catalogue
def _build(label_aware: bool):
    def build(model: nn.Module, *, norm: str, eps: float, seed: int, budget, attacker=None) -> DiffAttack:
        loss = label_aware_loss(model, LABEL_WEIGHT) if label_aware else AttackLoss()
        attack = DiffAttack(model, norm=norm, eps=eps, steps=budget.pgd_steps, eot=budget.pgd_eot,
                            step_size=step_of(budget, eps), seed=seed, loss=loss)
        return attack if attacker is None else attack.with_attacker(attacker)
    return build


_LEGEND = (f"DiffAttack (Kang et al., NeurIPS 2023): PGD+EOT on cross-entropy + {DEVIATION_WEIGHT:g} x the "
           "deviated-reconstruction loss (mean over every reverse step of the squared distance between the "
           "chain's state and the diffused clean input), exact gradients through the chain and guidance")

for _aware in (False, True):
    register(AttackSpec(
        name=LABEL_AWARE if _aware else NAME, family=LABEL_AWARE if _aware else NAME, build=_build(_aware),
        calls=lambda budget: gradient_steps(budget.pgd_steps, budget.pgd_eot), order=16 + _aware,
        title=f"diffattack ({'label-aware, ' if _aware else ''}lambda={DEVIATION_WEIGHT:g})",
        legend=_LEGEND + (" (plus the label network's loss)" if _aware else ""), label_aware=_aware,
        plain_twin=NAME, anytime=True))
