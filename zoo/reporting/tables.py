"""Leaderboard tables: summaries -> the paper-shaped markdown (headline metric, the other in
parentheses), a table of every metric with its 95% interval, and the paired comparisons; each with
budget and provenance lines."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from ..common.wording import ABLATION_LABEL, FIXED_NOISE_LABEL
from .attack_info import legend, ordered, recorded
from .costs import cost_lines
from .metrics import HEADLINES, METRICS, WORST_CASE

METRIC_TEXT = {"vote": "majority vote over K independent purifications (a tied vote counts as wrong)",
               "worst": "worst-of-K: right only if all K independent purifications are right",
               "mean": "mean accuracy over K independent purifications (per draw)"}
INTERVAL_TEXT = ("95% intervals in brackets, over the n examples: Wilson score intervals (for the mean, the "
                 "Wilson interval with n examples, conservative for per-example fractions)")


def format_eps(threat: str, eps: float) -> str:
    """eps as RobustBench writes it: ``"8/255"`` for Linf k/255 exactly, else the number."""
    eps = float(eps)
    if threat == "Linf" and eps > 0:
        k = eps * 255
        if abs(k - round(k)) < 1e-6 * max(1.0, k):
            return f"{int(round(k))}/255"
    return f"{eps:g}" if eps == float(f"{eps:g}") else repr(eps)


def check_headline(headline: str) -> str:
    if headline not in HEADLINES:
        raise ValueError(f"headline must be one of {HEADLINES}, got {headline!r}")
    return headline


def _other(headline: str) -> str:
    return "mean" if headline == "vote" else "vote"


def draws_note(k_values: Iterable) -> str:
    """A warning for an even K (two classes can tie the vote, and ties count as wrong), else ``""``."""
    even = sorted({int(k) for k in k_values if int(k) % 2 == 0})
    if not even:
        return ""
    return (f"Note: K = {', '.join(map(str, even))} is even, so two classes can tie the vote (a tie counts as "
            "wrong); an odd K is recommended.")


def fixed_noise(provenance: Mapping[str, Any]) -> bool:
    """Whether the run's attack and verdict shared the purification noise (``--fixed-noise``)."""
    protocol = provenance.get("evaluation_protocol")
    return bool(isinstance(protocol, Mapping) and protocol.get("fixed_noise"))


FIXED_NOISE_TEXT = (f"**FIXED NOISE: the attack and the verdict shared the purification noise (every one of the K "
                    f"draws is the same), as some papers evaluate: a {FIXED_NOISE_LABEL}. Fresh noise per draw (the "
                    "default) is the field's protocol; these numbers are for comparison with such papers only.**")


def rejudged_text(provenance: Mapping[str, Any]) -> str:
    """Where rejudged examples come from (``agdm-zoo rejudge``), ``""`` for an attack run."""
    source = provenance.get("rejudged_from")
    if not isinstance(source, Mapping):
        return ""
    return (f"Rejudged: no attack ran here; the stored adversarial examples of {source.get('attack')} on "
            f"{source.get('model')} ({source.get('file')}, SHA-256 {str(source.get('sha256'))[:16]}..., made at "
            f"commit {source.get('commit')}) were checked against the eps-ball and re-classified by fresh draws.")


def protocol_line(provenance: Mapping[str, Any]) -> str:
    """How the adversarial input of each example was chosen (the run's ``protocol``), with the
    fixed-noise label and a rejudgement's source where they apply."""
    notes = "".join(f" {text}" for text in (rejudged_text(provenance), FIXED_NOISE_TEXT if fixed_noise(provenance)
                                            else "") if text)
    return _judge_line(provenance) + notes


def _judge_line(provenance: Mapping[str, Any]) -> str:
    protocol = provenance.get("protocol")
    if protocol == "anytime":
        return ("Protocol: anytime (PGD+EOT, every loss, plain or label-aware: the EOT samples of each gradient "
                "judge the iterate at no extra call; an iterate they judge wrong by the headline metric is "
                "confirmed by K fresh purifications, and the first confirmed one is kept, reported with those K "
                "predictions, and its example no longer attacked; an example never confirmed is judged by K "
                "fresh purifications at its final iterate). Other attacks (AutoAttack, StAdv): their final output.")
    if protocol == "final":
        return "Protocol: final iterate (Lee & Kim): each attack's final output, judged by K fresh purifications."
    return "Protocol: not recorded."


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


def _overrides_title(provenance: Mapping[str, Any]) -> str:
    """``", t_star=100, pattern=none"`` for a run with protocol overrides (and ``", FIXED NOISE
    (...)"`` for the fixed-noise protocol), else ``""``."""
    overrides = provenance.get("protocol_overrides") or {}
    fixed = f", FIXED NOISE ({FIXED_NOISE_LABEL})" if fixed_noise(provenance) else ""
    return "".join(f", {key}={value}" for key, value in sorted(overrides.items())) + fixed


def _gradients(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Model -> its attacker gradient's label, as the run recorded it (``{}`` for runs before the option)."""
    recorded = provenance.get("attacker_gradient") or {}
    return dict(recorded) if isinstance(recorded, Mapping) else {}


def _gradient_title(provenance: Mapping[str, Any]) -> str:
    """``", attacker gradient bpda (weaker, ablation-only attack)"`` for a run whose attacker
    gradient is not exact (every such label carries the warning), else ``""``."""
    ablations = sorted({label for label in _gradients(provenance).values() if label != "exact"})
    return "".join(f", attacker gradient {label}" for label in ablations)


def gradient_line(provenance: Mapping[str, Any], model: str | None = None) -> str:
    """Where the attacks took their gradients (one model's, or the run's), with the warning that
    every mode but exact is a weaker, ablation-only attack; ``""`` when the run did not record it."""
    gradients = _gradients(provenance)
    if model is not None:
        gradients = {model: gradients[model]} if model in gradients else {}
    if not gradients:
        return ""
    labels = sorted(set(gradients.values()))
    if labels == ["exact"]:
        return ("Attacker gradient: exact (the defended model's own gradient: the whole purification chain and "
                "its guidance, differentiated exactly).")
    named = "; ".join(f"{name}: {label}" for name, label in sorted(gradients.items()))
    return (f"**Attacker gradient: {named}. Every attacker gradient but exact is a {ABLATION_LABEL}: these "
            "numbers show how much a result depends on the gradient, never a defense's robustness.**")




def _paragraphs(*texts: str) -> list[str]:
    """Markdown lines for the non-empty ``texts``, each followed by a blank line."""
    return [line for text in texts if text for line in (text, "")]


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
    check_headline(headline)
    if summary.empty:
        raise ValueError("nothing to tabulate: the summary has no rows")
    other = _other(headline)
    metric = METRIC_TEXT
    out = []
    for (threat, eps), group in summary.groupby(["threat", "eps"], sort=True):
        attacks = [a for a in ordered(group["attack"].unique(), recorded(provenance)) if a != WORST_CASE]
        worst = group[group["attack"] == WORST_CASE]
        per_attack = group[group["attack"] != WORST_CASE]
        k = _counts(group["k"]) if "k" in group else str(provenance.get("draws", "not recorded"))
        out += [f"## {threat}, eps = {format_eps(threat, eps)}{_overrides_title(provenance)}"
                f"{_gradient_title(provenance)}", "",
                f"Headline metric: **{headline}** ({metric[headline]}); the {other} is in parentheses. "
                f"Accuracies in %; robust accuracy counts an example only if it is also correct on its clean "
                f"input. Worst-case: robust under every attack, per example.", "",
                f"Threat: {threat}, eps = {format_eps(threat, eps)}; n = {_counts(worst['n'])} examples under "
                f"every attack (per attack: {_counts(per_attack['n'], 'attack or model')}); "
                f"K = {k} purifications per example.", ""]
        out += _budget_lines(provenance) + ["", protocol_line(provenance), ""] + cost_lines(provenance)
        out += _paragraphs(gradient_line(provenance), legend(attacks, recorded(provenance)))
        if provenance.get("autoattack") and any(a.startswith("autoattack") for a in attacks):
            out += [f"AutoAttack columns: {provenance['autoattack']}.", ""]
        header = ["defense", "standard acc", *attacks, WORST_CASE]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for model, rows in group.groupby("model", sort=True):
            by_attack = {row["attack"]: row for _, row in rows.iterrows()}
            cells = [model, _cell(by_attack.get(WORST_CASE), "clean", headline)]
            cells += [_cell(by_attack.get(a), "robust", headline) for a in attacks]
            cells.append(_cell(by_attack.get(WORST_CASE), "robust", headline))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out += _all_metrics(group, attacks, headline)
    out += _provenance_lines(provenance)
    return "\n".join(out) + "\n"


def interval_cell(row: Mapping[str, Any], column: str) -> str:
    """``value [low, high]`` of a summary column, ``-`` when it is missing."""
    if pd.isna(row.get(column)):
        return "-"
    return f"{row[column]:.2f} [{row[column + '_lo']:.2f}, {row[column + '_hi']:.2f}]"


def _all_metrics(group: pd.DataFrame, attacks: list[str], headline: str) -> list[str]:
    """Every metric side by side with its interval, one row per (model, attack)."""
    columns = [f"{kind}_acc_{m}" for kind in ("clean", "robust") for m in METRICS]
    names = [f"{kind} {m}" + (" (headline)" if m == headline else "") for kind in ("clean", "robust") for m in METRICS]
    lines = [f"All metrics (headline: **{headline}**), in %, {INTERVAL_TEXT}. vote: {METRIC_TEXT['vote']}; "
             f"worst: {METRIC_TEXT['worst']}; mean: {METRIC_TEXT['mean']}.", ""]
    note = draws_note(group["k"])
    lines += [note, ""] if note else []
    lines += ["| defense | attack | n | K | " + " | ".join(names) + " |", "|" + "---|" * (4 + len(columns))]
    for model, rows in group.groupby("model", sort=True):
        by_attack = {row["attack"]: row for _, row in rows.iterrows()}
        for attack in [*attacks, WORST_CASE]:
            if attack in by_attack:
                row = by_attack[attack]
                cells = [model, attack, str(int(row["n"])), str(int(row["k"]))]
                lines.append("| " + " | ".join(cells + [interval_cell(row, c) for c in columns]) + " |")
    return lines + [""]


def comparison_markdown(comparison: pd.DataFrame, provenance: Mapping[str, Any], headline: str = "vote") -> str:
    """The paired comparisons (:func:`zoo.reporting.comparison.comparisons`) as markdown: per
    (threat, eps) one row per attack and pair of models evaluated on the same examples."""
    check_headline(headline)
    if comparison.empty:
        raise ValueError("nothing to compare: no two models ran on the same examples")
    test = ("exact McNemar test on the discordant examples (robust for one model only); interval: Newcombe's "
            "square-and-add for paired proportions" if headline != "mean"
            else "paired t-test on the per-example differences; interval: paired t")
    out = []
    for (threat, eps), group in comparison.groupby(["threat", "eps"], sort=True):
        out += [f"## Paired comparisons: {threat}, eps = {format_eps(threat, eps)}{_gradient_title(provenance)}", "",
                f"Robust accuracy by the headline metric **{headline}** ({METRIC_TEXT[headline]}), in %, of pairs "
                f"of models evaluated on the same examples; difference A - B in percentage points with its 95% "
                f"interval; p-value: {test}. p-values are not corrected for the number of comparisons.", ""]
        out += _budget_lines(provenance) + ["", protocol_line(provenance), ""]
        out += _paragraphs(gradient_line(provenance), legend(group["attack"].unique(), recorded(provenance)))
        out += ["| attack | A | B | n | A robust | B robust | A - B [95% interval] | robust for A only / B only | p |",
                "|" + "---|" * 9]
        for row in group.itertuples():
            interval = ("-" if pd.isna(row.difference_lo) else f"[{row.difference_lo:+.2f}, {row.difference_hi:+.2f}]")
            p = "-" if pd.isna(row.p_value) else f"{row.p_value:.3g}"
            out.append(f"| {row.attack} | {row.model_a} | {row.model_b} | {row.n} | {row.robust_acc_a:.2f} | "
                       f"{row.robust_acc_b:.2f} | {row.difference:+.2f} {interval} | {row.a_only} / {row.b_only} | "
                       f"{p} |")
        out.append("")
    out += _provenance_lines(provenance)
    return "\n".join(out) + "\n"
