"""A per-example journal of finished results, so a killed or failed evaluation loses nothing.

The journal is an append-only JSON-lines file. Its first line is the run's specification; every
other line is one finished (attack, example) record, written and fsynced as soon as its batch is
done. Each line carries a checksum (``_check``) of its content and of the run's specification, so
a damaged line is told from a valid one even where it still parses, and a record is known to
belong to these settings even where the first line is lost. Reading it back:

- a line cut short at the end of the file (a kill or a full disk during a write) is dropped quietly;
- any other line that is not a valid record is moved to ``<journal>.damaged`` with its line number,
  reported once (a :class:`JournalRepaired` warning), and never takes valid records with it;
- one (attack, example) recorded twice with equal content (wall time aside) is one record; with
  different content the journal refuses to open (:class:`JournalConflict`), naming both lines;
- a damaged first line is rewritten from the run's settings when the records prove they were made
  with them; otherwise it is an error (:class:`JournalDamaged`).

One process at a time holds a journal (an exclusive ``flock`` on it, see :mod:`zoo.common.locks`);
reopening it with a different specification is refused, so results of different settings never mix.
A write that fails (a full disk) is undone before the error is raised, so the journal stays valid.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..common.files import atomic_write, differing_keys, fsync_folder, storage_error, StorageError
from ..common.locks import lock_file

CHECK = "_check"  # every line's checksum field; not part of the records handed out
TIMING = ("seconds",)  # fields that measure how long a result took, not what it is
BUSY = ("One journal takes one writer at a time: wait for that run to finish (then rerun with --resume "
        "to continue it), or give each process its own --shard i/n for parallel work.")


class JournalMismatch(ValueError):
    """An existing journal was written with other settings than the run that wants to reuse it."""


class JournalConflict(ValueError):
    """The journal holds two different results of one (attack, example)."""


class JournalDamaged(ValueError):
    """The journal's first line (the run's settings) is damaged and cannot be restored."""


class JournalRepaired(UserWarning):
    """Damaged lines were moved out of a journal (their examples are computed again)."""


def spec_id(spec: dict[str, Any]) -> str:
    """A short hash of a run's specification, bound into every record's checksum."""
    return _digest(json.dumps(spec, sort_keys=True, separators=(",", ":")))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _checked(body: dict[str, Any], run: str) -> dict[str, Any]:
    body = json.loads(json.dumps(body))  # as it will read back
    return {**body, CHECK: _digest(run + json.dumps(body, sort_keys=True, separators=(",", ":")))}


def _key(record: dict) -> tuple[str, int] | None:
    attack, index = record.get("attack"), record.get("index")
    if isinstance(attack, str) and isinstance(index, int) and not isinstance(index, bool):
        return attack, index
    return None


def _result(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


class Journal:
    """Records of one run (one model, one threat model, one shard) at ``path``, held exclusively
    until :meth:`close` (or the end of a ``with`` block, or the process).

    Args:
        path: the ``.jsonl`` file.
        spec: JSON-able settings that define the run; must equal the journal's on reuse.
        resume: reuse an existing journal (else an existing one is an error, never overwritten).

    Raises:
        FileExistsError: the journal holds a run and ``resume`` is False.
        JournalMismatch, JournalConflict, JournalDamaged: see the module docstring.
        zoo.common.locks.Locked: another process holds the journal (the message names it).
        zoo.common.files.StorageError: the journal cannot be written (folder not writable, disk full).
    """

    def __init__(self, path: Path, spec: dict[str, Any], resume: bool):
        self._fd: int | None = None
        self.path = Path(path)
        self.spec = json.loads(json.dumps(spec))  # normalise tuples etc. as they will read back
        self.run = spec_id(self.spec)
        self.damaged_path = self.path.with_name(self.path.name + ".damaged")
        self._records: dict[tuple[str, int], dict] = {}
        self._lines: list[bytes] = []  # the raw lines kept (spec first), for a rewrite
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = lock_file(self.path, BUSY)
        except OSError as err:
            raise storage_error(self.path, err, "Nothing was written") from err
        try:
            self._load(resume)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------------------ reading
    def _load(self, resume: bool) -> None:
        data = self._read_all()
        complete, _, tail = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        torn = bool(tail) and self._parse(tail)[0] is None  # a last line cut short: dropped quietly
        if tail and not torn:
            lines.append(tail)  # complete but for its newline
        if not lines:  # new, or only a cut first line: start afresh
            os.ftruncate(self._fd, 0)
            self._lines = [self._settings_line()]
            self._write(self._lines[0] + b"\n")
            fsync_folder(self.path.parent)
            return
        if not resume:
            raise FileExistsError(f"{self.path} already holds results: pass --resume to continue that run, "
                                  "or move the file away to start afresh")
        damaged, unproven, copies = self._scan(lines)
        settings_lost = bool(damaged) and damaged[0][0] == 1
        if settings_lost and (unproven or not self._records) and len(lines) > 1:
            raise JournalDamaged(
                f"{self.path}: line 1, the run's settings, is damaged ({damaged[0][2]}), and its records are not "
                "all proven to come from this run's settings (by a matching checksum). It cannot be repaired "
                "here: resume with the arguments that made it, or move the file away to start afresh")
        if damaged or copies:
            self._rewrite(damaged, settings_lost)
        elif torn:
            os.ftruncate(self._fd, len(data) - len(tail))
        elif tail:
            self._write(b"\n")

    def _scan(self, lines: list[bytes]) -> tuple[list[tuple[int, bytes, str]], int, int]:
        """Sort the lines into the settings line and one record per example (kept), and damaged
        lines (line number, text, why); also count the records no checksum proves (journals of
        earlier versions) and the repeated lines."""
        damaged: list[tuple[int, bytes, str]] = []
        unproven = copies = 0
        where: dict[tuple[str, int], int] = {}
        for number, raw in enumerate(lines, start=1):
            record, why, checked = self._parse(raw)
            if record is not None and set(record) == {"spec"}:
                if record["spec"] != self.spec:
                    changed = differing_keys(record["spec"], self.spec)
                    raise JournalMismatch(f"{self.path} was written with other settings (differing: {changed}); "
                                          "use the same arguments to resume, or another --out for new settings")
                if number == 1:
                    self._lines.append(raw)
                copies += number > 1
                continue
            if number == 1:  # the settings line is damaged or lost: restored (if the records prove it)
                self._lines.append(self._settings_line())
                if record is not None:
                    damaged.append((1, b"", "the run's settings are missing"))
            key = None if record is None else _key(record)
            if key is None:
                damaged.append((number, raw, why or "not a record (no attack and index)"))
            elif key in self._records:
                self._refuse_another_result(key, record, where[key], number)
                copies += 1  # the same result twice: one record
            else:
                unproven += not checked
                where[key] = number
                self._records[key] = record
                self._lines.append(raw)
        return damaged, unproven, copies

    def _refuse_another_result(self, key: tuple[str, int], record: dict, first: int, number: int) -> None:
        held = self._records[key]
        if _result(held) != _result(record):
            differ = sorted(k for k in {*record, *held} if held.get(k) != record.get(k))
            raise JournalConflict(
                f"{self.path}: lines {first} and {number} both hold the result of {key[0]} on example {key[1]}, "
                f"and they differ (in {differ}). A journal gets two results of one example only when it was "
                "edited or written by two processes at once; which one is right cannot be told here: delete "
                "the wrong line (or move the journal away and start afresh), then --resume")

    def _settings_line(self) -> bytes:
        return json.dumps(_checked({"spec": self.spec}, "")).encode()

    def _parse(self, raw: bytes) -> tuple[dict | None, str, bool]:
        """The line's content without its checksum (or None), why it is not valid, and whether its
        checksum proved it (journals of earlier versions have none)."""
        try:
            item = json.loads(raw)
        except ValueError:
            return None, "not JSON (cut short or overwritten)", False
        if not isinstance(item, dict):
            return None, "not a JSON object", False
        if CHECK not in item:
            return item, "", False
        check = item.pop(CHECK)
        settings = set(item) == {"spec"}
        if _checked(item, "" if settings else self.run)[CHECK] != check:
            return None, ("its checksum does not match" if settings
                          else "its checksum does not match (changed, or written with other settings)"), False
        return item, "", True

    def _rewrite(self, damaged: list[tuple[int, bytes, str]], settings_lost: bool) -> None:
        """Move damaged lines to the side file, then rewrite the journal without them and without
        repeated lines (atomically, under a lock on the new file); report the damage once."""
        settings = " (line 1, the run's settings, was rewritten from them)" if settings_lost else ""
        moved = [d for d in damaged if d[1]]  # (a missing settings line has no text to keep)
        side = "".join(json.dumps({"line": n, "reason": why, "text": raw.decode("utf-8", "backslashreplace")}) + "\n"
                       for n, raw, why in moved)
        text = b"".join(line + b"\n" for line in self._lines)
        try:
            if moved:
                with open(self.damaged_path, "a") as fh:
                    fh.write(side)
                    fh.flush()
                    os.fsync(fh.fileno())
            atomic_write(self.path, lambda tmp: Path(tmp).write_bytes(text))
        except StorageError:
            raise
        except OSError as err:
            raise storage_error(self.damaged_path, err, "The journal is unchanged") from err
        old, self._fd = self._fd, lock_file(self.path, BUSY)
        os.close(old)
        if damaged:
            numbers = ", ".join(str(n) for n, _, _ in moved) or "none"
            warnings.warn(f"{self.path}: {len(moved)} damaged line(s) ({numbers}) moved to {self.damaged_path}"
                          f"{settings}; the {len(self._records)} valid records are kept, and any result on a "
                          "damaged line is computed again", JournalRepaired, stacklevel=4)

    def _read_all(self) -> bytes:
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self._fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    # ------------------------------------------------------------------------------ writing
    def _write(self, data: bytes) -> None:
        """Append ``data`` durably; a failed write is cut back off, so the file stays as it was."""
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError as err:
            try:
                os.ftruncate(self._fd, end)
                state = f"The journal is intact ({len(self._records)} results)"
            except OSError:
                state = "The journal's last line may be cut short (resuming drops it)"
            raise storage_error(self.path, err, f"{state}; once that is fixed, rerun with --resume to "
                                                "continue from it") from err

    @property
    def records(self) -> list[dict]:
        return list(self._records.values())

    def done(self) -> set[tuple[str, int]]:
        """(attack, index) pairs already finished."""
        return set(self._records)

    def append(self, records: list[dict]) -> None:
        """Add finished records durably (written and fsynced before returning). A record of an
        example already held must be the same result (it is then not written again)."""
        fresh: dict[tuple[str, int], dict] = {}
        for record in records:
            key = _key(record)
            if key is None:
                raise ValueError(f"a journal record needs a str 'attack' and an int 'index', got {record!r}")
            held = self._records.get(key, fresh.get(key))
            if held is not None and _result(held) != _result(json.loads(json.dumps(record))):
                raise JournalConflict(f"{self.path} already holds another result of {key[0]} on example {key[1]}")
            if held is None:
                fresh[key] = record
        if not fresh:
            return
        lines = [json.dumps(_checked(r, self.run)).encode() for r in fresh.values()]
        self._write(b"".join(line + b"\n" for line in lines))
        for (key, record), line in zip(fresh.items(), lines):
            self._records[key] = json.loads(json.dumps(record))
            self._lines.append(line)

    # ------------------------------------------------------------------------------ holding
    def close(self) -> None:
        """Release the journal (its records stay readable)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
