"""The losses an attack ascends: Lee & Kim's cross-entropy of the final logits (``ce``, the
default), the CW margin (``margin``) and AutoAttack's DLR (``dlr``); and the label-aware loss that
also attacks the network whose prediction is the guidance label, with any of the three.

A guided purifier's label y is an argmax of a network on x' (the guidance net, or the classifier:
``label`` in the registry). An argmax passes no gradient, so the plain loss never tries to change
y, and a defense whose strong guidance follows y looks robust as long as y is left alone. The
label-aware loss adds the label network's loss on x' to the final logits':

    L(x') = loss(model(x'), y_true) + w * loss(label_net(x'), y_true)

The second term does not depend on the purification noise, so its gradient is taken once per step
(not once per EOT sample); the sum is the exact gradient of the expectation of L.

Every loss is summed (not averaged) over the examples, so an example's gradient does not depend on
how many others share its batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LABEL_WEIGHT = 1.0
"""The label term's weight w in the catalogue's label-aware attacks (PGD+EOT and AutoAttack)."""


def cross_entropy_sum(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy summed over the batch (as Lee & Kim), so per-example gradients ignore batch size."""
    return F.cross_entropy(logits, y, reduction="sum")


def margins(logits: Tensor, y: Tensor) -> Tensor:
    """Per example, the best wrong logit minus the true one (positive: misclassified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    wrong = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return wrong - true


def margin_sum(logits: Tensor, y: Tensor) -> Tensor:
    """The CW margin, summed over the batch: the best wrong logit minus the true one (unbounded,
    kappa = inf). Unlike cross-entropy its gradient does not vanish on confidently classified
    examples."""
    return margins(logits, y).sum()


def dlr_sum(logits: Tensor, y: Tensor) -> Tensor:
    """Croce & Hein's difference of logits ratio (the loss of AutoAttack's APGD-DLR), summed over
    the batch: the margin divided by the gap between the largest and the third largest logit, so
    the loss does not change when the logits are shifted or scaled. Needs at least 3 classes."""
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, got logits of shape {tuple(logits.shape)}")
    top = logits.topk(3, dim=1).values
    return (margins(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)).sum()


LOSSES = {"ce": cross_entropy_sum, "margin": margin_sum, "dlr": dlr_sum}
"""The losses PGD+EOT can ascend, by the name ``--loss`` takes; ``ce`` is Lee & Kim's."""


def check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {loss!r}")
    return loss


class AttackLoss:
    """One of :data:`LOSSES` of the final logits (default ``ce``, Lee & Kim's), its gradient
    averaged over EOT samples. ``name`` is how outputs show it."""

    def __init__(self, loss: str = "ce"):
        self.loss = check_loss(loss)
        self.fn = LOSSES[loss]

    @property
    def name(self) -> str:
        return self.loss

    def gradient(self, attack, x_adv: Tensor, y: Tensor, samples: int, eot_batch: int | None,
                 generator=None, sink: list | None = None) -> Tensor:
        """The EOT mean gradient of the loss at ``x_adv`` (``attack``: an :class:`~zoo.attacks.Attack`);
        ``generator`` and ``sink`` as in :meth:`~zoo.attacks.Attack.eot_gradient`."""
        return attack.eot_gradient(x_adv, y, samples, self.fn, eot_batch, generator, sink)


def check_label_term(label_net: nn.Module | None, weight: float, what: str, plain: str) -> float:
    """The checks every label-aware attack shares (this loss and
    :class:`~zoo.attacks.gradients.LabelAware`): a label network to attack (``what`` names the
    caller in the message, ``plain`` what to use instead) and a weight w >= 0. Returns w as a float."""
    if label_net is None:
        raise ValueError(f"the label-aware {what} needs a label network; this model has none "
                         f"(pattern none, or no purifier): use the plain {plain}")
    if not weight >= 0:
        raise ValueError(f"label weight must be >= 0, got {weight!r}")
    return float(weight)


class LabelAwareLoss(AttackLoss):
    """The plain loss plus ``weight`` times the same loss of the label network on x' (module docstring).

    Args:
        label_net: the network whose argmax on x' is the guidance label (``model.label_network``).
        weight: w >= 0, the label term's weight (0 gives the plain loss's gradient).
        loss: which of :data:`LOSSES` both terms use (default ``ce``).
    """

    def __init__(self, label_net: nn.Module, weight: float = 1.0, loss: str = "ce"):
        super().__init__(loss)
        self.label_net = label_net
        self.weight = check_label_term(label_net, weight, "loss", "loss")

    @property
    def name(self) -> str:
        return f"{self.loss}+label"

    def label_gradient(self, x_adv: Tensor, y: Tensor) -> Tensor:
        """grad_x' of w * loss(label_net(x'), y), summed over the batch."""
        with torch.enable_grad():
            x = x_adv.detach().requires_grad_(True)
            loss = self.weight * self.fn(self.label_net(x), y)
            return torch.autograd.grad(loss, x)[0]

    def gradient(self, attack, x_adv: Tensor, y: Tensor, samples: int, eot_batch: int | None,
                 generator=None, sink: list | None = None) -> Tensor:
        return super().gradient(attack, x_adv, y, samples, eot_batch, generator, sink) + self.label_gradient(x_adv, y)


def label_network(model: nn.Module) -> nn.Module | None:
    """The network whose argmax on x' is ``model``'s guidance label, or ``None`` (no guidance)."""
    return getattr(model, "label_network", None)


def label_aware_loss(model: nn.Module, weight: float = 1.0, loss: str = "ce") -> LabelAwareLoss:
    """The label-aware loss against ``model``'s own label network (``ValueError`` if it has none)."""
    return LabelAwareLoss(label_network(model), weight, loss)
