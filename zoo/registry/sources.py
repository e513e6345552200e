"""Where weights come from: one small URI scheme and one resolver, with caches and checksums.

Schemes:
    ``hf://org/repo[/path]@revision``   a Hub file (path with a suffix) or folder (snapshot of the
                                        repo, or of ``path/``), through ``huggingface_hub``
    ``robustbench://dataset/threat/Name`` a RobustBench checkpoint, through robustbench's downloader,
                                        cached under ``$AGDM_ZOO_CACHE/robustbench`` as robustbench's
                                        ``load_model`` lays it out (one file, or several for a model
                                        RobustBench stores as several: :func:`robustbench_files`)
    ``gdrive://FILE_ID/filename``       a Google Drive file, through robustbench's Drive downloader,
                                        cached as ``$AGDM_ZOO_CACHE/gdrive/FILE_ID/filename``
    ``zoo://path``                      a file or folder shipped inside this package (``zoo/weights``)
    ``user://path``                     weights with no public download, supplied by hand as
                                        ``$AGDM_ZOO_CACHE/user/path`` (the entry's note says how)
    ``file:///abs/path`` or a plain path a local file or folder

Offline with nothing cached raises :class:`SourceError` naming the missing file and how to get it,
never a bare network traceback. Checksums (sha256) are verified after every fetch.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..common.compat import robustbench, robustbench_models

PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
HF_FOLDER_PATTERNS = ("*.json", "*.safetensors")


class SourceError(RuntimeError):
    """A weights source that cannot be used: offline and uncached, missing, corrupt or mismatched."""


@dataclass(frozen=True)
class ParsedSource:
    scheme: str  # hf | robustbench | gdrive | zoo | user | file
    location: str  # repo id, "dataset/threat/Name", a Drive file id, or a path
    path: str = ""  # path inside a Hub repo; a Drive file's name
    revision: str | None = None


def cache_dir() -> Path:
    """Root of agdm-zoo's own cache (RobustBench checkpoints); ``$AGDM_ZOO_CACHE`` overrides it."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agdm-zoo"
    return Path(os.environ.get("AGDM_ZOO_CACHE", default))


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or huggingface_hub's own setting) forbids network access."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return env or bool(constants.HF_HUB_OFFLINE)


def parse_source(source: str) -> ParsedSource:
    """Split a source URI into its parts; a malformed one raises ``ValueError`` saying why."""
    if source.startswith("hf://"):
        body, _, revision = source[len("hf://"):].partition("@")
        parts = body.strip("/").split("/")
        if len(parts) < 2 or not all(parts[:2]):
            raise ValueError(f"hf source must be hf://org/repo[/path][@revision], got {source!r}")
        return ParsedSource("hf", "/".join(parts[:2]), "/".join(parts[2:]), revision or None)
    if source.startswith("robustbench://"):
        parts = source[len("robustbench://"):].strip("/").split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"robustbench source must be robustbench://dataset/threat/Name, got {source!r}")
        return ParsedSource("robustbench", "/".join(parts))
    if source.startswith("gdrive://"):
        parts = source[len("gdrive://"):].strip("/").split("/")
        if len(parts) != 2 or not all(parts) or Path(parts[1]).suffix == "":
            raise ValueError(f"gdrive source must be gdrive://FILE_ID/filename.ext, got {source!r}")
        return ParsedSource("gdrive", parts[0], parts[1])
    if source.startswith("zoo://"):
        return ParsedSource("zoo", source[len("zoo://"):].strip("/"))
    if source.startswith("user://"):
        location = source[len("user://"):].strip("/")
        if not location or ".." in Path(location).parts:
            raise ValueError(f"user source must be user://relative/path, got {source!r}")
        return ParsedSource("user", location)
    if source.startswith("file://"):
        return ParsedSource("file", source[len("file://"):])
    if "://" in source:
        raise ValueError(f"unknown source scheme in {source!r}; use hf://, robustbench://, gdrive://, zoo://, "
                         "user:// or file://")
    return ParsedSource("file", source)


def sha256_of(*paths: Path) -> str:
    """The sha256 of the files' bytes, read in order: one file's own checksum, or for several
    what ``cat FILE0 FILE1 ... | sha256sum`` prints (how one checksum pins a multi-file source)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def verify(files: Sequence[Path], sha256: str | None, source: str) -> None:
    """Check ``source``'s files (one, or several in order: :func:`sha256_of`) against its pinned
    checksum; warn once if the source is unpinned."""
    several = len(files) > 1
    actual = sha256_of(*files)
    if sha256 is None:
        what = f"{len(files)} files (their bytes in order) hash" if several else "file hashes"
        warnings.warn(f"{source} has no sha256 pinned; its {what} to {actual}", stacklevel=3)
        return
    if actual != sha256.lower():
        raise SourceError(
            f"checksum mismatch for {', '.join(map(str, files))} (from {source}"
            f"{'; their bytes in order' if several else ''}): expected sha256 {sha256}, got {actual}. "
            + ("A file is corrupt or was changed: delete them and fetch them again." if several else
               "The file is corrupt or was changed: delete it and fetch it again.")
        )


def weights_file(folder: Path) -> Path:
    """The single weights file of a model folder (``save_pretrained`` layout)."""
    found = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if len(found) != 1:
        raise SourceError(f"expected exactly one weights file in {folder}, found {[p.name for p in found]}")
    return found[0]


def local_path(source: str) -> Path | None:
    """The local path of a ``zoo://`` or ``file://`` source (which may not exist), else ``None``."""
    parsed = parse_source(source)
    if parsed.scheme not in ("zoo", "file"):
        return None
    root = PACKAGE_WEIGHTS if parsed.scheme == "zoo" else Path()
    return (root / parsed.location).expanduser()


def fetch(source: str, sha256: str | None = None) -> Path:
    """Make ``source`` available locally and return its file or folder, checksum verified.

    For a folder, ``sha256`` pins the folder's single weights file; for a RobustBench model of
    several files, the path is its first file and ``sha256`` pins all of them (:func:`sha256_of`).
    """
    path = locate(source)
    verify([weights_file(path)] if path.is_dir() else source_files(source, path), sha256, source)
    return path


def source_files(source: str, path: Path) -> list[Path]:
    """Every file of ``source`` once it is at ``path`` (what :func:`locate` returned): a folder's
    files, each file of a RobustBench checkpoint (:func:`robustbench_files`), else ``path``."""
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    parsed = parse_source(source)
    return list(robustbench_files(parsed)) if parsed.scheme == "robustbench" else [path]


def fetch_components(entry) -> Iterator[tuple[str, Any, Path, float]]:
    """Fetch every network of ``entry`` (diffusion, guidance, classifier; those it has) into the
    caches :func:`fetch` reads, checksums verified; yields (role, component, local path, MiB) as
    each one arrives."""
    for role in ("diffusion", "guidance", "classifier"):
        component = getattr(entry, role)
        if component is None:
            continue
        path = fetch(component.source, component.sha256)
        files = source_files(component.source, path)
        yield role, component, path, sum(f.stat().st_size for f in files) / 2**20


def locate(source: str) -> Path:
    """Make ``source`` available locally (download, Hub cache, or local path), unverified."""
    parsed = parse_source(source)
    if parsed.scheme == "hf":
        path = _fetch_hf(parsed, source)
    elif parsed.scheme == "robustbench":
        path = _fetch_robustbench(parsed, source)
    elif parsed.scheme == "gdrive":
        path = _fetch_gdrive(parsed.location, gdrive_file(parsed), source)
    elif parsed.scheme == "user":
        path = user_file(parsed)
        if not path.exists():
            raise SourceError(f"{source}: these weights have no public download, and {path} is missing. "
                              "Supply them: put the file (or folder) there, or set AGDM_ZOO_CACHE to a "
                              "folder holding user/" + parsed.location + ".")
    else:
        path = local_path(source)
        if not path.exists():
            raise SourceError(f"{source}: no such file or folder {path}")
    return path


def cached(source: str) -> Path | None:
    """Where ``source``'s file or folder already is on this machine, else ``None`` (a RobustBench
    model of several files: its first file, when all are here). Never downloads (what ``agdm-zoo
    reproduce --list`` asks of every component); checksums are not verified here."""
    parsed = parse_source(source)
    if parsed.scheme == "hf":
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            path = _hf_path(parsed, local_files_only=True)
        except (LocalEntryNotFoundError, OSError, ValueError):
            return None
    elif parsed.scheme == "robustbench":
        files = list(robustbench_files(parsed))
        return files[0] if all(f.exists() for f in files) else None
    elif parsed.scheme == "gdrive":
        path = gdrive_file(parsed)
    elif parsed.scheme == "user":
        path = user_file(parsed)
    else:
        path = local_path(source)
    return path if path.exists() else None


def user_file(parsed: ParsedSource) -> Path:
    """Where a ``user://`` source is supplied by hand (under the zoo cache)."""
    return cache_dir() / "user" / parsed.location


def _hf_path(parsed: ParsedSource, local_files_only: bool = False) -> Path:
    """A Hub file, or a snapshot of the repo's (or ``path/``'s) config and weights, through the Hub cache."""
    from huggingface_hub import hf_hub_download, snapshot_download

    if Path(parsed.path).suffix != "":
        return Path(hf_hub_download(parsed.location, parsed.path, revision=parsed.revision,
                                    local_files_only=local_files_only))
    prefix = f"{parsed.path}/" if parsed.path else ""
    folder = snapshot_download(parsed.location, revision=parsed.revision, local_files_only=local_files_only,
                               allow_patterns=[prefix + p for p in HF_FOLDER_PATTERNS])
    return Path(folder) / parsed.path


def _fetch_hf(parsed: ParsedSource, source: str) -> Path:
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return _hf_path(parsed)
    except (LocalEntryNotFoundError, OSError) as err:
        what = parsed.path or "the model folder"
        raise SourceError(
            f"cannot get {what} of Hub repo {parsed.location}@{parsed.revision or 'main'} ({source}): "
            f"{'offline (HF_HUB_OFFLINE is set)' if is_offline() else 'download failed'} and it is not "
            "in the Hugging Face cache. On a machine with internet run "
            "`python scripts/download.py <entry>` and copy the cache (HF_HOME) here."
        ) from err


def robustbench_checkpoint(parsed: ParsedSource) -> Path:
    """Where robustbench's ``load_model`` looks for (and saves) a checkpoint: ``Name.pt`` in
    ``model_dir/dataset/threat``, with ``model_dir`` the zoo cache's ``robustbench`` folder."""
    dataset, threat, name = parsed.location.split("/")
    return cache_dir() / "robustbench" / dataset / threat / f"{name}.pt"


def robustbench_model(parsed: ParsedSource) -> dict[str, Any]:
    """RobustBench's record of the model (``{"model": constructor, "gdrive_id": ...}``); a dataset,
    threat or name RobustBench does not have is a :class:`SourceError` saying so."""
    dataset, threat, name = parsed.location.split("/")
    try:
        models = robustbench_models(dataset, threat)
    except (KeyError, ValueError):  # robustbench's enums refuse an unknown dataset or threat
        models = {}
    if name not in models:
        raise SourceError(f"robustbench://{parsed.location}: RobustBench has no {dataset}/{threat} model "
                          f"named {name!r}")
    return models[name]


def robustbench_files(parsed: ParsedSource) -> dict[Path, str]:
    """Each file robustbench's ``load_model`` reads for the model, in its order, with its Google
    Drive id: :func:`robustbench_checkpoint` for a model with one id; where RobustBench lists
    several ids (a model of several networks, e.g. ``Bai2023Improving_edm``), file ``i`` is that
    path with ``_m{i}.pt`` appended (``Name.pt_m0.pt``, ``Name.pt_m1.pt``, ...), beside it."""
    ids, path = robustbench_model(parsed)["gdrive_id"], robustbench_checkpoint(parsed)
    if isinstance(ids, str):
        return {path: ids}
    if isinstance(ids, (list, tuple)) and ids and all(isinstance(i, str) for i in ids):
        return {path.with_name(f"{path.name}_m{i}.pt"): file_id for i, file_id in enumerate(ids)}
    raise SourceError(f"robustbench://{parsed.location}: RobustBench lists no checkpoint file to download for "
                      f"this model (gdrive_id {ids!r})")


def _fetch_robustbench(parsed: ParsedSource, source: str) -> Path:
    """Every file of the model (:func:`robustbench_files`), each downloaded unless cached; the first."""
    files = robustbench_files(parsed)
    absent = [path for path in files if not path.is_file()]
    if absent and is_offline():
        raise SourceError(_robustbench_missing(parsed, source, list(files), absent))
    for path in absent:
        _fetch_gdrive(files[path], path, source, f"RobustBench checkpoint to {path}")
    return next(iter(files))


def _robustbench_missing(parsed: ParsedSource, source: str, files: list[Path], absent: list[Path]) -> str:
    """The offline error for the ``absent`` files of a RobustBench model: each named, with where
    robustbench's own ``load_model`` would save them (a cache it made works here as it is)."""
    dataset, threat, name = parsed.location.split("/")
    call = (f"`robustbench.utils.load_model({name!r}, model_dir=DIR, dataset={dataset!r}, "
            f"threat_model={threat!r})`")
    if len(files) == 1:
        return _missing(source, f"RobustBench checkpoint {absent[0]}") + (
            f" Or put the checkpoint RobustBench's own {call} saves as DIR/{dataset}/{threat}/{name}.pt at "
            f"{absent[0]}.")
    several = len(absent) > 1
    return _missing(source, f"RobustBench checkpoint file{'s' if several else ''} {', '.join(map(str, absent))} "
                            f"(of its {len(files)} files)", "are" if several else "is") + (
        f" Or put the {len(files)} files RobustBench's own {call} saves as DIR/{dataset}/{threat}/{name}.pt_m0.pt "
        f"... {name}.pt_m{len(files) - 1}.pt in {absent[0].parent}.")


def gdrive_file(parsed: ParsedSource) -> Path:
    """Where a ``gdrive://`` file is cached (and where to put it by hand)."""
    return cache_dir() / "gdrive" / parsed.location / parsed.path


def _missing(source: str, what: str, verb: str = "is") -> str:
    return (f"{source}: {what} {verb} missing and the machine is offline (HF_HUB_OFFLINE is set). On a "
            "machine with internet run `python scripts/download.py <entry>` and copy "
            f"{cache_dir()} here (or set AGDM_ZOO_CACHE to where it is).")


def _fetch_gdrive(file_id: str, path: Path, source: str, what: str | None = None) -> Path:
    """``path``, downloaded from Drive file ``file_id`` by robustbench's downloader unless cached."""
    if path.is_file():
        return path
    if is_offline():
        raise SourceError(_missing(source, f"Google Drive file {path}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        robustbench().utils.download_gdrive_new(file_id, str(path))
    except Exception as err:  # gdown raises many kinds; all mean "could not download"
        path.unlink(missing_ok=True)
        raise SourceError(
            f"{source}: could not download {what or f'Google Drive file {file_id} to {path}'} "
            f"({type(err).__name__}: {err}). Fetch it on a machine with internet "
            "(`python scripts/download.py <entry>`) and copy it there."
        ) from err
    return path
