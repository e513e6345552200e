"""Clean accuracy of zoo entries on the MNIST demo test split (offline, CPU is enough).

    agdm-zoo evaluate                       # the demo entries, printed as a table (= scripts/evaluate.py)
    agdm-zoo evaluate --out zoo/weights/mnist/clean_accuracy.json   # record them

Each entry is evaluated on the first N examples of the (digit-interleaved) test split, or of the
held-out training digits with ``--split val``, for every N in ``--n-examples``, with purification noise from ``--seed``. The JSON record carries the
command, commit, versions, device and settings that produced it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import zoo
from zoo.running.clean import clean_accuracies, clean_accuracy_record


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=None, help="entries (default: every MNIST demo entry)")
    p.add_argument("--split", choices=["test", "val"], default="test",
                   help="the demo test split, or the held-out training digits for choosing settings")
    p.add_argument("--n-examples", type=int, nargs="+", default=[200, 1000])
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--t-star", type=int, default=None, help="override the entries' t*")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    names = args.model or zoo.list_models(dataset="mnist")
    overrides = {} if args.t_star is None else {"t_star": args.t_star}
    results, start = {}, time.time()
    for name, accuracies, device in clean_accuracies(names, args.split, args.n_examples, args.batch_size, args.seed,
                                                     args.device, overrides):
        results[name] = accuracies
        print(f"{name:24s} " + "  ".join(f"n={n}: {100 * a:5.1f}%" for n, a in accuracies.items()), flush=True)
    if args.out is not None:
        record = clean_accuracy_record(results, device, seed=args.seed, batch_size=args.batch_size,
                                       split=args.split, overrides=overrides, start=start)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
