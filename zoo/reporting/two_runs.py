"""Two runs of the same entries on the same examples, compared example by example: how did each
number move when the budget, the protocol or the code changed?

A researcher checks convergence this way: rerun a study with a stronger attack (or the anytime
protocol, or a new version) and ask, per entry and attack, whether robust accuracy changed beyond
noise. Only what both runs hold is compared: the attacks both ran on an entry, on the test examples
both attacked (matched by test-set index) at the same eps. The worst case is taken over those
common attacks in each run (so it never compares different attack sets), and is left out where
the runs share a single attack. Each (entry, attack, metric) gets both accuracies with their Wilson
intervals and the paired change B - A with Newcombe's interval and the exact McNemar p-value
(:mod:`zoo.scoring.paired`); the mean metric is not compared (its paired t needs no table here).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from ..scoring.intervals import wilson
from ..scoring.paired import paired_test
from .metrics import GROUP, WORST_CASE, outcomes, percent

METRICS = ("vote", "worst")
COLUMNS = ["model", "threat", "eps", "attack", "metric", "n", "a", "a_lo", "a_hi", "b", "b_lo", "b_hi",
           "change", "change_lo", "change_hi", "a_only", "b_only", "p_value"]
KEY = ["model", "threat", "eps", "attack"]


def common(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames cut to the (model, threat, eps, attack) groups both hold, and each group to the
    test examples both runs attacked in it."""
    keys = set(map(tuple, a[KEY].drop_duplicates().values)) & set(map(tuple, b[KEY].drop_duplicates().values))
    if not keys:
        raise ValueError("the two runs share no (model, threat, eps, attack): nothing to compare")
    rows = [set(map(tuple, frame[KEY + ["test_index"]].values)) for frame in (a, b)]
    shared = rows[0] & rows[1]
    return tuple(frame[[tuple(row) in shared for row in frame[KEY + ["test_index"]].values]] for frame in (a, b))


def _scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-example outcomes with the worst case over the frame's attacks, dropped where one attack."""
    scores = outcomes(frame)
    attacks = frame.groupby(GROUP)["attack"].nunique()
    single = {key for key, n in attacks.items() if n < 2}
    is_single = [tuple(row) in single for row in scores[GROUP].values]
    return scores[~((scores["attack"] == WORST_CASE) & pd.Series(is_single, index=scores.index))]


def _row(key: tuple, metric: str, old: pd.Series, new: pd.Series) -> dict[str, Any]:
    n = len(old)
    row: dict[str, Any] = dict(zip(KEY, key), metric=metric, n=n)
    for side, values in (("a", old), ("b", new)):
        p = float(values.mean())
        low, high = wilson(p, n)
        row.update({side: percent(p), f"{side}_lo": percent(low), f"{side}_hi": percent(high)})
    test = paired_test(new.to_numpy(), old.to_numpy(), metric)
    row.update(change=percent(new.mean() - old.mean()), change_lo=percent(test["difference_lo"]),
               change_hi=percent(test["difference_hi"]), a_only=test["b_only"], b_only=test["a_only"],
               p_value=test["p_value"])
    return row


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, metrics: Iterable[str] = METRICS) -> pd.DataFrame:
    """The paired comparison of two runs' per-example frames (run A the reference, B the new one):
    one row per (model, threat, eps, attack, metric) they share, ``change`` = B - A in points."""
    a, b = common(a, b)
    first, second = _scores(a), _scores(b)
    indexed, rows = second.set_index(KEY), []
    for key, group in first.groupby(KEY, sort=True):
        old = group.set_index("test_index").sort_index()
        new = indexed.loc[[key]].set_index("test_index").sort_index()
        if list(old.index) != list(new.index):
            raise ValueError(f"{key}: the runs' examples differ after matching test indices (a repeated index?)")
        rows.extend(_row(key, metric, old[f"robust_{metric}"], new[f"robust_{metric}"]) for metric in metrics)
    return pd.DataFrame(rows, columns=COLUMNS)


def budget_text(provenance: Mapping[str, Any], model: str) -> str:
    """One model's PGD+EOT budget and protocol in a run, from its provenance's settings."""
    for s in provenance.get("settings", []):
        if s.get("model") == model:
            return f"{s.get('pgd_steps')} x {s.get('pgd_eot')}, K = {s.get('draws')}, {s.get('protocol', 'final')}"
    return "?"


def markdown(table: pd.DataFrame, runs: Mapping[str, Mapping[str, Any]]) -> str:
    """The comparison as a markdown table, each run named by its folder, command and commit.
    ``runs`` maps ``"A"`` and ``"B"`` to ``{"folder": ..., "provenance": ...}``."""
    lines = ["Robust accuracy in % [Wilson 95%], run A (reference) and run B on the same test examples; change "
             "B - A in points [Newcombe 95%, paired] with the exact McNemar p-value (per comparison, not "
             "corrected). Worst case: over the attacks both runs ran on the entry.", ""]
    for side in ("A", "B"):
        prov = runs[side]["provenance"]
        lines.append(f"- run {side}: `{runs[side]['folder']}`: `{prov.get('command', '?')}` (commit "
                     f"`{str(prov.get('commit', '?'))[:12]}`, {prov.get('device', '?')}, {prov.get('date', '?')})")
    lines += ["", "| entry | attack | metric | n | budget A | A | budget B | B | change B - A | McNemar p |",
              "|---|---|---|---:|---|---|---|---|---|---:|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['model']} | {r['attack']} | {r['metric']} | {r['n']} | "
                     f"{budget_text(runs['A']['provenance'], r['model'])} | {r['a']:.2f} [{r['a_lo']:.2f}, {r['a_hi']:.2f}] | "
                     f"{budget_text(runs['B']['provenance'], r['model'])} | {r['b']:.2f} [{r['b_lo']:.2f}, {r['b_hi']:.2f}] | "
                     f"{r['change']:+.2f} [{r['change_lo']:+.2f}, {r['change_hi']:+.2f}] | {r['p_value']:.3g} |")
    return "\n".join(lines) + "\n"
