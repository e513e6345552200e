"""Issue 21 item 6: the command line picks torch's CPU threads once at start-up: one by default
(so a job beside another degrades gracefully), overridable by --threads or AGDM_ZOO_THREADS."""
from __future__ import annotations

import pytest
import torch

from zoo.common import threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_one_thread_unless_the_user_says_otherwise(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
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
    torch.set_num_threads(2)
    assert cli.main(["evaluate", "--model", "m"]) == 0
    assert cli.main(["evaluate", "--threads", "2", "--model", "m"]) == 0
    assert cli.main(["evaluate", "--threads=3"]) == 0
    assert seen == [(["--model", "m"], 1), (["--model", "m"], 2), ([], 3)]
    assert cli.main(["evaluate", "--threads", "0"]) == 2
    assert "--threads must be a whole number >= 1" in capsys.readouterr().err
