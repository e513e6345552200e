"""Command-line errors read as one message, not a traceback, for every agdm-zoo command and
scripts/*.py wrapper; --debug (or AGDM_ZOO_DEBUG=1) shows the traceback."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import zoo.cli
from zoo.cli import COMMANDS
from zoo.common.locks import Locked
from zoo.registry.sources import SourceError

ROOT = Path(__file__).resolve().parent.parent


def offline_run(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    """``python *args`` offline with empty caches, from ``tmp_path``."""
    environ = {key: value for key, value in os.environ.items() if key != "AGDM_ZOO_DEBUG"}
    environ.update(HF_HUB_OFFLINE="1", AGDM_ZOO_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
                   HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=environ, capture_output=True, text=True)


@pytest.mark.parametrize("args, prog", [(["-m", "zoo", "download", "agdm-wrn28-cifar10"], "agdm-zoo download"),
                                        ([str(ROOT / "scripts" / "download.py"), "agdm-wrn28-cifar10"], "download.py")])
def test_an_offline_download_is_one_line_and_a_nonzero_exit(tmp_path, args, prog):
    done = offline_run(tmp_path, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and "offline" in lines[0], done.stderr


@pytest.mark.parametrize("how", [["--debug"], []])
def test_debug_shows_the_traceback(tmp_path, how):
    env = {} if how else {"AGDM_ZOO_DEBUG": "1"}
    done = offline_run(tmp_path, "-m", "zoo", *how, "download", "agdm-wrn28-cifar10", **env)
    assert done.returncode != 0 and "Traceback" in done.stderr and "SourceError" in done.stderr


class Bug(Exception):
    """Not an error of the zoo's: a traceback, always."""


@pytest.fixture
def failing_command(monkeypatch):
    """Installs ``agdm-zoo boom``: its ``main`` raises the exception given to the returned function
    (or is the function given, for one that must raise from a frame of its own)."""
    module = types.ModuleType("zoo.cli.boom")
    monkeypatch.setitem(sys.modules, "zoo.cli.boom", module)
    monkeypatch.setitem(COMMANDS, "boom", ("boom", "raises"))
    monkeypatch.delenv("AGDM_ZOO_DEBUG", raising=False)

    def install(err_or_main) -> None:
        def main(argv, prog=None):
            raise err_or_main
        module.main = err_or_main if callable(err_or_main) else main
    return install


@pytest.mark.parametrize("err, text", [
    (ValueError("eps must be >= 0"), "eps must be >= 0"),
    (KeyError("unknown zoo entry 'x'"), "unknown zoo entry 'x'"),
    (FileExistsError("bundle exists"), "bundle exists"),
    (FileNotFoundError("no results"), "no results"),
    (SourceError("hf://x: offline"), "hf://x: offline"),
    (Locked("journal held by pid 1"), "journal held by pid 1"),
])
def test_the_zoos_own_errors_are_one_line_with_status_2(failing_command, capsys, err, text):
    failing_command(err)
    assert zoo.cli.main(["boom", "--x"]) == 2
    assert capsys.readouterr().err == f"agdm-zoo boom: error: {text}\n"
    assert zoo.cli.run("boom", [], prog="boom.py") == 2
    assert capsys.readouterr().err == f"boom.py: error: {text}\n"
    with pytest.raises(type(err)):
        zoo.cli.main(["boom", "--debug"])


@pytest.mark.parametrize("err", [Bug("a bug"), RuntimeError("from torch, not the zoo"), TypeError("bad call")])
def test_other_errors_keep_their_traceback(failing_command, err):
    failing_command(err)
    with pytest.raises(type(err)):
        zoo.cli.main(["boom"])


def test_a_runtime_error_raised_by_the_zoos_code_is_one_line(failing_command, capsys):
    namespace = {}
    exec(compile("def main(argv, prog=None):\n    raise RuntimeError('points outside the ball')\n",
                 str(ROOT / "zoo" / "cli" / "boom.py"), "exec"), namespace)  # as if written in the zoo
    failing_command(namespace["main"])
    assert zoo.cli.main(["boom"]) == 2
    assert capsys.readouterr().err == "agdm-zoo boom: error: points outside the ball\n"


BAD_CALLS = {  # command -> a call the zoo refuses quickly, and a word of the refusal
    "download": (["nope"], "'nope'"), "show": (["nope"], "'nope'"), "diagnose": (["nope"], "'nope'"),
    "publish": (["nope", "--repo", "o/r"], "'nope'"), "submit-kit": (["nope"], "'nope'"),
    "sanity": (["nope"], "'nope'"), "gradient-ablation": (["nope"], "'nope'"),
    "benchmark": (["--threat", "Linf", "--model", "nope"], "'nope'"), "evaluate": (["--model", "nope"], "'nope'"),
    "reproduce": (["99"], "unknown table '99'"), "site": (["--leaderboard", "missing"], "no leaderboard folder"),
    "train-guidance": (["--out", "x.safetensors", "--arch", "resnet18", "--width", "3"], "--width applies"),
    "train-dm": (["--steps", "0", "--out", "dm"], "must be >= 1"), "scale-sweep": (["--split", "test"], "never 'test'"),
    "rejudge": (["missing.safetensors", "--model", "agdm-tiny-mnist"], "missing.safetensors"),
    "compare-runs": (["missing", "other"], "missing holds no per_example"),
    "rank-attacks": (["missing"], "missing holds no per_example"),
}


def test_every_command_reports_a_refused_call_in_one_line(capsys, tmp_path, monkeypatch):
    """The dispatcher's message for each command (lambda-sweep's refusal: tests/test_lambda_sweep.py)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGDM_ZOO_DEBUG", raising=False)
    for command, (argv, word) in BAD_CALLS.items():
        assert zoo.cli.main([command, *argv]) == 2, command
        err = capsys.readouterr().err
        assert err.startswith(f"agdm-zoo {command}: error: ") and word in err and err.count("\n") == 1, err
    assert set(BAD_CALLS) | {"lambda-sweep"} == set(COMMANDS)
    assert not any(tmp_path.iterdir())   # refused before anything was written
