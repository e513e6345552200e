"""Final against anytime protocol, side by side: wall time and robust accuracy (issue 21's targets;
never run by pytest).

    python benchmarks/anytime_savings.py                       # the issue's run: 100 digits, 20 x 4, K = 5
    python benchmarks/anytime_savings.py --n-examples 20 --tag n20   # a reduced n
    python benchmarks/anytime_savings.py --smoke               # 4 digits, 2 x 2, K = 3: seconds

For every entry (default ``diffpure-tiny-mnist agdm-tiny-mnist``) it runs ``zoo.run_benchmark`` with
PGD+EOT (Lee & Kim's loss) twice in one process, the same seed, examples and budget: the final
protocol, then the anytime one (headline vote). Each run's wall time is measured around the call
(model build and data loading included, the same for both), and so is the CPU time this process
spent (``time.process_time``), which other jobs on a shared machine move far less than the wall. From the per-example tables it
reports both robust accuracies (vote) with Wilson 95% intervals and the paired difference
anytime - final with Newcombe's 95% interval and the exact McNemar p-value, against the targets:
anytime wall time <= 1/3 of final's for diffpure-tiny-mnist and <= 0.7 for agdm-tiny-mnist, and
anytime's robust accuracy not above final's beyond the paired interval (its lower end <= 0).

Writes ``benchmarks/results/anytime_<tag>.md`` and ``.json`` with the command, commit, seed,
settings, budget, hardware and load average; the runs' own tables go to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from zoo.common.provenance import provenance
from zoo.common.threads import configure_threads
from zoo.running.benchmark import benchmark
from zoo.running.protocol import Protocol
from zoo.scoring.intervals import wilson
from zoo.scoring.paired import paired_test

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"diffpure-tiny-mnist": 1 / 3, "agdm-tiny-mnist": 0.7}


def run(entry: str, judge: str, args, out: Path) -> tuple[float, float, pd.DataFrame, dict]:
    """One protocol on one entry: (wall seconds, CPU seconds, per-example table, provenance)."""
    budget = {"n_examples": args.n_examples, "batch_size": args.batch_size, "pgd_steps": args.steps,
              "pgd_eot": args.eot, "draws": args.draws}
    protocol = Protocol("Linf", ("pgd-eot",), budget=budget, judge=judge, headline="vote", seed=args.seed)
    folder = out / judge
    started, cpu = time.perf_counter(), time.process_time()
    benchmark([entry], protocol, out=folder, data_dir=args.data_dir, device="cpu", progress=False,
              resume=(folder / "journal").exists())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    frame = pd.read_csv(folder / f"per_example_{entry}_Linf.csv").sort_values("index")
    return wall, cpu, frame, json.loads((folder / "provenance_Linf.json").read_text())


def compare(entry: str, args, out: Path) -> dict:
    """Both protocols on ``entry`` and their comparison (the module docstring)."""
    final_wall, final_cpu, final, final_prov = run(entry, "final", args, out / entry)
    any_wall, any_cpu, anytime, any_prov = run(entry, "anytime", args, out / entry)
    a, f = anytime["robust_vote_correct"].astype(bool).values, final["robust_vote_correct"].astype(bool).values
    paired = paired_test(a, f, "vote")
    n = len(a)
    cost = any_prov["attack_costs"][entry]["pgd-eot"]
    return {"entry": entry, "n": n, "final_wall_s": round(final_wall, 1), "anytime_wall_s": round(any_wall, 1),
            "wall_ratio": round(any_wall / final_wall, 3), "target_ratio": TARGETS.get(entry),
            "final_cpu_s": round(final_cpu, 1), "anytime_cpu_s": round(any_cpu, 1), "cpu_ratio": round(any_cpu / final_cpu, 3),
            "final_robust": a_interval(f), "anytime_robust": a_interval(a),
            "difference": round(100 * (a.mean() - f.mean()), 2),
            "difference_interval": [round(100 * paired["difference_lo"], 2), round(100 * paired["difference_hi"], 2)],
            "mcnemar_p": paired["p_value"], "anytime_cost": cost,
            "final_cost": final_prov["attack_costs"][entry]["pgd-eot"]}


def a_interval(correct) -> list[float]:
    """Robust accuracy in % with its Wilson 95% interval."""
    p = float(correct.mean())
    low, high = wilson(p, len(correct))
    return [round(100 * p, 2), round(100 * low, 2), round(100 * high, 2)]


def markdown(rows: list[dict], record: dict) -> str:
    lines = [f"# Anytime vs final protocol ({record['tag']})", "",
             f"PGD+EOT (Lee & Kim's loss), Linf, n = {record['n_examples']} test digits, {record['steps']} steps x "
             f"{record['eot']} EOT, K = {record['draws']} draws, batch (pool) {record['batch_size']}, seed "
             f"{record['seed']}, headline vote; CPU, {record['threads']} torch thread(s). Robust accuracy in % "
             "[Wilson 95%]; difference anytime - final in points [Newcombe 95%, paired].", "",
             "| entry | n | final wall s | anytime wall s | ratio (target) | CPU s final / anytime (ratio) | final robust | anytime robust | "
             "anytime - final | McNemar p | gradient calls/example final -> anytime | confirmed / candidates |",
             "|" + "---|" * 12]
    for r in rows:
        target = "-" if r["target_ratio"] is None else f"<= {r['target_ratio']:.2f}"
        fr, ar, (lo, hi) = r["final_robust"], r["anytime_robust"], r["difference_interval"]
        c = r["anytime_cost"]
        lines.append(f"| {r['entry']} | {r['n']} | {r['final_wall_s']} | {r['anytime_wall_s']} | {r['wall_ratio']} "
                     f"({target}) | {r['final_cpu_s']} / {r['anytime_cpu_s']} ({r['cpu_ratio']}) | {fr[0]} [{fr[1]}, {fr[2]}] | {ar[0]} [{ar[1]}, {ar[2]}] | {r['difference']:+} "
                     f"[{lo:+}, {hi:+}] | {r['mcnemar_p']:.3g} | {c['final_calls_per_example']['gradient']} -> "
                     f"{c['calls_per_example']['gradient']} | {c['confirmed']} / {c['candidates']} |")
    lines += ["", f"Command: `{record['command']}`", f"Commit: `{record['commit']}`", f"Device: {record['device']}",
              f"Load average (1 min) before / after: {record['load_before']} / {record['load_after']} on "
              f"{os.cpu_count()} cores (a shared machine: wall times move with the other jobs)", f"Date: {record['date']}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", nargs="+", default=list(TARGETS))
    p.add_argument("--n-examples", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--eot", type=int, default=4)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="4 digits, 2 steps x 2 EOT, K = 3 (a quick check)")
    p.add_argument("--tag", default=None, help="name of the result files (default n<N>)")
    p.add_argument("--out", type=Path, default=Path("/tmp/anytime_savings"), help="the runs' own tables")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--threads", default=None, help="torch CPU threads (default: zoo.common.threads' choice)")
    args = p.parse_args(argv)
    if args.smoke:
        args.n_examples, args.steps, args.eot, args.draws, args.batch_size = 4, 2, 2, 3, 2
    tag = args.tag or ("smoke" if args.smoke else f"n{args.n_examples}")
    threads = configure_threads(args.threads)
    load_before = round(os.getloadavg()[0], 1)
    rows = [compare(entry, args, args.out / tag) for entry in args.entries]
    record = {**provenance(torch.device("cpu"), seed=args.seed), "tag": tag, "threads": threads,
              "n_examples": args.n_examples, "steps": args.steps, "eot": args.eot, "draws": args.draws,
              "batch_size": args.batch_size, "load_before": load_before, "load_after": round(os.getloadavg()[0], 1),
              "command": shlex.join([Path(sys.executable).name, *sys.argv])}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"anytime_{tag}.json").write_text(json.dumps({"record": record, "rows": rows}, indent=1) + "\n")
    text = markdown(rows, record)
    (args.results / f"anytime_{tag}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
