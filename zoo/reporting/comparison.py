"""Paired comparisons of entries that ran on the same examples: is one defense more robust than
another, or is the difference within noise?

Two entries are compared under one (threat, eps, attack) when they were evaluated on exactly the
same test-set examples (for the worst case over attacks: also under the same two or more attacks,
a label-aware attack counting as its plain twin, which it equals on an entry without a guidance
label: such entries skip it). Each
example then gives a pair of outcomes, and the statistics are the paired tests of
:mod:`zoo.scoring.paired` (vote, worst: Newcombe's interval and the exact McNemar test; mean: the
paired t), an undefined one left empty. This module builds the table.

p-values are per comparison, not corrected for the number of comparisons in the table.
"""
from __future__ import annotations

import itertools

import pandas as pd

from ..scoring.paired import paired_test
from ..scoring.verdicts import check_metric
from .attack_info import Info, ordered, plain_twin
from .metrics import GROUP, WORST_CASE, outcomes, percent

COMPARISON_COLUMNS = ["threat", "eps", "attack", "headline", "model_a", "model_b", "n", "robust_acc_a",
                      "robust_acc_b", "difference", "difference_lo", "difference_hi", "a_only", "b_only",
                      "test", "p_value"]


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
                         "robust_acc_a": percent(a.mean()), "robust_acc_b": percent(b.mean()),
                         "difference": percent(a.mean() - b.mean()),
                         **{k: percent(v) if k.startswith("difference") else v for k, v in result.items()}})
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    rank = {a: i for i, a in enumerate(ordered(sorted(set(out["attack"])), info))}
    keys = [(t, e, rank[a]) for t, e, a in zip(out["threat"], out["eps"], out["attack"])]
    return out.iloc[sorted(range(len(out)), key=keys.__getitem__)].reset_index(drop=True)
