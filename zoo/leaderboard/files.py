"""The leaderboard's files, in both directions: a run's outputs written (atomically) and the
newest results of an entry read back (for model cards and the site).

Per threat model a results folder holds ``per_example_<model>_<threat>.csv``,
``summary_<threat>.csv``, ``results_<threat>.md``, ``provenance_<threat>.json`` and
``model_info/<model>_<threat>.json``. Nothing else in the zoo writes or parses these files.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..common.files import atomic_write_text
from .metrics import per_example_frame, summarize
from .model_info import model_info
from .tables import markdown_table


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


@dataclass(frozen=True)
class Results:
    """One benchmark run of an entry under one threat model: its summary rows and provenance."""

    threat: str
    rows: pd.DataFrame  # the entry's rows of summary_<threat>.csv
    provenance: dict[str, Any]
    path: Path  # the summary CSV they come from

    @property
    def date(self) -> str:
        return str(self.provenance.get("date", ""))


def latest_results(name: str, leaderboard: str | Path = "leaderboard") -> list[Results]:
    """The newest results of entry ``name`` per threat model, from every ``summary_<threat>.csv``
    under ``leaderboard`` (newest by the date in the run's provenance)."""
    newest: dict[str, Results] = {}
    for path in sorted(Path(leaderboard).rglob("summary_*.csv")):
        threat = path.stem.removeprefix("summary_")
        frame = pd.read_csv(path)
        rows = frame[frame["model"] == name].reset_index(drop=True)
        provenance_path = path.with_name(f"provenance_{threat}.json")
        if rows.empty or not provenance_path.is_file():
            continue
        found = Results(threat, rows, json.loads(provenance_path.read_text()), path)
        if threat not in newest or found.date > newest[threat].date:
            newest[threat] = found
    return [newest[t] for t in sorted(newest)]
