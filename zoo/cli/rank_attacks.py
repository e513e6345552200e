"""Rank the attacks of a finished run on each entry, lowest robust accuracy first, with paired tests.

    agdm-zoo rank-attacks leaderboard/demo-n300 --threat Linf

Every benchmark run writes attack_ranking_<threat>.md/.csv itself; this command writes them for a
results folder made before that (or copied from elsewhere), from its per-example tables and
provenance alone: nothing is attacked again and the run's own files are left as they are. A JSON
beside the tables records this command and the run's own command and commit.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from zoo.common.provenance import provenance
from zoo.reporting.attack_info import recorded
from zoo.reporting.attack_ranking import rank_attacks, ranking_markdown
from zoo.reporting.files import read_per_example, read_provenance, run_fields, write_derived
from zoo.scoring.verdicts import METRICS, headline_of


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="a results folder (per_example_*_<threat>.csv, provenance_<threat>.json)")
    p.add_argument("--threat", default="Linf", help="the threat model's tables (default Linf)")
    p.add_argument("--headline", choices=METRICS, default=None, help="default: the run's headline")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    frame = read_per_example(args.folder, args.threat)
    run = read_provenance(args.folder, args.threat)
    headline = args.headline or headline_of(run)
    ranking = rank_attacks(frame, headline, recorded(run))
    if ranking.empty:
        raise ValueError(f"{args.folder}: no entry was attacked by two or more attacks under {args.threat}")
    record = {**provenance(torch.device("cpu")), "headline": headline, "run": run_fields(run)}
    out = write_derived(args.folder / f"attack_ranking_{args.threat}.md", ranking_markdown(ranking, run, headline),
                        ranking, record)
    print(out.read_text())
    return 0
