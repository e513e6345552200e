"""Rerun one of the AGDM paper's tables and write our numbers beside the paper's.

    agdm-zoo reproduce --list                        # every table, what it runs, what is missing here
    agdm-zoo reproduce demo                          # the demo analogue (MNIST, offline, minutes on a CPU)
    agdm-zoo reproduce 6 --n-examples 512 --subset-seed 0 --data-dir ./data    # Table 6 (PGD+EOT, t* = 100)
    agdm-zoo reproduce 6 --estimate                  # its cost on this machine, without running it

Each table runs the zoo's benchmark (one run per threat model, the journal, --resume, --shard i/n
and --merge as in `agdm-zoo benchmark`) into OUT (default leaderboard/reproduce/table<N>) and
writes OUT/reproduce_<N>.md: each column twice, ours (headline metric, 95% interval) and the
paper's, labelled "paper (Lin et al.)". Missing weights are named with where to put them before
anything runs.
"""
from __future__ import annotations

import argparse

from zoo.cli.benchmark import shard
from zoo.reporting.metrics import HEADLINES
from zoo.models.purifier import GRAD_MODES
from zoo.studies.paper_tables import TABLES
from zoo.studies.reproduce import estimate_table, list_tables, reproduce


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", nargs="?", help=f"the table to rerun: {', '.join(TABLES)} (also 'table6')")
    p.add_argument("--list", action="store_true", help="list every table, its runs and rows, and what is missing here")
    p.add_argument("--n-examples", type=int, default=None,
                   help="test examples (default: each entry's budget; the paper: 512)")
    p.add_argument("--subset-seed", type=int, default=None,
                   help="a random subset of the test set drawn with this seed (the paper's 512-image protocol; its "
                        "seed is not published) instead of the first N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--out", default=None, help="results folder (default leaderboard/reproduce/table<N>)")
    p.add_argument("--shard", type=shard, default=None, help="evaluate only slice i of n (then --merge)")
    p.add_argument("--resume", action="store_true", help="continue the journaled runs with the same arguments")
    p.add_argument("--merge", action="store_true", help="write the tables from finished shard journals")
    p.add_argument("--grad-mode", choices=GRAD_MODES, default="exact")
    p.add_argument("--headline", choices=HEADLINES, default="vote")
    p.add_argument("--estimate", action="store_true", help="print the expected cost of the table's runs and exit")
    args = p.parse_args(argv)
    if args.list == (args.table is not None):
        p.error("give a TABLE to rerun, or --list")
    return args


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    if args.list:
        print(list_tables(args.data_dir))
        return 0
    if args.estimate:
        print(estimate_table(args.table, device=args.device, grad_mode=args.grad_mode, n_examples=args.n_examples,
                             batch_size=args.batch_size, seed=args.seed, subset_seed=args.subset_seed))
        return 0
    written = reproduce(args.table, out=args.out, n_examples=args.n_examples, subset_seed=args.subset_seed,
                        seed=args.seed, batch_size=args.batch_size, device=args.device, data_dir=args.data_dir,
                        shard=args.shard, resume=args.resume, merge_only=args.merge, grad_mode=args.grad_mode,
                        headline=args.headline)
    for path in written.values():
        print(f"wrote {path}")
    if not written:
        print("shard done: when every shard has finished, run the same command with --merge")
    return 0
