"""Clean accuracy of zoo entries on the MNIST demo test split (offline, CPU is enough).

    python scripts/evaluate.py                       # the four demo entries, printed as a table
    python scripts/evaluate.py --out zoo/weights/mnist/clean_accuracy.json   # record them

Each entry is evaluated on the first N examples of the (digit-interleaved) test split, or of the
held-out training digits with ``--split val``, for every N in ``--n-examples``, with purification noise from ``--seed``. The JSON record carries the
command, commit, versions, device and settings that produced it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from zoo.data import mnist_demo
from zoo.common.devices import device_of
from zoo.evaluation.draws import accuracy
from zoo.common.provenance import provenance


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=None, help="entries (default: every MNIST demo entry)")
    p.add_argument("--split", choices=["test", "val"], default="test",
                   help="the demo test split, or the held-out training digits for choosing settings")
    p.add_argument("--n-examples", type=int, nargs="+", default=[200, 1000])
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--t-star", type=int, default=None, help="override the entries' t*")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    names = args.model or zoo.list_models(dataset="mnist")
    x, y = mnist_demo(args.split)
    overrides = {} if args.t_star is None else {"t_star": args.t_star}
    results, start = {}, time.time()
    for name in names:
        model = zoo.load(name, device=args.device, **overrides)
        results[name] = {str(n): accuracy(model, x[:n], y[:n], args.batch_size, args.seed, progress=True)
                         for n in args.n_examples}
        print(f"{name:24s} " + "  ".join(f"n={n}: {100 * a:5.1f}%" for n, a in results[name].items()), flush=True)
    if args.out is not None:
        device = device_of(model)
        record = {"provenance": provenance(device, seed=args.seed, batch_size=args.batch_size,
                                           split=args.split, overrides=overrides,
                                           wall_seconds=round(time.time() - start, 1)),
                  "clean_accuracy": results}
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
