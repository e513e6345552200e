"""Read-outs of a trained net: its accuracy under a quick PGD attack (the per-epoch log's), and how
close a retrained net is to a reference one."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attacks import PGDEOT
from ..attacks.base import madry_step_size
from ..common.devices import device_of
from ..models.predict import fraction_equal, predicted_labels
from .checkpoints import cpu_state_dict


def pgd_accuracy(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10,
                 batch_size: int = 500) -> float:
    """Accuracy under a cross-entropy PGD attack in the Linf ball (no random start, step
    2.5 * eps / steps, one gradient per step: :class:`~zoo.attacks.PGDEOT` with ``eot=1``), a quick
    robustness read-out for logs."""
    attack = PGDEOT(model, norm="Linf", eps=eps, steps=steps, eot=1, step_size=madry_step_size(eps, steps))
    device = device_of(model)
    x_adv = torch.cat([attack(xb.to(device), yb.to(device)).cpu()
                       for xb, yb in zip(x.split(batch_size), y.split(batch_size))])
    return fraction_equal(predicted_labels(model, x_adv, batch_size), y)


def compare_nets(model: nn.Module, reference: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int) -> dict:
    """How close a retrained net is to a reference one (e.g. the committed demo weights): whether
    the weights are bit-identical, their largest difference, and on held-out data ``x, y`` how often
    the two predict the same label and each one's clean and PGD accuracy. Floating-point training
    is bit-reproducible on one machine; on another CPU the last bits differ and grow over the
    epochs, so the prediction agreement and the accuracies are what a re-run should match."""
    mine, theirs = cpu_state_dict(model), cpu_state_dict(reference)
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise ValueError("the reference weights are not of this architecture")
    labels, reference_labels = predicted_labels(model, x), predicted_labels(reference, x)
    floats = [k for k in mine if mine[k].is_floating_point()]
    return {"bit_identical": all(torch.equal(mine[k], theirs[k]) for k in mine),
            "max_abs_weight_difference": max(float((mine[k] - theirs[k]).abs().max()) for k in floats),
            "prediction_agreement": fraction_equal(labels, reference_labels),
            "clean_accuracy": fraction_equal(labels, y),
            "reference_clean_accuracy": fraction_equal(reference_labels, y),
            "pgd_accuracy": pgd_accuracy(model, x, y, eps, steps),
            "reference_pgd_accuracy": pgd_accuracy(reference, x, y, eps, steps)}
