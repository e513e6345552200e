"""The worst case over attacks (zoo.scoring.worst_case.over_attacks): an example missing under any
attack, in its clean or its robust score (NaN or None), is left out; the input must be A x N with
at least one attack and one shape; no examples at all is an empty result, not an error."""
from __future__ import annotations

import re

import numpy as np
import pytest

from zoo.scoring.worst_case import over_attacks


def test_an_example_missing_either_score_under_any_attack_is_left_out():
    clean = [[1.0, 1.0, 0.5, 1.0], [1.0, 0.5, 1.0, np.nan]]
    robust = [[0.0, np.nan, 0.5, 1.0], [1.0, 0.5, 0.25, 1.0]]
    present, clean_w, robust_w = over_attacks(clean, robust)
    assert present.tolist() == [True, False, True, False]
    assert clean_w.tolist() == [1.0, 0.75] and robust_w.tolist() == [0.0, 0.25]


@pytest.mark.parametrize("side", ["clean", "robust"])
def test_none_counts_as_missing_like_nan(side):
    scores = {"clean": [[1, 1], [1, 0]], "robust": [[1, 0], [1, 0]]}
    scores[side] = [[1, None], [1, 0]]
    present, clean_w, robust_w = over_attacks(scores["clean"], scores["robust"])
    assert present.tolist() == [True, False] and clean_w.tolist() == [1.0] and robust_w.tolist() == [1.0]


@pytest.mark.parametrize("clean, robust", [
    (np.zeros(3), np.zeros(3)),                  # not A x N
    (np.zeros((2, 3)), np.zeros((2, 4))),        # two shapes
    (np.zeros((0, 3)), np.zeros((0, 3))),        # no attack
])
def test_anything_but_a_x_n_scores_of_one_shape_is_refused_naming_the_shapes(clean, robust):
    message = f"clean and robust must be A x N (A >= 1) of one shape, got {clean.shape} and {robust.shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        over_attacks(clean, robust)


def test_no_examples_is_an_empty_worst_case():
    present, clean_w, robust_w = over_attacks(np.zeros((2, 0)), np.zeros((2, 0)))
    assert present.shape == clean_w.shape == robust_w.shape == (0,)
