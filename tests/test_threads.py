"""Issue 21 item 6: the command line picks torch's CPU threads once at start-up: the cores no other
process uses (so a job started beside another takes one thread and degrades gracefully),
overridable by --threads or AGDM_ZOO_THREADS."""
from __future__ import annotations

import pytest
import torch

from zoo.common import threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def fake_stat(monkeypatch, busy_cores: float, cores: int = 2):
    """/proc/stat as seen while ``busy_cores`` of ``cores`` are in use."""
    ticks = iter([(0.0, 0.0), (busy_cores * 100.0, cores * 100.0)])
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(ticks))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)


@pytest.mark.parametrize("busy, expected", [(0.05, 2), (0.9, 1), (2.0, 1)])
def test_the_default_is_the_cores_no_one_else_uses(monkeypatch, busy, expected):
    fake_stat(monkeypatch, busy)
    assert threads.free_cores(seconds=0) == expected


def test_one_thread_where_the_load_cannot_be_read(monkeypatch):
    def unreadable():
        raise OSError("no /proc")
    monkeypatch.setattr(threads, "_cpu_times", unreadable)
    assert threads.free_cores(seconds=0) == 1


def test_the_user_overrides_the_default(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    fake_stat(monkeypatch, 0.9)
    assert threads.cpu_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.cpu_threads() == 3
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.cpu_threads() == 2 and threads.cpu_threads("4") == 4
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ValueError, match="AGDM_ZOO_THREADS must be a whole number"):
        threads.cpu_threads()


def test_the_command_line_sets_the_threads_before_the_command_runs(monkeypatch, restore_threads, capsys):
    import zoo.cli as cli
    from zoo.cli import evaluate

    seen = []
    monkeypatch.setattr(evaluate, "main", lambda argv, prog: seen.append((argv, torch.get_num_threads())) or 0)
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # another job holds a core
    torch.set_num_threads(2)
    assert cli.main(["evaluate", "--model", "m"]) == 0
    assert cli.main(["evaluate", "--threads", "2", "--model", "m"]) == 0
    assert cli.main(["evaluate", "--threads=3"]) == 0
    assert seen == [(["--model", "m"], 1), (["--model", "m"], 2), ([], 3)]
    assert cli.main(["evaluate", "--threads", "0"]) == 2
    assert "--threads must be a whole number >= 1" in capsys.readouterr().err
