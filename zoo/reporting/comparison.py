"""Paired comparisons of entries that ran on the same examples: is one defense more robust than
another, or is the difference within noise?

Two entries are compared under one (threat, eps, attack) when they were evaluated on exactly the
same test-set examples (for the worst case over attacks: also under the same two or more attacks,
a label-aware attack counting as its plain twin, which it equals on an entry without a guidance
label: such entries skip it). Each
example then gives a pair of outcomes, and the comparison uses the pairing:

- **vote, worst** (a right/wrong verdict per example): the difference A - B of robust accuracy,
  its 95% interval by Newcombe's square-and-add method for paired proportions (Wilson limits of
  both accuracies combined with their observed correlation; Newcombe 1998, Statistics in Medicine
  17:2635), and the exact McNemar test: under "no difference" each of the d discordant examples
  (robust for one entry only) is equally likely to favour either, so the p-value is the two-sided
  binomial test of the count favouring A among d at 1/2 (``scipy.stats.binomtest``).
- **mean** (a fraction per example): the mean of the per-example differences with the paired t
  interval and p-value (``scipy.stats.ttest_rel``); undefined (empty) when every example has the
  same difference.

p-values are per comparison, not corrected for the number of comparisons in the table.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from ..scoring.verdicts import BINARY, check_metric
from ..scoring.intervals import CONFIDENCE, wilson
from .attack_info import Info, ordered, plain_twin
from .metrics import GROUP, WORST_CASE, outcomes

COMPARISON_COLUMNS = ["threat", "eps", "attack", "headline", "model_a", "model_b", "n", "robust_acc_a",
                      "robust_acc_b", "difference", "difference_lo", "difference_hi", "a_only", "b_only",
                      "test", "p_value"]


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


def paired_test(a: np.ndarray, b: np.ndarray, headline: str) -> dict:
    """Paired comparison of per-example outcomes ``a`` and ``b`` (same examples, same order) by the
    module's rules for ``headline``: discordant counts, the difference's interval (fractions) and
    the test's p-value."""
    n = len(a)
    if headline in BINARY:
        a, b = a.astype(bool), b.astype(bool)
        cells = [int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b)), int(np.sum(~a & ~b))]
        low, high = paired_difference_interval(*cells)
        return {"a_only": cells[1], "b_only": cells[2], "difference_lo": low, "difference_hi": high,
                "test": "exact McNemar", "p_value": mcnemar_exact(cells[1], cells[2])}
    diff = a - b
    if n < 2 or np.allclose(diff, diff[0]):
        low = high = p = math.nan
    else:
        result = stats.ttest_rel(a, b)
        interval = result.confidence_interval(CONFIDENCE)
        low, high, p = float(interval.low), float(interval.high), float(result.pvalue)
    return {"a_only": int(np.sum(diff > 0)), "b_only": int(np.sum(diff < 0)), "difference_lo": low,
            "difference_hi": high, "test": "paired t", "p_value": p}


def _percent(value: float) -> float:
    return value if math.isnan(value) else round(100.0 * value, 2)


def comparisons(frame: pd.DataFrame, headline: str = "vote", info: Info | None = None) -> pd.DataFrame:
    """Every pair of models evaluated on the same examples under the same (threat, eps, attack):
    robust accuracy (``headline`` metric, percent) of each, the difference A - B (percentage
    points) with its 95% interval, the discordant counts (``a_only``: examples robust for A only)
    and the test's p-value. Columns :data:`COMPARISON_COLUMNS`; empty when no pair qualifies.

    ``frame`` is :func:`~zoo.reporting.metrics.per_example_frame`'s output; ``info`` the run's attack
    descriptions (:mod:`zoo.reporting.attack_info`: plain twins and table order).
    """
    check_metric(headline)
    scores = outcomes(frame)
    # the attacks each model's worst case is over, label-aware ones counted as their plain twins: an
    # entry without a guidance label skips them because on it they repeat the plain attacks
    attack_sets = frame.groupby(GROUP)["attack"].agg(frozenset)
    twin_sets = attack_sets.map(lambda names: frozenset(plain_twin(n, info) for n in names))
    column = f"robust_{headline}"
    rows = []
    for (threat, eps, attack), group in scores.groupby(["threat", "eps", "attack"], sort=True):
        by_model = {model: part.set_index("test_index")[column].sort_index()
                    for model, part in group.groupby("model", sort=True)}
        for model_a, model_b in itertools.combinations(sorted(by_model), 2):
            a, b = by_model[model_a], by_model[model_b]
            if len(a) == 0 or not a.index.equals(b.index):
                continue
            key_a, key_b = (model_a, threat, eps), (model_b, threat, eps)
            one_each = len(attack_sets[key_a]) == len(attack_sets[key_b]) == 1
            if attack == WORST_CASE and (twin_sets[key_a] != twin_sets[key_b] or one_each):
                continue  # other attacks: not the same worst case; one attack each: that attack's row again
            result = paired_test(a.to_numpy(float), b.to_numpy(float), headline)
            rows.append({"threat": threat, "eps": eps, "attack": attack, "headline": headline,
                         "model_a": model_a, "model_b": model_b, "n": len(a),
                         "robust_acc_a": _percent(a.mean()), "robust_acc_b": _percent(b.mean()),
                         "difference": _percent(a.mean() - b.mean()),
                         **{k: _percent(v) if k.startswith("difference") else v for k, v in result.items()}})
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    rank = {a: i for i, a in enumerate(ordered(sorted(set(out["attack"])), info))}
    keys = [(t, e, rank[a]) for t, e, a in zip(out["threat"], out["eps"], out["attack"])]
    return out.iloc[sorted(range(len(out)), key=keys.__getitem__)].reset_index(drop=True)
