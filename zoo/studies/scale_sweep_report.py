"""The scale sweep's report (:mod:`zoo.studies.scale_sweep`): its plot (accuracy against s per
pattern, DiffPure and the label nets alone as lines), its markdown table with the criterion's
pick and the provenance, and the check that doubling the attack's iterations changes little."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..scoring.paired import paired_test
from .scale_sweep import BASELINE, BASES, WORST, reference_rows


def plot(table, path: Path, subtitle: str) -> None:
    """Robust accuracy (both losses, and worst-case) and clean accuracy against s, per pattern;
    DiffPure and the label nets alone as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
             "Accuracy in % (majority vote over K purifications, a tied vote wrong) with 95% Wilson intervals; "
             "robust counts an example only if it is also right on its clean input; worst-of-K: every clean and "
             "every adversarial draw right; worst-case: robust under both losses (clean: the average of both "
             "attacks' clean verdicts). Verdicts by zoo.scoring, as the leaderboard's. Not checked: that doubling "
             "the PGD iterations changes little at this budget.", "",
             "| model | pattern | s | attack | n | clean | robust | robust, worst-of-K |", "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        scale = "-" if r["scale"] != r["scale"] else f"{r['scale']:g}"
        lines.append(f"| {r['model']} | {r['pattern']} | {scale} | {r['attack_title']} | {r['n']} | "
                     f"{r['clean_acc']:.1f} [{r['clean_lo']:.1f}, {r['clean_hi']:.1f}] | "
                     f"{r['robust_acc']:.1f} [{r['robust_lo']:.1f}, {r['robust_hi']:.1f}] | "
                     f"{r['robust_acc_all_draws']:.1f} |")
    lines += ["", "Scale criterion (zoo.studies.scale_sweep.pick_scale, fixed before the first run): "
              "highest worst-case robust accuracy with clean accuracy within one point of DiffPure's; decided "
              "only if it beats s = 1 by more than s = 1's interval half-width.", ""]
    lines += [f"- {p['pattern']}: s = {p['scale']} ({'decided' if p['decided'] else 'NOT decided'}): {p['reason']}"
              for p in picks]
    lines += ["", "![scale sweep](scale_sweep.png)", "", "Provenance:", ""]
    lines += provenance_lines(record)
    return "\n".join(lines) + "\n"


def provenance_lines(record: dict) -> list[str]:
    """The run's provenance as markdown items, and the re-scoring's where the tables were re-scored
    from the committed draws (``agdm-zoo scale-sweep --rescore``)."""
    lines = [f"- {key}: `{record.get(key)}`" for key in ("command", "commit", "seed", "device", "date",
                                                        "wall_seconds_this_invocation")]
    rescored = record.get("rescored")
    if rescored:
        lines.append(f"- re-scored from the committed draws (no attack rerun): `{rescored.get('command')}` at "
                     f"commit `{rescored.get('commit')}`, {rescored.get('date')}")
    return lines


def doubling_check(short: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """Is the sweep's attack converged? Per (model, attack) run in both, the robust accuracy (vote)
    of a sweep with S PGD steps (``short``) and one with more (``long``, typically 2S) on the same
    digits and seed, the difference long - short in points with its paired 95% interval and exact
    McNemar p-value (:func:`~zoo.scoring.paired.paired_test`), and ``changes_little``: the
    interval holds 0. Inputs are the sweeps' ``per_example.csv`` frames."""
    rows = []
    for (model, attack), part in long.groupby(["model", "attack"], sort=False):
        other = short[(short["model"] == model) & (short["attack"] == attack)]
        a, b = part.set_index("index")["robust"].sort_index(), other.set_index("index")["robust"].sort_index()
        if len(a) == 0 or not a.index.equals(b.index):
            continue
        result = paired_test(a.to_numpy(float), b.to_numpy(float), "vote")
        low, high = 100 * result["difference_lo"], 100 * result["difference_hi"]
        rows.append({"model": model, "attack": attack, "n": len(a), "robust_short": 100 * b.mean(),
                     "robust_long": 100 * a.mean(), "difference": 100 * (a.mean() - b.mean()),
                     "difference_lo": low, "difference_hi": high, "p_value": result["p_value"],
                     "changes_little": bool(low <= 0 <= high)})
    return pd.DataFrame(rows)


def doubling_markdown(table: pd.DataFrame, short_steps: int, long_steps: int, record: dict) -> str:
    """The doubling check as a markdown table with its verdict and provenance."""
    lines = [f"## Does the scale sweep's attack converge? {short_steps} vs {long_steps} PGD steps", "",
             f"**{record['budget']}** (the longer run; the shorter one is the committed sweep)", "",
             "Robust accuracy in % (vote over K, a tie wrong), the same validation digits and seed; difference = "
             f"{long_steps} steps - {short_steps} steps, 95% Newcombe interval, exact McNemar p. "
             "'changes little': the interval holds 0.", "",
             f"| model | attack | n | {short_steps} steps | {long_steps} steps | difference [95%] | p | changes little |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['model']} | {r['attack']} | {r['n']} | {r['robust_short']:.1f} | {r['robust_long']:.1f} | "
                     f"{r['difference']:+.1f} [{r['difference_lo']:+.1f}, {r['difference_hi']:+.1f}] | "
                     f"{r['p_value']:.3g} | {'yes' if r['changes_little'] else 'NO'} |")
    moved = int((~table["changes_little"]).sum()) if len(table) else 0
    lines += ["", f"{moved} of {len(table)} rows move beyond their interval when the steps are doubled."
              if moved else f"No row of {len(table)} moves beyond its interval when the steps are doubled "
              "(at this n, the interval is wide: a small shift would not show).", "", "Provenance:", ""]
    lines += provenance_lines(record)
    return "\n".join(lines) + "\n"
