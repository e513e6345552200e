"""Per-example verdicts over K draws: is an example right by majority vote, in every draw (worst
of K), or by what fraction of its draws (mean)?

One definition for the whole zoo: the leaderboard's metrics score finished records with it, and
the anytime protocol (:mod:`zoo.running.loop`) judges each attack iterate with it.

- **vote**: right when the true label gets strictly more of the K votes than any other class. A
  tie for the most votes counts as wrong (a defense that cannot make up its mind has not
  classified the example); with an odd K two classes cannot tie, three or more still can.
- **worst**: right only when every one of the K draws is right (worst-of-K: an attacker who may
  resubmit the input K times breaks it if any purification errs).
- **mean**: the fraction of the K draws that are right (the expected accuracy of one purification).

worst <= vote <= 1 and worst <= mean, example by example.
"""
from __future__ import annotations

import numpy as np

METRICS = ("vote", "worst", "mean")
"""Every per-example metric, in the order tables show them."""
BINARY = ("vote", "worst")
"""The metrics that give each example a yes/no verdict (the anytime protocol stops on one)."""


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


def check_metric(metric: str, allowed: tuple[str, ...] = METRICS) -> str:
    if metric not in allowed:
        raise ValueError(f"metric must be one of {allowed}, got {metric!r}")
    return metric
