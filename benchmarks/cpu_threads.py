"""Seconds per PGD+EOT gradient step with 1 and 2 torch threads, alone and beside a busy loop that
holds a core (issue 21 item 6; never run by pytest).

    python benchmarks/cpu_threads.py [--entry diffpure-tiny-mnist] [--batch 4] [--eot 2] [--steps 3]

Each configuration runs in a fresh subprocess (OpenMP reads OMP_WAIT_POLICY when torch loads), on
real test digits with the entry's shipped weights; the busy loop is a second process spinning in
pure Python. Prints one line per configuration and the machine's load average, which on a shared
machine says how "alone" alone was.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from zoo.attacks import PGDEOT
from zoo.data import load_test_set
from zoo.models.factory import create_model
from zoo.registry.resolve import get_entry
entry = get_entry(sys.argv[2])
x, y, _ = load_test_set(entry.dataset, int(sys.argv[3]), "./data")
attack = PGDEOT(create_model(entry, device="cpu"), norm="Linf", eps=0.3, steps=1, eot=int(sys.argv[4]))
torch.manual_seed(0)
attack(x, y)  # warm-up
times = []
for _ in range(int(sys.argv[5])):
    started = time.perf_counter(); attack(x, y); times.append(time.perf_counter() - started)
print(min(times), sorted(times)[len(times) // 2])
"""


def busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(threads: int, wait: str, beside_busy: bool, args) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": wait}
    loop = busy() if beside_busy else None
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads), args.entry, str(args.batch), str(args.eot),
                              str(args.steps)], env=env, capture_output=True, text=True, check=True).stdout
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    best, median = map(float, out.split()[-2:])
    return best, median


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entry", default="diffpure-tiny-mnist")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--eot", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="timed gradient steps per configuration")
    args = p.parse_args()
    print(f"{args.entry}, batch {args.batch} x EOT {args.eot}: seconds per gradient step (min / median of "
          f"{args.steps}); load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for beside_busy in (False, True):
        for threads, wait in ((1, "PASSIVE"), (2, "ACTIVE"), (2, "PASSIVE")):
            started = time.time()
            best, median = measure(threads, wait, beside_busy, args)
            print(f"threads {threads}, OMP_WAIT_POLICY={wait:7s}, {'beside a busy loop' if beside_busy else 'alone':18s}:"
                  f" {best:.2f} / {median:.2f} s  (load {os.getloadavg()[0]:.1f}, {time.time() - started:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
