"""One command per paper table: ``agdm-zoo reproduce TABLE`` runs the paper's protocol for that
table's rows and writes our numbers beside the paper's.

A table (:mod:`zoo.studies.paper_tables`) becomes one benchmark run per threat model
(:func:`zoo.running.benchmark.benchmark`, the same journal, ``--resume``, ``--shard`` and
``--merge``), each over every entry of the table, with the table's attacks, eps and t*, into one
folder; the side-by-side markdown (:mod:`zoo.studies.side_by_side`) is written there as
``reproduce_<table>.md``. Before anything runs, every weights file and data set the table needs is
looked for on this machine (nothing is downloaded to look); what is missing is named, with where
to put it or how to fetch it, instead of a traceback mid-run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..attacks.catalogue import ATTACK_ORDER
from ..common.files import atomic_write_text
from ..data import CIFAR_FOLDERS
from ..running.estimate import estimate
from ..reporting.files import read_runs
from ..running.benchmark import benchmark
from ..registry.resolve import get_entry, with_overrides
from ..registry.schema import THREATS, Budget, Component
from ..registry.sources import (SourceError, cache_dir, cached, gdrive_file, local_path, parse_source,
                                robustbench_files, user_file)
from .paper_tables import TABLES, PaperTable, get_table
from .side_by_side import side_by_side

ROLES = ("diffusion", "guidance", "classifier")


@dataclass(frozen=True)
class TableRun:
    """One benchmark run of a table: every entry it needs under one threat, with its attacks."""

    threat: str
    eps: float
    entries: tuple[str, ...]
    attacks: tuple[str, ...]


def gaps_of(table: PaperTable) -> dict[str, str]:
    """Column key -> why the benchmark cannot fill it (an attack or threat it does not offer yet)."""
    return {c.key: f"{c.attack} under {c.threat} is not in the benchmark yet (threats {', '.join(THREATS)}; "
                   f"attacks {', '.join(ATTACK_ORDER)})"
            for c in table.columns if c.threat not in THREATS or c.attack not in ATTACK_ORDER}


def runs_of(table: PaperTable) -> list[TableRun]:
    """The benchmark runs that fill ``table``: one per (threat, eps), in column order."""
    gaps, grouped = gaps_of(table), {}
    for column in table.columns:
        if column.key in gaps:
            continue
        entries, attacks = grouped.setdefault((column.threat, column.eps), ({}, set()))
        entries.update((row.entries[column.dataset], None) for row in table.rows if column.dataset in row.entries)
        attacks.add(column.attack)
    return [TableRun(threat, eps, tuple(entries), tuple(a for a in ATTACK_ORDER if a in attacks))
            for (threat, eps), (entries, attacks) in grouped.items()]


def supply_hint(component: Component) -> str:
    """Where a missing component's weights belong on this machine, and how to get them there."""
    parsed = parse_source(component.source)
    fetch = (f"fetched on first use where there is internet (or run `agdm-zoo download ENTRY` there and copy "
             f"{cache_dir()} here)")
    if parsed.scheme == "hf":
        return ("not in the Hugging Face cache; downloaded on first use where there is internet (or run "
                "`agdm-zoo download ENTRY` there and copy the cache, HF_HOME, here)")
    if parsed.scheme == "robustbench":
        return f"RobustBench checkpoint expected at {', '.join(map(str, robustbench_files(parsed)))}; {fetch}"
    if parsed.scheme == "gdrive":
        return f"Google Drive file expected at {gdrive_file(parsed)}; {fetch}. {component.note}".strip()
    if parsed.scheme == "user":
        return f"no public download: put it at {user_file(parsed)}. {component.note}".strip()
    return f"no file or folder at {local_path(component.source)}"


def missing(table: PaperTable, data_dir: str | Path = "./data") -> list[str]:
    """One line per weights source or data set ``table`` needs that is not on this machine (each
    source once, with the entries that need it); empty when everything is here."""
    needed: dict[str, tuple[Component, list[str]]] = {}
    for name in table.entries:
        entry = get_entry(name)
        for role in ROLES:
            component = getattr(entry, role)
            if component is not None:
                needed.setdefault(component.source, (component, []))[1].append(f"{name} ({role})")
    lines = [f"{source} for {', '.join(users)}: {supply_hint(component).replace('ENTRY', users[0].split()[0])}"
             for source, (component, users) in needed.items() if cached(source) is None]
    for dataset in dict.fromkeys(c.dataset for c in table.columns):
        folder = Path(data_dir) / CIFAR_FOLDERS[dataset] if dataset in CIFAR_FOLDERS else None
        if folder is not None and not folder.is_dir():
            lines.append(f"the {dataset} test set: not at {folder} (torchvision's python version; downloaded there "
                         "on first use where there is internet, or give --data-dir)")
    return lines


def _t_star(name: str, table: PaperTable) -> str:
    entry = get_entry(name)
    if entry.purification is None:
        return "no purification"
    p = with_overrides(entry, t_star=table.t_star).purification if table.t_star else entry.purification
    if p.backend == "vpsde":
        return f"t* = {p.t_star / p.schedule.num_timesteps:g} (VP-SDE, {p.num_steps} steps)"
    return f"t* = {p.t_star}"


def describe(table: PaperTable, data_dir: str | Path = "./data") -> str:
    """What ``table`` runs and whether it can run here (``reproduce --list``)."""
    name = f"Table {table.key}" if table.key != "demo" else "demo"
    lines = [f"{name}: {table.title} ({table.classifier})"]
    for run in runs_of(table):
        lines.append(f"  run: {run.threat}, eps = {run.eps:.6g}, attacks {', '.join(run.attacks)}")
    for row in table.rows:
        entries = "; ".join(f"{e} ({_t_star(e, table)})" for e in dict.fromkeys(row.entries.values()))
        lines.append(f"  row {row.label!r}: {entries}")
    lines += [f"  named, not run: {other}" for other in table.other_rows]
    lines += [f"  gap: column {key!r}: {why}" for key, why in gaps_of(table).items()]
    absent = missing(table, data_dir)
    lines.append("  weights: all here, ready to run" if not absent else f"  weights: {len(absent)} missing here:")
    lines += [f"    - {line}" for line in absent]
    return "\n".join(lines)


def list_tables(data_dir: str | Path = "./data") -> str:
    """Every reproducible table with what it runs and what it still needs on this machine."""
    return "\n\n".join(describe(table, data_dir) for table in TABLES.values())


def default_out(table: PaperTable) -> Path:
    return Path("leaderboard") / "reproduce" / (f"table{table.key}" if table.key != "demo" else "demo")


def estimate_table(key: str, *, device=None, grad_mode: str = "exact", **settings_kw: Any) -> str:
    """The benchmark's cost estimate for each run of table ``key`` (random weights: nothing downloaded)."""
    table = get_table(key)
    overrides = table_overrides(table)
    return "\n\n".join(estimate(list(run.entries), run.threat, run.attacks, device=device, grad_mode=grad_mode,
                                 eps=run.eps, overrides=overrides, **settings_kw) for run in runs_of(table))


def table_overrides(table: PaperTable) -> dict | None:
    """The protocol overrides a table's runs use (its t*, where it sets one), for the run and its estimate."""
    return {"t_star": table.t_star} if table.t_star else None


def reproduce(key: str, *, out: str | Path | None = None, n_examples: int | None = None, subset_seed: int | None = None,
              seed: int = 0, batch_size: int | None = None, device=None, data_dir: str | Path = "./data",
              shard: tuple[int, int] | None = None, resume: bool = False, merge_only: bool = False,
              grad_mode: str = "exact", headline: str = "vote", budget: Budget | None = None,
              progress: bool = True) -> dict[str, Path]:
    """Run table ``key``'s benchmark runs into ``out`` (default ``leaderboard/reproduce/<table>``)
    and write ``reproduce_<key>.md`` there beside the tables. ``budget`` replaces every entry's
    budget (a quick check; a reduced one is labelled REDUCED in every output). A shard run
    (``shard=(i, n)``, n > 1) writes no tables and returns ``{}``. Raises :class:`SourceError`
    listing everything missing before running anything (not for ``merge_only``, which reads only
    the shards' journals)."""
    table = get_table(key)
    out = Path(out) if out is not None else default_out(table)
    absent = [] if merge_only else missing(table, data_dir)  # merging shards reads journals, not weights
    if absent:
        raise SourceError(f"Table {table.key} cannot run here; missing:\n" + "\n".join(f"  - {a}" for a in absent))
    overrides = table_overrides(table)
    written: dict[str, Path] = {}
    for run in runs_of(table):
        names = [dataclasses.replace(get_entry(n), budget=budget) if budget else n for n in run.entries]
        files = benchmark(names, run.threat, run.attacks, out=out, eps=run.eps, n_examples=n_examples,
                          batch_size=batch_size, seed=seed, subset_seed=subset_seed, device=device, data_dir=data_dir,
                          shard=shard, resume=resume, merge_only=merge_only, progress=progress, grad_mode=grad_mode,
                          headline=headline, overrides=overrides)
        if not files:
            return {}
        written.update(files)
    runs = {run.threat: run for run in read_runs(out) if run.folder == out}
    markdown = side_by_side(table, runs, headline, gaps_of(table))
    written[f"reproduce_{table.key}.md"] = atomic_write_text(out / f"reproduce_{table.key}.md", markdown)
    return written
