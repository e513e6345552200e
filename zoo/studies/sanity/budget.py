"""The sanity checks' budget: small and stated, labelled REDUCED in every output.

The checks ask whether the gradient attack works on a defense at all (does robust accuracy reach
0 when any image is allowed, do gradient-free and transfer attacks do no better), not how robust
the defense is; a few digits and a few iterations answer that, and every file says which.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...registry.schema import Budget


@dataclass(frozen=True)
class SanityBudget(Budget):
    """What the checks spend: the one attack :class:`~zoo.registry.schema.Budget` every run uses,
    with the sanity defaults, plus what only the checks spend.

    Attributes (besides :class:`Budget`'s):
        square_queries: queries of Square (pyautoattack's, one restart).
        fd_inputs, fd_directions: finite-difference checks: inputs, random directions per input.
        seed: the attacks' and the purifications' seed.

    PGD+EOT steps of ``pgd_step_fraction * eps`` (10 x 0.25 travels 2.5 eps, Madry et al.'s rule).
    """

    reduced: bool = True
    n_examples: int = 16
    draws: int = 5
    pgd_steps: int = 10
    pgd_eot: int = 2
    pgd_step_fraction: float = 0.25
    batch_size: int = 16
    square_queries: int = 200
    fd_inputs: int = 2
    fd_directions: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("pgd_step_fraction", "square_queries", "fd_inputs", "fd_directions"):
            value = getattr(self, name)
            kind = "number" if name == "pgd_step_fraction" else "integer"
            if isinstance(value, bool) or value is None or not value > 0 or (kind == "integer" and int(value) != value):
                raise ValueError(f"sanity budget {name} must be a positive {kind}, got {value!r}")

    def describe(self) -> str:
        """The budget in one line, as every output states it."""
        return (f"REDUCED sanity budget: n={self.n_examples}, K={self.draws} draws, PGD+EOT {self.pgd_steps} steps x "
                f"{self.pgd_eot} EOT (step {self.pgd_step_fraction:g} eps), Square {self.square_queries} queries, "
                f"finite differences on {self.fd_inputs} inputs x {self.fd_directions} directions, seed {self.seed}")
