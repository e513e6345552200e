"""How many CPU threads torch uses, chosen once when the command line starts.

Default: the cores no other process is using at start-up (sampled from ``/proc/stat`` over a
quarter of a second), at least one; one where that cannot be read. On a shared 2-core machine a
demo attack with two OpenMP threads ran 18-46 s per gradient step whenever another process held a
core, against about 1 s with one thread: an OpenMP team waits at every barrier for its slowest
thread, and a thread whose core is taken stalls the whole team. Alone, two threads run the main
job's guided chains about twice as fast as one. Measured side by side on this project's 2-core
machine (a demo run of AutoAttack-rand and PGD+EOT on 4 diffpure-tiny-mnist digits, seconds,
start-up included): alone, 1 thread 22.8, 2 threads 21.3, 2 threads with
``OMP_WAIT_POLICY=PASSIVE`` 30.0; beside a busy loop, 1 thread 19.4, 2 threads 40.6. A job that
starts beside ours after it chose its threads can still slow it; more cores are then better used
by more processes (``--shard i/n``, torchrun), which degrade one by one.

Overrides, strongest first: ``--threads N`` on the command line, ``AGDM_ZOO_THREADS=N``, then
``OMP_NUM_THREADS=N`` (what torch itself reads).
"""
from __future__ import annotations

import os
import time

import torch

ENV = "AGDM_ZOO_THREADS"


SAMPLE_SECONDS = 0.25


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores together, from ``/proc/stat``'s first line."""
    with open("/proc/stat") as stat:
        fields = [float(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def free_cores(seconds: float = SAMPLE_SECONDS) -> int:
    """Cores no process is using now (at least 1; 1 where ``/proc/stat`` cannot be read)."""
    cores = os.cpu_count() or 1
    try:
        busy0, total0 = _cpu_times()
        time.sleep(seconds)
        busy1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return 1
    used = cores * (busy1 - busy0) / max(total1 - total0, 1e-9)
    return max(1, cores - round(used))


def _parse(value: str, source: str) -> int:
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{source} must be a whole number >= 1 of CPU threads, got {value!r}")
    return threads


def cpu_threads(requested: int | str | None = None) -> int:
    """The thread count to use: ``requested`` (the ``--threads`` flag), else ``AGDM_ZOO_THREADS``,
    else ``OMP_NUM_THREADS``, else :func:`free_cores` (module docstring)."""
    if requested is not None:
        return _parse(str(requested), "--threads")
    for name in (ENV, "OMP_NUM_THREADS"):
        if os.environ.get(name):
            return _parse(os.environ[name], name)
    return free_cores()


def configure_threads(requested: int | str | None = None) -> int:
    """Set torch's intra-op CPU threads to :func:`cpu_threads` (``requested`` first); returns it."""
    threads = cpu_threads(requested)
    torch.set_num_threads(threads)
    return threads


def take_threads_flag(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without a ``--threads N`` (or ``--threads=N``) anywhere in it, and N (or ``None``)."""
    rest, value, it = [], None, iter(argv)
    for arg in it:
        if arg == "--threads":
            value = next(it, None)
            if value is None:
                raise ValueError("--threads needs a number of CPU threads")
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, value
