"""95% intervals of the leaderboard's accuracies: the Wilson score interval over the n examples.

For the vote and worst-of-K metrics each example is right or wrong, so the accuracy is a binomial
proportion over n independent examples and the Wilson interval is the usual one (it equals
``scipy.stats.binomtest(count, n).proportion_ci(method="wilson")``).

For the mean over draws each example contributes a fraction in [0, 1]. The interval used is the
Wilson interval with the mean as the proportion and **n = the number of examples** (not n*K draws).
A variable in [0, 1] with mean p has variance at most p(1 - p), so this is conservative: it is
exact when every example is all-right or all-wrong and wider otherwise. Pooling the n*K draws
into one count would pretend the K purifications of one image are independent, which they are not
(they share the image), and would give intervals that are too narrow.

Both contain the point estimate, stay inside [0, 1] and shrink as n grows.
"""
from __future__ import annotations

import math

from scipy import stats

CONFIDENCE = 0.95


def wilson(proportion: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` of a proportion observed on ``n`` examples.

    ``proportion`` may be any value in [0, 1] (a mean of per-example fractions too, see the module
    docstring). ``n = 0`` gives ``(nan, nan)``.
    """
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must be in [0, 1], got {proportion!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    z2n = z * z / n
    centre = (proportion + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(proportion * (1 - proportion) / n + z2n / (4 * n))
    # clipped against rounding only: the exact interval always lies in [0, 1] and contains proportion
    return max(0.0, min(centre - half, proportion)), min(1.0, max(centre + half, proportion))
