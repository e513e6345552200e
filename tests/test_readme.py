"""The README's set-up commands stay true: CI runs the README's test command verbatim."""
from __future__ import annotations

from pathlib import Path

from readme_examples import examples

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The shell examples of the README's Set-up section, each one line."""
    return [e.code.strip() for e in examples() if e.section == "Set-up" and e.language == "bash"]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    main_job, tests = readme_commands()
    assert "scripts/benchmark.py --threat Linf" in main_job and "HF_HUB_OFFLINE=1" in main_job
    assert "pytest" in tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_readme_lists_every_registered_entry():
    import zoo

    text = (ROOT / "README.md").read_text()
    missing = [name for name in zoo.list_models() if f"`{name}`" not in text]
    assert not missing, f"README does not list {missing}"
