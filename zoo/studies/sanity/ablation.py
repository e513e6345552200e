"""Which gradient broke what: a defense's robust accuracy under PGD+EOT with each attacker
gradient (:mod:`zoo.attacks.gradients`: ``exact``, ``bpda``, ``blind``, ``surrogate``) at one
budget, vote and worst-of-K with 95% Wilson intervals, as CSV and markdown.

The paper-style evidence that exact gradients are needed (DiffBreak: DiffPure's robust accuracy
is far higher under approximate gradients than under the exact one): every row but ``exact`` is
a weaker, ablation-only attack, labelled so in both files, and never a robustness claim.
Surrogate rows: a chain with a quarter of the reverse steps, and for guided entries one without
guidance (unless other settings are given).
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from torch import nn

from ...attacks.catalogue import guided
from ...attacks.gradients import ABLATION_LABEL, ATTACKER_GRADIENTS, attacker_model
from ...common.files import atomic_write_text
from ...common.provenance import provenance
from ...registry.resolve import as_entry
from ...registry.schema import Entry
from .bench import Bench, Outcome
from .budget import SanityBudget
from .run import prepare

COLUMNS = ["gradient", "mode", "ablation_only", "n", "k", "robust_vote", "robust_vote_lo", "robust_vote_hi",
           "robust_worst", "robust_worst_lo", "robust_worst_hi"]


def default_surrogates(entry: Entry) -> list[dict]:
    """The surrogate chains of the table: a quarter of the reverse steps; without guidance too
    for a guided entry."""
    p = entry.purification
    found = [{"steps": max(1, p.num_steps // 4)}]
    if guided(entry):
        found.append({"pattern": "none"})
    return found


def _row(label: str, mode: str, outcome: Outcome, k: int) -> dict:
    fig = outcome.figures()
    row = {"gradient": label, "mode": mode, "ablation_only": mode != "exact", "n": fig["n"], "k": k}
    for metric in ("vote", "worst"):
        row[f"robust_{metric}"] = fig[f"robust_{metric}"]
        row[f"robust_{metric}_lo"], row[f"robust_{metric}_hi"] = fig[f"robust_{metric}_interval"]
    return row


def gradient_ablation(bench: Bench, surrogates: list[dict]) -> pd.DataFrame:
    """One row per attacker gradient (a row per surrogate chain), the same PGD+EOT budget for all."""
    if getattr(bench.model, "purifier", None) is None:
        raise ValueError("the gradient table compares gradients through a purifier; this model has none "
                         "(a plain classifier: every mode is the same gradient, or an own module)")
    rows = [_row("exact", "exact", bench.gradient(), bench.budget.draws)]
    for mode in ATTACKER_GRADIENTS[1:]:
        for overrides in (surrogates if mode == "surrogate" else [{}]):
            attacker = attacker_model(bench.model, mode, **overrides)
            found = bench.run(bench.pgd().with_attacker(attacker), f"pgd-eot gradient {attacker.label}")
            rows.append(_row(attacker.label, mode, found, bench.budget.draws))
    return pd.DataFrame(rows, columns=COLUMNS)


def ablation_markdown(frame: pd.DataFrame, meta: dict) -> str:
    """The table as markdown, percent with intervals, the ablation rows labelled."""
    lines = [f"# Which gradient broke what: {meta['model']}, {meta['threat']} eps={meta['eps']:g}", "",
             f"PGD+EOT at one budget, the gradient taken from each attacker; the defense judged is always the real "
             f"one. Every row but `exact` is a {ABLATION_LABEL}: a higher number there shows how much an "
             "approximate gradient overstates robustness, never a defense's robustness.", "",
             "| gradient | ablation only | robust (vote) [95%] | robust (worst-of-K) [95%] |", "|---|---|---|---|"]
    for r in frame.itertuples():
        cells = [f"{100 * getattr(r, f'robust_{m}'):.1f}% [{100 * getattr(r, f'robust_{m}_lo'):.1f}, "
                 f"{100 * getattr(r, f'robust_{m}_hi'):.1f}]" for m in ("vote", "worst")]
        lines.append(f"| {r.gradient} | {'yes' if r.ablation_only else 'no'} | {cells[0]} | {cells[1]} |")
    prov = meta["provenance"]
    lines += ["", f"{meta['budget_note']}. Robust = right on clean and adversarial input (vote: majority of K "
                  "purifications, a tie wrong; worst-of-K: all K right); Wilson intervals over the n examples.", "",
              f"Command: `{prov.get('command')}` at commit `{prov.get('commit')}`, {prov.get('device')}, "
              f"{prov.get('date')}, {prov.get('seconds')} s.", ""]
    return "\n".join(lines)


def run_gradient_ablation(model: str | Entry | nn.Module, threat: str = "Linf", *, budget: SanityBudget | None = None,
                          eps: float | None = None, surrogates: list[dict] | None = None, device=None,
                          data_dir="./data", out: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """The table for an entry (its test examples, the sanity budget), written into ``out`` as
    ``gradient_ablation_<threat>.csv`` and ``.md`` when given; returns the table and its metadata."""
    budget = budget or SanityBudget()
    started = time.perf_counter()
    if isinstance(model, nn.Module):
        raise ValueError("the gradient table needs a zoo entry (its purifier and networks), not an own module")
    if as_entry(model).purification is None:
        raise ValueError(f"{as_entry(model).name} does not purify: the gradient table needs a purifier")
    defense = prepare(model, threat, budget=budget, eps=eps, device=device, data_dir=data_dir)
    frame = gradient_ablation(defense.bench, default_surrogates(defense.entry) if surrogates is None else surrogates)
    meta = {"model": defense.entry.name, "threat": threat, "eps": defense.bench.eps, "reduced": True,
            "budget_note": budget.describe(),
            "provenance": provenance(defense.bench.device, seconds=round(time.perf_counter() - started, 1))}
    if out is not None:
        write_ablation(frame, meta, out)
    return frame, meta


def write_ablation(frame: pd.DataFrame, meta: dict, out: str | Path) -> dict[str, Path]:
    """``gradient_ablation_<threat>.csv`` and ``.md`` in ``out`` (atomically), by file name."""
    stem = f"gradient_ablation_{meta['threat']}"
    paths = {f"{stem}.csv": Path(out) / f"{stem}.csv", f"{stem}.md": Path(out) / f"{stem}.md"}
    atomic_write_text(paths[f"{stem}.csv"], frame.to_csv(index=False))
    atomic_write_text(paths[f"{stem}.md"], ablation_markdown(frame, meta))
    return paths
