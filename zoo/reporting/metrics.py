"""Leaderboard metrics: journal records -> per-example correctness -> accuracies per attack.

The defenses are stochastic, so every example is classified K times (K independent purifications)
on its clean input and K times on its adversarial input. One journal record per (attack, example)
holds both lists::

    {"model": str, "threat": "Linf" | "L2", "eps": float, "attack": str, "index": int,
     "label": int, "clean_preds": [K ints], "adv_preds": [K ints], "seed": int, ...}

(records may carry more fields, e.g. ``test_index``, ``seconds``, ``broken_at``; unknown ones are
ignored). Three metrics are derived from the K draws (:mod:`zoo.scoring.verdicts`), side by
side in every summary; each output names the one it leads with (the headline, chosen per run):

- **vote**: the majority vote over the K predictions is the defense's prediction; a tie for the
  most votes counts as WRONG (the ``clean_vote`` / ``adv_vote`` columns still show the smallest
  of the tied labels, but ``*_vote_correct`` is false). Use an odd K: two classes cannot tie then.
- **worst**: right only if all K draws are right (worst-of-K, DiffHammer's and DiffBreak's
  "broken if any of N purifications is wrong").
- **mean**: the fraction of the K draws that are right, averaged over examples (the expected
  accuracy of one purification).

Per example worst <= vote and worst <= mean, hence on every summary row too.

Robust accuracy follows RobustBench / AutoAttack: an example counts as robust only if it is also
correctly classified on its clean input. For vote and worst an example is robust when its clean
verdict and its adversarial verdict are both right. For the mean, draw j is one run of that
protocol (clean draw j, then adversarial draw j), and the example's robust score is the fraction
of draws where both are right (:func:`zoo.scoring.verdicts.robust_correct`).

The **worst case** over attacks counts an example robust only if it is robust under every attack
that was evaluated, over the examples present in all of them; its clean score averages the
attacks' clean scores (:func:`zoo.scoring.worst_case.over_attacks`).

Every accuracy carries a 95% interval over the n examples (:mod:`zoo.scoring.intervals`:
Wilson; for the mean the Wilson interval with n examples, which is conservative).
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..registry.schema import THREATS
from ..scoring.intervals import wilson
from ..scoring.verdicts import METRICS, correct, robust_correct, vote_label
from ..scoring.worst_case import over_attacks
from .attack_info import WORST_CASE, Info, ordered

REQUIRED_KEYS = ("model", "threat", "eps", "attack", "index", "label", "clean_preds", "adv_preds", "seed")
HEADLINES = METRICS
GROUP = ["model", "threat", "eps"]
ACCURACIES = [f"{kind}_acc_{metric}" for metric in METRICS for kind in ("clean", "robust")]
SUMMARY_COLUMNS = ["model", "threat", "eps", "attack", "n", "k", "clean_acc_mean", "clean_acc_vote",
                   "robust_acc_mean", "robust_acc_vote", "clean_acc_worst", "robust_acc_worst",
                   *(f"{column}_{end}" for column in ACCURACIES for end in ("lo", "hi"))]
"""The summary's columns: identity, n and K, the mean and vote accuracies (ties wrong), worst-of-K,
then each accuracy's 95% interval."""


# ------------------------------------------------------------------------------- per example
def _check_record(i: int, record: Mapping[str, Any]) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise ValueError(f"record {i} lacks key(s) {missing}; every record needs {list(REQUIRED_KEYS)}")
    if record["threat"] not in THREATS:
        raise ValueError(f"record {i}: threat must be one of {THREATS}, got {record['threat']!r}")
    if record["attack"] == WORST_CASE:
        raise ValueError(f"record {i}: attack name {WORST_CASE!r} is reserved for the combined row")
    for key in ("clean_preds", "adv_preds"):
        preds = record[key]
        if isinstance(preds, (str, bytes)) or not hasattr(preds, "__len__"):
            raise ValueError(f"record {i}: {key} must be a list of K ints, got {preds!r}")
    for value in [record["label"], *record["clean_preds"], *record["adv_preds"]]:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"record {i}: labels and predictions must be ints >= 0, got {value!r}")


def _scores(clean: np.ndarray, adv: np.ndarray, label: int) -> dict[str, Any]:
    """One example's derived columns from its K clean and K adversarial predictions, every verdict
    :mod:`zoo.scoring.verdicts`'."""
    c, a, y = clean[None], adv[None], np.array([label])
    out: dict[str, Any] = {"clean_vote": vote_label(clean), "adv_vote": vote_label(adv)}
    for metric in METRICS:
        column = "correct_mean" if metric == "mean" else f"{metric}_correct"
        cast = float if metric == "mean" else bool
        out[f"clean_{column}"] = cast(correct(c, y, metric)[0])
        out[f"adv_{column}"] = cast(correct(a, y, metric)[0])
        out[f"robust_{column}"] = cast(robust_correct(c, a, y, metric)[0])
    return out


def per_example_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (model, threat, eps, attack, example) record.

    Columns: ``model, threat, eps, attack, attacker_grad`` (where the attack took its gradients,
    :mod:`zoo.attacks.gradients`: ``exact``, or a mode labelled a weaker, ablation-only attack;
    ``exact`` for records from before the option), ``seed, index`` (position in the evaluated set),
    ``test_index`` (the example's index in the test set), ``label``, the K predictions
    ``clean_pred_0..K-1`` and ``adv_pred_0..K-1``, and derived from them:

    - ``clean_correct_mean``, ``adv_correct_mean``: fraction of the K draws that are right;
    - ``clean_vote``, ``adv_vote``: majority vote of the K draws (of tied labels the smallest);
    - ``clean_vote_correct``, ``adv_vote_correct``: whether the vote is right (bool; a tie is wrong);
    - ``robust_correct_mean``: fraction of draws j right on both clean draw j and adversarial
      draw j; ``robust_vote_correct``: clean vote and adversarial vote both right. These are the
      per-example robust scores :func:`summarize` averages (robust only if also clean-correct);
    - ``clean_worst_correct``, ``adv_worst_correct``: all K draws right; ``robust_worst_correct``:
      both;
    - ``broken_at``, ``steps`` (only when some record has them, the anytime protocol): the attack
      iteration at which the example was first judged broken (empty if never) and the attack's
      iteration budget (empty for an attack that ran to its final output).

    ``adv_*`` columns are the raw adversarial correctness, not conditioned on the clean input.
    Rows are sorted by model, attack, index (then threat, eps).

    Raises:
        ValueError: no records, a record lacks a key, records disagree on K (or a record's clean
            and adversarial lists differ in length), a bad threat / label / prediction, the same
            (model, threat, eps, attack, index) twice, or one example with two labels.
    """
    records = list(records)
    if not records:
        raise ValueError("no records to tabulate")
    anytime = any("broken_at" in record for record in records)
    k = None
    rows = []
    for i, record in enumerate(records):
        _check_record(i, record)
        for key in ("clean_preds", "adv_preds"):
            n = len(record[key])
            if k is None:
                k = n
            if n != k or n == 0:
                raise ValueError(f"records disagree on K, the number of draws: record {i} ({record['model']}, "
                                 f"{record['attack']}, index {record['index']}) has {n} {key}, expected {k}")
        clean = np.asarray(record["clean_preds"], dtype=np.int64)
        adv = np.asarray(record["adv_preds"], dtype=np.int64)
        label = int(record["label"])
        row = {"model": str(record["model"]), "threat": record["threat"], "eps": float(record["eps"]),
               "attack": str(record["attack"]), "attacker_grad": str(record.get("attacker_grad", "exact")),
               "seed": int(record["seed"]), "index": int(record["index"]),
               "test_index": int(record.get("test_index", record["index"])), "label": label}
        row.update({f"clean_pred_{j}": int(p) for j, p in enumerate(clean)})
        row.update({f"adv_pred_{j}": int(p) for j, p in enumerate(adv)})
        row.update(_scores(clean, adv, label))
        if anytime:
            for key in ("broken_at", "steps"):
                row[key] = pd.NA if record.get(key) is None else int(record[key])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if anytime:
        frame = frame.astype({"broken_at": "Int64", "steps": "Int64"})
    key = GROUP + ["attack", "index"]
    duplicated = frame.duplicated(key, keep=False)
    if duplicated.any():
        first = frame.loc[duplicated, key].iloc[0].to_dict()
        raise ValueError(f"the same result is recorded more than once: {first}")
    labels = frame.groupby(GROUP + ["index"])["label"].nunique()
    if (labels > 1).any():
        raise ValueError(f"examples with different labels across attacks: {list(labels[labels > 1].index)[:5]}")
    frame = frame.sort_values(["model", "attack", "index", "threat", "eps"], kind="stable")
    return frame.reset_index(drop=True)


def draws_of(frame: pd.DataFrame) -> int:
    """K, the number of purifications per example, read off a per-example frame's columns."""
    return sum(1 for column in frame.columns if re.fullmatch(r"clean_pred_\d+", str(column)))


# ------------------------------------------------------------------------------- outcomes
OUTCOME_COLUMNS = {"clean_vote": "clean_vote_correct", "clean_worst": "clean_worst_correct",
                   "clean_mean": "clean_correct_mean", "robust_vote": "robust_vote_correct",
                   "robust_worst": "robust_worst_correct", "robust_mean": "robust_correct_mean"}
"""Per-example score of each (kind, metric), from the per-example frame's column."""


def outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, threat, eps, attack, example) the six scores ``clean_vote, clean_worst,
    clean_mean, robust_vote, robust_worst, robust_mean`` (floats in [0, 1]), with one more
    ``attack="worst-case"`` per example present under every attack of its (model, threat, eps).
    Columns: ``model, threat, eps, attack, index, test_index`` and the six scores.

    ``frame`` is :func:`per_example_frame`'s output, or that frame read back from its CSV.
    """
    needed = GROUP + ["attack", "index", *OUTCOME_COLUMNS.values()]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"needs a per-example frame; missing column(s) {missing}")
    if frame.empty:
        raise ValueError("nothing to summarize: the frame has no rows")
    data = frame.copy()
    if "test_index" not in data:
        data["test_index"] = data["index"]
    for score, column in OUTCOME_COLUMNS.items():
        data[score] = data[column].astype(float)
    base = data[GROUP + ["attack", "index", "test_index", *OUTCOME_COLUMNS]]
    worst = [_worst_case(key, group) for key, group in base.groupby(GROUP, sort=True)]
    return pd.concat([base, *worst], ignore_index=True)[base.columns]


def _worst_case(key: tuple, group: pd.DataFrame) -> pd.DataFrame:
    """One (model, threat, eps)'s ``worst-case`` rows: every metric's clean and robust scores
    combined over its attacks by :func:`zoo.scoring.worst_case.over_attacks`."""
    wide = group.set_index(["index", "attack"])
    test_index = group.groupby("index", sort=True)["test_index"].first()
    columns = {}
    for metric in METRICS:
        clean, robust = (wide[f"{kind}_{metric}"].unstack("attack").sort_index() for kind in ("clean", "robust"))
        present, columns[f"clean_{metric}"], columns[f"robust_{metric}"] = over_attacks(clean.T, robust.T)
    indices = clean.index[present]
    return pd.DataFrame({**dict(zip(GROUP, key)), "attack": WORST_CASE, "index": indices,
                         "test_index": test_index.loc[indices].to_numpy(), **columns})


# ------------------------------------------------------------------------------- summary
def percent(fraction: float) -> float:
    """A fraction as percent with two decimals (NaN stays NaN): how every table prints accuracies."""
    value = float(fraction)
    return value if math.isnan(value) else round(100.0 * value, 2)


def _accuracies(scores: pd.DataFrame) -> dict[str, float]:
    n = len(scores)
    out: dict[str, float] = {}
    for metric in METRICS:
        for kind in ("clean", "robust"):
            name = f"{kind}_acc_{metric}"
            if n == 0:
                out[name] = out[f"{name}_lo"] = out[f"{name}_hi"] = math.nan
                continue
            value = float(scores[f"{kind}_{metric}"].mean())
            low, high = wilson(min(max(value, 0.0), 1.0), n)
            out[name], out[f"{name}_lo"], out[f"{name}_hi"] = percent(value), percent(low), percent(high)
    return out


def summarize(frame: pd.DataFrame, info: Info | None = None) -> pd.DataFrame:
    """Accuracies (percent, 2 decimals) per (model, threat, eps, attack), plus a worst-case row.

    Columns (:data:`SUMMARY_COLUMNS`): ``model, threat, eps, attack, n, k`` (examples, draws),
    ``clean_acc_<m>`` and ``robust_acc_<m>`` for each metric m of ``vote``, ``worst``, ``mean``,
    and each one's 95% interval ``<column>_lo``, ``<column>_hi``. Robust accuracy counts an
    example only if it is right on both the clean and the adversarial input (as RobustBench), so
    it never exceeds clean accuracy; worst-of-K never exceeds the vote or the mean.

    Per (model, threat, eps) one more row has ``attack="worst-case"``, over the examples present
    under every attack (``n`` of them): an example is robust only if it is robust under every
    attack (vote, worst: all attacks' verdicts; mean: the per-example minimum of
    ``robust_correct_mean``). Its clean accuracy averages each attack's clean result for the
    example (every attack's record holds its own K clean draws), so it is never below its robust
    accuracy either.

    ``frame`` is :func:`per_example_frame`'s output, or that frame read back from its CSV; ``info``
    the run's attack descriptions (:mod:`zoo.reporting.attack_info`), whose order the rows follow
    (without it: the order the records come in).
    """
    k = draws_of(frame)
    scores = outcomes(frame)
    rows = []
    for (model, threat, eps), group in scores.groupby(GROUP, sort=True):
        attacks = [a for a in group["attack"].unique() if a != WORST_CASE]
        for attack in ordered(attacks, info) + [WORST_CASE]:
            part = group[group["attack"] == attack]
            rows.append({"model": model, "threat": threat, "eps": eps, "attack": attack, "n": len(part), "k": k,
                         **_accuracies(part)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
