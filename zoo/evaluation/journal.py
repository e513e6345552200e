"""A per-example journal of finished results, so a killed evaluation loses nothing.

The journal is an append-only JSON-lines file. Its first line is the run's specification; every
other line is one finished (attack, example) record, written and fsynced as soon as its batch is
done. A line cut short by a kill is ignored on reading. Reopening a journal with a different
specification is refused, so results of different settings never mix.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..common.files import atomic_write_text, differing_keys


class JournalMismatch(ValueError):
    """An existing journal was written with other settings than the run that wants to reuse it."""


class Journal:
    """Records of one run (one model, one threat model) at ``path``.

    Args:
        path: the ``.jsonl`` file.
        spec: JSON-able settings that define the run; must equal the journal's on reuse.
        resume: reuse an existing journal (else an existing one is an error, never overwritten).
    """

    def __init__(self, path: Path, spec: dict[str, Any], resume: bool):
        self.path = Path(path)
        self.spec = json.loads(json.dumps(spec))  # normalise tuples etc. as they will read back
        if self.path.exists():
            self._reopen(resume)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._records: list[dict] = []
            self._write_lines([{"spec": self.spec}], mode="w")

    def _reopen(self, resume: bool) -> None:
        if not resume:
            raise FileExistsError(f"{self.path} already holds results: pass --resume to continue that run, "
                                  "or move the file away to start afresh")
        lines = self._read()
        if not lines or lines[0].get("spec") != self.spec:
            changed = differing_keys(lines[0].get("spec") if lines else None, self.spec)
            raise JournalMismatch(f"{self.path} was written with other settings (differing: {changed}); "
                                  "use the same arguments to resume, or another --out for new settings")
        self._records = lines[1:]

    def _read(self) -> list[dict]:
        """The complete lines; a tail cut short by a kill is dropped from the file too, so that
        later appends start on a clean line (its batch is simply done again)."""
        raw_lines = self.path.read_text().splitlines()
        lines = []
        for raw in raw_lines:
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                break
        if len(lines) < len(raw_lines):
            atomic_write_text(self.path, _jsonl(lines))
        return lines

    def _write_lines(self, items: Iterable[dict], mode: str = "a") -> None:
        with open(self.path, mode) as fh:
            fh.write(_jsonl(items))
            fh.flush()
            os.fsync(fh.fileno())

    @property
    def records(self) -> list[dict]:
        return list(self._records)

    def done(self) -> set[tuple[str, int]]:
        """(attack, index) pairs already finished."""
        return {(r["attack"], r["index"]) for r in self._records}

    def append(self, records: list[dict]) -> None:
        """Add finished records durably (written and fsynced before returning)."""
        self._write_lines(records)
        self._records.extend(records)


def _jsonl(items: Iterable[dict]) -> str:
    return "".join(json.dumps(item) + "\n" for item in items)
