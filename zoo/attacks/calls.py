"""What an attack costs: calls of the defended model per example, by kind (for ``--estimate``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelCalls:
    """Calls of the defended model for one example: forward-only, gradient (one backward), and
    FAB's full Jacobian (one forward, one backward per class)."""

    forward: int = 0
    gradient: int = 0
    jacobian: int = 0

    def __add__(self, other: "ModelCalls") -> "ModelCalls":
        return ModelCalls(self.forward + other.forward, self.gradient + other.gradient,
                          self.jacobian + other.jacobian)

    def scaled(self, k: int) -> "ModelCalls":
        return ModelCalls(self.forward * k, self.gradient * k, self.jacobian * k)


def gradient_steps(steps: int, eot: int) -> ModelCalls:
    """An iterative gradient attack: every step averages ``eot`` gradients (batched into one call,
    the same cost per image)."""
    return ModelCalls(gradient=steps * eot)
