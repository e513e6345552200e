"""The harness's exact CPU memory figure (benchmarks/measure.py), on allocations of known size."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from measure import tensor_peak_cpu  # noqa: E402

MB = 1_000_000


def test_tensor_peak_counts_the_largest_live_set_including_one_freed_at_the_end():
    kept = torch.ones(2 * MB // 4)  # live before the call: not counted

    def call():
        a = torch.empty(MB // 4)
        b = torch.empty(2 * MB // 4)  # 3 MB live
        del a, b
        return torch.empty(5 * MB // 4).sum()  # 5 MB, freed before the call returns

    peak = tensor_peak_cpu(call)
    assert 5 * MB <= peak < 5 * MB + 1024  # the 5 MB block and a few scalars
    assert kept.numel()


def test_tensor_peak_sees_autograd_saved_tensors():
    x = torch.ones(MB // 4, requires_grad=True)

    def backward_through(k):
        def call():
            y = x
            for _ in range(k):  # each exp saves its MB-sized output for the backward
                y = y.exp() * 0.5
            y.sum().backward()
        return call

    assert tensor_peak_cpu(backward_through(6)) - tensor_peak_cpu(backward_through(2)) >= 4 * MB
