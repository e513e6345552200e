"""The paired comparison of two entries on the same examples: the cells and test of right/wrong
verdicts, the paired t of per-example fractions (the mean headline), and which pairs are compared."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from zoo.reporting import comparison, metrics
from zoo.scoring import paired


def test_binary_outcomes_are_counted_in_the_four_cells():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 0, 1, 0], dtype=float)
    b = np.array([1, 0, 0, 1, 0, 1, 0, 0, 0, 0], dtype=float)
    result = paired.paired_test(a, b, "worst")
    assert (result["a_only"], result["b_only"], result["test"]) == (3, 1, "exact McNemar")
    expected = paired.paired_difference_interval(2, 3, 1, 4)  # both, a only, b only, neither
    assert (result["difference_lo"], result["difference_hi"]) == pytest.approx(expected)
    assert result["p_value"] == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue)


def test_fractions_get_the_paired_t_test():
    a = np.array([0.2, 0.8, 1.0, 0.4, 0.6, 0.0, 0.8])
    b = np.array([0.0, 0.8, 0.6, 0.6, 0.2, 0.0, 0.4])
    result = paired.paired_test(a, b, "mean")
    reference = stats.ttest_rel(a, b)
    interval = reference.confidence_interval(0.95)
    assert result["test"] == "paired t"
    assert (result["a_only"], result["b_only"]) == (4, 1)  # examples better for A, for B (ties in neither)
    assert result["p_value"] == pytest.approx(float(reference.pvalue), rel=1e-12)
    assert (result["difference_lo"], result["difference_hi"]) == pytest.approx((interval.low, interval.high))
    assert result["difference_lo"] < float(np.mean(a - b)) < result["difference_hi"]


def test_two_examples_are_enough_for_a_t_test():
    result = paired.paired_test(np.array([0.6, 0.8]), np.array([0.2, 0.7]), "mean")
    reference = stats.ttest_rel([0.6, 0.8], [0.2, 0.7])
    assert result["p_value"] == pytest.approx(float(reference.pvalue), rel=1e-12)


@pytest.mark.parametrize("a, b", [([0.5, 0.7, 0.1], [0.3, 0.5, -0.1]), ([0.4], [0.2]), ([0.5, 0.5], [0.5, 0.5])])
def test_no_t_test_without_spread_in_the_differences(a, b):
    """One example, or every example the same difference: the t statistic is undefined, so empty."""
    result = paired.paired_test(np.array(a), np.array(b), "mean")
    assert all(math.isnan(result[k]) for k in ("difference_lo", "difference_hi", "p_value"))
    assert result["test"] == "paired t"


def records(model, examples, robust):
    """K = 1 records: clean right, adversarial right iff robust."""
    return [{"model": model, "threat": "Linf", "eps": 0.3, "attack": "pgd-eot", "index": i, "label": 0,
             "clean_preds": [0], "adv_preds": [0 if r else 1], "seed": 0, "test_index": t}
            for i, (t, r) in enumerate(zip(examples, robust))]


def test_every_pair_on_the_same_examples_is_compared_and_others_skipped():
    """Pairs in name order: (a, b) ran on other examples and is skipped, the later pairs still run;
    the default headline is the vote; one shared example is enough for a row."""
    frame = metrics.per_example_frame(records("a", [0, 1, 2], [1, 0, 1]) + records("b", [5, 6, 7], [1, 1, 1])
                                      + records("c", [0, 1, 2], [0, 0, 1]) + records("d", [5, 6, 7], [0, 1, 1]))
    table = comparison.comparisons(frame)
    assert [(r.model_a, r.model_b) for r in table.itertuples()] == [("a", "c"), ("b", "d")]
    assert table.equals(comparison.comparisons(frame, "vote"))
    assert list(table.columns) == comparison.COMPARISON_COLUMNS and table.index.tolist() == [0, 1]
    single = metrics.per_example_frame(records("a", [4], [1]) + records("b", [4], [0]))
    (row,) = comparison.comparisons(single, "vote").itertuples()
    assert (row.n, row.a_only, row.b_only) == (1, 1, 0)


def test_a_worst_case_pair_over_other_attacks_is_skipped_and_later_pairs_still_compared():
    """a ran one attack, b and c two: the worst cases (a, b) and (a, c) are over other attacks, (b, c)
    is compared; (b, c) comes after the skipped pairs."""
    frame = metrics.per_example_frame(
        records("a", [0, 1, 2], [1, 0, 1])
        + records("b", [0, 1, 2], [1, 1, 0]) + with_attack(records("b", [0, 1, 2], [0, 1, 0]), "autoattack-rand")
        + records("c", [0, 1, 2], [0, 1, 1]) + with_attack(records("c", [0, 1, 2], [0, 0, 1]), "autoattack-rand"))
    table = comparison.comparisons(frame)
    worst = table[table["attack"] == metrics.WORST_CASE]
    assert [(r.model_a, r.model_b) for r in worst.itertuples()] == [("b", "c")]
    assert table.index.tolist() == list(range(len(table)))


def with_attack(rows, attack):
    return [{**r, "attack": attack} for r in rows]
