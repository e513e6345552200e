"""Files written so that a kill never leaves half of one, and the one check that a saved run's
settings are the ones asked for."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, fsync it, then ``os.replace`` it onto
    ``path``: a reader sees the old file or the new one, never half of one. The temporary file is
    removed if ``write`` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text (newlines written as given)."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    return atomic_write(path, write)


def differing_keys(saved: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> list[str]:
    """The settings in which a saved run differs from the one asked for, sorted."""
    saved = saved or {}
    return sorted(k for k in {*saved, *wanted} if saved.get(k) != wanted.get(k))


def spec_difference(saved: Mapping[str, Any] | None, wanted: Mapping[str, Any], saved_as: str = "saved") -> str:
    """:func:`differing_keys` with both values, as ``key: <saved_as> 1 vs now 2`` items; empty
    when they agree."""
    saved = saved or {}
    return ", ".join(f"{k}: {saved_as} {saved.get(k)!r} vs now {wanted.get(k)!r}"
                     for k in differing_keys(saved, wanted))
