"""Edges of the leaderboard's intervals and paired tests: what they refuse, and the degenerate
tables (no example, no discordant pair)."""
from __future__ import annotations

import math

import pytest

from zoo.scoring import intervals
from zoo.scoring import paired


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5])
def test_a_confidence_outside_zero_one_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence must be in"):
        intervals.wilson(0.5, 10, confidence)


def test_no_examples_no_interval_and_negative_counts_refused():
    assert all(math.isnan(v) for v in intervals.wilson(0.5, 0))
    with pytest.raises(ValueError, match="n must be >= 0"):
        intervals.wilson(0.5, -1)
    low, high = intervals.wilson(0.5, 10, 0.5)
    wide = intervals.wilson(0.5, 10, 0.99)
    assert wide[0] < low < 0.5 < high < wide[1]  # more confidence, a wider interval


def test_the_interval_of_a_certain_proportion_ends_at_one():
    for n in (16, 40, 46, 1000):  # where the formula's rounding would pass 1
        low, high = intervals.wilson(1.0, n)
        assert high == 1.0 and low < 1.0
        assert intervals.wilson(0.0, n)[0] == 0.0


def newcombe_by_hand(both, a_only, b_only, neither, z=1.959963984540054):
    """Newcombe's (1998) method 10 written out from the paper's formulas, for checking."""
    n = both + a_only + b_only + neither
    p_a, p_b = (both + a_only) / n, (both + b_only) / n

    def wilson_limits(p):
        centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)

    (l_a, u_a), (l_b, u_b) = wilson_limits(p_a), wilson_limits(p_b)
    cross = both * neither - a_only * b_only
    shrunk = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = shrunk / math.sqrt(margins) if margins else 0.0
    delta = math.sqrt((p_a - l_a) ** 2 - 2 * phi * (p_a - l_a) * (u_b - p_b) + (u_b - p_b) ** 2)
    epsilon = math.sqrt((u_a - p_a) ** 2 - 2 * phi * (u_a - p_a) * (p_b - l_b) + (p_b - l_b) ** 2)
    return p_a - p_b - delta, p_a - p_b + epsilon


@pytest.mark.parametrize("cells", [(40, 5, 3, 52), (5, 3, 3, 5), (2, 3, 5, 12), (1, 2, 2, 5), (2, 9, 4, 1),
                                   (0, 1, 1, 0), (10, 3, 3, 10), (5, 0, 2, 0)])
def test_paired_interval_is_newcombes(cells):
    """ad - bc far above n/2 (shrunk by n/2), between n/2 and 2n, between n/3 and n/2 and positive but
    at most n/2 (both set to 0); negative; a 2-example table; no association; an empty margin."""

    assert paired.paired_difference_interval(*cells) == pytest.approx(newcombe_by_hand(*cells), abs=1e-12)
    narrower = paired.paired_difference_interval(*cells, confidence=0.5)
    assert narrower == pytest.approx(newcombe_by_hand(*cells, z=0.6744897501960817), abs=1e-12)


def test_paired_interval_of_one_example_and_of_certain_differences():

    assert all(math.isnan(v) for v in paired.paired_difference_interval(0, 0, 0, 0))
    low, high = paired.paired_difference_interval(1, 0, 0, 0)
    assert -1 < low < 0 < high < 1
    for n in (16, 40, 46):
        low, high = paired.paired_difference_interval(0, n, 0, 0)  # A right on all, B on none
        assert -1 <= low < high == 1.0
        low, high = paired.paired_difference_interval(0, 0, n, 0)
        assert low == -1.0 < high <= 1
