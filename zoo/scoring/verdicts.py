"""Per-example verdicts over K draws: is an example right by majority vote, in every draw (worst
of K), or by what fraction of its draws (mean)?

One definition for the whole zoo: the leaderboard's metrics score finished records with it, the
anytime protocol (:mod:`zoo.running.loop`) judges each attack iterate with it, and the sweeps, the
sanity checks, the attack loop's progress bar, model cards and the submission kit all score and
name their metric through it.

- **vote**: right when the true label gets strictly more of the K votes than any other class. A
  tie for the most votes counts as wrong (a defense that cannot make up its mind has not
  classified the example); with an odd K two classes cannot tie, three or more still can.
- **worst**: right only when every one of the K draws is right (worst-of-K: an attacker who may
  resubmit the input K times breaks it if any purification errs).
- **mean**: the fraction of the K draws that are right (the expected accuracy of one purification).

worst <= vote <= 1 and worst <= mean, example by example.

**Robust** (:func:`robust_correct`, as RobustBench): an example counts only if it is right on its clean
input too. vote / worst: the clean verdict and the adversarial verdict are both right. mean: draw j
is one run of the protocol (clean draw j, then adversarial draw j), and the example's score is the
fraction of draws j where both are right.
"""
from __future__ import annotations

import numpy as np

METRICS = ("vote", "worst", "mean")
"""Every per-example metric, in the order tables show them."""
BINARY = ("vote", "worst")
"""The metrics that give each example a yes/no verdict (the anytime protocol stops on one)."""
NAMES = {"vote": "majority vote", "worst": "worst-of-K", "mean": "mean over draws"}
"""How outputs name each metric in a phrase ("robust accuracy, majority vote over K=5 ...")."""
DEFAULT = "vote"
"""The headline of runs that do not name one (provenance written before ``headline`` existed)."""


def _as_arrays(preds, labels) -> tuple[np.ndarray, np.ndarray]:
    preds = np.asarray(preds, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if preds.ndim != 2 or labels.shape != (preds.shape[0],) or preds.shape[1] == 0:
        raise ValueError(f"preds must be N x K (K >= 1) and labels N, got {preds.shape} and {labels.shape}")
    return preds, labels


def vote_correct(preds, labels) -> np.ndarray:
    """Per example (rows of ``preds``, N x K): the label has strictly more votes than any other
    class (ties for the most votes are wrong)."""
    preds, labels = _as_arrays(preds, labels)
    classes = int(max(preds.max(), labels.max())) + 1
    counts = (preds[:, :, None] == np.arange(classes)).sum(axis=1)  # N x classes
    rows = np.arange(len(labels))
    right = counts[rows, labels].copy()
    counts[rows, labels] = -1
    return right > counts.max(axis=1)


def vote_label(preds) -> int:
    """One example's most frequent prediction; of tied labels the smallest. For display only (the
    ``*_vote`` columns): whether the vote is right is :func:`vote_correct`'s, where a tie is wrong."""
    counts = np.bincount(np.asarray(list(preds), dtype=np.int64))
    return int(np.argmax(counts))  # argmax returns the first (smallest) of equal maxima


def worst_correct(preds, labels) -> np.ndarray:
    """Per example: every one of the K draws is right."""
    preds, labels = _as_arrays(preds, labels)
    return (preds == labels[:, None]).all(axis=1)


def mean_correct(preds, labels) -> np.ndarray:
    """Per example: the fraction of the K draws that are right."""
    preds, labels = _as_arrays(preds, labels)
    return (preds == labels[:, None]).mean(axis=1)


def correct(preds, labels, metric: str) -> np.ndarray:
    """``metric``'s per-example score: bool for ``vote`` / ``worst``, a fraction for ``mean``."""
    check_metric(metric)
    return {"vote": vote_correct, "worst": worst_correct, "mean": mean_correct}[metric](preds, labels)


def robust_correct(clean, adv, labels, metric: str) -> np.ndarray:
    """Per example, robust by ``metric`` (module docstring): right on the clean input and on the
    adversarial one. ``clean`` and ``adv`` are N x K draws of the same examples; bool for vote and
    worst, a fraction for mean (draws paired by position)."""
    clean, labels = _as_arrays(clean, labels)
    adv, _ = _as_arrays(adv, labels)
    if clean.shape != adv.shape:
        raise ValueError(f"clean and adversarial draws must have one shape, got {clean.shape} and {adv.shape}")
    if check_metric(metric) == "mean":
        return ((clean == labels[:, None]) & (adv == labels[:, None])).mean(axis=1)
    return correct(clean, labels, metric) & correct(adv, labels, metric)


def headline_of(provenance) -> str:
    """The metric a run leads with: its provenance's ``headline``, :data:`DEFAULT` for a run
    recorded before that field existed."""
    return check_metric(provenance.get("headline") or DEFAULT)


def check_metric(metric: str, allowed: tuple[str, ...] = METRICS) -> str:
    if metric not in allowed:
        raise ValueError(f"metric must be one of {allowed}, got {metric!r}")
    return metric
