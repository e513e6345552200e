"""What the journal does with what it reads back: a damaged line is moved aside (with its line
number and reason) and reported once, valid records are kept and the file rewritten without it; an
example recorded twice is one record when the results agree (the copy dropped from the file) and
refused, naming both lines, when they differ."""
from __future__ import annotations

import json
import warnings

import pytest

from zoo.running.journal import Journal, JournalConflict, JournalRepaired

SPEC = {"model": "tiny", "threat": "Linf", "eps": 0.1, "seed": 3}


def journal_lines(tmp_path, name, records):
    path = tmp_path / name
    with Journal(path, SPEC, resume=False) as journal:
        journal.append(records)
    return path.read_bytes().splitlines(keepends=True)


def test_a_damaged_line_is_moved_aside_and_the_valid_records_kept(tmp_path):
    lines = journal_lines(tmp_path, "j.jsonl", [{"attack": "a", "index": i, "adv_preds": [i]} for i in range(3)])
    path = tmp_path / "j.jsonl"
    damaged = lines[2].replace(b'"adv_preds": [1]', b'"adv_preds": [7]')  # parses, but its checksum fails
    path.write_bytes(b"".join([lines[0], lines[1], damaged, lines[3]]))
    with pytest.warns(JournalRepaired, match=r"1 damaged line\(s\) \(3\) moved to \S+\.damaged; the 2 valid records are kept"):
        journal = Journal(path, SPEC, resume=True)
    with journal:
        assert journal.done() == {("a", 0), ("a", 2)}
    (side,) = (tmp_path / "j.jsonl.damaged").read_text().splitlines()
    moved = json.loads(side)
    assert moved["line"] == 3 and "checksum" in moved["reason"] and moved["text"] == damaged.decode().rstrip("\n")
    assert path.read_bytes() == b"".join([lines[0], lines[1], lines[3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired once: reopening reports nothing
        Journal(path, SPEC, resume=True).close()


def test_the_same_result_twice_is_one_record_and_the_copy_dropped(tmp_path):
    lines = journal_lines(tmp_path, "j.jsonl", [{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 1.0}])
    again = journal_lines(tmp_path, "k.jsonl", [{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 9.0}])
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(lines + again[1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a repeated result is not damage
        with Journal(path, SPEC, resume=True) as journal:
            assert journal.records == [{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 1.0}]
    assert path.read_bytes() == b"".join(lines)


def test_two_different_results_of_one_example_are_refused_naming_both_lines(tmp_path):
    lines = journal_lines(tmp_path, "j.jsonl", [{"attack": "a", "index": 0, "adv_preds": [1]},
                                                {"attack": "a", "index": 1, "adv_preds": [1]}])
    other = journal_lines(tmp_path, "k.jsonl", [{"attack": "a", "index": 0, "adv_preds": [2]}])
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(lines + other[1:]))
    with pytest.raises(JournalConflict, match=r"lines 2 and 4 both hold the result of a on example 0.*in \['adv_preds'\]"):
        Journal(path, SPEC, resume=True)
    assert path.read_bytes() == b"".join(lines + other[1:])  # left as it was


def test_a_lost_settings_line_proven_by_the_records_is_rewritten_and_nothing_moved(tmp_path):
    lines = journal_lines(tmp_path, "j.jsonl", [{"attack": "a", "index": i} for i in range(2)])
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(lines[1:]))  # line 1 lost; both records carry this run's checksum
    with pytest.warns(JournalRepaired, match=r"0 damaged line\(s\) \(none\) moved to .* \(line 1, the run's "
                                             r"settings, was rewritten from them\); the 2 valid records are kept, "
                                             r"and any result on a damaged line is computed again"):
        Journal(path, SPEC, resume=True).close()
    assert path.read_bytes() == b"".join(lines)
    assert not (tmp_path / "j.jsonl.damaged").exists()


def test_every_damaged_line_is_moved_whatever_its_bytes(tmp_path):
    lines = journal_lines(tmp_path, "j.jsonl", [{"attack": "a", "index": i} for i in range(2)])
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join([lines[0], b"\xff\xfe not text\n", lines[1], b"[1, 2]\n", lines[2]]))
    with pytest.warns(JournalRepaired, match=r"2 damaged line\(s\) \(2, 4\) moved"):
        Journal(path, SPEC, resume=True).close()
    moved = [json.loads(line) for line in (tmp_path / "j.jsonl.damaged").read_text().splitlines()]
    assert [(m["line"], m["text"]) for m in moved] == [(2, "\\xff\\xfe not text"), (4, "[1, 2]")]
    assert "not a JSON object" in moved[1]["reason"]
