"""The worst case over attacks, per example: robust only if robust under every attack.

Each attack re-classifies an example's clean input with K draws of its own, so an example has one
clean score and one robust score per attack. Over the attacks (any of :data:`~.verdicts.METRICS`):

- **robust**: the minimum of the attacks' robust scores (vote, worst: robust under every attack;
  mean: the smallest fraction);
- **clean**: the average of the attacks' clean scores (every attack's clean draws count alike, so
  no attack's draws are preferred), never below the robust minimum;
- only examples present under every attack are scored: one missing an attack was not tried by it.
"""
from __future__ import annotations

import numpy as np


def over_attacks(clean, robust) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The worst case of A x N scores (row a: attack a's score of each of N examples, NaN where
    the example was not run under that attack): ``(present, clean, robust)``, the examples
    present under every attack (bool, N) and their combined clean and robust scores."""
    clean, robust = np.asarray(clean, dtype=float), np.asarray(robust, dtype=float)
    if clean.ndim != 2 or clean.shape != robust.shape or clean.shape[0] == 0:
        raise ValueError(f"clean and robust must be A x N (A >= 1) of one shape, got {clean.shape} and {robust.shape}")
    present = ~(np.isnan(clean) | np.isnan(robust)).any(axis=0)
    return present, clean[:, present].mean(axis=0), robust[:, present].min(axis=0)
