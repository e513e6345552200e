"""Compare two runs of the same entries example by example (paired): how each number moved.

    agdm-zoo compare-runs leaderboard/demo-n300 leaderboard/demo-n300-anytime --threat Linf
    agdm-zoo compare-runs OLD NEW --threat Linf --out budget_convergence.md

Run A is the reference (say, the old budget) and run B the new one; only the attacks both ran on an
entry and the test examples both attacked are compared (the worst case over those common attacks).
Writes a markdown table, the same rows as CSV and a JSON provenance (this command, its commit and
both runs' own commands, commits and budgets); default: B/versus_<A>_<threat>.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from zoo.common.provenance import provenance
from zoo.reporting.files import read_per_example, read_provenance, run_fields, write_derived
from zoo.reporting.two_runs import METRICS, compare_runs, markdown


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="run A's results folder (the reference)")
    p.add_argument("b", type=Path, help="run B's results folder")
    p.add_argument("--threat", default="Linf", help="the threat model's tables to compare (default Linf)")
    p.add_argument("--metric", nargs="+", choices=METRICS, default=list(METRICS), help="verdicts compared")
    p.add_argument("--out", type=Path, default=None, help="markdown file (CSV and JSON beside it)")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    table = compare_runs(read_per_example(args.a, args.threat), read_per_example(args.b, args.threat), args.metric)
    runs = {side: {"folder": str(folder), "provenance": read_provenance(folder, args.threat)}
            for side, folder in (("A", args.a), ("B", args.b))}
    record = {**provenance(torch.device("cpu")), "threat": args.threat, "metrics": args.metric,
              "runs": {side: {"folder": run["folder"], **run_fields(run["provenance"], ("settings",))}
                       for side, run in runs.items()}}
    out = write_derived(args.out or args.b / f"versus_{args.a.name}_{args.threat}.md", markdown(table, runs),
                        table, record)
    print(out.read_text())
    print(f"wrote {out} (and .csv, .json)")
    return 0
