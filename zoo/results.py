"""Benchmark journal records -> per-example tables, summaries, leaderboard markdown, model cards.

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

import dataclasses
import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .journal import atomic_write_text
from .registry import THREATS

REQUIRED_KEYS = ("model", "threat", "eps", "attack", "index", "label", "clean_preds", "adv_preds", "seed")
WORST_CASE = "worst-case"
HEADLINES = ("vote", "mean")
# column order of the tables: the benchmark's own attacks first, anything else after, by name
ATTACK_ORDER = ("pgd-eot", "autoattack-standard", "autoattack-rand")
GROUP = ["model", "threat", "eps"]
SUMMARY_COLUMNS = ["model", "threat", "eps", "attack", "n", "k", "clean_acc_mean", "clean_acc_vote",
                   "robust_acc_mean", "robust_acc_vote"]

# the paper whose method (and baselines) the zoo implements; never its numbers
PAPER = {
    "name": "Robust Diffusion Models for Adversarial Purification",
    "link": "https://arxiv.org/abs/2403.16067",
    "authors": "Guang Lin, Zerui Tao, Jianhai Zhang, Toshihisa Tanaka, Qibin Zhao",
    "venue": "arXiv, 2024",
}


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


def _attack_sort_key(attack: str) -> tuple:
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
        attacks = sorted(group["attack"].unique(), key=_attack_sort_key)
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


# ------------------------------------------------------------------------------- markdown
def format_eps(threat: str, eps: float) -> str:
    """eps as RobustBench writes it: ``"8/255"`` for Linf k/255 exactly, else the number."""
    eps = float(eps)
    if threat == "Linf" and eps > 0:
        k = eps * 255
        if abs(k - round(k)) < 1e-6 * max(1.0, k):
            return f"{int(round(k))}/255"
    return f"{eps:g}" if eps == float(f"{eps:g}") else repr(eps)


def _check_headline(headline: str) -> str:
    if headline not in HEADLINES:
        raise ValueError(f"headline must be one of {HEADLINES}, got {headline!r}")
    return headline


def _other(headline: str) -> str:
    return "mean" if headline == "vote" else "vote"


def _cell(row: Mapping[str, Any] | None, kind: str, headline: str) -> str:
    if row is None:
        return "-"
    main, second = row[f"{kind}_acc_{headline}"], row[f"{kind}_acc_{_other(headline)}"]
    if pd.isna(main):
        return "-"
    return f"{main:.2f} ({second:.2f})"


def _counts(values: Iterable, varies: str = "model") -> str:
    values = sorted({int(v) for v in values})
    return str(values[0]) if len(values) == 1 else ", ".join(map(str, values)) + f" (differs by {varies})"


def budget_of(provenance: Mapping[str, Any], model: str | None = None) -> str:
    """The attack budget provenance records: one model's, or every model's (``model=None``)."""
    budget = provenance.get("budget", "not recorded")
    if not isinstance(budget, Mapping):
        return str(budget)
    if model is not None and model in budget:
        return str(budget[model])
    return "; ".join(f"{name}: {text}" for name, text in budget.items())


def _budget_lines(provenance: Mapping[str, Any]) -> list[str]:
    budget = budget_of(provenance)
    if provenance.get("reduced_budget"):
        return [f"**REDUCED attack budget: these are not the published protocol's numbers. Budget: {budget}**"]
    if "reduced_budget" in provenance:
        return [f"Attack budget: full protocol ({budget})."]
    return [f"Attack budget: not recorded as full or reduced ({budget})."]


def _provenance_lines(provenance: Mapping[str, Any]) -> list[str]:
    wall_key = next((k for k in ("wall_seconds", "wall_seconds_this_invocation") if k in provenance), None)
    wall = f"{provenance[wall_key]} s ({wall_key})" if wall_key else "not recorded"
    versions = provenance.get("versions") or {}
    lines = ["Provenance:", "",
             f"- command: `{provenance.get('command', 'not recorded')}`",
             f"- commit: `{provenance.get('commit', 'not recorded')}`",
             f"- seed: {provenance.get('seed', 'not recorded')}",
             f"- device: {provenance.get('device', 'not recorded')}",
             f"- date: {provenance.get('date', 'not recorded')}",
             f"- wall time: {wall}",
             f"- attack time summed over every run and shard: {provenance.get('attack_seconds_all_runs', 'not recorded')} s",
             "- gradients through the chain: " + (", ".join(provenance.get("grad_modes", [])) or "not recorded"),
             "- speed levers: " + (", ".join(provenance.get("speed_levers", [])) or "not recorded"),
             f"- python: {provenance.get('python', 'not recorded')}",
             "- versions: " + (", ".join(f"{name} {version}" for name, version in versions.items()) or "not recorded")]
    return lines


def markdown_table(summary: pd.DataFrame, provenance: Mapping[str, Any], headline: str = "vote") -> str:
    """The paper's table: one row per model, ``defense | standard acc | <attack>... | worst-case``.

    Cells are ``headline (other)`` in percent: by default the majority vote over the K
    purifications, with the per-draw mean in parentheses (``headline="mean"`` swaps them). The
    standard accuracy is the worst-case row's clean accuracy (the examples under every attack).
    Above each table: the headline metric, threat, eps, n, K and, for a reduced budget, a bold
    REDUCED line; below it, the provenance. One table per (threat, eps) in ``summary``.
    """
    _check_headline(headline)
    if summary.empty:
        raise ValueError("nothing to tabulate: the summary has no rows")
    other = _other(headline)
    metric = {"vote": "majority vote over K independent purifications",
              "mean": "mean accuracy over K independent purifications (per draw)"}
    out = []
    for (threat, eps), group in summary.groupby(["threat", "eps"], sort=True):
        attacks = sorted((a for a in group["attack"].unique() if a != WORST_CASE), key=_attack_sort_key)
        worst = group[group["attack"] == WORST_CASE]
        per_attack = group[group["attack"] != WORST_CASE]
        k = _counts(group["k"]) if "k" in group else str(provenance.get("draws", "not recorded"))
        out += [f"## {threat}, eps = {format_eps(threat, eps)}", "",
                f"Headline metric: **{headline}** ({metric[headline]}); the {other} is in parentheses. "
                f"Accuracies in %; robust accuracy counts an example only if it is also correct on its clean "
                f"input. Worst-case: robust under every attack, per example.", "",
                f"Threat: {threat}, eps = {format_eps(threat, eps)}; n = {_counts(worst['n'])} examples under "
                f"every attack (per attack: {_counts(per_attack['n'], 'attack or model')}); "
                f"K = {k} purifications per example.", ""]
        out += _budget_lines(provenance) + [""]
        header = ["defense", "standard acc", *attacks, WORST_CASE]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for model, rows in group.groupby("model", sort=True):
            by_attack = {row["attack"]: row for _, row in rows.iterrows()}
            cells = [model, _cell(by_attack.get(WORST_CASE), "clean", headline)]
            cells += [_cell(by_attack.get(a), "robust", headline) for a in attacks]
            cells.append(_cell(by_attack.get(WORST_CASE), "robust", headline))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += _provenance_lines(provenance)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------- model info
def model_info_fields() -> list[str]:
    """The fields of the installed RobustBench's ``ModelInfo`` dataclass, in order."""
    from .compat import robustbench

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
    evaluated); ``number_forward_passes``: K for the vote headline (one purification+classifier
    pass per draw), 1 for the mean. RobustBench 1.1.1's ``ModelInfo`` has no ``external`` field,
    so the worst case over all attacks goes into the footnote (and into ``external`` when the
    installed RobustBench has that field). Link, authors and venue name the AGDM paper, whose
    method and baselines the zoo implements; ``reported`` is ``""`` unless given.
    """
    _check_headline(headline)
    rows = summary_rows[(summary_rows["threat"] == threat) & np.isclose(summary_rows["eps"].astype(float), eps)]
    if rows.empty:
        raise ValueError(f"no summary rows for {entry.name} under {threat}, eps={eps}")
    models = set(rows["model"])
    if models != {entry.name}:
        raise ValueError(f"summary rows for {sorted(models)}, expected only {entry.name!r}")
    by_attack = {row["attack"]: row for _, row in rows.iterrows()}
    worst = by_attack[WORST_CASE]
    k = int(worst["k"])
    attacks = [a for a in sorted(by_attack, key=_attack_sort_key) if a != WORST_CASE]

    def acc(row, kind: str) -> str | None:
        value = row[f"{kind}_acc_{headline}"]
        return None if pd.isna(value) else f"{value:.2f}"

    aa = by_attack.get("autoattack-standard")
    worst_text = acc(worst, "robust")
    metric = (f"majority vote over K={k} independent purifications" if headline == "vote"
              else f"mean accuracy over K={k} independent purifications")
    budget = ("REDUCED attack budget: " + budget_of(provenance, entry.name)
              if provenance.get("reduced_budget") else "full attack budget")
    footnote = (f"agdm-zoo entry {entry.name}. Headline metric: {metric}. Worst case over "
                f"{', '.join(attacks)} (per example): {worst_text}%, n={int(worst['n'])}. {budget}.")
    values = {
        "link": PAPER["link"],
        "name": entry.description or entry.name,
        "authors": PAPER["authors"],
        "additional_data": False,
        "number_forward_passes": k if headline == "vote" else 1,
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


# ------------------------------------------------------------------------------- files
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"


def write_outputs(out_dir: str | Path, records: Iterable[Mapping[str, Any]], provenance: Mapping[str, Any],
                  entries: Mapping[str, Any], headline: str = "vote") -> dict[str, Path]:
    """Write every output of a benchmark run into ``out_dir``, each file atomically.

    Per threat: ``per_example_<model>_<threat>.csv`` for each model, ``summary_<threat>.csv`` (all
    models), ``results_<threat>.md`` (:func:`markdown_table`), ``provenance_<threat>.json``, and
    ``model_info/<model>_<threat>.json`` (:func:`model_info`). CSVs are plain CSV; the provenance
    lives in the JSON sidecar. Returns the written paths, keyed by path relative to ``out_dir``.

    Raises:
        ValueError: bad records (see :func:`per_example_frame`), a model missing from ``entries``,
            or one model evaluated at two eps under one threat.
    """
    out_dir = Path(out_dir)
    frame = per_example_frame(records)
    unknown = sorted(set(frame["model"]) - set(entries))
    if unknown:
        raise ValueError(f"records of model(s) {unknown} that are not in entries ({sorted(entries)})")
    eps_count = frame.groupby(["model", "threat"])["eps"].nunique()
    if (eps_count > 1).any():
        raise ValueError(f"one eps per model and threat, got several for {list(eps_count[eps_count > 1].index)}")
    summary = summarize(frame)
    written: dict[str, Path] = {}

    def put(relative: str, text: str) -> None:
        written[relative] = atomic_write_text(out_dir / relative, text)

    for threat, threat_frame in frame.groupby("threat", sort=True):
        threat_summary = summary[summary["threat"] == threat].reset_index(drop=True)
        for model, model_frame in threat_frame.groupby("model", sort=True):
            put(f"per_example_{_safe(model)}_{threat}.csv", model_frame.to_csv(index=False))
        put(f"summary_{threat}.csv", threat_summary.to_csv(index=False))
        put(f"results_{threat}.md", markdown_table(threat_summary, provenance, headline=headline))
        put(f"provenance_{threat}.json", _json(dict(provenance)))
        for model, rows in threat_summary.groupby("model", sort=True):
            eps = float(rows["eps"].iloc[0])
            info = model_info(entries[model], rows, threat, eps, provenance, headline=headline)
            put(f"model_info/{_safe(model)}_{threat}.json", _json(info))
    return written
