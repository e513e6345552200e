"""Issue 12's metrics: mean, vote (ties wrong) and worst-of-K side by side with 95% intervals, the
headline named everywhere, and paired comparisons with an exact McNemar test."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from zoo.scoring.verdicts import correct, vote_correct, worst_correct
from zoo.attacks import catalogue
from zoo.reporting import comparison, metrics, model_info, tables
from zoo.scoring import intervals, paired
from zoo.reporting.files import write_outputs
from zoo.registry import load_registry


def rec(attack, index, label, clean, adv, model="m", eps=0.3, **extra):
    return {"model": model, "threat": "Linf", "eps": eps, "attack": attack, "index": index, "label": label,
            "clean_preds": clean, "adv_preds": adv, "seed": 0, **extra}


def random_records(seed, n, k, models=("m",), attacks=("pgd-eot", "autoattack-rand"), classes=3, skew=0.6):
    """Predictions right with probability ``skew`` per draw, else a random class: every verdict occurs."""
    rng = random.Random(seed)
    out = []
    for model in models:
        labels = [rng.randrange(classes) for _ in range(n)]
        for attack in attacks:
            for i in range(n):
                draw = lambda: labels[i] if rng.random() < skew else rng.randrange(classes)  # noqa: E731
                out.append(rec(attack, i, labels[i], [draw() for _ in range(k)], [draw() for _ in range(k)],
                               model=model, test_index=100 + i))
    return out


def test_ties_of_the_vote_count_as_wrong():
    preds = np.array([[1, 1, 2, 2], [0, 1, 2, 0], [0, 1, 2, 3], [2, 2, 2, 1], [3, 3, 1, 1]])
    labels = np.array([1, 0, 0, 2, 3])
    assert vote_correct(preds, labels).tolist() == [False, True, False, True, False]
    assert worst_correct(preds, labels).tolist() == [False, False, False, False, False]
    assert correct(preds, labels, "mean").tolist() == [0.5, 0.5, 0.25, 0.75, 0.5]
    frame = metrics.per_example_frame([rec("pgd-eot", 0, 1, [1, 1, 2, 2], [1, 2, 1, 1])])
    (row,) = frame.itertuples()
    assert row.clean_vote == 1 and not row.clean_vote_correct  # the tie is shown, and scored wrong
    assert row.adv_vote_correct and not row.robust_vote_correct
    with pytest.raises(ValueError, match="metric must be one of"):
        correct(preds, labels, "median")


@pytest.mark.parametrize("k", [1, 4, 5])
def test_worst_never_above_vote_or_mean_on_every_row(k):
    frame = metrics.per_example_frame(random_records(k, 60, k, models=("a", "b")))
    assert (frame["robust_worst_correct"] <= frame["robust_vote_correct"]).all()
    assert (frame["robust_worst_correct"] <= frame["robust_correct_mean"] + 1e-12).all()
    summary = metrics.summarize(frame)
    assert list(summary.columns) == metrics.SUMMARY_COLUMNS
    assert set(summary["attack"]) == {"pgd-eot", "autoattack-rand", "worst-case"}
    for kind in ("clean", "robust"):
        assert (summary[f"{kind}_acc_worst"] <= summary[f"{kind}_acc_vote"]).all()
        assert (summary[f"{kind}_acc_worst"] <= summary[f"{kind}_acc_mean"]).all()
    # the rows are not all trivially equal: worst-of-K bites for K > 1
    assert k == 1 or (summary["robust_acc_worst"] < summary["robust_acc_vote"]).all()


def test_intervals_contain_the_estimate_agree_with_scipy_and_shrink_with_n():
    for count, n in [(0, 10), (3, 10), (10, 10), (17, 50), (1, 1)]:
        low, high = intervals.wilson(count / n, n)
        expected = stats.binomtest(count, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-9)
        assert low <= count / n <= high
    assert intervals.wilson(0.37, 10)[0] < intervals.wilson(0.37, 100)[0] < 0.37
    assert intervals.wilson(0.37, 10)[1] > intervals.wilson(0.37, 100)[1] > 0.37
    with pytest.raises(ValueError, match="proportion"):
        intervals.wilson(1.5, 10)

    small = metrics.summarize(metrics.per_example_frame(random_records(0, 20, 5)))
    # the same examples ten times over: the same accuracies, every interval narrower
    records = random_records(0, 20, 5)
    big = metrics.summarize(metrics.per_example_frame(
        [{**r, "index": r["index"] + 20 * copy} for copy in range(10) for r in records]))
    for column in metrics.ACCURACIES:
        assert (small[f"{column}_lo"] <= small[column]).all() and (small[column] <= small[f"{column}_hi"]).all()
        assert (big[f"{column}_lo"] <= big[column]).all() and (big[column] <= big[f"{column}_hi"]).all()
        assert big[column].tolist() == small[column].tolist()
        width_small, width_big = small[f"{column}_hi"] - small[f"{column}_lo"], big[f"{column}_hi"] - big[f"{column}_lo"]
        assert (width_big < width_small).all()


def paired_records(outcomes_a, outcomes_b):
    """K = 1 records of two models on the same examples: clean right, adversarial right iff robust."""
    out = []
    for model, outcomes in (("a", outcomes_a), ("b", outcomes_b)):
        for i, robust in enumerate(outcomes):
            out.append(rec("pgd-eot", i, 0, [0], [0 if robust else 1], model=model, test_index=i))
    return out


def test_mcnemar_on_a_constructed_pair_equals_the_hand_computation():
    # 20 examples: 7 robust for a only, 1 for b only, 5 for both, 7 for neither
    a = [1] * 7 + [0] * 1 + [1] * 5 + [0] * 7
    b = [0] * 7 + [1] * 1 + [1] * 5 + [0] * 7
    table = comparison.comparisons(metrics.per_example_frame(paired_records(a, b)), "vote")
    (row,) = table.itertuples()
    # by hand: under H0 the 8 discordant examples split as Binomial(8, 1/2); P(<= 1 for b) twice
    hand = 2 * (math.comb(8, 0) + math.comb(8, 1)) / 2 ** 8
    assert hand == 18 / 256
    assert (row.model_a, row.model_b, row.n, row.a_only, row.b_only) == ("a", "b", 20, 7, 1)
    assert row.p_value == pytest.approx(hand, rel=1e-12)
    assert (row.robust_acc_a, row.robust_acc_b, row.difference) == (60.0, 30.0, 30.0)
    assert row.difference_lo < row.difference < row.difference_hi
    assert row.test == "exact McNemar"
    assert paired.mcnemar_exact(0, 0) == 1.0 and paired.mcnemar_exact(3, 3) == 1.0


def test_paired_interval_contains_the_difference_is_antisymmetric_and_shrinks():
    for cells in [(5, 7, 1, 7), (0, 0, 0, 10), (10, 0, 0, 0), (3, 0, 6, 1), (40, 30, 2, 28)]:
        both, a_only, b_only, neither = cells
        n = sum(cells)
        low, high = paired.paired_difference_interval(*cells)
        assert -1 <= low <= (a_only - b_only) / n <= high <= 1
        assert (low, high) != (0.0, 0.0)  # no discordance is not certainty
        mirrored = paired.paired_difference_interval(both, b_only, a_only, neither)
        assert mirrored == pytest.approx((-high, -low))
    small = paired.paired_difference_interval(5, 4, 1, 10)
    large = paired.paired_difference_interval(50, 40, 10, 100)
    assert large[1] - large[0] < small[1] - small[0]
    assert large[0] > 0 > small[0]  # the same proportions: a tested claim only with ten times the examples


def test_comparisons_written_only_for_the_same_examples(tmp_path):
    registry = load_registry()
    models = ["agdm-tiny-mnist", "diffpure-tiny-mnist"]
    entries = {m: registry[m] for m in models}
    records = random_records(3, 30, 5, models=models, attacks=("pgd-eot", "autoattack-standard"))
    provenance = {"command": "x", "reduced_budget": True, "budget": "small", "headline": "worst",
                  "attacks": catalogue.describe(catalogue.names())}
    paths = write_outputs(tmp_path / "same", records, provenance, entries, headline="worst")
    assert {"comparison_Linf.csv", "comparison_Linf.md"} <= set(paths)
    table = pd.read_csv(tmp_path / "same" / "comparison_Linf.csv")
    assert table["attack"].tolist() == ["pgd-eot", "autoattack-standard", "worst-case"]
    assert (table["headline"] == "worst").all() and (table["test"] == "exact McNemar").all()
    summary = pd.read_csv(tmp_path / "same" / "summary_Linf.csv")
    for row in table.itertuples():
        for model, value in ((row.model_a, row.robust_acc_a), (row.model_b, row.robust_acc_b)):
            s = summary[(summary["model"] == model) & (summary["attack"] == row.attack)].iloc[0]
            assert value == pytest.approx(s["robust_acc_worst"])
    text = (tmp_path / "same" / "comparison_Linf.md").read_text()
    assert "**worst**" in text and "McNemar" in text and "REDUCED" in text

    # the second model on other test-set images: nothing to pair
    shifted = [{**r, "test_index": r["test_index"] + 1000} if r["model"] == models[1] else r for r in records]
    paths = write_outputs(tmp_path / "other", shifted, provenance, entries, headline="worst")
    assert not any(name.startswith("comparison") for name in paths)


def test_headline_is_named_in_tables_and_model_info():
    records = random_records(5, 40, 5, attacks=("pgd-eot", "autoattack-standard"))
    entry = load_registry()["agdm-tiny-mnist"]
    summary = metrics.summarize(metrics.per_example_frame([{**r, "model": entry.name} for r in records]))
    provenance = {"reduced_budget": True, "budget": "small", "protocol": "final"}
    aa = summary[summary["attack"] == "autoattack-standard"].iloc[0]
    for headline in ("vote", "worst", "mean"):
        text = tables.markdown_table(summary, provenance, headline=headline)
        assert f"Headline metric: **{headline}**" in text and f"All metrics (headline: **{headline}**)" in text
        assert "Wilson" in text and "tied vote counts as wrong" in text and "final iterate" in text
        info = model_info.model_info(entry, summary, "Linf", 0.3, provenance, headline=headline)
        assert f"Headline metric: {headline}" in info["footnote"] and "K=5" in info["footnote"]
        assert info["autoattack_acc"] == f"{aa[f'robust_acc_{headline}']:.2f}"
        assert info["number_forward_passes"] == (1 if headline == "mean" else 5)
        json.dumps(info)
    worst_text = tables.markdown_table(summary, provenance, headline="worst")
    assert "worst-of-K" in worst_text
    row = f"| {entry.name} | autoattack-standard | 40 | 5 | "
    assert row + tables.interval_cell(aa, "clean_acc_vote") in worst_text
    assert "even" not in worst_text
    even = metrics.summarize(metrics.per_example_frame(random_records(5, 10, 4)))
    assert "K = 4 is even" in tables.markdown_table(even, provenance)
    with pytest.raises(ValueError, match="headline must be one of"):
        tables.markdown_table(summary, provenance, headline="median")


def test_worst_cases_are_compared_when_the_only_difference_is_the_label_aware_twins():
    """A guided entry's worst case over plain + label-aware attacks and an unguided entry's over the
    plain ones are the same worst case (on the unguided entry the label-aware attacks would repeat
    the plain ones): paired. Another attack set is not."""
    guided = random_records(1, 12, 3, models=("agdm",), attacks=("pgd-eot", "pgd-eot-label", "autoattack-rand",
                                                                   "autoattack-rand-label"))
    unguided = random_records(2, 12, 3, models=("diffpure",), attacks=("pgd-eot", "autoattack-rand"))
    other = random_records(3, 12, 3, models=("other",), attacks=("pgd-eot", "autoattack-standard"))
    info = catalogue.describe(catalogue.names())  # what a run records of its attacks
    table = comparison.comparisons(metrics.per_example_frame(guided + unguided + other), "vote", info)
    worst = table[table["attack"] == metrics.WORST_CASE]
    assert set(zip(worst["model_a"], worst["model_b"])) == {("agdm", "diffpure")}
    assert {"autoattack-rand", "pgd-eot"} <= set(table["attack"])


def test_robust_is_clean_and_adversarial_and_the_mean_pairs_draws():
    from zoo.scoring.verdicts import robust_correct

    clean, adv, labels = [[1, 1, 2], [1, 2, 2]], [[1, 2, 1], [1, 1, 1]], [1, 1]
    assert robust_correct(clean, adv, labels, "vote").tolist() == [True, False]   # example 1: clean vote wrong
    assert robust_correct(clean, adv, labels, "worst").tolist() == [False, False]
    assert robust_correct(clean, adv, labels, "mean") == pytest.approx([1 / 3, 1 / 3])  # draws 0 / 0 both right
    with pytest.raises(ValueError, match="one shape"):
        robust_correct(clean, [[1, 1], [1, 1]], labels, "vote")


def test_the_worst_case_over_attacks_keeps_examples_present_under_all():
    from zoo.scoring.worst_case import over_attacks

    clean = [[1.0, 1.0, 0.0], [0.0, 0.5, math.nan]]     # each attack's own clean draws
    robust = [[0.0, 0.5, 0.0], [0.0, 0.25, math.nan]]   # example 2 never ran under attack 2
    present, combined_clean, combined_robust = over_attacks(clean, robust)
    assert present.tolist() == [True, True, False]
    assert combined_clean.tolist() == [0.5, 0.75] and combined_robust.tolist() == [0.0, 0.25]
