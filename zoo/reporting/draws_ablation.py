"""Which protocol made a number, from the draws a run already recorded (no new compute): robust
accuracy by majority vote and by worst-of-N over the first N of each example's K draws, for
N = 1..K, side by side. N = 1 is the one-shot protocol (one purification per verdict), N = K the
run's own summary; in between, what a paper that judged with N draws would have reported of the
same attacks.

Every row is :func:`~zoo.reporting.metrics.summarize` of the per-example frame cut to its first N
clean and N adversarial draws, so it is scored exactly as the summary is (worst case over attacks
included). Under the anytime protocol the kept iterate was chosen with all K draws (the stop
rule), so its N < K rows are not what an N-draw anytime run would have found: the table says so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..scoring.verdicts import correct, robust_correct
from .attack_info import Info, WORST_CASE
from .metrics import draws_of, summarize
from .tables import format_eps

COLUMNS = ["model", "threat", "eps", "attack", "draws", "n", *(f"{kind}_acc_{m}{end}" for m in ("vote", "worst")
                                                               for kind in ("clean", "robust")
                                                               for end in ("", "_lo", "_hi"))]


def first_draws(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The per-example frame as if each example had been judged by its first ``n`` draws only:
    later prediction columns dropped, every verdict column recomputed."""
    k = draws_of(frame)
    if not 1 <= n <= k:
        raise ValueError(f"N must be in 1..{k} (the recorded draws), got {n}")
    cut = frame.drop(columns=[f"{kind}_pred_{j}" for kind in ("clean", "adv") for j in range(n, k)])
    clean = cut[[f"clean_pred_{j}" for j in range(n)]].to_numpy(np.int64)
    adv = cut[[f"adv_pred_{j}" for j in range(n)]].to_numpy(np.int64)
    labels = cut["label"].to_numpy(np.int64)
    for metric in ("vote", "worst", "mean"):
        column = "correct_mean" if metric == "mean" else f"{metric}_correct"
        cut[f"clean_{column}"] = correct(clean, labels, metric)
        cut[f"adv_{column}"] = correct(adv, labels, metric)
        cut[f"robust_{column}"] = robust_correct(clean, adv, labels, metric)
    return cut


def draws_ablation(frame: pd.DataFrame, info: Info | None = None) -> pd.DataFrame:
    """Robust (and clean) accuracy by vote and worst-of-N for N = 1..K, per (model, threat, eps,
    attack) and the worst case over attacks, with 95% intervals (:data:`COLUMNS`)."""
    parts = []
    for n in range(1, draws_of(frame) + 1):
        rows = summarize(first_draws(frame, n), info).rename(columns={"k": "draws"})
        parts.append(rows[COLUMNS])
    return pd.concat(parts, ignore_index=True).sort_values(["model", "threat", "eps", "attack", "draws"],
                                                           kind="stable").reset_index(drop=True)


def ablation_markdown(table: pd.DataFrame, anytime: bool) -> str:
    """The N-ablation as markdown: per (model, threat, eps) one row per N, robust vote and worst-of-N."""
    lines = []
    for (model, threat, eps), group in table.groupby(["model", "threat", "eps"], sort=True):
        attacks = [*(a for a in group["attack"].unique() if a != WORST_CASE), WORST_CASE]
        lines += [f"## {model}, {threat}, eps = {format_eps(threat, eps)}: robust accuracy by the number of draws N",
                  "", "From the K draws the run recorded (no new compute): each example judged by its first N. "
                  "N = 1 is one-shot; vote: majority of N (ties wrong); worst: right in all N (worst-of-N). In %, "
                  "95% Wilson intervals in brackets.", ""]
        if anytime:
            lines += ["Anytime protocol: the kept iterates were chosen with all K draws, so rows with N < K are not "
                      "what an N-draw anytime run would give.", ""]
        lines += ["| N | " + " | ".join(f"{a} vote | {a} worst" for a in attacks) + " |",
                  "|---|" + "---|---|" * len(attacks)]
        for n, rows in group.groupby("draws", sort=True):
            by_attack = {row["attack"]: row for _, row in rows.iterrows()}
            cells = [_cell(by_attack.get(a), m) for a in attacks for m in ("vote", "worst")]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(row, metric: str) -> str:
    if row is None or pd.isna(row[f"robust_acc_{metric}"]):
        return "-"
    column = f"robust_acc_{metric}"
    return f"{row[column]:.2f} [{row[column + '_lo']:.2f}, {row[column + '_hi']:.2f}]"


def write_ablation_png(path: Path, rows: pd.DataFrame, title: str) -> Path:
    """One entry's plot: robust accuracy against N, vote solid and worst-of-N dashed, per attack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for attack, group in rows.groupby("attack", sort=False):
        color = None  # worst-of-N's line takes the vote's colour
        for metric, style in (("vote", "-"), ("worst", "--")):
            line, = ax.plot(group["draws"], group[f"robust_acc_{metric}"], style, marker="o",
                            label=f"{attack} ({metric})", **({} if metric == "vote" else {"color": color}))
            color = line.get_color()
            ax.fill_between(group["draws"], group[f"robust_acc_{metric}_lo"], group[f"robust_acc_{metric}_hi"],
                            color=color, alpha=0.1)
    ax.set_xlabel("N, draws per verdict (1 = one-shot)")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
