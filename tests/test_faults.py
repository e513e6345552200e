"""Fault injection: a benchmark run survives kills, damaged journals, a second writer and storage
faults. After each fault, resuming ends with the tables of an uninterrupted run, every finished
record is kept as it was, and only what was missing is recorded again (a batch that is partly
recorded is attacked whole, so its seed stays the one an uninterrupted run used)."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from zoo.running import journal as journal_module
from zoo.running import loop
from zoo.running.journal import CHECK, Journal, JournalDamaged, JournalRepaired, spec_id, _checked

from helpers import benchmark_cli

ENTRY = "diffpure-tiny-mnist"  # stochastic purification: each batch's seed matters
N, BATCH = 6, 2  # three batches of two
ARGS = ["--threat", "Linf", "--model", ENTRY, "--attack", "pgd-eot", "--n-examples", str(N), "--batch-size", str(BATCH)]
TABLES = (f"per_example_{ENTRY}_Linf.csv", "summary_Linf.csv")
JOURNAL = Path("journal") / f"{ENTRY}_Linf.jsonl"
cli = benchmark_cli()
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"  # the command a user runs
pytestmark = pytest.mark.usefixtures("one_thread")  # as the subprocesses (OMP_NUM_THREADS=1) compute


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread):
    """An uninterrupted run: its tables and journal lines."""
    out = tmp_path_factory.mktemp("reference")
    assert cli.main([*ARGS, "--out", str(out)]) == 0
    return {"tables": {name: (out / name).read_text() for name in TABLES},
            "lines": (out / JOURNAL).read_bytes().splitlines()}


@pytest.fixture
def attacked(monkeypatch):
    """The size of every batch attacked in this process."""
    sizes: list[int] = []
    build = loop.build_attack

    def counting(*args, **kwargs):
        attack = build(*args, **kwargs)
        return lambda x, y: sizes.append(len(x)) or attack(x, y)

    monkeypatch.setattr(loop, "build_attack", counting)
    return sizes


def result(line: bytes) -> tuple:
    """A record line's key and result (without its wall time and checksum)."""
    record = json.loads(line)
    body = {k: v for k, v in record.items() if k not in ("seconds", CHECK)}
    return record["attack"], record["index"], json.dumps(body, sort_keys=True)


def valid_record_lines(path: Path) -> list[bytes]:
    """The journal's record lines that parse (a last line cut short by a kill does not)."""
    lines = []
    for raw in (path.read_bytes() if path.exists() else b"").split(b"\n")[1:]:
        try:
            if "index" in json.loads(raw):
                lines.append(raw)
        except ValueError:
            pass
    return lines


def resume_and_check(out: Path, reference, kept: list[bytes], attacked: list[int]) -> list[bytes]:
    """Resume in this process; check the tables, that every kept record line is still there
    verbatim, that exactly the missing examples were recorded, once each, and attacked in whole
    batches. Returns the new lines."""
    have = {result(line)[:2] for line in kept}
    missing = {(a, i) for a, i, _ in map(result, reference["lines"][1:])} - have
    attacked.clear()
    assert cli.main([*ARGS, "--out", str(out), "--resume"]) == 0
    for name in TABLES:
        assert (out / name).read_text() == reference["tables"][name], name
    final = (out / JOURNAL).read_bytes().splitlines()
    assert sorted(map(result, final[1:])) == sorted(map(result, reference["lines"][1:]))  # each result once
    assert set(kept) <= set(final)  # no finished record lost or changed
    new = [line for line in final[1:] if line not in set(kept)]
    assert {result(line)[:2] for line in new} == missing and len(new) == len(missing)
    assert sorted(attacked) == [BATCH] * len({i // BATCH for _, i in missing})
    return new


def cut(line: bytes) -> bytes:
    return line[: len(line) // 2]


# (journal lines -> damaged journal bytes, the example indices that must be computed again, reported?)
DAMAGES = {
    "a damaged middle line": (lambda L: L[:3] + [cut(L[3])] + L[4:], {2}, True),
    "a changed value that still parses": (
        lambda L: L[:2] + [L[2].replace(b'"label": ', b'"label": 1')] + L[3:], {1}, True),
    "a lost line": (lambda L: L[:5] + L[6:], {4}, False),
    "a duplicated line": (lambda L: L[:5] + [L[2]] + L[5:], set(), False),
    "a cut settings line": (lambda L: [cut(L[0])] + L[1:], set(), True),
    "a torn last line": (lambda L: L[:-1] + [cut(L[-1])], {5}, False),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_journal_resumes_to_the_uninterrupted_tables(damage, reference, tmp_path, attacked):
    make, recompute, reported = DAMAGES[damage]
    lines = make(list(reference["lines"]))
    path = tmp_path / JOURNAL
    path.parent.mkdir()
    path.write_bytes(b"\n".join(lines) + (b"" if damage == "a torn last line" else b"\n"))
    kept = [line for line in reference["lines"][1:] if line in lines]
    assert {result(line)[1] for line in reference["lines"][1:]} - {result(line)[1] for line in kept} == recompute
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resume_and_check(tmp_path, reference, kept, attacked)
    repaired = [str(w.message) for w in caught if issubclass(w.category, JournalRepaired)]
    assert len(repaired) == reported
    side = path.with_name(path.name + ".damaged")
    if reported:
        moved = [json.loads(line) for line in side.read_text().splitlines()]
        assert [m["text"].encode() for m in moved] == [line for line in lines if line not in reference["lines"]]
        assert f"({moved[0]['line']})" in repaired[0]
    else:
        assert not side.exists()
    with warnings.catch_warnings(record=True) as caught:  # reported once: the journal is clean now
        warnings.simplefilter("always")
        resume_and_check(tmp_path, reference, (tmp_path / JOURNAL).read_bytes().splitlines()[1:], attacked)
    assert not [w for w in caught if issubclass(w.category, JournalRepaired)] and attacked == []


def test_two_different_results_of_one_example_stop_with_both_lines_named(reference, tmp_path, capsys):
    spec = json.loads(reference["lines"][0])["spec"]
    other = {k: v for k, v in json.loads(reference["lines"][3]).items() if k != CHECK}
    other["adv_preds"] = [(p + 1) % 10 for p in other["adv_preds"]]  # as a second writer might have found
    path = tmp_path / JOURNAL
    path.parent.mkdir()
    text = b"\n".join([*reference["lines"], json.dumps(_checked(other, spec_id(spec))).encode()]) + b"\n"
    path.write_bytes(text)
    assert cli.main([*ARGS, "--out", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "lines 4 and 8" in err and f"example {other['index']}" in err and "adv_preds" in err
    assert path.read_bytes() == text  # nothing picked, nothing dropped


def test_a_lost_settings_line_is_repaired_only_when_the_records_prove_it(reference, tmp_path):
    spec = json.loads(reference["lines"][0])["spec"]
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"\n".join(reference["lines"][1:]) + b"\n")  # line 1 lost
    with pytest.warns(JournalRepaired, match="line 1, the run's settings, was rewritten"):
        assert len(Journal(path, spec, resume=True).records) == N
    legacy = [json.dumps({k: v for k, v in json.loads(line).items() if k != CHECK}).encode()
              for line in reference["lines"][1:]]  # a journal from before checksums
    for records, settings in ((legacy, spec), (reference["lines"][1:], {**spec, "seed": 1})):
        path.write_bytes(b"\n".join([cut(reference["lines"][0]), *records]) + b"\n")
        with pytest.raises(JournalDamaged, match="cannot be repaired"):
            Journal(path, settings, resume=True)
        assert path.read_bytes().count(b"\n") == N + 1  # left as it was


@pytest.mark.parametrize("full_at", [1, 3])  # the settings line; half-way through the second batch
def test_a_full_disk_is_a_clear_error_and_the_journal_resumes(full_at, reference, tmp_path, monkeypatch, capsys,
                                                              attacked):
    write, calls = journal_module._write_all, []

    def full(fd, data):
        calls.append(len(data))
        if len(calls) == full_at:
            write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write(fd, data)

    with monkeypatch.context() as patch:
        patch.setattr(journal_module, "_write_all", full)
        assert cli.main([*ARGS, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "disk is full" in err and "--resume" in err and str(tmp_path / JOURNAL) in err
    assert sum(attacked) == BATCH * (full_at - 1)  # stopped at the failed write
    lines = (tmp_path / JOURNAL).read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])  # valid, nothing cut short
    kept = lines[1:-1]
    assert len(kept) == BATCH * (full_at - 2 if full_at > 1 else 0)
    if full_at == 1:
        return  # nothing journaled (an empty journal starts afresh: test_journal.py)
    resume_and_check(tmp_path, reference, kept, attacked)

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:  # the tables: the old ones stay whole
        patch.setattr(journal_module.os, "replace", no_space)
        assert cli.main([*ARGS, "--out", str(tmp_path), "--resume"]) == 2
    assert "disk is full" in capsys.readouterr().err
    assert all((tmp_path / name).read_text() == reference["tables"][name] for name in TABLES)
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_unwritable_output_folder_is_a_clear_error_before_any_work(tmp_path, monkeypatch, capsys, attacked):
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: refuse as a read-only folder does
        def refuse(path, refusal):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        monkeypatch.setattr(journal_module, "lock_file", refuse)
    else:
        out.chmod(0o500)
    try:
        assert cli.main([*ARGS, "--out", str(out)]) == 2
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert "not writable" in err and str(out / "journal") in err and attacked == []


def test_killed_at_random_moments_and_a_second_writer(reference, tmp_path, capsys, attacked):
    """SIGKILL the command line at random moments (before, between and after its writes), resuming
    after each; while one run holds the journal, a second writer is refused with its pid and command.
    Every kill keeps what was journaled before it; the last resume ends with the reference tables."""
    rng = random.Random(2026)
    out = tmp_path / "killed"
    path = out / JOURNAL
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    kept: list[bytes] = []
    kills = refusals = 0
    trace = []  # (round, records waited for, records after the kill, finished)
    for round_ in range(3):
        resume = ["--resume"] if round_ else []
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *ARGS, "--out", str(out), *resume],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # records to wait for (the first run: at least one batch); as many as there are: a random delay
        target = rng.randint(max(len(kept), round_ == 0), N - BATCH)
        deadline = time.time() + 300
        if target == len(kept):
            time.sleep(rng.uniform(0.0, 2.5))
        while proc.poll() is None and time.time() < deadline and len(valid_record_lines(path)) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGSTOP)
        now = valid_record_lines(path)
        if proc.poll() is None and len(kept) < len(now) < N:  # it wrote, so it holds the journal
            assert cli.main([*ARGS, "--out", str(out), "--resume"]) == 2
            err = capsys.readouterr().err
            assert f"in use by process {proc.pid} (" in err and "benchmark.py" in err and "--shard i/n" in err
            refusals += 1
        proc.send_signal(signal.SIGKILL)
        stderr = proc.communicate()[1].decode()
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        finished = proc.returncode == 0
        now = valid_record_lines(path)
        assert set(kept) <= set(now), "a kill lost finished records"
        if round_ and "results journaled" in stderr:  # what the resumed run set out to compute
            assert f"{len(kept)} of {N} results journaled, {N - len(kept)} to compute" in stderr
        kept = now
        trace.append((round_, target, len(kept), finished))
        if finished:
            break
        kills += 1
    assert kills >= 2 and refusals >= 1, trace
    resume_and_check(out, reference, kept, attacked)
