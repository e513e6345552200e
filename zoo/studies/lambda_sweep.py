"""The accuracy-robustness trade-off of the guidance net's lambda (the paper's Fig. 3c), on the demo.

For each lambda, a demo guidance net (small CNN, MNIST demo ``fit`` split) is trained with Eq. 6
by ``agdm-zoo train-guidance``, swapped into the ``agdm-tiny-mnist`` entry in place of the
shipped guidance net, and that entry is benchmarked (clean and PGD+EOT robust accuracy, the
entry's reduced budget, K purifications per example) through :func:`zoo.running.benchmark.benchmark`,
next to ``diffpure-tiny-mnist`` (the same purification without guidance) as the reference.
Nothing is chosen on the test split: lambda is the swept variable and every other setting is the
shipped guidance net's, except the number of epochs (fewer, to fit the sweep on 2 CPU cores).

Outputs: trained nets and checkpoints under --runs (gitignored); under --out the benchmark's own
tables (per-example CSVs, results_Linf.md, provenance_Linf.json), ``lambda_sweep.csv``,
``lambda_sweep.png``, ``lambda_sweep.md`` and ``lambda_sweep.json`` (provenance). The sweep
resumes: a lambda whose net exists is not retrained, a half-trained net resumes from its last
epoch, and finished examples are not attacked again (the benchmark's journal).

``agdm-zoo lambda-sweep`` (= ``scripts/lambda_sweep.py``) is a command line over :func:`run_sweep`.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..common.devices import default_device
from ..common.files import spec_difference
from ..common.provenance import provenance
from ..attacks.catalogue import TITLES
from ..attacks.pgd_eot import LABEL_AWARE
from ..running.benchmark import benchmark
from ..registry import get_entry
from ..registry.sources import sha256_of

BASE_ENTRY = "agdm-tiny-mnist"
THREAT = "Linf"
ATTACK = "pgd-eot"
ATTACKS = (ATTACK, LABEL_AWARE)
"""Lee & Kim's PGD+EOT and its label-aware variant (guided entries only; not on the baseline): a
guidance net's apparent robustness must survive an attack on the label it guides with."""
# what decides a net and its results; a sweep folder holding other values is refused
SETTING_KEYS = ("epochs", "steps", "eps", "seed", "n_examples")


@dataclass(frozen=True)
class Sweep:
    """One sweep's settings (``agdm-zoo lambda-sweep``'s arguments): the lambdas, how each net is
    trained (epochs, Eq. 6's inner PGD steps and eps, seed, threads), the demo test examples
    evaluated, the no-guidance reference entry (``none``: skip), and where nets and tables go."""
    lambdas: list[float] = field(default_factory=lambda: [0.0, 1.0, 3.0, 6.0, 12.0])
    epochs: int = 3
    steps: int = 5
    eps: float = 0.3
    n_examples: int = 50
    seed: int = 0
    baseline: str = "diffpure-tiny-mnist"
    threads: int = 2
    runs: Path = Path("runs/lambda_sweep")
    out: Path = Path("leaderboard/lambda_sweep")


class SweepSettingsError(ValueError):
    """A sweep folder that holds a sweep made with other settings."""


def lam_name(lam: float) -> str:
    """``lam6``, ``lam0.5``: the name part of one lambda's net and entry."""
    return f"lam{lam:g}"


def net_path(runs: Path, lam: float) -> Path:
    return runs / lam_name(lam) / "guidance.safetensors"


def check_settings(runs: Path, sweep: Sweep) -> dict:
    """The sweep's settings, written to ``runs/settings.json`` on the first run; a later run with
    other values is refused (its finished nets would be reused silently otherwise). Adding or
    dropping lambdas is fine."""
    settings = {key: getattr(sweep, key) for key in SETTING_KEYS}
    path = runs / "settings.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != settings:
            raise SweepSettingsError(f"{runs} holds a sweep with other settings ({spec_difference(saved, settings)}): "
                                     "use the same arguments, or other --runs and --out folders")
    else:
        runs.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2) + "\n")
    return settings


def train_command(sweep: Sweep, lam: float) -> list[str]:
    """The ``agdm-zoo train-guidance`` command line of one lambda's net (``--resume``: a killed
    sweep continues a half-trained net from its last epoch)."""
    return [sys.executable, "-m", "zoo", "train-guidance", "--lam", f"{lam:g}",
            "--eps", f"{sweep.eps:g}", "--steps", str(sweep.steps), "--epochs", str(sweep.epochs),
            "--seed", str(sweep.seed), "--threads", str(sweep.threads), "--out", str(net_path(sweep.runs, lam)),
            "--resume", "--no-progress"]


def shown(command: list[str]) -> str:
    """A command line as a reader would type it: ``python``, paths relative to the working directory."""
    here = Path.cwd()

    def short(part: str) -> str:
        path = Path(part)
        return str(path.relative_to(here)) if path.is_absolute() and path.is_relative_to(here) else part

    return " ".join(["python", *map(short, command[1:])])


def train_missing(sweep: Sweep, run=subprocess.run) -> dict[float, str]:
    """Train every lambda whose net does not exist yet; returns {lambda: 'trained' | 'existed'}."""
    status = {}
    for lam in sweep.lambdas:
        if net_path(sweep.runs, lam).is_file():
            status[lam] = "existed"
            print(f"lambda {lam:g}: net exists, not retrained", flush=True)
            continue
        command = train_command(sweep, lam)
        print(f"lambda {lam:g}: {' '.join(command)}", flush=True)
        run(command, check=True)
        status[lam] = "trained"
    return status


def swapped_entry(base, lam: float, path: Path):
    """``base`` with its guidance net replaced by the weights at ``path`` (pinned by their sha256)."""
    guidance = dataclasses.replace(base.guidance, source=path.resolve().as_uri(), sha256=sha256_of(path))
    return dataclasses.replace(base, name=f"{base.name}-{lam_name(lam)}", guidance=guidance,
                               description=f"{base.name} with a guidance net trained with Eq. 6, lambda={lam:g}")


def guidance_log(path: Path) -> pd.DataFrame:
    """A net's per-epoch training log (``train_guidance.py``'s CSV)."""
    return pd.read_csv(path.with_suffix(".log.csv"), comment="#")


def benchmark_row(summary: pd.DataFrame, name: str) -> dict:
    """One model's clean and PGD+EOT accuracy (vote and mean over K draws) from the summary."""
    found = summary[(summary["model"] == name) & (summary["attack"] == ATTACK)]
    if len(found) != 1:
        raise ValueError(f"no {ATTACK} summary row for {name}")
    r = found.iloc[0]
    row = {"model": name, "n": int(r["n"]), "k": int(r["k"]), "clean_acc_vote": r["clean_acc_vote"],
           "robust_acc_vote": r["robust_acc_vote"], "clean_acc_mean": r["clean_acc_mean"],
           "robust_acc_mean": r["robust_acc_mean"], "robust_acc_vote_lo": r["robust_acc_vote_lo"],
           "robust_acc_vote_hi": r["robust_acc_vote_hi"]}
    label = summary[(summary["model"] == name) & (summary["attack"] == LABEL_AWARE)]
    for _, r in label.iterrows():  # guided entries only
        row.update({f"label_{key}": r[key] for key in ("robust_acc_vote", "robust_acc_mean", "robust_acc_vote_lo",
                                                          "robust_acc_vote_hi")})
    return row


def sweep_table(sweep: Sweep, entries: dict[float, object], summary: pd.DataFrame,
                baseline: str | None = None) -> pd.DataFrame:
    """One row per lambda: the benchmark's numbers and the guidance net's own held-out read-outs
    and training time; then the baseline's row (lambda empty), if there is one."""
    rows = []
    for lam, entry in entries.items():
        log = guidance_log(net_path(sweep.runs, lam))
        rows.append({"lambda": lam, **benchmark_row(summary, entry.name),
                     "guidance_val_clean_acc": log["val_clean_acc"].iloc[-1],
                     "guidance_val_pgd_acc": log["val_pgd_acc"].iloc[-1],
                     "guidance_epochs": int(log["epoch"].iloc[-1]),
                     "guidance_train_seconds": round(float(log["seconds"].sum()), 1),
                     "guidance_sha256": entry.guidance.sha256})
    if baseline:
        rows.append({"lambda": float("nan"), **benchmark_row(summary, baseline)})
    table = pd.DataFrame(rows)
    return table.astype({"guidance_epochs": "Int64"}) if "guidance_epochs" in table else table


def plot(table: pd.DataFrame, path: Path, subtitle: str) -> None:
    """Left: robust vs clean accuracy, one point per lambda; right: both against lambda."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = table[table["lambda"].isna()]
    table = table[table["lambda"].notna()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    for _, row in base.iterrows():
        left.plot(row["clean_acc_vote"], row["robust_acc_vote"], "x", color="black", markersize=9)
        left.annotate(f"{row['model']} (no guidance)", (row["clean_acc_vote"], row["robust_acc_vote"]),
                      textcoords="offset points", xytext=(5, -12), fontsize=8)
        right.axhline(row["clean_acc_vote"], color="tab:blue", linestyle="--", linewidth=0.8,
                      label=f"clean, {row['model']}")
        right.axhline(row["robust_acc_vote"], color="tab:orange", linestyle="--", linewidth=0.8,
                      label=f"robust, {row['model']}")
    left.plot(table["clean_acc_vote"], table["robust_acc_vote"], "o-", color="tab:blue")
    for point, group in table.groupby(["clean_acc_vote", "robust_acc_vote"]):  # equal points: one label
        left.annotate("λ=" + ", ".join(f"{v:g}" for v in group["lambda"]), point,
                      textcoords="offset points", xytext=(5, 5), fontsize=9)
    left.set_xlabel("clean accuracy (%)")
    left.set_ylabel(f"robust accuracy, {ATTACK} (%)")
    left.set_title("accuracy-robustness trade-off")
    right.plot(table["lambda"], table["clean_acc_vote"], "o-", color="tab:blue", label="clean")
    right.plot(table["lambda"], table["robust_acc_vote"], "s-", color="tab:orange", label=f"robust ({ATTACK})")
    if "label_robust_acc_vote" in table:
        right.plot(table["lambda"], table["label_robust_acc_vote"], "v-", color="tab:red",
                   label=f"robust ({TITLES[LABEL_AWARE]})")
    right.plot(table["lambda"], table["guidance_val_pgd_acc"] * 100, "^:", color="gray",
               label="guidance net alone, PGD (held-out val)")
    right.set_xscale("symlog", linthresh=1.0)
    right.set_xticks(list(table["lambda"]))
    right.set_xticklabels([f"{v:g}" for v in table["lambda"]])
    right.set_xlabel("λ of the guidance net (Eq. 6)")
    right.set_ylabel("accuracy (%)")
    right.legend(fontsize=8)
    right.set_title("against λ")
    left.margins(0.15)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{BASE_ENTRY}, guidance net swapped per λ: {subtitle}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def robust_cell(row, prefix: str = "") -> str:
    """``vote (mean) [lo, hi]`` of one robust accuracy of a sweep row, ``-`` where it was not run."""
    vote = row.get(f"{prefix}robust_acc_vote")
    if vote is None or pd.isna(vote):
        return "-"
    return (f"{vote:.2f} ({row[f'{prefix}robust_acc_mean']:.2f}) "
            f"[{row[f'{prefix}robust_acc_vote_lo']:.1f}, {row[f'{prefix}robust_acc_vote_hi']:.1f}]")


def markdown(table: pd.DataFrame, record: dict) -> str:
    """The sweep's table with its budget (labelled REDUCED) and provenance."""
    lines = [f"## Lambda sweep: {BASE_ENTRY} with its guidance net trained per lambda (Fig. 3c)", "",
             f"**REDUCED budget, not the paper's protocol: {record['budget']}**", "",
             "Accuracies in % (majority vote over K purifications; mean over draws in parentheses). Robust "
             "accuracy counts an example only if it is also correct on its clean input. With n = "
             f"{int(table['n'].iloc[0])} examples one example is {100 / int(table['n'].iloc[0]):.0f} points: "
             "differences of one or two examples are within noise.", "",
             "Robust columns: vote (mean) [95% Wilson interval of the vote].", "",
             f"| lambda | clean | {TITLES[ATTACK]} | {TITLES[LABEL_AWARE]} | guidance net alone: val clean / val PGD "
             "| train s |", "|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        accuracies = (f"{r['clean_acc_vote']:.2f} ({r['clean_acc_mean']:.2f}) | "
                      f"{robust_cell(r)} | {robust_cell(r, 'label_')}")
        if pd.isna(r["lambda"]):
            lines.append(f"| - ({r['model']}, no guidance) | {accuracies} | - | - |")
            continue
        lines.append(f"| {r['lambda']:g} | {accuracies} | "
                     f"{100 * r['guidance_val_clean_acc']:.1f} / {100 * r['guidance_val_pgd_acc']:.1f} | "
                     f"{r['guidance_train_seconds']:.0f} |")
    lines += ["", "![trade-off](lambda_sweep.png)", "", "Provenance:", ""]
    for key in ("command", "commit", "seed", "device", "date", "wall_seconds_this_invocation"):
        lines.append(f"- {key}: `{record.get(key)}`")
    lines.append("- training commands: see `lambda_sweep.json`")
    return "\n".join(lines) + "\n"


def run_sweep(sweep: Sweep) -> pd.DataFrame:
    """Train the missing nets, benchmark every lambda's entry (and the baseline), and write the
    table, plot, markdown and provenance under ``sweep.out``; returns the table."""
    start = time.time()
    torch.set_num_threads(sweep.threads)
    settings = check_settings(sweep.runs, sweep)
    status = train_missing(sweep)
    base = get_entry(BASE_ENTRY)
    entries = {lam: swapped_entry(base, lam, net_path(sweep.runs, lam)) for lam in sweep.lambdas}
    baseline = None if sweep.baseline.lower() == "none" else sweep.baseline
    b = base.budget
    budget = (f"REDUCED: n={sweep.n_examples} demo test examples, K={b.draws} draws, PGD+EOT {b.pgd_steps} steps x "
              f"{b.pgd_eot} EOT (step {b.pgd_step_fraction:g} eps), eps={base.threats[THREAT]:g}, guidance scale "
              f"s={base.purification.scale:g}; guidance nets "
              f"trained {sweep.epochs} epochs (the shipped one: 8), Eq. 6 inner PGD {sweep.steps} steps, eps {sweep.eps:g}")
    # taken before anything is written: the sweep rewrites committed files, which would read as a dirty tree
    record = provenance(default_device(), seed=sweep.seed,
                        settings={**settings, "lambdas": sweep.lambdas, "baseline": baseline},
                        reduced_budget=True, budget=budget, base_entry=BASE_ENTRY, attacks=list(ATTACKS), threat=THREAT,
                        training_commands={f"{lam:g}": shown(train_command(sweep, lam)) for lam in sweep.lambdas},
                        training_status={f"{lam:g}": s for lam, s in status.items()})
    written = benchmark([*entries.values(), *([baseline] if baseline else [])], THREAT, ATTACKS, out=sweep.out,
                        n_examples=sweep.n_examples, seed=sweep.seed, resume=True)
    summary = pd.read_csv(written[f"summary_{THREAT}.csv"])
    table = sweep_table(sweep, entries, summary, baseline)
    sweep.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(sweep.out / "lambda_sweep.csv", index=False)
    record["wall_seconds_this_invocation"] = round(time.time() - start, 1)
    (sweep.out / "lambda_sweep.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (sweep.out / "lambda_sweep.md").write_text(markdown(table, record))
    plot(table, sweep.out / "lambda_sweep.png", f"n={sweep.n_examples}, K={b.draws}, REDUCED budget, "
                                                f"{sweep.epochs}-epoch guidance nets")
    print(table.to_string(index=False))
    print(f"wrote {sweep.out / 'lambda_sweep.png'} in {time.time() - start:.0f} s")
    return table

