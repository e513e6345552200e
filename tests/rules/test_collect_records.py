"""A run's journals read back (zoo.running.loop.journal_path, collect_records): one journal per
(model, threat), one per shard when sharded; the records merged from every shard journal, refused
when two journals hold one example or when any result is missing."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from zoo.running.journal import Journal
from zoo.running.loop import collect_records, journal_path


def settings(model="m", attacks=("a", "b"), n=3):
    spec = {"model": model, "threat": "Linf", "n": n}
    return SimpleNamespace(model=model, threat="Linf", attacks=list(attacks), n_examples=n, spec=lambda: spec)


def test_journals_are_named_by_model_threat_and_shard(tmp_path):
    s = settings()
    assert journal_path(tmp_path, s, (0, 1)) == tmp_path / "journal" / "m_Linf.jsonl"
    assert journal_path(tmp_path, s, (2, 5)) == tmp_path / "journal" / "m_Linf_shard2of5.jsonl"


def write(tmp_path, s, shard, keys):
    with Journal(journal_path(tmp_path, s, shard), s.spec(), resume=False) as journal:
        journal.append([{"attack": a, "index": i, "shard": shard[0]} for a, i in keys])


def test_the_records_of_every_shard_journal_are_merged(tmp_path):
    s, other = settings(), settings(model="m2", attacks=("a",), n=1)
    write(tmp_path, s, (0, 2), [("a", 0), ("b", 0), ("a", 2), ("b", 2)])
    write(tmp_path, s, (1, 2), [("a", 1), ("b", 1)])
    write(tmp_path, other, (0, 1), [("a", 0)])
    records = collect_records(tmp_path, [s, other])
    assert sorted((r["shard"], r["attack"], r["index"]) for r in records) == sorted(
        [(0, "a", 0), (0, "b", 0), (0, "a", 2), (0, "b", 2), (1, "a", 1), (1, "b", 1), (0, "a", 0)])


def test_an_example_in_two_journals_is_refused(tmp_path):
    s = settings(attacks=("a",), n=2)
    write(tmp_path, s, (0, 2), [("a", 0), ("a", 1)])
    write(tmp_path, s, (1, 2), [("a", 1)])
    second = journal_path(tmp_path, s, (1, 2))
    message = f"{second} repeats examples of another journal of m: mixed shard layouts?"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        collect_records(tmp_path, [s])


def test_a_missing_result_is_refused_saying_how_many_and_what_to_do(tmp_path):
    s = settings()
    write(tmp_path, s, (0, 2), [("a", 0), ("b", 0)])
    message = "m Linf: 4 of 6 results missing; finish every shard (same arguments, --resume) before writing tables"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        collect_records(tmp_path, [s])
