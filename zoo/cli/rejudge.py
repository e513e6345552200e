"""Re-classify stored adversarial examples with fresh purifications and write the benchmark's metrics.

    agdm-zoo rejudge leaderboard/adversarial/agdm-tiny-mnist_Linf_pgd-eot.safetensors --model agdm-tiny-mnist
    agdm-zoo rejudge FILE --model diffpure-tiny-mnist --out transfer     # a transfer attack on another entry
    agdm-zoo rejudge FILE --model mine.py:model --name mine              # an own defense (the file's dataset)

FILE is what 'agdm-zoo benchmark --save-adversarial' wrote (the .safetensors or its .json). It is
refused when its checksum or description does not match (tampered), when an example leaves [0, 1]
or the eps-ball around its clean input (recomputed from the test indices), or when its labels are
not the test set's. The attack is named rejudged:<attack> on the entry that made the examples,
transfer:<source>:<attack> on another.
"""
from __future__ import annotations

import argparse

from zoo.cli.module_file import is_module_file, load_module_file
from zoo.running.rejudge import rejudge
from zoo.scoring.verdicts import METRICS


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a stored example set (.safetensors or .json) written by --save-adversarial")
    p.add_argument("--model", required=True, help="the entry that judges them, or path/to/file.py:object (own defense)")
    p.add_argument("--name", default=None, help="own defense: the name its results go under")
    p.add_argument("--draws", type=int, default=None, help="K fresh purifications per example (default: the run's K)")
    p.add_argument("--seed", type=int, default=0, help="the fresh draws' seed")
    p.add_argument("--headline", choices=METRICS, default="vote", help="the metric the tables lead with")
    p.add_argument("--out", default="rejudged", help="where the tables go (default: rejudged)")
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--device", default=None)
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    own = is_module_file(args.model)
    if own and not args.name:
        raise ValueError("--model file.py:object needs --name")
    model = load_module_file(args.model) if own else args.model
    written = rejudge(args.file, model, out=args.out, data_dir=args.data_dir, device=args.device,
                      draws=args.draws, seed=args.seed, headline=args.headline, name=args.name if own else None)
    for path in written.values():
        print(f"wrote {path}")
    return 0
