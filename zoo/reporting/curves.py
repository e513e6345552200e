"""Robust accuracy against attack iteration, from anytime records: the curve that shows whether an
attack has converged (a curve still falling at the last iteration means more steps would break more).

Under the anytime protocol every record of an attack that judges its iterates holds ``broken_at``
(the first iteration whose K purifications judged the example wrong; 0 is the starting point;
empty if never) and ``steps`` (the iteration budget). An example is robust at iteration t when its
clean input is right by the stopping metric and it has not been broken at or before t; at the last
iteration this is the summary's robust accuracy for that metric.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..common.files import atomic_write
from ..scoring.verdicts import check_metric
from ..scoring.intervals import wilson
from .metrics import GROUP

CURVE_COLUMNS = ["model", "threat", "eps", "attack", "headline", "iteration", "n", "robust_acc", "robust_acc_lo",
                 "robust_acc_hi"]


def robustness_curve(frame: pd.DataFrame, headline: str = "vote") -> pd.DataFrame:
    """Per (model, threat, eps, attack) with anytime records, robust accuracy (percent, with its
    95% Wilson interval) at every iteration 0..steps. Columns :data:`CURVE_COLUMNS`; empty when no
    record is an anytime one. ``headline`` is the metric the run stopped on (``vote`` or ``worst``)."""
    check_metric(headline, ("vote", "worst"))
    rows = []
    if "steps" in frame.columns:
        anytime = frame[frame["steps"].notna()]
        for (model, threat, eps, attack), part in anytime.groupby(GROUP + ["attack"], sort=True):
            steps = int(part["steps"].max())
            clean = part[f"clean_{headline}_correct"].astype(bool).to_numpy()
            broken = part["broken_at"].astype("float").fillna(np.inf).to_numpy()
            n = len(part)
            for t in range(steps + 1):
                value = float(np.mean(clean & (broken > t)))
                low, high = wilson(value, n)
                rows.append({"model": model, "threat": threat, "eps": eps, "attack": attack, "headline": headline,
                             "iteration": t, "n": n, "robust_acc": round(100 * value, 2),
                             "robust_acc_lo": round(100 * low, 2), "robust_acc_hi": round(100 * high, 2)})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def write_curve_png(path: Path, curve: pd.DataFrame, title: str) -> Path:
    """Robust accuracy against iteration, one line per (model, attack), as a PNG (atomically)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or state

    if curve.empty:
        raise ValueError("nothing to draw: the curve has no rows")
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    lines = curve.groupby(["model", "attack"], sort=True)
    for (model, attack), part in lines:
        label = model if curve["attack"].nunique() == 1 else f"{model} ({attack})"
        axes.plot(part["iteration"], part["robust_acc"], drawstyle="steps-post", label=label)
    headline = curve["headline"].iloc[0]
    axes.set(xlabel="attack iteration", ylabel=f"robust accuracy, {headline} (%)", title=title,
             ylim=(-2, 102))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
