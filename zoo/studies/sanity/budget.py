"""The sanity checks' budget: small and stated, labelled REDUCED in every output.

The checks ask whether the gradient attack works on a defense at all (does robust accuracy reach
0 when any image is allowed, do gradient-free and transfer attacks do no better), not how robust
the defense is; a few digits and a few iterations answer that, and every file says which.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SanityBudget:
    """What the checks spend.

    Attributes:
        n_examples: test examples (the first n, as the leaderboard's).
        draws: K purifications every clean and adversarial example is judged by (vote and worst-of-K).
        pgd_steps, pgd_eot, pgd_step_fraction: the gradient attack, PGD+EOT with steps of
            ``pgd_step_fraction * eps`` (10 x 0.25 travels 2.5 eps, Madry et al.'s rule).
        square_queries: queries of Square (pyautoattack's, one restart).
        fd_inputs, fd_directions: finite-difference checks: inputs, random directions per input.
        batch_size: examples attacked at once.
        seed: the attacks' and the purifications' seed.
    """

    n_examples: int = 16
    draws: int = 5
    pgd_steps: int = 10
    pgd_eot: int = 2
    pgd_step_fraction: float = 0.25
    square_queries: int = 200
    fd_inputs: int = 2
    fd_directions: int = 2
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "seed":
                continue
            kind = "number" if name == "pgd_step_fraction" else "integer"
            if isinstance(value, bool) or not value > 0 or (kind == "integer" and int(value) != value):
                raise ValueError(f"sanity budget {name} must be a positive {kind}, got {value!r}")

    def describe(self) -> str:
        """The budget in one line, as every output states it."""
        return (f"REDUCED sanity budget: n={self.n_examples}, K={self.draws} draws, PGD+EOT {self.pgd_steps} steps x "
                f"{self.pgd_eot} EOT (step {self.pgd_step_fraction:g} eps), Square {self.square_queries} queries, "
                f"finite differences on {self.fd_inputs} inputs x {self.fd_directions} directions, seed {self.seed}")
