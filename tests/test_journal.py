"""Nothing lost: journaled evaluation resumes after a crash, refuses mixed settings, and shards
merge into exactly the unsharded result."""
from __future__ import annotations

import pytest
import torch

from zoo.attacks import PGDEOT
from zoo.running.loop import run_attacks
from zoo.running.shards import shard_batches
from zoo.running.journal import Journal, JournalConflict, JournalMismatch
from zoo.common.locks import Locked

from helpers import tiny_model

SPEC = {"model": "tiny", "threat": "Linf", "eps": 0.1, "seed": 3}


@pytest.fixture(scope="module")
def setup():
    model = tiny_model("robust", dtype=torch.float32, t_star=3)
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(10) % 10
    attacks = {"pgd-eot": PGDEOT(model, norm="Linf", eps=0.1, steps=2, eot=2)}
    return model, x, y, attacks


def run(setup, journal, shard=(0, 1), attacks=None):
    model, x, y, default = setup
    run_attacks(model, x, y, attacks or default, journal, seed=3, draws=3, batch_size=4, shard=shard,
                progress=False)
    timeless = [{k: v for k, v in r.items() if k != "seconds"} for r in journal.records]  # wall time varies
    return sorted(timeless, key=lambda r: (r["attack"], r["index"]))


def test_crash_then_resume_equals_an_uninterrupted_run(setup, tmp_path):
    reference = run(setup, Journal(tmp_path / "ref.jsonl", SPEC, resume=False))
    assert [r["index"] for r in reference] == list(range(10))
    calls = {"n": 0}
    pgd = setup[3]["pgd-eot"]

    def crashing(x, y):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return pgd(x, y)

    path = tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run(setup, Journal(path, SPEC, resume=False), attacks={"pgd-eot": crashing})
    assert len(Journal(path, SPEC, resume=True).records) == 4  # the first batch survived
    with open(path, "a") as fh:
        fh.write('{"attack": "pgd-eot", "ind')  # a line cut short by the kill
    seen = []
    counting = {"pgd-eot": lambda x, y: seen.append(len(x)) or pgd(x, y)}
    resumed = run(setup, Journal(path, SPEC, resume=True), attacks=counting)
    assert seen == [4, 2]  # only the unfinished batches were attacked again
    assert resumed == reference


def test_shards_merge_into_the_unsharded_run(setup, tmp_path):
    reference = run(setup, Journal(tmp_path / "ref.jsonl", SPEC, resume=False))
    merged = []
    for i in range(3):
        merged += run(setup, Journal(tmp_path / f"shard{i}.jsonl", SPEC, resume=False), shard=(i, 3))
    assert sorted(merged, key=lambda r: (r["attack"], r["index"])) == reference


def test_shards_are_disjoint_and_cover_everything():
    owned = [i for s in range(3) for _, idx in shard_batches(23, 4, (s, 3)) for i in idx]
    assert sorted(owned) == list(range(23))
    with pytest.raises(ValueError, match="shard must be i/n"):
        shard_batches(23, 4, (3, 2))


def test_existing_journal_is_never_overwritten_or_mixed(tmp_path):
    path = tmp_path / "j.jsonl"
    Journal(path, SPEC, resume=False).append([{"attack": "a", "index": 0}])
    with pytest.raises(FileExistsError, match="--resume"):
        Journal(path, SPEC, resume=False)
    with pytest.raises(JournalMismatch, match=r"differing: \['eps'\]"):
        Journal(path, {**SPEC, "eps": 0.2}, resume=True)
    assert Journal(path, SPEC, resume=True).done() == {("a", 0)}


def test_one_writer_at_a_time_and_a_dead_writer_blocks_nothing(tmp_path):
    """A second holder is refused at once, named by pid and command; the lock of a process killed
    while holding the journal is gone with it."""
    import os
    import subprocess
    import sys

    path = tmp_path / "j.jsonl"
    with Journal(path, SPEC, resume=False):
        with pytest.raises(Locked, match=rf"in use by process {os.getpid()} \(.*--shard i/n"):
            Journal(path, SPEC, resume=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from zoo.running.journal import Journal; "
                               f"j = Journal({str(path)!r}, {SPEC!r}, resume=True); print('held', flush=True); "
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(Locked) as refused:
            Journal(path, SPEC, resume=True)
        # the command is cut at 300 characters (a long venv path can push the end of ``-c`` past it)
        assert refused.value.pid == holder.pid and "from zoo.running.journal import" in refused.value.command
    finally:
        holder.kill()
        holder.wait()
    assert Journal(path, SPEC, resume=True).done() == set()


def test_a_result_is_recorded_once(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, SPEC, resume=False)
    journal.append([{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 1.0}])
    journal.append([{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 2.0}])  # the same result: kept once
    assert len(path.read_text().splitlines()) == 2
    with pytest.raises(JournalConflict, match="another result of a on example 0"):
        journal.append([{"attack": "a", "index": 0, "adv_preds": [2]}])
    assert [r["seconds"] for r in journal.records] == [1.0]


@pytest.mark.parametrize("left", [b"", b'{"spec": {"model": "ti'])
def test_a_journal_killed_before_its_first_line_was_whole_starts_afresh(tmp_path, left):
    path = tmp_path / "j.jsonl"
    path.write_bytes(left)
    journal = Journal(path, SPEC, resume=False)
    journal.append([{"attack": "a", "index": 0}])
    journal.close()
    assert Journal(path, SPEC, resume=True).done() == {("a", 0)}
    assert len(path.read_text().splitlines()) == 2
