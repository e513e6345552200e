"""How many CPU threads torch uses, chosen once when the command line starts.

Default: ONE thread per process. On a shared 2-core machine a demo attack with two OpenMP threads
ran 18-46 s per gradient step whenever another process held a core, against about 1 s with one
thread: an OpenMP team waits at every barrier for its slowest thread, and a thread whose core is
taken stalls the whole team. One thread cannot be stalled that way; more cores are used by more
processes (``--shard i/n``, torchrun), which degrade one by one instead of all together.

Measured side by side on this project's 2-core machine (a demo run of AutoAttack-rand and
PGD+EOT on 4 diffpure-tiny-mnist digits, seconds including start-up): alone, 1 thread 22.8,
2 threads 21.3 (OpenMP's default spinning wait), 2 threads with ``OMP_WAIT_POLICY=PASSIVE`` 30.0;
beside a busy loop holding a core, 1 thread 19.4, 2 spinning threads 40.6, 2 threads spinning at
most 20,000 times (``GOMP_SPINCOUNT``) 115. PASSIVE helps large PGD steps but slows AutoAttack's
many small calls; one thread is never far from the best and never collapses.

Overrides, strongest first: ``--threads N`` on the command line, ``AGDM_ZOO_THREADS=N``, then
``OMP_NUM_THREADS=N`` (what torch itself reads).
"""
from __future__ import annotations

import os

import torch

ENV = "AGDM_ZOO_THREADS"


DEFAULT = 1


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
    else ``OMP_NUM_THREADS``, else :data:`DEFAULT` (module docstring)."""
    if requested is not None:
        return _parse(str(requested), "--threads")
    for name in (ENV, "OMP_NUM_THREADS"):
        if os.environ.get(name):
            return _parse(os.environ[name], name)
    return DEFAULT


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
