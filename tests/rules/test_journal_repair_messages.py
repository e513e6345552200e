"""What a journal repair tells the user: a side file that cannot be written stops the repair with
the journal unchanged and names that file; the repaired journal stays locked against a second
writer, who is told what to do; the repair warning points at the caller's line; a conflict and a
settings mismatch are explained in full."""
from __future__ import annotations

import os
import re

import pytest

from zoo.common.files import StorageError
from zoo.common.locks import Locked
from zoo.running.journal import BUSY, Journal, JournalConflict, JournalMismatch, JournalRepaired

SPEC = {"model": "tiny", "threat": "Linf", "eps": 0.1, "seed": 3}


def damaged_journal(tmp_path):
    """A journal of two records whose second record line was edited (its checksum fails)."""
    path = tmp_path / "j.jsonl"
    with Journal(path, SPEC, resume=False) as journal:
        journal.append([{"attack": "a", "index": i, "adv_preds": [i]} for i in range(2)])
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1] + lines[2].replace(b'"adv_preds": [1]', b'"adv_preds": [5]'))
    return path


def test_an_unwritable_side_file_stops_the_repair_naming_it_and_leaves_the_journal_unchanged(tmp_path):
    path = damaged_journal(tmp_path)
    before = path.read_bytes()
    side = tmp_path / "j.jsonl.damaged"
    side.mkdir()  # opening it for appending fails (IsADirectoryError), whoever runs the test
    with pytest.raises(StorageError) as caught:
        Journal(path, SPEC, resume=True)
    message = str(caught.value)
    assert message.startswith(f"cannot write {side}: ") and message.endswith(". The journal is unchanged")
    assert "Is a directory" in message and caught.value.filename == str(side)
    assert path.read_bytes() == before
    side.rmdir()
    with pytest.warns(JournalRepaired):  # once the side file can be written, the same journal is repaired
        Journal(path, SPEC, resume=True).close()


def test_the_repaired_journal_is_locked_and_a_second_writer_is_told_what_to_do(tmp_path):
    path = damaged_journal(tmp_path)
    with pytest.warns(JournalRepaired):
        journal = Journal(path, SPEC, resume=True)
    with journal:
        with pytest.raises(Locked, match=f"^{re.escape(str(path))} is in use by .*{re.escape(BUSY)}$"):
            Journal(path, SPEC, resume=True)


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ, reason="mutmut's trampolines add frames between the "
                    "journal and its caller, so no stack level names the caller's line there")
def test_the_repair_warning_points_at_the_line_that_opened_the_journal(tmp_path):
    path = damaged_journal(tmp_path)
    with pytest.warns(JournalRepaired) as caught:
        Journal(path, SPEC, resume=True).close()  # this line
    (warning,) = caught.list
    assert warning.filename == __file__ and "Journal(path, SPEC, resume=True).close()  # this line" in \
        open(__file__).read().splitlines()[warning.lineno - 1]


def test_a_conflict_says_how_it_arises_and_what_to_do(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path, SPEC, resume=False) as journal:
        journal.append([{"attack": "a", "index": 0, "adv_preds": [1]}])
    other = tmp_path / "k.jsonl"
    with Journal(other, SPEC, resume=False) as journal:
        journal.append([{"attack": "a", "index": 0, "adv_preds": [2]}])
    path.write_bytes(path.read_bytes() + other.read_bytes().splitlines(keepends=True)[1])
    with pytest.raises(JournalConflict, match=re.escape(
            f"{path}: lines 2 and 3 both hold the result of a on example 0, and they differ (in ['adv_preds']). "
            "A journal gets two results of one example only when it was edited or written by two processes at "
            "once; which one is right cannot be told here: delete the wrong line (or move the journal away and "
            "start afresh), then --resume") + "$"):
        Journal(path, SPEC, resume=True)


def test_a_settings_mismatch_names_the_differing_settings_and_what_to_do(tmp_path):
    path = tmp_path / "j.jsonl"
    Journal(path, SPEC, resume=False).close()
    with pytest.raises(JournalMismatch, match=re.escape(
            f"{path} was written with other settings (differing: ['eps']); use the same arguments to resume, "
            "or another --out for new settings") + "$"):
        Journal(path, {**SPEC, "eps": 0.2}, resume=True)
