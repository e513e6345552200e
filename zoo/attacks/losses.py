"""The losses an attack ascends: Lee & Kim's cross-entropy of the final logits, and the
label-aware loss that also attacks the network whose prediction is the guidance label.

A guided purifier's label y is an argmax of a network on x' (the guidance net, or the classifier:
``label`` in the registry). An argmax passes no gradient, so the plain loss never tries to change
y, and a defense whose strong guidance follows y looks robust as long as y is left alone. The
label-aware loss adds the label network's cross-entropy on x' to the final logits':

    L(x') = CE(model(x'), y_true) + w * CE(label_net(x'), y_true)

The second term does not depend on the purification noise, so its gradient is taken once per step
(not once per EOT sample); the sum is the exact gradient of the expectation of L.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def cross_entropy_sum(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy summed over the batch (as Lee & Kim), so per-example gradients ignore batch size."""
    return F.cross_entropy(logits, y, reduction="sum")


class AttackLoss:
    """Lee & Kim's loss: the cross-entropy of the final logits, its gradient averaged over EOT
    samples. ``name`` is how outputs show it."""

    name = "ce"

    def gradient(self, attack, x_adv: Tensor, y: Tensor, samples: int, eot_batch: int | None) -> Tensor:
        """The EOT mean gradient of the loss at ``x_adv`` (``attack``: an :class:`~zoo.attacks.Attack`)."""
        return attack.eot_gradient(x_adv, y, samples, cross_entropy_sum, eot_batch)


class LabelAwareLoss(AttackLoss):
    """The plain loss plus ``weight`` times the label network's cross-entropy on x' (module docstring).

    Args:
        label_net: the network whose argmax on x' is the guidance label (``model.label_network``).
        weight: w >= 0, the label term's weight (0 gives the plain loss's gradient).
    """

    name = "ce+label"

    def __init__(self, label_net: nn.Module, weight: float = 1.0):
        if label_net is None:
            raise ValueError("the label-aware loss needs a label network; this model has none "
                             "(pattern none, or no purifier): use the plain loss")
        if not weight >= 0:
            raise ValueError(f"label weight must be >= 0, got {weight!r}")
        self.label_net = label_net
        self.weight = float(weight)

    def label_gradient(self, x_adv: Tensor, y: Tensor) -> Tensor:
        """grad_x' of w * CE(label_net(x'), y), summed over the batch."""
        with torch.enable_grad():
            x = x_adv.detach().requires_grad_(True)
            loss = self.weight * cross_entropy_sum(self.label_net(x), y)
            return torch.autograd.grad(loss, x)[0]

    def gradient(self, attack, x_adv: Tensor, y: Tensor, samples: int, eot_batch: int | None) -> Tensor:
        return super().gradient(attack, x_adv, y, samples, eot_batch) + self.label_gradient(x_adv, y)


def label_network(model: nn.Module) -> nn.Module | None:
    """The network whose argmax on x' is ``model``'s guidance label, or ``None`` (no guidance)."""
    return getattr(model, "label_network", None)


def label_aware_loss(model: nn.Module, weight: float = 1.0) -> LabelAwareLoss:
    """The label-aware loss against ``model``'s own label network (``ValueError`` if it has none)."""
    return LabelAwareLoss(label_network(model), weight)
