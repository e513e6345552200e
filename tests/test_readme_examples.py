"""Every Python and shell example of the README works as written.

Unmarked examples run, each in a subprocess from a temporary folder (``scripts/`` linked there, as
in a checkout; ``python`` and ``agdm-zoo`` are this interpreter; offline). Examples marked
``<!-- example: parse-only (why) -->`` are checked without running: Python compiles and its imports
are executed in a subprocess; each shell command's arguments are parsed by the real argparse parser
of the agdm-zoo command or Python file it calls, so a renamed or removed flag fails here.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from readme_examples import ROOT, Command, Example, ReadmeFormatError, command, examples, python_imports, \
    shell_commands

TIMEOUT_S = 300


class Parsed(Exception):
    """Raised by the patched argparse once a command's arguments parsed: nothing runs after it."""


def environment(folder: Path) -> dict[str, str]:
    """The examples' environment: this checkout's zoo, one thread, offline, a private cache, and
    ``python`` / ``agdm-zoo`` on PATH meaning this interpreter."""
    shims = folder / ".bin"
    shims.mkdir(exist_ok=True)
    for name, line in (("python", '"$@"'), ("python3", '"$@"'), ("agdm-zoo", '-m zoo "$@"')):
        (shims / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {line}\n')
        (shims / name).chmod(0o755)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PATH=f"{shims}{os.pathsep}{os.environ.get('PATH', '')}", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               MPLBACKEND="Agg", AGDM_ZOO_CACHE=str(folder / ".cache" / "agdm-zoo"))
    return env


def run_in(folder: Path, args: list[str], what: str) -> None:
    """Run ``args`` from ``folder``; a non-zero exit fails with the output's tail."""
    (folder / "scripts").symlink_to(ROOT / "scripts")
    done = subprocess.run(args, cwd=folder, env=environment(folder), capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, f"{what} failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}"


def check_python(example: Example, folder: Path) -> None:
    """Run a Python example, or (parse-only) compile it and execute its imports."""
    code = example.code if example.runs else python_imports(example.code)
    if not example.runs:
        compile(example.code, f"README.md:{example.line}", "exec")
    (folder / "example.py").write_text(code)
    run_in(folder, [sys.executable, "example.py"], f"README example at line {example.line}"
           + ("" if example.runs else " (its imports)"))


def parse_arguments(cmd: Command, monkeypatch) -> None:
    """Parse ``cmd``'s arguments with its real argparse parser and stop there (nothing runs)."""
    if cmd.kind == "tool":
        return check_tool(cmd)
    stop_after_parsing(monkeypatch)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if cmd.kind == "zoo":
                from zoo.cli import main

                main([cmd.target, *cmd.argv])
            else:
                run_file(cmd, monkeypatch)
    except Parsed:
        return
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"{cmd.target} {' '.join(cmd.argv)}: {err.getvalue().strip()}"
        return
    raise AssertionError(f"{cmd.target} did not parse its arguments with argparse")


def run_file(cmd: Command, monkeypatch) -> None:
    """Run a Python file of the checkout as ``python FILE ARGS`` would (until it has parsed them)."""
    path = ROOT / cmd.target
    assert path.is_file(), f"the README runs {cmd.target}, which is not in the checkout"
    monkeypatch.setattr(sys, "argv", [str(path), *cmd.argv])
    monkeypatch.syspath_prepend(str(path.parent))
    runpy.run_path(str(path), run_name="__main__")


def stop_after_parsing(monkeypatch) -> None:
    """Make every ArgumentParser raise :class:`Parsed` right after a successful parse."""
    parse_args, parse_known_args = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args
    inside = []

    def parse_args_then_stop(self, args=None, namespace=None):
        inside.append(True)
        try:
            parsed = parse_args(self, args, namespace)
        finally:
            inside.pop()
        raise Parsed(parsed)

    def parse_known_args_then_stop(self, args=None, namespace=None):
        parsed = parse_known_args(self, args, namespace)
        if inside:
            return parsed
        raise Parsed(parsed)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args_then_stop)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_known_args_then_stop)


def check_tool(cmd: Command) -> None:
    """Set-up tools: a ``pip install -e .[extras]`` must name extras the project declares."""
    if cmd.target != "pip":
        return
    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    for i, word in enumerate(cmd.argv[:-1]):
        if word == "-e" and cmd.argv[i + 1].startswith(".["):
            extras = cmd.argv[i + 1][2:].rstrip("]").split(",")
            missing = [e for e in extras if e.strip() not in declared]
            assert not missing, f"pip install -e {cmd.argv[i + 1]}: pyproject.toml declares no extra {missing}"


def check_example(example: Example, folder: Path, monkeypatch) -> None:
    if example.language == "python":
        return check_python(example, folder)
    if example.runs:
        return run_in(folder, ["bash", "-euo", "pipefail", "-c", example.code], f"README example at line {example.line}")
    for words in shell_commands(example.code):
        parse_arguments(command(words), monkeypatch)


def _all_examples() -> list[Example]:
    try:
        return examples()
    except ReadmeFormatError as err:  # reported by test_the_readme_is_readable
        print(err)
        return []


@pytest.mark.parametrize("example", _all_examples(), ids=lambda e: e.name)
def test_readme_example_works_as_written(example, tmp_path, monkeypatch):
    check_example(example, tmp_path, monkeypatch)


def test_the_readme_is_readable_and_has_both_kinds_of_example():
    found = examples()
    assert {e.language for e in found if e.runs} == {"python", "bash"}
    assert {e.language for e in found if not e.runs} == {"python", "bash"}


# ---- the checker itself can fail


def test_a_renamed_or_removed_flag_fails_the_parse_check(monkeypatch):
    parse_arguments(command(["agdm-zoo", "benchmark", "--threat", "Linf"]), monkeypatch)
    for words in (["agdm-zoo", "benchmark", "--threat", "Linf", "--no-such-flag"],
                  ["python", "scripts/benchmark.py", "--threat", "Linf", "--no-such-flag"],
                  ["agdm-zoo", "no-such-command"], ["python", "scripts/no_such_script.py"]):
        with pytest.raises(AssertionError, match="no-such|no_such"):
            parse_arguments(command(words), monkeypatch)


def test_shell_examples_split_into_commands_and_unknown_ones_are_refused():
    code = 'A=1 python scripts/x.py --a [--b] && agdm-zoo show x  # comment\n.venv/bin/pip install -e ".[test]"\n'
    assert shell_commands(code) == [["python", "scripts/x.py", "--a", "--b"], ["agdm-zoo", "show", "x"],
                                    [".venv/bin/pip", "install", "-e", ".[test]"]]
    assert command(["torchrun", "--nproc-per-node", "4", "scripts/b.py", "--x"]) == Command("file", "scripts/b.py", ("--x",))
    assert command(["python", "-m", "zoo", "site", "--out", "s"]) == Command("zoo", "site", ("--out", "s"))
    with pytest.raises(ReadmeFormatError, match="does not know how to check"):
        command(["curl", "https://example.org"])
    with pytest.raises(AssertionError, match="declares no extra"):
        check_tool(command(["pip", "install", "-e", ".[no-such-extra]"]))


def test_blocks_and_marks_are_read_strictly():
    good = "## Use\n\n<!-- example: parse-only (needs network) -->\n```python\nimport zoo\n```\n\n```bash\nls\n```\n"
    first, second = examples(good)
    assert (first.reason, first.section, first.line, second.runs) == ("needs network", "Use", 4, True)
    for bad, why in (("```\ncode\n```\n", "tagged ''"), ("```sh\nls\n```\n", "tagged 'sh'"),
                     ("<!-- example: parse-only (x) -->\n\n```bash\nls\n```\n", "just before"),
                     ("<!-- example: skip (x) -->\n```bash\nls\n```\n", "write the mark"),
                     ("<!-- example: parse-only -->\n```bash\nls\n```\n", "write the mark"),
                     ("```bash\nls\n", "never closed")):
        with pytest.raises(ReadmeFormatError, match=why):
            examples(bad)


def test_a_python_example_whose_imports_fail_fails(tmp_path):
    broken = Example(1, "python", "import zoo\nfrom zoo import no_such_name\nzoo.load('x')\n", "", "needs network")
    with pytest.raises(AssertionError, match="no_such_name"):
        check_python(broken, tmp_path)
