"""Leaderboard metrics: journal records -> per-example correctness -> accuracies per attack.

The defenses are stochastic, so every example is classified K times (K independent purifications)
on its clean input and K times on its final adversarial input. One journal record per
(attack, example) holds both lists::

    {"model": str, "threat": "Linf" | "L2", "eps": float, "attack": str, "index": int,
     "label": int, "clean_preds": [K ints], "adv_preds": [K ints], "seed": int}

Two headline metrics are derived from the K draws, and every output names the one it leads with:

- **vote**: the majority vote over the K predictions (ties go to the smallest label) is the
  defense's single prediction for the example; accuracy counts examples whose vote is right.
- **mean**: the fraction of the K draws that are right, averaged over examples (the expected
  accuracy of one purification).

Robust accuracy follows RobustBench / AutoAttack: an example counts as robust only if it is also
correctly classified on its clean input (AutoAttack only attacks points that are initially correct
and counts the others as non-robust). So robust accuracy never exceeds clean accuracy, example by
example. For the vote, an example is robust when both its clean vote and its adversarial vote are
right. For the mean, draw j is one run of that protocol (clean draw j, then adversarial draw j), and
the example's robust score is the fraction of draws where both are right.

The **worst case** over attacks (what the paper and DiffPure report as the minimum over AutoAttack
versions; taken here per example, which on a common example set is never above the smallest
per-attack number) counts an example robust only if it is robust under every attack that was evaluated, over the
examples present in all of them.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..attacks.catalogue import ATTACK_ORDER
from ..registry.schema import THREATS

REQUIRED_KEYS = ("model", "threat", "eps", "attack", "index", "label", "clean_preds", "adv_preds", "seed")
WORST_CASE = "worst-case"
HEADLINES = ("vote", "mean")
GROUP = ["model", "threat", "eps"]
SUMMARY_COLUMNS = ["model", "threat", "eps", "attack", "n", "k", "clean_acc_mean", "clean_acc_vote",
                   "robust_acc_mean", "robust_acc_vote"]


# ------------------------------------------------------------------------------- per example
def majority_vote(preds: Iterable[int]) -> int:
    """The most frequent prediction; a tie goes to the smallest label."""
    counts = np.bincount(np.asarray(list(preds), dtype=np.int64))
    return int(np.argmax(counts))  # argmax returns the first (smallest) of equal maxima


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


def per_example_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (model, threat, eps, attack, example) record.

    Columns: ``model, threat, eps, attack, seed, index`` (position in the evaluated set),
    ``test_index`` (the example's index in the test set), ``label``, the K predictions
    ``clean_pred_0..K-1`` and ``adv_pred_0..K-1``, and derived from them:

    - ``clean_correct_mean``, ``adv_correct_mean``: fraction of the K draws that are right;
    - ``clean_vote``, ``adv_vote``: majority vote of the K draws (ties: smallest label);
    - ``clean_vote_correct``, ``adv_vote_correct``: whether the vote is right (bool);
    - ``robust_correct_mean``: fraction of draws j right on both clean draw j and adversarial
      draw j; ``robust_vote_correct``: clean vote and adversarial vote both right. These are the
      per-example robust scores :func:`summarize` averages (robust only if also clean-correct).

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
        clean_vote, adv_vote = majority_vote(clean), majority_vote(adv)
        row = {"model": str(record["model"]), "threat": record["threat"], "eps": float(record["eps"]),
               "attack": str(record["attack"]), "seed": int(record["seed"]), "index": int(record["index"]),
               "test_index": int(record.get("test_index", record["index"])), "label": label}
        row.update({f"clean_pred_{j}": int(p) for j, p in enumerate(clean)})
        row.update({f"adv_pred_{j}": int(p) for j, p in enumerate(adv)})
        row.update({
            "clean_correct_mean": float(np.mean(clean == label)),
            "adv_correct_mean": float(np.mean(adv == label)),
            "clean_vote": clean_vote,
            "adv_vote": adv_vote,
            "clean_vote_correct": clean_vote == label,
            "adv_vote_correct": adv_vote == label,
            "robust_correct_mean": float(np.mean((clean == label) & (adv == label))),
            "robust_vote_correct": clean_vote == label and adv_vote == label,
        })
        rows.append(row)
    frame = pd.DataFrame(rows)
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


# ------------------------------------------------------------------------------- summary
def _percent(fraction: float) -> float:
    return round(100.0 * float(fraction), 2)


def attack_sort_key(attack: str) -> tuple:
    """Column order: the catalogue's attacks first, any other by name, the worst case last."""
    if attack == WORST_CASE:
        return (2, 0, attack)
    if attack in ATTACK_ORDER:
        return (0, ATTACK_ORDER.index(attack), attack)
    return (1, 0, attack)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Accuracies (percent, 2 decimals) per (model, threat, eps, attack), plus a worst-case row.

    Columns: ``model, threat, eps, attack, n, k`` (examples, draws), ``clean_acc_mean``,
    ``clean_acc_vote``, ``robust_acc_mean``, ``robust_acc_vote``. Robust accuracy counts an
    example only if it is right on both the clean and the adversarial input (as RobustBench), so
    it never exceeds clean accuracy.

    Per (model, threat, eps) one more row has ``attack="worst-case"``, over the examples present
    under every attack (``n`` of them): an example is robust only if it is robust under every
    attack (vote: all attacks' ``robust_vote_correct``; mean: the per-example minimum of
    ``robust_correct_mean``). Its clean accuracy averages each attack's clean result for the
    example (every attack's record holds its own K clean draws), so it is never below its robust
    accuracy either.

    ``frame`` is :func:`per_example_frame`'s output, or that frame read back from its CSV.
    """
    needed = GROUP + ["attack", "index", "clean_correct_mean", "clean_vote_correct", "robust_correct_mean",
                      "robust_vote_correct"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"summarize needs a per-example frame; missing column(s) {missing}")
    if frame.empty:
        raise ValueError("nothing to summarize: the frame has no rows")
    k = draws_of(frame)
    data = frame.copy()
    for column in ("clean_vote_correct", "robust_vote_correct"):
        data[column] = data[column].astype(bool)
    rows = []
    for (model, threat, eps), group in data.groupby(GROUP, sort=True):
        attacks = sorted(group["attack"].unique(), key=attack_sort_key)
        for attack in attacks:
            part = group[group["attack"] == attack]
            rows.append({"model": model, "threat": threat, "eps": eps, "attack": attack, "n": len(part), "k": k,
                         "clean_acc_mean": _percent(part["clean_correct_mean"].mean()),
                         "clean_acc_vote": _percent(part["clean_vote_correct"].mean()),
                         "robust_acc_mean": _percent(part["robust_correct_mean"].mean()),
                         "robust_acc_vote": _percent(part["robust_vote_correct"].mean())})
        common = group.groupby("index").filter(lambda g: g["attack"].nunique() == len(attacks))
        per_example = common.groupby("index").agg(
            clean_mean=("clean_correct_mean", "mean"), clean_vote=("clean_vote_correct", "mean"),
            robust_mean=("robust_correct_mean", "min"), robust_vote=("robust_vote_correct", "all"))
        empty = per_example.empty
        rows.append({"model": model, "threat": threat, "eps": eps, "attack": WORST_CASE, "n": len(per_example),
                     "k": k,
                     "clean_acc_mean": math.nan if empty else _percent(per_example["clean_mean"].mean()),
                     "clean_acc_vote": math.nan if empty else _percent(per_example["clean_vote"].mean()),
                     "robust_acc_mean": math.nan if empty else _percent(per_example["robust_mean"].mean()),
                     "robust_acc_vote": math.nan if empty else _percent(per_example["robust_vote"].mean())})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
