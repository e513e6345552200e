"""The guidance scale sweep on the demo's validation digits (zoo.studies.scale_sweep): plain and
robust guidance at each s, clean and robust accuracy under PGD+EOT with Lee & Kim's loss and the
label-aware loss, DiffPure as the baseline, each pattern's label network alone as a reference.

Outputs under --out: ``scale_sweep.csv`` (the summary, Wilson intervals), ``per_example.csv``,
``scale_sweep.png``, ``scale_sweep.md``, ``scale_pick.json`` (the criterion's pick per pattern) and
``provenance.json``. Resumable: rerun the same command after a kill (journals under --out/journal).
``--rescore`` attacks nothing: it re-scores the K draws already in --out's ``per_example.csv``
with zoo.scoring and rewrites the tables, keeping the original run's provenance (the re-scoring's
command and commit are added under ``rescored``).

    agdm-zoo scale-sweep                                   # the committed sweep
    agdm-zoo scale-sweep --rescore                         # its tables re-scored from its draws
    agdm-zoo scale-sweep --scales 0 1 --n-examples 4 --steps 1 --out /tmp/sweep

``scripts/scale_sweep.py`` runs the same ``main``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import pandas as pd
import torch

from zoo.common.provenance import provenance
from zoo.studies import scale_sweep as sweep
from zoo.studies.scale_sweep_report import doubling_check, doubling_markdown, markdown, plot


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    d = sweep.SweepSettings()
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=float, nargs="+", default=list(d.scales))
    p.add_argument("--split", default=d.split, help="demo split (only 'val' is accepted)")
    p.add_argument("--n-examples", type=int, default=d.n_examples)
    p.add_argument("--steps", type=int, default=d.steps, help="PGD steps of both attacks")
    p.add_argument("--eot", type=int, default=d.eot, help="EOT samples per gradient")
    p.add_argument("--step-fraction", type=float, default=d.step_fraction, help="PGD step as a fraction of eps")
    p.add_argument("--eps", type=float, default=d.eps)
    p.add_argument("--draws", type=int, default=d.draws, help="K purifications per clean and adversarial input")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on shared cores more threads spin and slow every process)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", type=Path, default=Path("leaderboard") / "scale_sweep")
    p.add_argument("--compare-with", type=Path, default=None, metavar="SWEEP_DIR",
                   help="a finished sweep with fewer --steps: write OUT/doubling.{csv,md}, whether the longer "
                        "attack changes its robust accuracies beyond their paired intervals")
    p.add_argument("--rescore", action="store_true",
                   help="attack nothing: re-score the draws of OUT/per_example.csv (same settings as OUT's "
                        "provenance) and rewrite the tables, the plot and the pick")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)

    start = time.time()
    torch.set_num_threads(args.threads)
    settings = sweep.SweepSettings(tuple(args.scales), args.split, args.n_examples, args.steps, args.eot,
                                   args.step_fraction, args.eps, args.draws, args.batch_size, args.seed)
    shorter = None
    if args.compare_with is not None:
        shorter, problem = shorter_sweep(args.compare_with, vars(args))
        if problem:
            raise ValueError(f"--compare-with {args.compare_with}: {problem}")
    # taken before anything is written: a rerun rewrites committed files, which would read as a dirty tree
    record = provenance(torch.device("cpu"), seed=args.seed, settings=vars(args) | {"out": str(args.out)},
                        reduced_budget=True, budget=settings.describe())
    if args.rescore:
        record, problem = rescored_record(args.out, vars(args), record)
        if problem:
            raise ValueError(f"--rescore {args.out}: {problem}")
        records = sweep.records_of(pd.read_csv(args.out / "per_example.csv"))
    else:
        records = sweep.run_sweep(settings, args.out, progress=not args.no_progress)
    examples = sweep.per_example(records)
    table = sweep.summary(examples)
    args.out.mkdir(parents=True, exist_ok=True)
    examples.to_csv(args.out / "per_example.csv", index=False)
    table.to_csv(args.out / "scale_sweep.csv", index=False)
    picks = [sweep.pick_scale(table, p) for p in sweep.BASES] if 1.0 in settings.scales else []
    (args.out / "scale_pick.json").write_text(json.dumps(picks, indent=2) + "\n")
    if not args.rescore:
        record.update(attack_seconds_all_runs=round(sum(r.get("seconds", 0.0) for r in records), 1),
                      wall_seconds_this_invocation=round(time.time() - start, 1))
    (args.out / "provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (args.out / "scale_sweep.md").write_text(markdown(table, picks, record))
    plot(table, args.out / "scale_sweep.png", f"demo, {settings.describe()}")
    print(table.drop(columns=["attack_title"]).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if shorter is not None:
        write_doubling(args.compare_with, shorter["steps"], args.out, examples, record)
    print(f"wrote {args.out} in {time.time() - start:.0f} s")
    return 0


def rescored_record(out: Path, settings: dict, now: dict) -> tuple[dict, str | None]:
    """The provenance of a sweep re-scored from its draws: the original run's (``out``'s), with
    this invocation's command, commit and date under ``rescored``; and why it cannot be re-scored
    (``None``: it can): no finished sweep there, or one of other settings."""
    try:
        original = json.loads((out / "provenance.json").read_text())
        theirs = original["settings"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        return now, f"no finished sweep there ({err})"
    if not (out / "per_example.csv").is_file():
        return now, "no per_example.csv there"
    fields = [f.name for f in dataclasses.fields(sweep.SweepSettings)]
    differ = [f"{key} {theirs.get(key)} vs {settings[key]}" for key in fields if theirs.get(key) != settings[key]]
    if differ:
        return now, "it ran other settings: " + ", ".join(differ)
    return {**original, "rescored": {key: now[key] for key in ("command", "commit", "date")}}, None


SAME_FOR_DOUBLING = tuple(f.name for f in dataclasses.fields(sweep.SweepSettings) if f.name not in ("steps", "scales"))
"""What a sweep compared by ``--compare-with`` must share with this one (all but the steps and grid)."""


def shorter_sweep(short_dir: Path, settings: dict) -> tuple[dict | None, str | None]:
    """The settings of the sweep in ``short_dir`` and why it cannot be this one's shorter twin
    (``None``: it can)."""
    try:
        theirs = json.loads((short_dir / "provenance.json").read_text())["settings"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as err:
        return None, f"no finished sweep there ({err})"
    differ = [f"{key} {theirs.get(key)} vs {settings[key]}" for key in SAME_FOR_DOUBLING if theirs.get(key) != settings[key]]
    if differ:
        return theirs, "it ran other settings: " + ", ".join(differ)
    if theirs["steps"] >= settings["steps"]:
        return theirs, f"it ran {theirs['steps']} PGD steps, not fewer than this sweep's {settings['steps']}"
    return theirs, None


def write_doubling(short_dir: Path, short_steps: int, out: Path, examples, record: dict) -> None:
    """The doubling check of this sweep (``examples``) against the one in ``short_dir``."""
    table = doubling_check(pd.read_csv(short_dir / "per_example.csv"), examples)
    table.to_csv(out / "doubling.csv", index=False)
    (out / "doubling.md").write_text(doubling_markdown(table, short_steps, record["settings"]["steps"], record))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
