"""Which attack is strongest on each entry, and is it stronger beyond noise?

Every attack of a run attacks the same examples of an entry, so attacks compare example by example
like two defenses do (:mod:`zoo.reporting.comparison`): per (entry, threat, eps) the attacks are
ranked by the headline robust accuracy they leave (lowest first), and each other attack is compared
with the first by the paired tests of :mod:`zoo.scoring.paired` (difference other - first in
points, its 95% interval, the p-value; per comparison, not corrected). The first is called the
strongest only where it beats another beyond the interval (:func:`verdict_line`). An entry attacked
by a single attack gets no ranking. Ties in accuracy keep the run's attack order.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from ..scoring.paired import paired_test
from ..scoring.verdicts import check_metric
from .attack_info import Info, ordered
from .metrics import GROUP, WORST_CASE, outcomes, percent

RANKING_COLUMNS = ["model", "threat", "eps", "rank", "attack", "n", "robust_acc", "vs_strongest",
                   "vs_strongest_lo", "vs_strongest_hi", "test", "p_value"]


def rank_attacks(frame: pd.DataFrame, headline: str = "vote", info: Info | None = None) -> pd.DataFrame:
    """The attacks of each (model, threat, eps) of a per-example frame, lowest robust accuracy first,
    each compared with the first on the examples both attacked (columns :data:`RANKING_COLUMNS`,
    whose ``vs_strongest*`` name that first attack; its own comparison is empty)."""
    check_metric(headline)
    scores = outcomes(frame)
    scores = scores[scores["attack"] != WORST_CASE]
    column, rows = f"robust_{headline}", []
    for key, group in scores.groupby(GROUP, sort=True):
        by_attack = {a: part.set_index("test_index")[column].sort_index() for a, part in group.groupby("attack")}
        if len(by_attack) < 2:
            continue
        order = ordered(list(by_attack), info)
        ranked = sorted(order, key=lambda a: (by_attack[a].mean(), order.index(a)))
        strongest = by_attack[ranked[0]]
        for rank, attack in enumerate(ranked, start=1):
            values = by_attack[attack]
            row: dict[str, Any] = {**dict(zip(GROUP, key)), "rank": rank, "attack": attack, "n": len(values),
                                   "robust_acc": percent(values.mean()), "vs_strongest": math.nan,
                                   "vs_strongest_lo": math.nan, "vs_strongest_hi": math.nan, "test": "",
                                   "p_value": math.nan}
            if rank > 1:
                shared = values.index.intersection(strongest.index)
                a, b = values.loc[shared].to_numpy(float), strongest.loc[shared].to_numpy(float)
                test = paired_test(a, b, headline)
                row.update(vs_strongest=percent(a.mean() - b.mean()), vs_strongest_lo=percent(test["difference_lo"]),
                           vs_strongest_hi=percent(test["difference_hi"]), test=test["test"], p_value=test["p_value"])
            rows.append(row)
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


def verdict_line(group: pd.DataFrame) -> str:
    """What one entry's ranking shows: the strongest attack, and which others it beats beyond the
    paired interval. Where it beats none, no attack is called strongest: the lowest accuracy is
    named with the others it is not separated from at this n; attacks at exactly the same accuracy
    are named as tied, whatever order the ranking lists them in."""
    first, others = group.iloc[0], group.iloc[1:].to_dict("records")
    beaten = [r["attack"] for r in others if r["vs_strongest_lo"] > 0]
    within = [r["attack"] for r in others if not r["vs_strongest_lo"] > 0]
    level = [r["attack"] for r in others if r["robust_acc"] == first["robust_acc"]]
    tie = f", tied with {', '.join(level)}" if level else ""
    if not beaten:
        return (f"lowest robust accuracy: **{first['attack']}** ({first['robust_acc']:.2f}%){tie}; not separated "
                f"from {', '.join(within)} at n = {first['n']} (every difference within its 95% interval)")
    verdict = f"strongest: **{first['attack']}** ({first['robust_acc']:.2f}%){tie}"
    verdict += f"; stronger beyond the interval than {', '.join(beaten)}"
    return verdict + (f"; within the interval of {', '.join(within)}" if within else "")


def ranking_markdown(ranking: pd.DataFrame, provenance: Mapping[str, Any], headline: str = "vote") -> str:
    """The ranking as a markdown table, one line per entry (:func:`verdict_line`)."""
    lines = [f"Attacks ranked per entry by the robust accuracy they leave ({headline}, %); each other attack "
             "against the first (the lowest accuracy) on the same examples: difference in points [95% interval, "
             "paired] and the p-value (per comparison, not corrected).", ""]
    for (model, threat, eps), group in ranking.groupby(GROUP, sort=True):
        lines += [f"**{model}** ({threat}, eps {eps:g}): {verdict_line(group)}.", "",
                  "| rank | attack | n | robust | other - first | p |", "|---:|---|---:|---:|---|---:|"]
        for r in group.to_dict("records"):
            change = "-" if r["rank"] == 1 else f"{r['vs_strongest']:+.2f} [{r['vs_strongest_lo']:+.2f}, " \
                                                f"{r['vs_strongest_hi']:+.2f}]"
            p = "-" if r["rank"] == 1 else f"{r['p_value']:.3g}"
            lines.append(f"| {r['rank']} | {r['attack']} | {r['n']} | {r['robust_acc']:.2f} | {change} | {p} |")
        lines.append("")
    lines.append(f"Run: `{provenance.get('command', '?')}` (commit `{str(provenance.get('commit', '?'))[:12]}`)")
    return "\n".join(lines) + "\n"
