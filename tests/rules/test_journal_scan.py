"""How the journal sorts what it reads back (zoo.running.journal.Journal._scan): a repeated
settings line and a repeated result are dropped by one rewrite, whichever comes first; a healthy
journal is never rewritten; damaged lines are moved aside with their reason; a lost settings line
is restored only when every record proves it by its checksum; every lock it takes tells a second
writer what to do."""
from __future__ import annotations

import json
import os
import re
import warnings

import pytest

from zoo.running import journal as journal_module
from zoo.running.journal import BUSY, Journal, JournalDamaged, JournalRepaired

SPEC = {"model": "tiny", "threat": "Linf", "eps": 0.1, "seed": 3}


def written(tmp_path, records, name="j.jsonl"):
    path = tmp_path / name
    with Journal(path, SPEC, resume=False) as journal:
        journal.append(records)
    return path, path.read_bytes().splitlines(keepends=True)


def reopen_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a repeat is not damage: no warning
        Journal(path, SPEC, resume=True).close()


@pytest.mark.parametrize("at", [1, 2])
def test_a_repeated_settings_line_is_dropped_wherever_it_is(tmp_path, at):
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    path.write_bytes(b"".join(lines[:at] + [lines[0]] + lines[at:]))
    reopen_quietly(path)
    assert path.read_bytes() == b"".join(lines)


def test_a_repeated_settings_line_and_a_repeated_result_are_both_dropped(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    path.write_bytes(b"".join([lines[0], lines[1], lines[0], lines[2], lines[1]]))
    reopen_quietly(path)
    assert path.read_bytes() == b"".join(lines)


def test_a_healthy_journal_is_not_rewritten_when_resumed(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    before = os.stat(path).st_ino
    reopen_quietly(path)
    assert os.stat(path).st_ino == before and path.read_bytes() == b"".join(lines)


@pytest.mark.parametrize("line, reason", [
    (b'{"attack": "a", "index": 0, "adv_p\n', "not JSON (cut short or overwritten)"),
    (b'{"note": "hello"}\n', "not a record (no attack and index)"),
])
def test_a_damaged_line_is_moved_aside_with_its_reason(tmp_path, line, reason):
    path, lines = written(tmp_path, [{"attack": "a", "index": 1}])
    path.write_bytes(b"".join([lines[0], line, lines[1]]))
    with pytest.warns(JournalRepaired):
        Journal(path, SPEC, resume=True).close()
    (moved,) = [json.loads(x) for x in (tmp_path / "j.jsonl.damaged").read_text().splitlines()]
    assert moved["line"] == 2 and moved["reason"] == reason


def test_a_lost_settings_line_is_not_restored_while_any_record_lacks_a_checksum(tmp_path):
    """The first record is from an older version (no checksum), the last is proven: the records
    are not all proven to come from these settings, so the journal is refused, naming why line 1
    is damaged."""
    path, lines = written(tmp_path, [{"attack": "a", "index": 1}])
    old = json.dumps({"attack": "a", "index": 0}).encode() + b"\n"
    path.write_bytes(old + lines[1])
    with pytest.raises(JournalDamaged, match=re.escape("line 1, the run's settings, is damaged (the run's settings "
                                                       "are missing)")):
        Journal(path, SPEC, resume=True)


def test_every_lock_the_journal_takes_tells_a_second_writer_what_to_do(tmp_path, monkeypatch):
    refusals = []
    real = journal_module.lock_file

    def recording(path, refusal):
        refusals.append(refusal)
        return real(path, refusal)

    monkeypatch.setattr(journal_module, "lock_file", recording)
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    path.write_bytes(b"".join([lines[0], lines[1], lines[1], lines[2]]))  # a repeat: rewritten, locked again
    reopen_quietly(path)
    assert len(refusals) == 3 and all(refusal == BUSY for refusal in refusals)


COMMITTED = (os.path.dirname(__file__) + "/../../benchmarks/results/precision-cpu/fp32/journal/"
             "agdm-tiny-mnist_Linf_shard5of20.jsonl")


def test_a_journal_committed_by_an_earlier_run_still_proves_every_record(tmp_path):
    """The checksums bind each record to its run's settings (spec_id): a journal written by an earlier
    version reads back whole, whatever order its settings' keys come in."""
    path = tmp_path / "old.jsonl"
    data = open(COMMITTED, "rb").read()
    path.write_bytes(data)
    spec = json.loads(data.splitlines()[0])["spec"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Journal(path, dict(reversed(list(spec.items()))), resume=True) as journal:
            assert len(journal.records) == len(data.splitlines()) - 1 > 0
    assert path.read_bytes() == data


@pytest.mark.parametrize("line, reason", [
    (b"[1, 2]\n", "not a JSON object"),
    (json.dumps(journal_module._checked({"note": 1}, journal_module.spec_id(SPEC))).encode() + b"\n",
     "not a record (no attack and index)"),
])
def test_other_lines_are_moved_aside_with_their_reason(tmp_path, line, reason):
    path, lines = written(tmp_path, [{"attack": "a", "index": 1}])
    path.write_bytes(b"".join([lines[0], line, lines[1]]))
    with pytest.warns(JournalRepaired):
        Journal(path, SPEC, resume=True).close()
    (moved,) = [json.loads(x) for x in (tmp_path / "j.jsonl.damaged").read_text().splitlines()]
    assert moved["reason"] == reason


def test_a_changed_line_is_moved_aside_saying_whether_it_held_the_settings_or_a_record(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": i, "adv_preds": [i]} for i in range(2)])
    settings = lines[0].replace(b'"seed": 3', b'"seed": 4')  # the settings line edited: its checksum fails
    record = lines[2].replace(b'"adv_preds": [1]', b'"adv_preds": [5]')
    path.write_bytes(b"".join([settings, lines[1], record]))
    with pytest.warns(JournalRepaired):
        Journal(path, SPEC, resume=True).close()
    moved = [json.loads(x) for x in (tmp_path / "j.jsonl.damaged").read_text().splitlines()]
    assert [(m["line"], m["reason"]) for m in moved] == [
        (1, "its checksum does not match"),
        (3, "its checksum does not match (changed, or written with other settings)")]


def test_a_journal_in_a_folder_not_made_yet_makes_it_with_its_parents(tmp_path):
    path = tmp_path / "run" / "journal" / "j.jsonl"
    Journal(path, SPEC, resume=False).close()
    assert json.loads(path.read_bytes().splitlines()[0])["spec"] == SPEC


def test_a_folder_that_cannot_be_made_is_refused_naming_the_journal_and_nothing_is_left_open(tmp_path):
    import gc
    import sys

    from zoo.common.files import StorageError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = blocker / "j.jsonl"
    unraisable, hook = [], sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with pytest.raises(StorageError) as caught:
            Journal(path, SPEC, resume=False)
        message = str(caught.value)
        del caught
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert message.startswith(f"cannot write {path}: ") and message.endswith(". Nothing was written")
    assert "File exists" in message  # mkdir's own words: the folder's name is taken by a file
    assert unraisable == []  # closing the half-made journal raised nothing


def test_a_last_line_complete_but_for_its_newline_is_kept_and_ended(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    path.write_bytes(b"".join(lines)[:-1])  # the last newline lost
    with Journal(path, SPEC, resume=True) as journal:
        assert journal.done() == {("a", 0), ("a", 1)}
    assert path.read_bytes() == b"".join(lines)


def test_a_last_line_cut_short_is_dropped_quietly(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": i} for i in range(2)])
    path.write_bytes(b"".join(lines[:2]) + lines[2][:10])
    reopen_quietly(path)
    assert path.read_bytes() == b"".join(lines[:2])


def test_a_journal_holding_results_is_not_started_afresh_unless_asked(tmp_path):
    path, _ = written(tmp_path, [{"attack": "a", "index": 0}])
    with pytest.raises(FileExistsError, match=re.escape(f"{path} already holds results: pass --resume to continue "
                                                        "that run, or move the file away to start afresh") + "$"):
        Journal(path, SPEC, resume=False)


def test_a_lost_settings_line_that_no_record_proves_is_refused_saying_what_to_do(tmp_path):
    path, lines = written(tmp_path, [{"attack": "a", "index": 1}])
    old = json.dumps({"attack": "a", "index": 0}).encode() + b"\n"  # an older version's record: no checksum
    path.write_bytes(b'{"spec": {"mod\n' + old)
    with pytest.raises(JournalDamaged, match=re.escape(
            f"{path}: line 1, the run's settings, is damaged (not JSON (cut short or overwritten)), and its records "
            "are not all proven to come from this run's settings (by a matching checksum). It cannot be repaired "
            "here: resume with the arguments that made it, or move the file away to start afresh") + "$"):
        Journal(path, SPEC, resume=True)


def test_a_journal_of_nothing_but_a_damaged_settings_line_is_started_again(tmp_path):
    path, lines = written(tmp_path, [])
    path.write_bytes(b'{"spec": {"mod\n')
    with pytest.warns(JournalRepaired):
        Journal(path, SPEC, resume=True).close()
    assert path.read_bytes() == lines[0]


def test_a_journal_larger_than_one_read_reads_back_whole(tmp_path):
    path, _ = written(tmp_path, [{"attack": "a", "index": 0, "note": "x" * (3 << 19)}, {"attack": "a", "index": 1}])
    assert os.path.getsize(path) > 1 << 20
    with Journal(path, SPEC, resume=True) as journal:
        assert journal.done() == {("a", 0), ("a", 1)} and len(journal.records[0]["note"]) == 3 << 19


def test_a_failed_append_is_cut_back_off_and_says_the_journal_is_intact(tmp_path, monkeypatch):
    import errno

    from zoo.common.files import StorageError

    path, lines = written(tmp_path, [{"attack": "a", "index": 0}])
    journal = Journal(path, SPEC, resume=True)

    def half_then_full(fd, data):
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal_module, "_write_all", half_then_full)
    with journal, pytest.raises(StorageError) as caught:
        journal.append([{"attack": "a", "index": 1}])
    message = str(caught.value)
    assert message.startswith(f"cannot write {path}: ") and "No space left on device" in message
    assert message.endswith(". The journal is intact (1 results); once that is fixed, rerun with --resume to "
                            "continue from it")
    assert path.read_bytes() == b"".join(lines) and caught.value.filename == str(path)


def test_an_append_that_cannot_be_cut_back_says_the_last_line_may_be_cut_short(tmp_path, monkeypatch):
    import errno

    from zoo.common.files import StorageError

    path, lines = written(tmp_path, [{"attack": "a", "index": 0}])
    journal = Journal(path, SPEC, resume=True)

    def full(fd, data):
        os.write(fd, data[:5])
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def refuse(fd, length):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(journal_module, "_write_all", full)
    monkeypatch.setattr(journal_module.os, "ftruncate", refuse)
    with journal, pytest.raises(StorageError) as caught:
        journal.append([{"attack": "a", "index": 1}])
    monkeypatch.undo()
    assert str(caught.value).endswith(". The journal's last line may be cut short (resuming drops it); once that "
                                      "is fixed, rerun with --resume to continue from it")
    assert path.read_bytes() == b"".join(lines) + json.dumps({"attack": "a"}).encode()[:5]
    with Journal(path, SPEC, resume=True) as again:  # and resuming does drop it
        assert again.done() == {("a", 0)}


def test_a_journal_may_be_closed_more_than_once_and_then_opened_by_another(tmp_path):
    path, _ = written(tmp_path, [{"attack": "a", "index": 0}])
    journal = Journal(path, SPEC, resume=True)
    journal.close()
    journal.close()
    journal.__del__()
    with Journal(path, SPEC, resume=True) as other:
        assert other.done() == {("a", 0)} and journal.done() == {("a", 0)}
