"""The leaderboard as a static website: every results folder under ``leaderboard/`` rendered with
Jinja2 into plain HTML, CSS and a little JS (no CDN, nothing fetched: it works from ``file://``).

- ``index.html``: one table per (dataset, threat), entries (one row per entry and results folder)
  by attacks. Each cell shows one metric, the run's headline (``robust_acc_<headline>``) by default,
  with its interval where the summary has bounds for it; every other metric column of the summary
  is one select away, and every column sorts (click, or ``#sort=<column>&dir=asc|desc`` and
  ``#metric=<column>`` in the URL). A REDUCED budget is marked on its row. Each number links to its
  run's provenance (command, commit, date, hardware, budget). Paired comparisons follow the table
  where a results folder has a ``comparison_<threat>.csv``.
- ``runs/<folder>_<threat>.html``: a run's provenance, its summary and its comparisons.
- ``entries/<entry>.html``: an entry's results in every run, its model card text (when a ``card``
  renderer is given; the hub layer has it), its purified-image grids and the studies it is in.

Columns are rendered generically: any column of a summary CSV other than the keys is a metric,
and ``<metric>_lo``/``_hi`` (or ``_low``/``_high``, ``_lower``/``_upper``, ``_ci_low``/``_ci_high``)
pairs are shown as that metric's interval. The leaderboard is read only through
:mod:`zoo.reporting.files`; everything is read and rendered before the first file is written,
so a bad file stops the build with nothing overwritten. Builds are deterministic (no timestamps).
"""
from __future__ import annotations

import math
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..common.files import atomic_write, atomic_write_text
from ..registry import default_registry
from ..registry.bundles import library_version
from .files import SITE_MARKER, Figure, Run, read_figures, read_runs
from .attack_info import WORST_CASE, ordered, recorded
from .tables import budget_of, format_eps, protocol_line

KEYS = ("model", "threat", "eps", "attack", "dataset")
INTERVAL_SUFFIXES = (("_ci_low", "_ci_high"), ("_ci_lo", "_ci_hi"), ("_lower", "_upper"), ("_low", "_high"),
                     ("_lo", "_hi"))
ASSETS = ("site.css", "site.js")
EMPTY_MESSAGE = ("no results under {where}: nothing to show yet. Run `python scripts/benchmark.py --threat Linf` "
                 "(it writes summary_Linf.csv there), then build the site again")


class SiteError(ValueError):
    """A site that cannot be built where asked (e.g. over a folder that is not a built site)."""


@dataclass(frozen=True)
class Built:
    """What :func:`build_site` wrote: the folder, the files (relative paths) and a message (the
    empty-leaderboard note, or a one-line summary)."""

    out_dir: Path
    files: tuple[str, ...]
    message: str
    empty: bool


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def entry_page(name: str) -> str:
    """An entry's page, relative to the site's root (model cards link it)."""
    return f"entries/{safe(name)}.html"


# ----------------------------------------------------------------------------- generic columns
def metric_columns(frame: pd.DataFrame) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """The metric columns of a summary (every non-key column, in order) and the interval bounds
    found for them (``metric -> (low column, high column)``; bounds are not metrics themselves)."""
    columns = [str(c) for c in frame.columns if c not in KEYS]
    intervals: dict[str, tuple[str, str]] = {}
    for column in columns:
        for low, high in INTERVAL_SUFFIXES:
            base = column[: -len(low)]
            if column.endswith(low) and base in columns and base + high in columns and base not in intervals:
                intervals[base] = (column, base + high)
    bounds = {c for pair in intervals.values() for c in pair}
    return [c for c in columns if c not in bounds], intervals


def format_value(value: Any) -> str:
    """A table value as shown: ``-`` for missing, integers plain, other numbers with 2 decimals
    (3 significant digits under 1, e.g. p-values), text and booleans as they are."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return "-" if value is None else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "-"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{number:.2f}" if abs(number) >= 1 or number == 0 else f"{number:.3g}"


def _sort_key(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return "" if math.isnan(number) else repr(number)


def _metric(row: pd.Series, name: str, intervals: dict[str, tuple[str, str]]) -> dict:
    value = row.get(name)
    text = format_value(value)
    if name in intervals and text != "-":
        low, high = (row.get(c) for c in intervals[name])
        if not (pd.isna(low) or pd.isna(high)):
            text += f" [{format_value(low)}, {format_value(high)}]"
    return {"name": name, "text": text, "sort": _sort_key(value)}


def long_table(frame: pd.DataFrame) -> dict:
    """A frame as a plain table (header, rows of formatted cells) for the templates."""
    columns = [str(c) for c in frame.columns]
    return {"columns": columns, "rows": [[format_value(v) for v in row] for row in frame.itertuples(index=False)]}


# ----------------------------------------------------------------------------- runs and rows
def _label(run: Run, root: Path) -> str:
    relative = run.folder.relative_to(root).as_posix()
    return (root.name or "leaderboard") if relative == "." else relative


def _headline(run: Run, metrics: list[str]) -> str:
    wanted = f"robust_acc_{run.provenance.get('headline', 'vote')}"
    robust = [m for m in metrics if m.startswith("robust_acc")]
    return wanted if wanted in metrics else (robust or metrics or [""])[0]


def _reduced(run: Run, model: str) -> bool | None:
    for settings in run.provenance.get("settings") or []:
        if isinstance(settings, dict) and settings.get("model") == model and "reduced" in settings:
            return bool(settings["reduced"])
    return bool(run.provenance["reduced_budget"]) if "reduced_budget" in run.provenance else None


def _dataset(run: Run, model: str, rows: pd.DataFrame, registry: dict) -> str:
    if "dataset" in rows and rows["dataset"].notna().any():
        return str(rows["dataset"].dropna().iloc[0])
    if run.model_info.get(model, {}).get("dataset"):
        return str(run.model_info[model]["dataset"])
    return str(getattr(registry.get(model), "dataset", "unknown"))


def _provenance_title(run: Run, model: str) -> str:
    p = run.provenance
    if not p:
        return "provenance not recorded"
    return (f"command: {p.get('command', '?')} | commit: {p.get('commit', '?')} | date: {p.get('date', '?')} | "
            f"hardware: {p.get('device', '?')} | budget: {budget_of(p, model)}")


def _run_rows(run: Run, label: str, registry: dict) -> list[dict]:
    metrics, intervals = metric_columns(run.summary)
    headline = _headline(run, metrics)
    run_href = f"runs/{safe(label)}_{run.threat}.html"
    out = []
    for (model, eps), rows in run.summary.groupby(["model", "eps"], sort=True):
        model = str(model)
        cells = {}
        for _, row in rows.iterrows():
            cells[str(row["attack"])] = {"metrics": {m: _metric(row, m, intervals) for m in metrics},
                                         "href": f"{run_href}#m-{safe(model)}", "title": _provenance_title(run, model)}
        worst = rows[rows["attack"] == WORST_CASE]
        clean = headline.replace("robust_", "clean_", 1)
        standard = (_metric(worst.iloc[0], clean, intervals) if len(worst) and clean in rows
                    else {"text": "-", "sort": ""})
        out.append({"run": label, "run_href": run_href, "model": model, "eps": float(eps),
                    "eps_text": format_eps(run.threat, eps), "reduced": _reduced(run, model),
                    "budget": budget_of(run.provenance, model) if run.provenance else "not recorded",
                    "dataset": _dataset(run, model, rows, registry), "headline": headline,
                    "standard": standard, "cells": cells, "metrics": metrics})
    return out


def _boards(runs: list[tuple[str, Run]], registry: dict) -> list[dict]:
    """The index's tables, one per (dataset, threat), rows in folder then entry order."""
    boards: dict[tuple[str, str], dict] = {}
    for label, run in runs:
        for row in _run_rows(run, label, registry):
            board = boards.setdefault((row["dataset"], run.threat),
                                      {"rows": [], "comparisons": [], "labels": [], "info": {}})
            board["rows"].append(row)
            board["info"].update(recorded(run.provenance))
            if label not in board["labels"]:
                board["labels"].append(label)
                if run.comparison is not None:
                    board["comparisons"].append({"run": label, "table": long_table(run.comparison)})
    out = []
    for (dataset, threat), board in sorted(boards.items()):
        rows = board["rows"]
        metrics = list(dict.fromkeys(m for row in rows for m in row["metrics"]))
        attacks = ordered((a for row in rows for a in row["cells"]), board["info"])
        default = Counter(row["headline"] for row in rows).most_common(1)[0][0]
        for row in rows:  # every cell offers every metric of the table ("-" where its run lacks it)
            for cell in row["cells"].values():
                cell["metrics"] = [cell["metrics"].get(m, {"name": m, "text": "-", "sort": ""}) for m in metrics]
        out.append({"id": safe(f"{dataset}-{threat}"), "dataset": dataset, "threat": threat, "rows": rows,
                    "attacks": attacks, "metrics": metrics, "default": default, "comparisons": board["comparisons"]})
    return out


# ----------------------------------------------------------------------------- pages
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("zoo.reporting", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["safe_name"] = safe
    return env


def _figure_target(figure: Figure, root: Path) -> str:
    return "assets/figures/" + safe(figure.image.relative_to(root).as_posix().replace("/", "__"))


def render_site(leaderboard: str | Path = "leaderboard", card: Callable[[str], str | None] | None = None
                ) -> tuple[dict[str, str | bytes], bool]:
    """Every file of the site (relative path -> text or bytes), in memory, and whether the
    leaderboard was empty. ``card(name)`` returns an entry's model card as markdown (or ``None``)."""
    import markdown

    root = Path(leaderboard)
    runs = sorted(((_label(run, root), run) for run in read_runs(root)),
                  key=lambda item: (item[1].folder != root, item[0], item[1].threat))
    figures = read_figures(root)
    registry = dict(default_registry())
    boards = _boards(runs, registry)
    env = _environment()
    common = {"version": library_version(), "source": root.as_posix()}
    files: dict[str, str | bytes] = {}
    empty = not runs
    files["index.html"] = env.get_template("index.html").render(
        root="", title="Leaderboard", boards=boards, runs=[label for label, _ in runs],
        empty_message=EMPTY_MESSAGE.format(where=root.as_posix()) if empty else "", **common)
    for label, run in runs:
        models = sorted(set(run.summary["model"].astype(str)))
        files[f"runs/{safe(label)}_{run.threat}.html"] = env.get_template("run.html").render(
            root="../", title=f"{label} · {run.threat}", label=label, run=run, provenance=run.provenance,
            protocol=protocol_line(run.provenance).replace("**", ""),
            models=[{"name": m, "reduced": _reduced(run, m), "budget": budget_of(run.provenance, m),
                     "table": long_table(run.summary[run.summary["model"] == m]),
                     "ablation": None if run.ablation is None else long_table(run.ablation[run.ablation["model"] == m])}
                    for m in models],
            comparison=None if run.comparison is None else long_table(run.comparison),
            figures=[{"src": "../" + _figure_target(f, root), "name": f.image.name}
                     for f in figures if f.image.parent == run.folder], **common)
    names = sorted({row["model"] for board in boards for row in board["rows"]})
    for name in names:
        results = [{"label": label, "run": run, "reduced": _reduced(run, name),
                    "href": f"../runs/{safe(label)}_{run.threat}.html#m-{safe(name)}",
                    "table": long_table(run.summary[run.summary["model"] == name])}
                   for label, run in runs if name in set(run.summary["model"].astype(str))]
        text = card(name) if card is not None else None
        entry = registry.get(name)
        files[entry_page(name)] = env.get_template("entry.html").render(
            root="../", title=name, name=name, description=getattr(entry, "description", "") or "",
            registered=entry is not None, results=results,
            card_html=markdown.markdown(text, extensions=["tables", "fenced_code"]) if text else "",
            figures=[{"src": "../" + _figure_target(f, root), "kind": f.kind, "name": f.image.name,
                      "data": f.data, "table": None if f.table is None else long_table(f.table)}
                     for f in figures if name in f.models], **common)
    for figure in figures:
        files[_figure_target(figure, root)] = figure.image.read_bytes()
    for asset in ASSETS:
        files[f"assets/{asset}"] = resources.files("zoo.reporting").joinpath("templates", asset).read_text()
    return files, empty


def build_site(leaderboard_dir: str | Path = "leaderboard", out_dir: str | Path | None = None, *,
               card: Callable[[str], str | None] | None = None) -> Built:
    """Build the site of ``leaderboard_dir`` into ``out_dir`` (default ``<leaderboard_dir>/site``);
    ``out_dir/index.html`` is the entry page. Files of an earlier build that this one no longer
    makes are removed; a folder that is not a built site (no ``.agdm-zoo-site``) is refused.

    Raises:
        FileNotFoundError: no ``leaderboard_dir``.
        LeaderboardFileError: a results file that cannot be read (named; nothing is written).
        SiteError: ``out_dir`` is a non-empty folder that is not a built site.
    """
    out = Path(out_dir) if out_dir is not None else Path(leaderboard_dir) / "site"
    marker = out / SITE_MARKER
    if out.is_dir() and any(out.iterdir()) and not marker.is_file():
        raise SiteError(f"{out} is a non-empty folder that is not a built site (no {SITE_MARKER}): "
                        "choose a new or empty folder")
    files, empty = render_site(leaderboard_dir, card)
    old = set(marker.read_text().split()) if marker.is_file() else set()
    for relative, content in sorted(files.items()):
        if isinstance(content, bytes):
            atomic_write(out / relative, lambda tmp, data=content: Path(tmp).write_bytes(data))
        else:
            atomic_write_text(out / relative, content)
    for relative in sorted(old - set(files)):
        (out / relative).unlink(missing_ok=True)
    atomic_write_text(marker, "\n".join(sorted(files)) + "\n")
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            shutil.rmtree(folder)
    pages = sum(1 for f in files if f.endswith(".html"))
    message = (EMPTY_MESSAGE.format(where=Path(leaderboard_dir).as_posix()) if empty
               else f"wrote {pages} pages ({len(files)} files) to {out}; open {out / 'index.html'}")
    return Built(out, tuple(sorted(files)), message, empty)
