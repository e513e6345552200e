"""A complete entry in one folder (read side): what ``agdm-zoo publish`` uploads and ``zoo.load`` reads back.

    config.json             {"format": "agdm-zoo-bundle", "format_version": 1,
                             "library_version": ..., "name": ..., "entry": {...}}
    dm.safetensors          the diffusion model's UNet (its full diffusers config is in the entry)
    guidance.safetensors    the guidance net, where the entry has its own
    classifier.safetensors  the classifier
    README.md               the model card (``scripts/publish.py``)

``entry`` is the entry exactly as ``checkpoints.yaml`` declares one, except that each component's
``source`` is a file of the bundle and its ``sha256`` is pinned, so a tampered file is refused.
Writing one from a loaded model is :mod:`zoo.publishing.bundle`. A bundle is loaded from a local folder or from the Hub (``hf://org/repo@revision``, through
``huggingface_hub``'s cache and ``HF_HUB_OFFLINE``, the same code path as every Hub source).
"""
from __future__ import annotations

import dataclasses
import json
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from . import sources
from .schema import Component, Entry, RegistryError, parse_registry

FORMAT = "agdm-zoo-bundle"
FORMAT_VERSION = 1
CONFIG = "config.json"
FILES = {"diffusion": "dm.safetensors", "guidance": "guidance.safetensors", "classifier": "classifier.safetensors"}


class BundleError(sources.SourceError):
    """A folder that is not a loadable bundle: no or malformed config.json, unknown format, or files
    outside the folder."""


def library_version() -> str:
    try:
        return metadata.version("agdm-zoo")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """The entry as ``checkpoints.yaml`` would declare it (plain JSON types, no name)."""
    data = _plain(entry)
    data.pop("name")
    return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def robustbench_model_of(component: Component) -> str:
    """``dataset/threat/Name`` of a RobustBench component: from its source, or (in a bundle,
    where the source is a file) from its config's ``model``."""
    parsed = sources.parse_source(component.source)
    if parsed.scheme == "robustbench":
        return parsed.location
    if "model" not in component.config:
        raise RegistryError(f"{component.source}: a robustbench component with a file source needs "
                            "config.model = 'dataset/threat/Name' (its architecture)")
    return str(component.config["model"])


def is_bundle_reference(name: str) -> bool:
    """Whether :func:`zoo.load` should read ``name`` as a bundle (Hub repo or local folder)."""
    return name.startswith("hf://") or Path(name).expanduser().is_dir()


def fetch_bundle(reference: str) -> Path:
    """The local folder of a bundle: ``hf://org/repo[@revision]`` (downloaded, or from the Hub
    cache when offline) or a local folder path."""
    if reference.startswith("hf://"):
        return sources.locate(reference)
    folder = Path(reference).expanduser()
    if not folder.is_dir():
        raise BundleError(f"{reference}: no such bundle folder")
    return folder


def read_bundle(folder: str | Path) -> Entry:
    """The entry a bundle folder declares, its component sources pointing into the folder."""
    folder = Path(folder).resolve()
    path = folder / CONFIG
    if not path.is_file():
        raise BundleError(f"{folder} is not an agdm-zoo bundle: it has no {CONFIG}")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise BundleError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise BundleError(f"{path} is not an agdm-zoo bundle config (format must be {FORMAT!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {config.get('format_version')!r} is not supported "
                          f"(this agdm-zoo reads version {FORMAT_VERSION}); upgrade agdm-zoo")
    body = dict(config.get("entry") or {})
    for role in FILES:
        if isinstance(body.get(role), Mapping):
            body[role] = {**body[role], "source": _inside(folder, body[role].get("source"), role)}
    name = str(config.get("name") or folder.name)
    return parse_registry({name: body}, where=str(path))[name]


def _inside(folder: Path, file_name: Any, role: str) -> str:
    """A ``file://`` source for a bundle file, refusing anything outside the folder."""
    if not isinstance(file_name, str) or not file_name:
        raise BundleError(f"{folder / CONFIG}: entry.{role}.source must name a file of the bundle")
    if Path(file_name).name != file_name or file_name in (".", ".."):  # Hub files are symlinks: no resolve()
        raise BundleError(f"{folder / CONFIG}: entry.{role}.source {file_name!r} is not a file of the bundle")
    return f"file://{folder / file_name}"
