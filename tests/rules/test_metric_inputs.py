"""What the metrics refuse and fill in (zoo.reporting.metrics): a record lacking a key, with an
unknown threat, the reserved worst-case name or predictions that are not a list is refused naming
the record and the problem; a frame missing a column or empty is refused; a frame without test
indices (written before they were recorded) takes the positions; the worst-case rows carry the
example and test indices; rows are numbered afresh, and the summary follows the recorded order."""
from __future__ import annotations

import re

import pytest

from zoo.reporting.metrics import REQUIRED_KEYS, outcomes, per_example_frame, percent, summarize
from zoo.registry.schema import THREATS

from test_metrics import rec


def exactly(message):
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize("change, message", [
    ({"seed": None}, f"record 0 lacks key(s) ['seed']; every record needs {list(REQUIRED_KEYS)}"),
    ({"threat": "L1"}, f"record 0: threat must be one of {THREATS}, got 'L1'"),
    ({"attack": "worst-case"}, "record 0: attack name 'worst-case' is reserved for the combined row"),
    ({"adv_preds": "111"}, "record 0: adv_preds must be a list of K ints, got '111'"),
    ({"clean_preds": 7}, "record 0: clean_preds must be a list of K ints, got 7"),
])
def test_a_bad_record_is_refused_naming_it_and_the_problem(change, message):
    record = rec("a", 0, 1, [1, 1], [1, 0])
    for key, value in change.items():
        if value is None:
            del record[key]
        else:
            record[key] = value
    with pytest.raises(ValueError, match=exactly(message)):
        per_example_frame([record])


def frame():
    return per_example_frame([rec(a, i, 1, [1, 1], [1, 0], test_index=50 + i) for a in ("a", "b") for i in (0, 1)])


def test_a_frame_missing_a_column_or_rows_is_refused():
    with pytest.raises(ValueError, match=exactly("needs a per-example frame; missing column(s) "
                                                 "['robust_vote_correct']")):
        outcomes(frame().drop(columns="robust_vote_correct"))
    with pytest.raises(ValueError, match=exactly("nothing to summarize: the frame has no rows")):
        outcomes(frame().iloc[:0])


def test_a_frame_without_test_indices_takes_the_positions():
    scores = outcomes(frame().drop(columns="test_index"))
    assert (scores["test_index"] == scores["index"]).all()


def test_worst_case_rows_carry_the_example_and_test_indices_and_rows_are_numbered_afresh():
    scores = outcomes(frame())
    worst = scores[scores["attack"] == "worst-case"]
    assert worst["index"].tolist() == [0, 1] and worst["test_index"].tolist() == [50, 51]
    assert scores.index.tolist() == list(range(len(scores)))


def test_worst_case_rows_follow_model_threat_and_eps_after_the_attacks_rows():
    records = [rec("a", 0, 0, [0], [0], model=m, eps=e) for m in ("m2", "m1") for e in (0.5, 0.1)]
    scores = outcomes(per_example_frame(records).iloc[::-1])
    worst = scores[scores["attack"] == "worst-case"]
    assert list(zip(worst["model"], worst["eps"])) == [("m1", 0.1), ("m1", 0.5), ("m2", 0.1), ("m2", 0.5)]
    assert (scores["attack"] == "worst-case").tolist() == [False] * 4 + [True] * 4


def test_summary_rows_follow_the_recorded_attack_order():
    info = {"b": {"order": 1}, "a": {"order": 2}}
    assert summarize(frame(), info)["attack"].tolist() == ["b", "a", "worst-case"]
    assert summarize(frame())["attack"].tolist() == ["a", "b", "worst-case"]


def test_the_per_example_frame_has_every_documented_column_with_its_type():
    records = [rec("a", 0, 1, [1, 2, 2], [1, 0, 0], seed=7, attacker_grad="bpda (weaker)"),
               rec("b", 0, 1, [1, 1, 1], [2, 2, 2], seed=7)]
    frame = per_example_frame(records).set_index("attack")
    assert frame.loc["a", "attacker_grad"] == "bpda (weaker)" and frame.loc["b", "attacker_grad"] == "exact"
    assert frame.loc["a", "seed"] == 7 and frame.loc["a", "test_index"] == 0
    assert frame.loc["a", "clean_vote"] == 2 and frame.loc["a", "adv_vote"] == 0 and frame.loc["b", "adv_vote"] == 2
    for kind in ("clean", "adv", "robust"):
        for metric in ("vote", "worst"):
            assert frame[f"{kind}_{metric}_correct"].dtype == bool, (kind, metric)
        assert frame[f"{kind}_correct_mean"].dtype == float, kind
    assert frame.loc["a", "clean_correct_mean"] == pytest.approx(1 / 3)
    assert frame.loc["a", "robust_correct_mean"] == pytest.approx(1 / 3)  # draw 0 only: right clean and adversarial
    assert not frame.loc["a", "clean_vote_correct"] and frame.loc["b", "clean_worst_correct"]


@pytest.mark.parametrize("second, message", [
    (rec("a", 1, 1, [1, 1], [1]), "records disagree on K, the number of draws: record 1 (m, a, index 1) has 1 "
                                  "adv_preds, expected 2"),
    (rec("a", 1, 1, [1, 1, 1], [1, 1, 1]), "records disagree on K, the number of draws: record 1 (m, a, index 1) "
                                           "has 3 clean_preds, expected 2"),
    (rec("a", 1, 1, [1, 1], [1, 1], threat="L0"), f"record 1: threat must be one of {THREATS}, got 'L0'"),
])
def test_the_second_record_is_named_when_it_is_the_bad_one(second, message):
    with pytest.raises(ValueError, match=exactly(message)):
        per_example_frame([rec("a", 0, 1, [1, 1], [1, 0]), second])


def test_no_records_and_no_draws_are_refused():
    with pytest.raises(ValueError, match=exactly("no records to tabulate")):
        per_example_frame([])
    with pytest.raises(ValueError, match=exactly("records disagree on K, the number of draws: record 0 (m, a, "
                                                 "index 0) has 0 clean_preds, expected 0")):
        per_example_frame([rec("a", 0, 1, [], [])])


@pytest.mark.parametrize("bad", [-1, True, 1.0])
def test_a_prediction_that_is_not_an_int_of_at_least_zero_is_refused(bad):
    with pytest.raises(ValueError, match=exactly(f"record 0: labels and predictions must be ints >= 0, got {bad!r}")):
        per_example_frame([rec("a", 0, 1, [1, bad], [1, 0])])


def test_an_attack_without_an_iteration_budget_has_an_empty_steps_cell_beside_an_anytime_one():
    frame = per_example_frame([rec("pgd", 0, 1, [1], [0], broken_at=3, steps=10), rec("aa", 0, 1, [1], [1])])
    frame = frame.set_index("attack")
    assert str(frame["steps"].dtype) == "Int64" and str(frame["broken_at"].dtype) == "Int64"
    assert frame.loc["pgd", "steps"] == 10 and frame.loc["pgd", "broken_at"] == 3
    assert frame["steps"].isna().tolist() == [True, False]  # rows sorted by attack: aa, pgd


def test_a_result_recorded_twice_is_refused_naming_the_first_one():
    records = [rec("a", 0, 1, [1], [1]), rec("a", 1, 1, [1], [1]), rec("a", 1, 1, [1], [0]), rec("a", 0, 1, [1], [0])]
    with pytest.raises(ValueError, match=exactly("the same result is recorded more than once: {'model': 'm', "
                                                 "'threat': 'Linf', 'eps': 0.3, 'attack': 'a', 'index': 0}")):
        per_example_frame(records)


def test_an_example_with_two_labels_is_refused_naming_at_most_five():
    records = [rec("a", 0, 1, [1], [1]), rec("b", 0, 1, [1], [1])]  # one label: not named
    records += [rec(a, i, 1 if a == "a" else 2, [1], [1]) for i in range(1, 8) for a in ("a", "b")]
    named = [("m", "Linf", 0.3, i) for i in range(1, 6)]
    with pytest.raises(ValueError, match=exactly(f"examples with different labels across attacks: {named}")):
        per_example_frame(records)


def test_the_frame_has_the_documented_columns_only_numbered_afresh():
    frame = per_example_frame([rec("b", 1, 1, [1, 0], [1, 0]), rec("a", 0, 1, [1, 1], [0, 0])])
    documented = {"model", "threat", "eps", "attack", "attacker_grad", "seed", "index", "test_index", "label",
                  "clean_pred_0", "clean_pred_1", "adv_pred_0", "adv_pred_1", "clean_vote", "adv_vote",
                  *(f"{kind}_{metric}_correct" for kind in ("clean", "adv", "robust") for metric in ("vote", "worst")),
                  "clean_correct_mean", "adv_correct_mean", "robust_correct_mean"}
    assert set(frame.columns) == documented
    assert frame.index.tolist() == [0, 1] and frame["attack"].tolist() == ["a", "b"]


def test_a_fraction_prints_as_percent_with_two_decimals_and_nan_stays_nan():
    assert percent(1 / 3) == 33.33 and percent(0.123456) == 12.35 and percent(1) == 100.0
    assert percent(float("nan")) != percent(float("nan"))  # NaN
