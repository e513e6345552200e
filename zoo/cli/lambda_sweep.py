"""The accuracy-robustness trade-off of the guidance net's lambda (the paper's Fig. 3c), on the demo.

For each lambda a demo guidance net is trained with Eq. 6 (``agdm-zoo train-guidance``), swapped
into ``agdm-tiny-mnist`` and benchmarked (clean and PGD+EOT accuracy, the entry's reduced budget),
next to ``diffpure-tiny-mnist`` as the no-guidance reference (:mod:`zoo.studies.lambda_sweep`).
Trained nets go under --runs, tables and the plot under --out. The sweep resumes: existing nets are
not retrained, half-trained ones resume, finished examples are not attacked again; a --runs folder
of other settings is refused.

    agdm-zoo lambda-sweep                # the committed sweep (~30 min on 2 idle CPU cores; = scripts/lambda_sweep.py)
    agdm-zoo lambda-sweep --lambdas 0 6 --epochs 1 --n-examples 4 --out /tmp/sweep --runs /tmp/runs
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.studies.lambda_sweep import Sweep, run_sweep


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1.0, 3.0, 6.0, 12.0])
    p.add_argument("--epochs", type=int, default=3, help="training epochs per net (the shipped guidance net: 8)")
    p.add_argument("--steps", type=int, default=5, help="PGD steps of Eq. 6's inner maximum (as the shipped net)")
    p.add_argument("--eps", type=float, default=0.3, help="Linf radius of Eq. 6's inner maximum (as shipped)")
    p.add_argument("--n-examples", type=int, default=50, help="demo test examples evaluated per lambda")
    p.add_argument("--seed", type=int, default=0, help="training seed and attack seed")
    p.add_argument("--baseline", default="diffpure-tiny-mnist",
                   help="entry evaluated alongside as the no-guidance reference ('none': skip)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=Path, default=Path("runs/lambda_sweep"), help="trained nets (gitignored)")
    p.add_argument("--out", type=Path, default=Path("leaderboard/lambda_sweep"), help="tables and plot")
    return p.parse_args(argv)


def sweep_of(args: argparse.Namespace) -> Sweep:
    return Sweep(**vars(args))


def main(argv=None, prog: str | None = None) -> int:
    run_sweep(sweep_of(parse_args(argv, prog)))
    return 0
