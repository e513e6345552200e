"""A RobustBench submission kit for a zoo entry: what RobustBench's "New Model(s)" issue asks,
filled from the entry's newest results, and the entry's ``model_info`` JSON in RobustBench's
layout (``model_info/<dataset>/<threat>/<Name>.json``, named ``<Name><Year><FirstWord>``).

RobustBench's leaderboard lists only defenses with a fully deterministic forward pass (no
randomness, no optimisation loop inside), evaluated with standard AutoAttack. A purification
defense draws noise at every forward pass, so it cannot be a leaderboard or model-zoo entry; it
goes in as an external evaluation / paper entry (the issue reports the paper and the adaptive
evaluation). A plain classifier can take the leaderboard route, on a RobustBench dataset. The kit
says which route applies, and says so too when its results ran a REDUCED budget. Its numbers are
each run's headline metric (its provenance's ``headline``, the vote for older runs), named as
:mod:`zoo.scoring.verdicts` names it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.compat import robustbench
from ..common.files import atomic_write, atomic_write_text
from ..registry import as_entry
from ..registry.schema import Entry
from ..reporting.adversarial import AdversarialFileError, paths_of, read_examples
from ..reporting.files import Results, latest_results
from ..reporting.attack_info import WORST_CASE, ordered, recorded
from ..reporting.model_info import model_info
from ..reporting.paper import PAPER
from ..reporting.tables import budget_of, format_eps
from ..scoring.verdicts import NAMES, headline_of

ISSUE = "ISSUE.md"
NAME_PATTERN = re.compile(r"^[A-Z][A-Za-z]+\d{4}[A-Z][A-Za-z]*(_[A-Za-z0-9-]+)?$")
LICENSE = "MIT"  # agdm-zoo's own (pyproject); third-party weights keep their own licenses
ROUTE_EXTERNAL = "external evaluation / paper entry"
ROUTE_LEADERBOARD = "leaderboard and model zoo"
ROUTE_NONE = "no RobustBench leaderboard for this dataset"


class KitError(RuntimeError):
    """An entry the kit cannot be written for (no results)."""


def robustbench_datasets() -> list[str]:
    """The datasets RobustBench has leaderboards for (its ``BenchmarkDataset`` values)."""
    robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset

    return [d.value for d in BenchmarkDataset]


def paper_name() -> str:
    """RobustBench's ``<Name><Year><FirstWord>`` of the paper the zoo implements: first author's
    surname, year, first word of the title (e.g. ``Lin2024Robust``)."""
    surname = PAPER["authors"].split(",")[0].split()[-1]
    year = re.search(r"\d{4}", PAPER["venue"]).group(0)
    first = re.sub(r"[^A-Za-z]", "", PAPER["name"].split()[0])
    return f"{surname}{year}{first[:1].upper()}{first[1:]}"


def robustbench_name(entry: Entry) -> str:
    """The entry's RobustBench name: :func:`paper_name` and the entry's own name less its
    dataset, as the suffix that tells the zoo's entries of one paper apart
    (``agdm-wrn28-cifar10`` -> ``Lin2024Robust_agdm-wrn28``)."""
    stem = re.sub(rf"[-_]?{re.escape(entry.dataset)}$", "", entry.name) or entry.name
    name = f"{paper_name()}_{re.sub(r'[^A-Za-z0-9-]', '-', stem)}"
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r} does not follow RobustBench's <Name><Year><FirstWord>[_suffix]")
    return name


def route(entry: Entry) -> tuple[str, str]:
    """Which way the entry goes into RobustBench, and why (a sentence)."""
    if entry.purification is not None:
        return ROUTE_EXTERNAL, (
            "RobustBench's leaderboard lists deterministic defenses only (a fully deterministic forward pass, "
            "no optimisation loop). This entry purifies each input with a stochastic diffusion chain, so it is "
            "not eligible for the leaderboard or the model zoo: it goes in as an external evaluation / paper "
            "entry, reporting the paper and the adaptive attacks below.")
    if entry.dataset not in robustbench_datasets():
        return ROUTE_NONE, (f"This entry is a deterministic classifier, but RobustBench has no {entry.dataset} "
                            f"leaderboard (it has {', '.join(robustbench_datasets())}): the kit is for reference.")
    return ROUTE_LEADERBOARD, ("This entry is a deterministic classifier on a RobustBench dataset: it may go to "
                               "the leaderboard and the model zoo, evaluated by RobustBench with standard AutoAttack.")


def checkpoint_links(entry: Entry) -> list[str]:
    """Where each network's weights come from, as links where there are (Hub repos)."""
    out = []
    for role in ("diffusion", "guidance", "classifier"):
        component = getattr(entry, role)
        if component is None:
            continue
        source = component.source
        if source.startswith("hf://"):
            repo = source.removeprefix("hf://").split("@")[0]
            link = f"https://huggingface.co/{'/'.join(repo.split('/')[:2])}"
        elif source.startswith("robustbench://"):
            link = f"RobustBench model zoo: {source.removeprefix('robustbench://')}"
        elif source.startswith("zoo://"):
            link = f"shipped with agdm-zoo: zoo/weights/{source.removeprefix('zoo://')}"
        else:
            link = source
        out.append(f"{role}: {link}")
    return out


@dataclass(frozen=True)
class Kit:
    """A written kit: its folder, the issue, the model_info files and the route."""

    folder: Path
    issue: Path
    model_info: tuple[Path, ...]
    route: str
    name: str
    adversarial: tuple[Path, ...] = ()


def _claims(entry: Entry, result: Results, eps: float, info: dict) -> list[str]:
    rows = result.rows[np.isclose(result.rows["eps"].astype(float), eps)]
    by_attack = {row["attack"]: row for _, row in rows.iterrows()}
    attacks = [a for a in ordered(by_attack, recorded(result.provenance)) if a != WORST_CASE]
    p = result.provenance
    reduced = bool(p.get("reduced_budget"))
    headline = headline_of(p)
    column = f"robust_acc_{headline}"
    robust = "; ".join(f"{a}: {by_attack[a][column]:.2f}%" for a in attacks)
    worst = by_attack.get(WORST_CASE)
    return [
        f"- **Architecture**: {info['architecture']}",
        f"- **Threat Model**: {result.threat}",
        f"- **eps**: {format_eps(result.threat, eps)}",
        f"- **Clean accuracy**: {info['clean_acc']}%",
        f"- **Robust accuracy**: {'' if worst is None else f'{worst[column]:.2f}% worst case over the attacks, per example; '}"
        f"{robust} ({NAMES[headline]} over K={int(rows['k'].iloc[0])} purifications, n={int(rows['n'].max())} "
        "test examples)",
        f"- **Additional data**: {str(bool(info['additional_data'])).lower()}",
        f"- **Evaluation method**: agdm-zoo `scripts/benchmark.py` (adaptive attacks with exact gradients through "
        f"the purification: {', '.join(attacks)}), {'REDUCED budget: ' if reduced else 'full budget: '}"
        f"{budget_of(p, entry.name)}. Command `{p.get('command')}`, commit `{p.get('commit')}`, {p.get('device')}, "
        f"{p.get('date')}.",
    ]


def _adversarial_files(entry: Entry, results: list[Results], out: Path) -> list[Path]:
    """Copy the stored adversarial examples of the entry's newest runs (``--save-adversarial``)
    into ``out/adversarial/``, each pair checked first (:func:`read_examples`: a tampered pair is
    refused, never submitted)."""
    copied = []
    for result in results:
        folder = result.path.parent / "adversarial"
        for tensors in sorted(folder.glob(f"{re.sub(r'[^A-Za-z0-9._-]', '_', entry.name)}_{result.threat}_*.safetensors")):
            try:
                read_examples(tensors)
            except AdversarialFileError as err:
                raise KitError(f"refusing to include {tensors}: {err}") from err
            for source in paths_of(tensors):
                target = out / "adversarial" / source.name
                copied.append(atomic_write(target, lambda tmp, data=source.read_bytes(): Path(tmp).write_bytes(data)))
    return copied


def _kit_eps(entry: Entry, result: Results) -> float:
    """The eps of the kit's claim: the entry's own for the threat where it was run, else the
    first one run (RobustBench holds one model_info per dataset, threat and name)."""
    run = sorted(set(result.rows["eps"].astype(float)))
    own = (entry.threats or {}).get(result.threat)
    return next((e for e in run if own is not None and np.isclose(e, own)), run[0])


def write_kit(name_or_entry, out: str | Path, leaderboard: str | Path = "leaderboard", *,
              code_url: str | None = None, checkpoint_url: str | None = None) -> Kit:
    """Write the kit of an entry into ``out``: ``ISSUE.md`` (the "New Model(s)" issue, filled),
    ``model_info/<dataset>/<threat>/<Name>.json`` per threat with results (exactly the installed
    RobustBench's ``ModelInfo`` fields) and ``kit.json`` (route, name, source files).

    Raises:
        KitError: the entry has no results under ``leaderboard``.
    """
    entry = as_entry(name_or_entry)
    results = latest_results(entry.name, leaderboard)
    if not results:
        raise KitError(f"no benchmark results for {entry.name} under {leaderboard}: run "
                       f"scripts/benchmark.py --model {entry.name} first")
    out = Path(out)
    name = robustbench_name(entry)
    which, why = route(entry)
    reduced = any(r.provenance.get("reduced_budget") for r in results)
    infos, claims = [], []
    for number, result in enumerate(results, 1):
        eps = _kit_eps(entry, result)
        info = model_info(entry, result.rows, result.threat, eps, result.provenance,
                          headline=headline_of(result.provenance))
        info.pop("provenance")
        path = out / "model_info" / entry.dataset / result.threat / f"{name}.json"
        infos.append(atomic_write_text(path, json.dumps(info, indent=2) + "\n"))
        claims += [f"## Model {number}: {entry.name}, {result.threat}", "", *_claims(entry, result, eps, info),
                   f"- **Checkpoint and code**: checkpoint: {checkpoint_url or '; '.join(checkpoint_links(entry))}; "
                   f"code: {code_url or 'agdm-zoo (pass --code-url with its public URL)'}, "
                   f'`zoo.load("{entry.name}")`', ""]
    zoo = which == ROUTE_LEADERBOARD
    purifier = entry.purification is not None
    lines = [f"# [New Model] {name}", "", f"**Route: {which}.** {why}", ""]
    if reduced:
        lines += ["**These results ran a REDUCED attack budget: they are not the published protocol's numbers. "
                  f"Rerun `python scripts/benchmark.py --model {entry.name}` with the full budget before submitting.**", ""]
    lines += ["# Paper Information", "", f"- **Paper Title**: {PAPER['name']}", f"- **Paper URL**: {PAPER['link']}",
              f"- **Paper authors**: {PAPER['authors']}", "", "# Leaderboard Claim(s)", "", *claims,
              "# Model Zoo", "",
              f"- [{'x' if zoo else ' '}] add the model to the Model Zoo" + ("" if zoo else f" (not on the {which} route)"),
              f"- [{'x' if purifier else ' '}] an architecture not among RobustBench's"
              + (" (agdm-zoo's purifier around the networks named above)" if purifier else ""),
              f"- [x] license: {LICENSE} for agdm-zoo's code and its own weights; third-party weights (sources above) "
              "keep their own licenses", ""]
    examples = _adversarial_files(entry, results, out)
    if examples:
        lines += ["# Adversarial examples", "", "Each attack's adversarial examples in test-set order (safetensors: "
                  "`adversarial`, `test_indices`, `labels`; the JSON beside each holds eps, threat, the run's provenance "
                  "and the file's SHA-256; `agdm-zoo rejudge FILE --model NAME` re-checks and re-judges them):", "",
                  *(f"- `{p.relative_to(out)}`" for p in examples if p.suffix == ".safetensors"), ""]
    issue = atomic_write_text(out / ISSUE, "\n".join(lines))
    kit = {"entry": entry.name, "robustbench_name": name, "route": which, "why": why, "reduced_budget": reduced,
           "dataset": entry.dataset, "model_info": [str(p.relative_to(out)) for p in infos],
           "results": [str(r.path) for r in results], "adversarial": [str(p.relative_to(out)) for p in examples]}
    atomic_write_text(out / "kit.json", json.dumps(kit, indent=2) + "\n")
    return Kit(out, issue, tuple(infos), which, name, tuple(examples))
