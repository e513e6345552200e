"""The registry file: ``zoo/checkpoints.yaml``, shipped inside the package and read through
``importlib.resources``, so an installed wheel finds it from any working directory."""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml

from .schema import BundleRef, Entry, parse_registry

REGISTRY_FILE = "checkpoints.yaml"


def registry_text() -> str:
    """The shipped registry's YAML text."""
    return resources.files("zoo").joinpath(REGISTRY_FILE).read_text(encoding="utf-8")


def load_registry(path: str | Path | None = None) -> dict[str, Entry | BundleRef]:
    """Read and validate a registry file (default: the package's own ``checkpoints.yaml``)."""
    if path is None:
        return parse_registry(yaml.safe_load(registry_text()), where=f"zoo/{REGISTRY_FILE}")
    with open(path) as fh:
        return parse_registry(yaml.safe_load(fh), where=str(path))


@functools.cache
def default_registry() -> dict[str, Entry | BundleRef]:
    """The shipped registry, parsed once per process."""
    return load_registry()
