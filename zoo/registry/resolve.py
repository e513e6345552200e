"""Names -> entries: the one resolver. A registry name, a published bundle (``hf://org/repo@rev``
or a local folder) or an :class:`Entry` itself becomes an :class:`Entry`, optionally with its
purification settings overridden. The factory (:mod:`zoo.models.factory`) builds the module.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from . import bundles
from .schema import BundleRef, Entry, Purification, RegistryError, UnknownEntryError
from .store import default_registry

OVERRIDABLE = tuple(f.name for f in dataclasses.fields(Purification) if f.name not in ("schedule", "max_trained_t"))


def applicable_overrides(entry: Entry, overrides: Mapping[str, Any] | None) -> dict:
    """The purification overrides of a run that apply to ``entry``: all of them for an entry that
    purifies, none for a plain classifier (a run's ``--t-star`` leaves its undefended baseline as
    it is)."""
    return dict(overrides or {}) if entry.purification is not None else {}


def with_overrides(entry: Entry, **overrides: Any) -> Entry:
    """``entry`` with purification settings replaced (``t_star=100``, ``pattern='none'``, ...).

    Patterns ``none`` and ``gdmp`` drop the guidance net; ``plain`` keeps the declared one, or lets the
    classifier guide itself where none is declared.
    """
    if not overrides:
        return entry
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown override(s) {unknown} for {entry.name}; allowed: {list(OVERRIDABLE)}")
    if entry.purification is None:
        raise ValueError(f"{entry.name} is a plain classifier: it has no purification settings to override")
    purification = dataclasses.replace(entry.purification, **overrides)
    guidance = None if purification.pattern in ("none", "gdmp") else entry.guidance
    return dataclasses.replace(entry, purification=purification, guidance=guidance)


def get_entry(name: str, registry: Mapping[str, Entry | BundleRef] | None = None) -> Entry:
    """The entry called ``name`` (default registry: ``checkpoints.yaml``), or the entry of a bundle
    when ``name`` is ``hf://org/repo[@revision]`` or a local bundle folder. An unknown name lists
    the known ones."""
    registry = default_registry() if registry is None else registry
    if name not in registry and bundles.is_bundle_reference(name):
        return bundles.read_bundle(bundles.fetch_bundle(name))
    if name not in registry:
        raise UnknownEntryError(f"unknown zoo entry {name!r}; known entries: {', '.join(sorted(registry))} "
                                "(or give a bundle: hf://org/repo[@revision] or a local folder)")
    found = registry[name]
    if isinstance(found, Entry):
        return found
    entry = bundles.read_bundle(bundles.fetch_bundle(found.bundle))
    if entry.dataset != found.dataset:
        raise RegistryError(f"entry {name!r}: declared dataset {found.dataset!r}, but its bundle {found.bundle} "
                            f"is a {entry.dataset!r} entry")
    return dataclasses.replace(entry, name=name, description=found.description or entry.description)


def as_entry(model: str | Entry, **overrides: Any) -> Entry:
    """A registry name's entry, or an :class:`Entry` itself (one made with ``dataclasses.replace``,
    e.g. another guidance net's weights from ``file:///abs/path``)."""
    return with_overrides(model if isinstance(model, Entry) else get_entry(model), **overrides)
