"""RobustBench ``model_info`` records of zoo entries, from their summary rows."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..common.compat import robustbench
from .attack_info import WORST_CASE, legend, ordered, recorded
from .paper import PAPER
from .tables import (METRIC_TEXT, budget_of, check_headline, draws_note, format_eps, gradient_line,
                     interval_cell, protocol_line)


def model_info_fields() -> list[str]:
    """The fields of the installed RobustBench's ``ModelInfo`` dataclass, in order."""
    rb = robustbench()
    return [f.name for f in dataclasses.fields(rb.utils.ModelInfo)]


def _architecture(entry) -> str:
    source = entry.classifier.source
    classifier = (f"RobustBench {source.rsplit('/', 1)[-1]}" if entry.classifier.arch == "robustbench"
                  else entry.classifier.arch)
    p = entry.purification
    if p is None:
        return classifier
    return (f"DDPM purification (t*={p.t_star}, {p.num_steps} reverse steps, guidance {p.pattern}) "
            f"+ {classifier}")


def model_info(entry, summary_rows: pd.DataFrame, threat: str, eps: float, provenance: Mapping[str, Any], *,
               headline: str = "vote", reported: str = "") -> dict:
    """A RobustBench ``model_info`` dict for ``entry`` under (threat, eps), plus ``"provenance"``.

    The keys are exactly the installed ``robustbench.utils.ModelInfo`` fields and ``provenance``,
    so ``ModelInfo(**{k: v for k, v in info.items() if k != "provenance"})`` constructs. Values
    use RobustBench's JSON types: accuracies as strings with 2 decimals, eps as ``"8/255"`` or
    ``"0.5"``. ``clean_acc``: the standard accuracy (worst-case row, over all attacks' clean
    draws); ``autoattack_acc``: robust accuracy under ``autoattack-standard`` (``None`` if not
    evaluated); ``number_forward_passes``: K for the vote and worst-of-K headlines (one
    purification+classifier pass per draw), 1 for the mean. The footnote names the headline metric
    and gives the worst case and AutoAttack's number with n, K and their 95% intervals. RobustBench 1.1.1's ``ModelInfo`` has no ``external`` field,
    so the worst case over all attacks goes into the footnote (and into ``external`` when the
    installed RobustBench has that field). Link, authors and venue name the AGDM paper, whose
    method and baselines the zoo implements; ``reported`` is ``""`` unless given.
    """
    check_headline(headline)
    rows = summary_rows[(summary_rows["threat"] == threat) & np.isclose(summary_rows["eps"].astype(float), eps)]
    if rows.empty:
        raise ValueError(f"no summary rows for {entry.name} under {threat}, eps={eps}")
    models = set(rows["model"])
    if models != {entry.name}:
        raise ValueError(f"summary rows for {sorted(models)}, expected only {entry.name!r}")
    by_attack = {row["attack"]: row for _, row in rows.iterrows()}
    worst = by_attack[WORST_CASE]
    k = int(worst["k"])
    info = recorded(provenance)
    attacks = [a for a in ordered(by_attack, info) if a != WORST_CASE]

    def acc(row, kind: str) -> str | None:
        value = row[f"{kind}_acc_{headline}"]
        return None if pd.isna(value) else f"{value:.2f}"

    aa = by_attack.get("autoattack-standard")
    worst_text = acc(worst, "robust")
    metric = f"{headline}, {METRIC_TEXT[headline]}".replace(" K ", f" K={k} ")
    budget = ("REDUCED attack budget: " + budget_of(provenance, entry.name)
              if provenance.get("reduced_budget") else "full attack budget")
    column = f"robust_acc_{headline}"
    aa_text = "" if aa is None else (f" autoattack-standard: {interval_cell(aa, column)}%, n={int(aa['n'])}, "
                                     "95% Wilson interval.")
    footnote = (f"agdm-zoo entry {entry.name}. Headline metric: {metric}. Worst case over "
                f"{', '.join(attacks)} (per example): {worst_text}%, n={int(worst['n'])}, K={k}, 95% Wilson "
                f"interval {interval_cell(worst, column).partition(' ')[2]}.{aa_text} "
                f"{protocol_line(provenance)} {gradient_line(provenance, entry.name).strip('*')} "
                f"{legend(attacks, info)} {draws_note([k])} {budget}.").replace("  ", " ").replace("  ", " ")
    if aa is not None and provenance.get("autoattack"):
        footnote += f" autoattack_acc: {provenance['autoattack']}."
    values = {
        "link": PAPER["link"],
        "name": entry.description or entry.name,
        "authors": PAPER["authors"],
        "additional_data": False,
        "number_forward_passes": 1 if headline == "mean" else k,
        "dataset": entry.dataset,
        "venue": PAPER["venue"],
        "architecture": _architecture(entry),
        "eps": format_eps(threat, eps),
        "clean_acc": acc(worst, "clean"),
        "reported": reported,
        "autoattack_acc": None if aa is None else acc(aa, "robust"),
        "external": worst_text,
        "footnote": footnote,
    }
    info = {name: values.get(name) for name in model_info_fields()}
    info["provenance"] = dict(provenance)
    return info
