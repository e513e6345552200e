"""The leaderboard's files, in both directions: a run's outputs written (atomically) and the
newest results of an entry read back (for model cards and the site).

Per threat model a results folder holds ``per_example_<model>_<threat>.csv``,
``summary_<threat>.csv``, ``results_<threat>.md``, ``provenance_<threat>.json`` and
``model_info/<model>_<threat>.json`` (RobustBench's format), the N-ablation
``draws_ablation_<threat>.csv``/``.md`` and ``draws_ablation_<model>_<threat>.png`` (robust accuracy
by vote and worst-of-N over the first N recorded draws); where examples are paired,
``comparison_<threat>.csv``/``.md``; under the anytime protocol ``curve_<threat>.csv``/``.png``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..common.files import atomic_write_text
from .attack_ranking import rank_attacks, ranking_markdown
from .attack_info import recorded
from .comparison import comparisons
from .curves import robustness_curve, write_curve_png
from .draws_ablation import ablation_markdown, draws_ablation, write_ablation_png
from .metrics import SUMMARY_COLUMNS, per_example_frame, summarize
from .model_info import model_info
from .tables import check_headline, comparison_markdown, markdown_table, protocol_line


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
    lives in the JSON sidecar. ``headline`` (``vote``, ``worst`` or ``mean``) is the metric the
    tables and model_info lead with; every summary holds all three.

    Paired comparisons: when the records name their test-set examples (``test_index``, as every
    benchmark run's do) and two models ran under one (threat, eps, attack) on the same ones,
    ``comparison_<threat>.csv`` and ``comparison_<threat>.md`` give each pair's difference
    (:func:`~zoo.reporting.comparison.comparisons`). Without ``test_index`` two runs' positions
    need not be the same images, so nothing is compared. Likewise ``attack_ranking_<threat>.csv`` and
    ``.md`` rank each entry's attacks, lowest robust accuracy first, with paired tests against the
    first (:func:`~zoo.reporting.attack_ranking.rank_attacks`).

    Returns the written paths, keyed by path relative to ``out_dir``.

    Raises:
        ValueError: bad records (see :func:`per_example_frame`), a model missing from ``entries``,
            or one model evaluated at two eps under one threat.
    """
    out_dir = Path(out_dir)
    check_headline(headline)
    records = list(records)
    frame = per_example_frame(records)
    unknown = sorted(set(frame["model"]) - set(entries))
    if unknown:
        raise ValueError(f"records of model(s) {unknown} that are not in entries ({sorted(entries)})")
    eps_count = frame.groupby(["model", "threat"])["eps"].nunique()
    if (eps_count > 1).any():
        raise ValueError(f"one eps per model and threat, got several for {list(eps_count[eps_count > 1].index)}")
    info = recorded(provenance)
    summary = summarize(frame, info)
    paired = all("test_index" in record for record in records)
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
        curve = robustness_curve(threat_frame, headline) if headline != "mean" else None
        if curve is not None and not curve.empty:
            put(f"curve_{threat}.csv", curve.to_csv(index=False))
            written[f"curve_{threat}.png"] = write_curve_png(
                out_dir / f"curve_{threat}.png", curve, f"anytime {', '.join(sorted(set(curve['attack'])))}, "
                f"{threat}, stop on {headline}")
        compared = comparisons(threat_frame, headline, info) if paired else None
        if compared is not None and not compared.empty:
            put(f"comparison_{threat}.csv", compared.to_csv(index=False))
            put(f"comparison_{threat}.md", comparison_markdown(compared, provenance, headline))
        _put_ablation(put, written, out_dir, threat_frame, threat, info, provenance)
        ranking = rank_attacks(threat_frame, headline, info) if paired else None
        if ranking is not None and not ranking.empty:
            put(f"attack_ranking_{threat}.csv", ranking.to_csv(index=False))
            put(f"attack_ranking_{threat}.md", ranking_markdown(ranking, provenance, headline))
        for model, rows in threat_summary.groupby("model", sort=True):
            eps = float(rows["eps"].iloc[0])
            record = model_info(entries[model], rows, threat, eps, provenance, headline=headline)
            put(f"model_info/{_safe(model)}_{threat}.json", _json(record))
    return written


def _put_ablation(put, written: dict, out_dir: Path, frame: pd.DataFrame, threat: str, info, provenance) -> None:
    """The N-ablation of one threat (:mod:`~zoo.reporting.draws_ablation`): ``draws_ablation_<threat>``
    ``.csv`` and ``.md``, and one ``draws_ablation_<model>_<threat>.png`` per entry."""
    table = draws_ablation(frame, info)
    put(f"draws_ablation_{threat}.csv", table.to_csv(index=False))
    put(f"draws_ablation_{threat}.md", ablation_markdown(table, provenance.get("protocol") == "anytime")
        + "\n" + protocol_line(provenance) + "\n")
    for model, rows in table.groupby("model", sort=True):
        name = f"draws_ablation_{_safe(model)}_{threat}.png"
        written[name] = write_ablation_png(out_dir / name, rows, f"{model}, {threat}: robust accuracy by N draws")


class LeaderboardFileError(ValueError):
    """A results file under the leaderboard that cannot be read; the message names the file."""


SUMMARY_KEYS = ("model", "threat", "eps", "attack")
SITE_MARKER = ".agdm-zoo-site"  # a built site's folder (skipped when the leaderboard is read)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LeaderboardFileError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(data, dict):
        raise LeaderboardFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_csv(path: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise LeaderboardFileError(f"{path}: not a readable CSV file ({err})") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LeaderboardFileError(f"{path}: lacks column(s) {missing} (has {list(frame.columns)})")
    return frame


def read_summary(path: str | Path) -> pd.DataFrame:
    """One ``summary_<threat>.csv``, checked: the key columns present, the threat the file's name
    says, numeric eps, and numeric values in every column :func:`summarize` writes. Columns added
    by newer versions are kept as they are."""
    path = Path(path)
    frame = _read_csv(path, SUMMARY_KEYS)
    threat = path.stem.removeprefix("summary_")
    wrong = sorted(set(frame["threat"].astype(str)) - {threat})
    if wrong:
        raise LeaderboardFileError(f"{path}: rows of threat {wrong} in the summary of {threat}")
    numeric = [c for c in SUMMARY_COLUMNS if c in frame.columns and c not in ("model", "threat", "attack")]
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()]
            raise LeaderboardFileError(f"{path}: column {column!r} holds non-numbers, e.g. {bad.iloc[0]!r}")
    return frame


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


@dataclass(frozen=True)
class Run:
    """Everything one results folder holds for one threat model: the summary (all models), the
    provenance (``{}`` when not recorded), the model_info records by model and, where present,
    the paired comparison table and the N-ablation."""

    folder: Path
    threat: str
    summary: pd.DataFrame
    provenance: dict[str, Any]
    model_info: dict[str, dict] = field(default_factory=dict)
    comparison: pd.DataFrame | None = None
    ablation: pd.DataFrame | None = None  # draws_ablation_<threat>.csv, where written

    @property
    def path(self) -> Path:
        return self.folder / f"summary_{self.threat}.csv"


def _skipped(path: Path, root: Path) -> bool:
    """Paths the leaderboard readers ignore: journals (working state) and built sites."""
    parents = path.relative_to(root).parents
    return any(part.name == "journal" or (root / part / SITE_MARKER).exists() for part in parents)


def read_runs(leaderboard: str | Path = "leaderboard") -> list[Run]:
    """Every results folder under ``leaderboard`` (the folder itself included), one :class:`Run`
    per ``summary_<threat>.csv``, sorted by folder and threat.

    Raises:
        FileNotFoundError: ``leaderboard`` is not a folder.
        LeaderboardFileError: a summary, provenance, model_info or comparison file that cannot be
            read or lacks what it must hold (the message names the file).
    """
    root = Path(leaderboard)
    if not root.is_dir():
        raise FileNotFoundError(f"no leaderboard folder at {root}")
    runs = []
    for path in sorted(root.rglob("summary_*.csv")):
        if _skipped(path, root):
            continue
        threat = path.stem.removeprefix("summary_")
        summary = read_summary(path)
        provenance = read_provenance(path.parent, threat)
        infos = {}
        for model in sorted(set(summary["model"].astype(str))):
            info_path = path.parent / "model_info" / f"{_safe(model)}_{threat}.json"
            if info_path.is_file():
                infos[model] = _read_json(info_path)
        comparison_path = path.with_name(f"comparison_{threat}.csv")
        comparison = _read_csv(comparison_path) if comparison_path.is_file() else None
        ablation_path = path.with_name(f"draws_ablation_{threat}.csv")
        ablation = _read_csv(ablation_path, ("model", "draws")) if ablation_path.is_file() else None
        runs.append(Run(path.parent, threat, summary, provenance, infos, comparison, ablation))
    return runs


def read_per_example(folder: str | Path, threat: str) -> pd.DataFrame:
    """Every per-example row a results folder holds for ``threat`` (its per_example CSVs).

    Raises:
        FileNotFoundError: the folder holds no per-example table for the threat.
    """
    paths = sorted(Path(folder).glob(f"per_example_*_{threat}.csv"))
    if not paths:
        raise FileNotFoundError(f"{folder} holds no per_example_*_{threat}.csv: not a results folder of that threat")
    return pd.concat([_read_csv(path) for path in paths], ignore_index=True)


def read_provenance(folder: str | Path, threat: str) -> dict[str, Any]:
    """A results folder's provenance for ``threat``, ``{}`` where it recorded none."""
    path = Path(folder) / f"provenance_{threat}.json"
    return _read_json(path) if path.is_file() else {}


RUN_FIELDS = ("command", "commit", "date", "device", "seed")
"""The fields of a run's provenance that a table derived from it repeats."""


def run_fields(run: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """The :data:`RUN_FIELDS` (and ``extra``) of a run's provenance, ``None`` where it lacks one."""
    return {k: run.get(k) for k in (*RUN_FIELDS, *extra)}


def write_derived(out: str | Path, text: str, table: pd.DataFrame, record: Mapping[str, Any]) -> Path:
    """A table derived from finished runs, nothing attacked again: ``text`` to ``out`` (markdown),
    the rows as CSV and ``record`` (the deriving command's provenance) as JSON beside it, each
    atomically. Returns ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    atomic_write_text(out.with_suffix(".csv"), table.to_csv(index=False))
    atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=1, default=str) + "\n")
    return out


def latest_results(name: str, leaderboard: str | Path = "leaderboard") -> list[Results]:
    """The newest results of entry ``name`` per threat model, from every ``summary_<threat>.csv``
    under ``leaderboard`` (newest by the date in the run's provenance; runs without provenance are
    skipped)."""
    newest: dict[str, Results] = {}
    if not Path(leaderboard).is_dir():
        return []
    for run in read_runs(leaderboard):
        rows = run.summary[run.summary["model"] == name].reset_index(drop=True)
        if rows.empty or not run.provenance:
            continue
        found = Results(run.threat, rows, run.provenance, run.path)
        if run.threat not in newest or found.date > newest[run.threat].date:
            newest[run.threat] = found
    return [newest[t] for t in sorted(newest)]


@dataclass(frozen=True)
class Figure:
    """A PNG under the leaderboard with what it shows: ``kind`` is ``"purified"`` for the image
    grids under ``figures/`` (``models`` = the one entry), ``"study"`` for any other (a sweep or a
    diagnostic: ``models`` = the entries its JSON names or its folder's summaries hold). ``data`` is
    the JSON of the same stem (``{}`` if none), ``table`` the CSV of the same stem (or ``None``)."""

    image: Path
    kind: str
    models: tuple[str, ...]
    threat: str | None
    data: dict[str, Any]
    table: pd.DataFrame | None


_NAMING_KEYS = ("model", "models", "base_entry", "baseline")


def read_figures(leaderboard: str | Path = "leaderboard") -> list[Figure]:
    """Every figure under ``leaderboard`` (see :class:`Figure`), sorted by path."""
    root = Path(leaderboard)
    out = []
    for image in sorted(root.rglob("*.png")) if root.is_dir() else []:
        if _skipped(image, root):
            continue
        data = _read_json(image.with_suffix(".json")) if image.with_suffix(".json").is_file() else {}
        table = _read_csv(image.with_suffix(".csv")) if image.with_suffix(".csv").is_file() else None
        settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
        if image.parent == root / "figures":
            model, _, threat = image.stem.rpartition("_")
            model = str(settings.get("model", model or image.stem))
            out.append(Figure(image, "purified", (model,), settings.get("threat", threat or None), data, table))
            continue
        named = set()
        for key in _NAMING_KEYS:
            value = data.get(key)
            named.update([value] if isinstance(value, str) else value if isinstance(value, list) else [])
        for summary in image.parent.glob("summary_*.csv"):
            named.update(read_summary(summary)["model"].astype(str))
        out.append(Figure(image, "study", tuple(sorted(map(str, named))), data.get("threat"), data, table))
    return out
