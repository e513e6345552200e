"""Smoke test of benchmarks/anytime_savings.py (issue 21's final-vs-anytime comparison): both
protocols run on the same examples and the report holds both walls, both accuracies with intervals
and the paired difference."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")
SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "anytime_savings.py"


def test_the_comparison_runs_both_protocols_and_reports_them(tmp_path):
    spec = importlib.util.spec_from_file_location("anytime_savings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--smoke", "--entries", "diffpure-tiny-mnist", "--out", str(tmp_path / "runs"),
                        "--results", str(tmp_path), "--threads", "1"]) == 0
    report = json.loads((tmp_path / "anytime_smoke.json").read_text())
    (row,) = report["rows"]
    assert row["n"] == 4 and row["final_wall_s"] > 0 and row["anytime_wall_s"] > 0
    # the ratio is of the unrounded CPU times; the row's times are rounded to 0.1 s
    ratio, final_cpu = row["cpu_ratio"], row["final_cpu_s"]
    assert 0 < final_cpu and abs(ratio * final_cpu - row["anytime_cpu_s"]) <= 0.05 * (1 + ratio) + 0.001 * final_cpu
    assert row["final_cost"]["protocol"] == "final" and row["anytime_cost"]["protocol"] == "anytime"
    assert row["anytime_cost"]["final_calls_per_example"] == row["final_cost"]["calls_per_example"]
    low, high = row["difference_interval"]
    assert low <= row["difference"] <= high
    assert report["record"]["steps"] == 2 and report["record"]["commit"]
    text = (tmp_path / "anytime_smoke.md").read_text()
    assert "diffpure-tiny-mnist" in text and "Load average" in text and "Command:" in text
