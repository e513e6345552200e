"""The summary's rows (zoo.reporting.metrics.summarize): one example is a row like any other; a
worst case over attacks that share no example has n = 0 and no accuracy (NaN, not 0); the rows
come in (model, threat, eps) order whatever order the per-example frame is read back in."""
from __future__ import annotations

import math

import pytest

from zoo.reporting.metrics import ACCURACIES, per_example_frame, summarize

from test_metrics import rec


def test_a_single_example_is_scored_and_attacks_sharing_no_example_have_an_empty_worst_case():
    records = [rec("a", 0, 1, [1, 1, 1], [1, 1, 0]), rec("b", 1, 2, [2, 2, 2], [0, 0, 0])]
    summary = summarize(per_example_frame(records)).set_index("attack")
    assert summary.loc["a", "n"] == 1 and summary.loc["a", "robust_acc_vote"] == 100.0
    assert summary.loc["a", "robust_acc_worst"] == 0.0 and summary.loc["a", "clean_acc_mean"] == 100.0
    assert summary.loc["b", "robust_acc_vote"] == 0.0 and summary.loc["b", "clean_acc_vote"] == 100.0
    worst = summary.loc["worst-case"]
    assert worst["n"] == 0
    for column in ACCURACIES:
        for name in (column, f"{column}_lo", f"{column}_hi"):
            assert math.isnan(worst[name]), name


@pytest.mark.parametrize("reverse", [False, True])
def test_rows_follow_model_threat_and_eps_whatever_the_frames_order(reverse):
    records = [rec("a", i, 0, [0], [0], model=m, eps=e) for m in ("m2", "m1") for e in (0.5, 0.1) for i in (0, 1)]
    frame = per_example_frame(records)
    frame = frame.iloc[::-1] if reverse else frame.sample(frac=1.0, random_state=3)
    summary = summarize(frame)
    keys = list(dict.fromkeys(zip(summary["model"], summary["eps"])))
    assert keys == [("m1", 0.1), ("m1", 0.5), ("m2", 0.1), ("m2", 0.5)]
