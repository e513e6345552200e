"""How many CPU threads torch uses, chosen once when the command line starts.

On a shared 2-core machine a demo attack with two OpenMP threads ran 18-46 s per gradient step
whenever another process held a core, against about 1 s with one thread. The collapse comes from
OpenMP's spinning wait, not from the second thread: with ``OMP_WAIT_POLICY=PASSIVE`` idle threads
sleep instead of spinning on a core another job needs. ``import zoo`` sets PASSIVE (unless the
environment says otherwise, and only when torch is not loaded yet, since OpenMP reads it when
torch loads), and then the default is every core; without PASSIVE in effect it is one thread.
Measured side by side (``benchmarks/cpu_threads.py``, agdm-tiny-mnist, batch 10 x EOT 2, this
project's 2-core machine with other jobs at load 1.6-3.5): per gradient step, alone 1.56 s with 1
thread, 2.38 s with 2 spinning threads, 1.45 s with 2 PASSIVE threads; beside a busy loop 2.03,
5.12 and 1.48 s.

Overrides, strongest first: ``--threads N`` on the command line, ``AGDM_ZOO_THREADS=N``, then
``OMP_NUM_THREADS=N`` (what torch itself reads).
"""
from __future__ import annotations

import os

import torch

ENV = "AGDM_ZOO_THREADS"


def default_threads() -> int:
    """Every core when OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``), else one."""
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return os.cpu_count() or 1
    return 1


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
    else ``OMP_NUM_THREADS``, else :func:`default_threads` (module docstring)."""
    if requested is not None:
        return _parse(str(requested), "--threads")
    for name in (ENV, "OMP_NUM_THREADS"):
        if os.environ.get(name):
            return _parse(os.environ[name], name)
    return default_threads()


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
