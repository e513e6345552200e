"""Files written so that a kill never leaves half of one, storage faults (a full disk, a folder
that is not writable) reported as one clear error, and the one check that a saved run's settings
are the ones asked for."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping


class StorageError(OSError, RuntimeError):
    """A file could not be written (disk full, folder not writable, ...): the message names the
    file, the cause and what to do. An ``OSError`` (same ``errno``) and a ``RuntimeError``, so
    command lines that report runtime errors report this one too."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()


_CAUSES = {  # errno: (what is wrong, what to do)
    errno.ENOSPC: ("the disk is full", "free space on it"),
    errno.EDQUOT: ("the disk quota is used up", "free space on it"),
    errno.EACCES: ("the folder is not writable", "make it writable or choose another output folder"),
    errno.EPERM: ("the folder is not writable", "make it writable or choose another output folder"),
    errno.EROFS: ("the file system is read-only", "choose another output folder"),
}


def storage_error(path: Path, err: OSError, then: str = "") -> StorageError:
    """A :class:`StorageError` for ``err`` raised while writing ``path``: what failed, why (a full
    disk, a folder that is not writable, or the system's own words), what to do, and ``then``
    (what state the files are in, what to run afterwards)."""
    if err.errno in _CAUSES:
        cause, fix = _CAUSES[err.errno]
        text = f"cannot write {path}: {cause} ({err.strerror or err}); {fix}"
    else:
        text = f"cannot write {path}: {err}"
    error = StorageError(text + (f". {then}" if then else ""))
    error.errno, error.filename = err.errno, str(path)
    return error


def fsync_folder(folder: Path) -> None:
    """Make a file's creation or renaming in ``folder`` durable (not only its contents)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, fsync it, then ``os.replace`` it onto
    ``path``: a reader sees the old file or the new one, never half of one. The temporary file is
    removed if ``write`` fails; a failure of the storage itself (``OSError``) is raised as a
    :class:`StorageError` naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, StorageError):
            raise storage_error(path, err, "The old file, if any, is unchanged") from err
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
