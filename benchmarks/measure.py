"""Timing, peak memory and call counting for the harness, on CPU and CUDA.

Peak memory of one call:
    CUDA  ``torch.cuda.max_memory_allocated`` minus the allocation before the call (exact, tensors only).
    CPU   peak resident-set growth: free heap pages are handed back to the OS first (``malloc_trim``),
          the kernel's high-water mark is reset (``/proc/self/clear_refs`` = 5, Linux >= 4.0), and the
          peak is ``VmHWM`` after the call minus ``VmRSS`` before it. This counts every page the
          call touched (tensors, autograd graph, allocator slack), at page granularity. Where the
          reset is not allowed it falls back to ``ru_maxrss`` growth, which never resets within a
          process and is then marked approximate.
    CPU, tensors only (``tensor_peak_cpu``): torch's profiler records every tensor allocation and
          free during the call with the allocator's running total; the peak above the total live
          when the call began. Exact like the CUDA figure, but the profiler slows the call several
          times, so the harness takes it only for ``recompute``, whose flatness it is meant to show.
"""
from __future__ import annotations

import ctypes
import gc
import statistics
import time
from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call, the device's queued work included."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def repeat_stats(seconds: list[float]) -> dict[str, float]:
    """Min (the least-disturbed repeat: used for ratios on a shared machine) and median of repeated timings."""
    return {"min": min(seconds), "median": statistics.median(seconds)}


class _Libc:
    """glibc's ``malloc_trim``, if there is a glibc."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libc.so.6")
        except OSError:
            self.lib = None

    def trim(self) -> None:
        if self.lib is not None:
            self.lib.malloc_trim(0)


_LIBC = _Libc()


def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory(fn: Callable[[], object], device: torch.device) -> tuple[float, str]:
    """(peak bytes above the memory in use before the call, how it was measured)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return float(torch.cuda.max_memory_allocated(device) - base), "cuda max_memory_allocated"
    _LIBC.trim()
    base = _proc_status("VmRSS:")
    if base is not None and _reset_high_water_mark():
        fn()
        return float(_proc_status("VmHWM:") - base), "cpu peak RSS growth (VmHWM reset)"
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return float(after - before), "cpu ru_maxrss growth (approximate: never resets)"


def tensor_peak_cpu(fn: Callable[[], object]) -> float:
    """Peak bytes of live CPU tensors during ``fn()`` above those live when it began (autograd's
    saved tensors included), from the allocator's running total that torch's profiler records with
    every allocation and free. Read from the profiler's event tree (a private but stable interface
    that torch's own memory profiler reads): the public ``export_memory_timeline`` is deprecated
    and was measured missing a 12 MB allocation freed at the end of the call."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(_allocations(prof.profiler.kineto_results.experimental_event_tree(), _EventType.Allocation))
    if not events:
        return 0.0
    _, first_size, first_total = events[0]
    return float(max(total for _, _, total in events) - (first_total - first_size))


def _allocations(nodes, allocation_tag) -> list[tuple[int, int, int]]:
    """(time ns, bytes allocated (negative: freed), allocator total after it) of every CPU
    allocation event in a profiler event tree."""
    found, stack = [], list(nodes)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == allocation_tag and str(node.extra_fields.device) == "cpu":
            fields = node.extra_fields
            found.append((node.start_time_ns, fields.alloc_size, fields.total_allocated))
    return found


class CallCounter:
    """Counts forward calls of a module (a hook), e.g. UNet evaluations per gradient."""

    def __init__(self, module: nn.Module):
        self.count = 0
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count

    def close(self) -> None:
        self._handle.remove()


@contextmanager
def autocast_if(enabled: bool, device: torch.device):
    """bf16 autocast on CUDA when ``enabled`` (the --bf16 lever), else nothing."""
    if enabled and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def counted_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of the matrix products, convolutions and attention one call runs
    (forward and backward passes, double backward included; elementwise work is not counted, as a
    matrix-rate share wants), by ``torch.utils.flop_counter``'s per-operator formulas. Its
    ``FlopCounterMode`` cannot be used: its module hooks break ``torch.autograd.grad`` inside the
    call (the guidance gradient), so the operators are counted by a dispatch mode of our own."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += int(formula(*args, **kwargs, out_val=out))
            return out

    with Counter():
        fn()
    return Counter.total


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.bfloat16, size: int = 8192,
                repeats: int = 20) -> float:
    """The card's measured matrix rate (FLOP/s) for ``dtype``: a ``size``-square matrix product
    repeated ``repeats`` times, the fastest of three timed rounds after a warm-up."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def products():
        for _ in range(repeats):
            a @ b

    products()
    seconds = min(time_call(products, device) for _ in range(3))
    return 2 * size ** 3 * repeats / seconds
