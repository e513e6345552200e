"""Paired tests: is one set of per-example outcomes more robust than another on the same examples,
or is the difference within noise?

Each example gives a pair of outcomes (A's and B's, e.g. two defenses, or one defense under two
attack budgets):

- **vote, worst** (a right/wrong verdict per example): the difference A - B of the accuracies,
  its 95% interval by Newcombe's square-and-add method for paired proportions (Wilson limits of
  both accuracies combined with their observed correlation; Newcombe 1998, Statistics in Medicine
  17:2635), and the exact McNemar test: under "no difference" each of the d discordant examples
  (robust for one side only) is equally likely to favour either, so the p-value is the two-sided
  binomial test of the count favouring A among d at 1/2 (``scipy.stats.binomtest``).
- **mean** (a fraction per example): the mean of the per-example differences with the paired t
  interval and p-value (``scipy.stats.ttest_rel``); undefined (NaN) when every example has the
  same difference.

p-values are per comparison, not corrected for the number of comparisons made.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .intervals import CONFIDENCE, wilson
from .verdicts import BINARY, check_metric


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """The exact (binomial) McNemar p-value, two-sided, of ``a_only`` examples robust only for A
    against ``b_only`` robust only for B; 1 when there is no discordant example."""
    discordant = a_only + b_only
    return 1.0 if discordant == 0 else float(stats.binomtest(a_only, discordant, 0.5).pvalue)


def paired_difference_interval(both: int, a_only: int, b_only: int, neither: int,
                               confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's square-and-add interval for p_A - p_B of paired right/wrong outcomes, from the
    four cells of the paired table (both right, A only, B only, neither)."""
    n = both + a_only + b_only + neither
    if n == 0:
        return math.nan, math.nan
    p_a, p_b = (both + a_only) / n, (both + b_only) / n
    low_a, high_a = wilson(p_a, n, confidence)
    low_b, high_b = wilson(p_b, n, confidence)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    cross = both * neither - a_only * b_only
    # the correlation of the pair, shrunk towards 0 for positive values as Newcombe does
    shrunk = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = shrunk / math.sqrt(margins) if margins > 0 else 0.0
    diff = p_a - p_b
    below = math.sqrt(max(0.0, (p_a - low_a) ** 2 - 2 * phi * (p_a - low_a) * (high_b - p_b) + (high_b - p_b) ** 2))
    above = math.sqrt(max(0.0, (p_b - low_b) ** 2 - 2 * phi * (p_b - low_b) * (high_a - p_a) + (high_a - p_a) ** 2))
    return max(-1.0, diff - below), min(1.0, diff + above)


def paired_test(a, b, metric: str) -> dict:
    """Paired comparison of per-example outcomes ``a`` and ``b`` (same examples, same order) by the
    module's rules for ``metric``: discordant counts ``a_only`` / ``b_only``, the difference's
    interval ``difference_lo`` / ``difference_hi`` (fractions), the ``test`` and its ``p_value``."""
    check_metric(metric)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if metric in BINARY:
        a, b = a.astype(bool), b.astype(bool)
        cells = [int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b)), int(np.sum(~a & ~b))]
        low, high = paired_difference_interval(*cells)
        return {"a_only": cells[1], "b_only": cells[2], "difference_lo": low, "difference_hi": high,
                "test": "exact McNemar", "p_value": mcnemar_exact(cells[1], cells[2])}
    diff = a - b
    if len(a) < 2 or np.allclose(diff, diff[0]):
        low = high = p = math.nan
    else:
        result = stats.ttest_rel(a, b)
        interval = result.confidence_interval(CONFIDENCE)
        low, high, p = float(interval.low), float(interval.high), float(result.pvalue)
    return {"a_only": int(np.sum(diff > 0)), "b_only": int(np.sum(diff < 0)), "difference_lo": low,
            "difference_hi": high, "test": "paired t", "p_value": p}
