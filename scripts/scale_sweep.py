"""The guidance scale sweep on the demo's validation digits (zoo.leaderboard.scale_sweep): plain and
robust guidance at each s, clean and robust accuracy under PGD+EOT with Lee & Kim's loss and the
label-aware loss, DiffPure as the baseline, each pattern's label network alone as a reference.

Outputs under --out: ``scale_sweep.csv`` (the summary, Wilson intervals), ``per_example.csv``,
``scale_sweep.png``, ``scale_sweep.md``, ``scale_pick.json`` (the criterion's pick per pattern) and
``provenance.json``. Resumable: rerun the same command after a kill (journals under --out/journal).

    python scripts/scale_sweep.py                                   # the committed sweep
    python scripts/scale_sweep.py --scales 0 1 --n-examples 4 --steps 1 --out /tmp/sweep
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    from zoo.leaderboard.scale_sweep import SweepSettings

    d = SweepSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--out", type=Path, default=ROOT / "leaderboard" / "scale_sweep")
    return p.parse_args(argv)


def plot(table, path: Path, subtitle: str) -> None:
    """Robust accuracy (both losses, and worst-case) and clean accuracy against s, per pattern;
    DiffPure and the label nets alone as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.leaderboard.scale_sweep import BASELINE, BASES, WORST, reference_rows

    fig, axes = plt.subplots(1, len(BASES), figsize=(12, 4.6), sharey=True)
    styles = {"pgd-eot": ("s-", "tab:orange"), "pgd-eot-label": ("v-", "tab:red"), WORST: ("o-", "black")}
    base = table[table["model"] == BASELINE]
    for ax, pattern in zip(axes, BASES):
        rows = table[table["pattern"] == pattern].sort_values("scale")
        clean = rows[rows["attack"] == "pgd-eot"]
        ax.errorbar(clean["scale"], clean["clean_acc"], yerr=[clean["clean_acc"] - clean["clean_lo"],
                    clean["clean_hi"] - clean["clean_acc"]], fmt="^--", color="tab:blue", capsize=3, label="clean")
        for attack, (fmt, color) in styles.items():
            r = rows[rows["attack"] == attack]
            ax.errorbar(r["scale"], r["robust_acc"], yerr=[r["robust_acc"] - r["robust_lo"],
                        r["robust_hi"] - r["robust_acc"]], fmt=fmt, color=color, capsize=3,
                        label=f"robust, {r['attack_title'].iloc[0] if len(r) else attack}")
        for _, b in base.iterrows():
            ax.axhline(b["clean_acc"], color="tab:blue", linewidth=0.8, linestyle=":", label="clean, DiffPure")
            ax.axhline(b["robust_acc"], color="tab:orange", linewidth=0.8, linestyle=":", label="robust, DiffPure")
        for _, ref in reference_rows(table)[lambda t: t["pattern"].str.startswith(pattern)].iterrows():
            ax.axhline(ref["robust_acc"], color="gray", linewidth=0.8, linestyle="-.",
                       label="label net alone, pgd-eot")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xticks(list(rows["scale"].unique()))
        ax.set_xticklabels([f"{v:g}" for v in rows["scale"].unique()])
        ax.set_xlabel("guidance scale s")
        ax.set_title(f"{pattern} guidance ({BASES[pattern]})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%), vote over K, 95% Wilson")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(table, picks: list[dict], record: dict) -> str:
    lines = ["## Guidance scale sweep on the demo's validation digits", "",
             f"**{record['budget']}**", "",
             "Accuracy in % (majority vote over K purifications) with 95% Wilson intervals; robust counts an "
             "example only if it is also right on its clean input; worst-of-K: right on every draw; "
             "worst-case: robust under both losses (clean: the pgd-eot row's draws). Not checked: that doubling "
             "the PGD iterations changes little at this budget.", "",
             "| model | pattern | s | attack | n | clean | robust | robust, worst-of-K |", "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        scale = "-" if r["scale"] != r["scale"] else f"{r['scale']:g}"
        lines.append(f"| {r['model']} | {r['pattern']} | {scale} | {r['attack_title']} | {r['n']} | "
                     f"{r['clean_acc']:.1f} [{r['clean_lo']:.1f}, {r['clean_hi']:.1f}] | "
                     f"{r['robust_acc']:.1f} [{r['robust_lo']:.1f}, {r['robust_hi']:.1f}] | "
                     f"{r['robust_acc_all_draws']:.1f} |")
    lines += ["", "Scale criterion (zoo.leaderboard.scale_sweep.pick_scale, fixed before the first run): "
              "highest worst-case robust accuracy with clean accuracy within one point of DiffPure's; decided "
              "only if it beats s = 1 by more than s = 1's interval half-width.", ""]
    lines += [f"- {p['pattern']}: s = {p['scale']} ({'decided' if p['decided'] else 'NOT decided'}): {p['reason']}"
              for p in picks]
    lines += ["", "![scale sweep](scale_sweep.png)", "", "Provenance:", ""]
    lines += [f"- {key}: `{record.get(key)}`" for key in ("command", "commit", "seed", "device", "date",
                                                         "wall_seconds_this_invocation")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    from zoo.common.provenance import provenance
    from zoo.leaderboard import scale_sweep as sweep

    start = time.time()
    torch.set_num_threads(args.threads)
    try:
        settings = sweep.SweepSettings(tuple(args.scales), args.split, args.n_examples, args.steps, args.eot,
                                       args.step_fraction, args.eps, args.draws, args.batch_size, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    records = sweep.run_sweep(settings, args.out, progress=not args.no_progress)
    examples = sweep.per_example(records)
    table = sweep.summary(examples)
    args.out.mkdir(parents=True, exist_ok=True)
    examples.to_csv(args.out / "per_example.csv", index=False)
    table.to_csv(args.out / "scale_sweep.csv", index=False)
    picks = [sweep.pick_scale(table, p) for p in sweep.BASES] if 1.0 in settings.scales else []
    (args.out / "scale_pick.json").write_text(json.dumps(picks, indent=2) + "\n")
    record = provenance(torch.device("cpu"), seed=args.seed, settings=vars(args) | {"out": str(args.out)},
                        reduced_budget=True, budget=settings.describe(),
                        attack_seconds_all_runs=round(sum(r.get("seconds", 0.0) for r in records), 1),
                        wall_seconds_this_invocation=round(time.time() - start, 1))
    (args.out / "provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (args.out / "scale_sweep.md").write_text(markdown(table, picks, record))
    plot(table, args.out / "scale_sweep.png", f"demo, {settings.describe()}")
    print(table.drop(columns=["attack_title"]).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"wrote {args.out} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
