"""benchmarks/throughput.py runs end to end (--smoke, CPU, the demo network) and counts FLOPs through
a gradient that itself takes a gradient (the guidance's double backward)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import throughput  # noqa: E402
from measure import counted_flops  # noqa: E402


def test_counted_flops_include_the_double_backward():
    w = torch.randn(8, 3, requires_grad=False)
    x = torch.randn(4, 8, requires_grad=True)
    forward = counted_flops(lambda: x @ w)
    assert forward == 2 * 4 * 8 * 3

    def double():
        g = torch.autograd.grad((x @ w).square().sum(), x, create_graph=True)[0]
        torch.autograd.grad(g.square().sum(), x)
    assert counted_flops(double) > 2 * forward  # forward, backward and the backward of the backward


def test_smoke_run_writes_every_lever_and_the_grid(tmp_path):
    assert throughput.main(["--smoke", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "throughput.json").read_text())
    rows = result["rows"]
    lever_point = {r["config"] for r in rows if (r["rows"], r["t_star"], r["pattern"]) == (2, 2, "robust")}
    assert lever_point == {"fp32", "bf16", "channels_last"}
    assert {(r["t_star"], r["pattern"]) for r in rows} == {(2, "robust"), (2, "none"), (3, "robust"), (3, "none")}
    for r in rows:
        assert r["row_steps_per_s"] > 0 and 0 < r["share_of_bf16_matmul"] and math.isfinite(r["protocol_gpu_hours"])
        assert r["cosine_to_fp32"] > 0.99
    assert result["provenance"]["bf16_matmul_tflops"] > 0
    assert "| bf16 | 2 | 2 | robust |" in (tmp_path / "throughput.md").read_text()
