"""The guidance scale sweep (the lambda sweep's twin): the demo's plain and robust guidance at
each scale s, under Lee & Kim's PGD+EOT and its label-aware variant, on VALIDATION digits.

For every pattern (plain: ``guided-tiny-mnist``, robust: ``agdm-tiny-mnist``) and every s of the
grid, the entry with that scale is attacked by ``pgd-eot`` and ``pgd-eot-label`` (same budget) and
every clean and adversarial input is re-classified K times; ``diffpure-tiny-mnist`` (no guidance)
is the baseline, and each pattern's label network alone (robust: the TRADES-style guidance net,
plain: the classifier) under PGD is the reference row, the bound guidance may borrow from.
Every verdict is the leaderboard's (:mod:`zoo.scoring`): accuracies are majority votes over the K
draws (a tied vote is wrong) with 95% Wilson intervals, plus robust worst-of-K; an example is robust
only if it is also right on its clean input; ``worst-case`` counts an example robust only if it
survives both attacks (:func:`zoo.scoring.worst_case.over_attacks`: its clean accuracy averages
both attacks' clean verdicts). Nothing here ever sees the test split: the sweep refuses it.

Resumable: each configuration's records go to ``<out>/journal/<config>.jsonl`` batch by batch
(:class:`~zoo.running.journal.Journal`); a rerun with the same settings attacks only what is
missing, and other settings are refused.

The scale criterion (:func:`pick_scale`), fixed before the sweep was first run: per pattern, the
scale with the highest worst-case robust accuracy among those whose clean accuracy is within one
point of DiffPure's (ties: the smaller scale). The pick is decided only if its worst-case robust
accuracy exceeds that of s = 1 (the paper's, the current setting) by more than the half-width of
s = 1's Wilson interval; otherwise the budget is too small to decide and the scale stays.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..attacks.catalogue import TITLES, build_attack
from ..attacks.pgd_eot import LABEL_AWARE
from ..data import mnist_demo
from ..running.journal import Journal
from ..running.loop import run_attacks
from ..models.factory import create_model
from ..registry.schema import Budget
from ..registry.resolve import get_entry, with_overrides
from ..scoring import intervals
from ..scoring.verdicts import correct, robust_correct
from ..scoring.worst_case import over_attacks

BASES = {"plain": "guided-tiny-mnist", "robust": "agdm-tiny-mnist"}
BASELINE = "diffpure-tiny-mnist"
ATTACKS = ("pgd-eot", LABEL_AWARE)
WORST = "worst-case"
SPLITS = ("val",)
"""The only split the sweep evaluates on: settings are chosen on held-out training digits."""


@dataclass(frozen=True)
class SweepSettings:
    """What defines the sweep's results (its journals' spec)."""

    scales: tuple[float, ...] = (0.0, 1.0, 10.0, 100.0)
    split: str = "val"
    n_examples: int = 16
    steps: int = 5
    eot: int = 2
    step_fraction: float = 0.5
    eps: float = 0.3
    draws: int = 5
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"the scale sweep runs on the {' / '.join(SPLITS)} split only, never {self.split!r}: "
                             "a scale chosen on the test split would be tuned on the numbers it is judged by")
        if not self.scales or any(not s >= 0 for s in self.scales):
            raise ValueError(f"scales must be a non-empty list of numbers >= 0, got {self.scales!r}")
        if min(self.n_examples, self.steps, self.eot, self.draws, self.batch_size) < 1:
            raise ValueError("n_examples, steps, eot, draws and batch_size must be >= 1")

    def budget(self) -> Budget:
        """The sweep's attack budget, in the one budget type every run uses (REDUCED)."""
        return Budget(reduced=True, n_examples=self.n_examples, draws=self.draws, pgd_steps=self.steps,
                      pgd_eot=self.eot, pgd_step_fraction=self.step_fraction, batch_size=self.batch_size)

    def describe(self) -> str:
        return (f"REDUCED: n={self.n_examples} demo {self.split} digits, K={self.draws} draws, PGD+EOT {self.steps} "
                f"steps x {self.eot} EOT (step {self.step_fraction:g} eps), eps={self.eps:g} Linf")


def config_name(pattern: str, scale: float) -> str:
    return f"{pattern}-s{scale:g}"


def configurations(settings: SweepSettings) -> list[dict]:
    """Every evaluated configuration: name, pattern, scale, entry, attacks (the baseline first)."""
    configs = [{"name": BASELINE, "pattern": "none", "scale": float("nan"), "entry": get_entry(BASELINE),
                "attacks": ("pgd-eot",)}]
    for pattern, base in BASES.items():
        for scale in settings.scales:
            entry = with_overrides(get_entry(base), scale=float(scale))
            configs.append({"name": config_name(pattern, scale), "pattern": pattern, "scale": float(scale),
                            "entry": dataclasses.replace(entry, name=config_name(pattern, scale)),
                            "attacks": ATTACKS})
    return configs


def _journal(out: Path, name: str, settings: SweepSettings, extra: dict) -> Journal:
    spec = {**dataclasses.asdict(settings), "scales": None, "config": name, **extra}  # grid may grow
    return Journal(out / "journal" / f"{name}.jsonl", spec, resume=True)


def run_sweep(settings: SweepSettings, out: str | Path, device="cpu", progress: bool = True) -> list[dict]:
    """Evaluate (or resume) every configuration and reference row; returns all records."""
    out = Path(out)
    x, y = mnist_demo(settings.split)
    x, y = x[:settings.n_examples], y[:settings.n_examples]
    records, references = [], {}
    for config in configurations(settings):
        journal = _journal(out, config["name"], settings, {"pattern": config["pattern"], "scale": config["scale"]})
        model = create_model(config["entry"], device=device)
        attacks = {a: build_attack(a, model, norm="Linf", eps=settings.eps, seed=settings.seed,
                                   budget=settings.budget()) for a in config["attacks"]}
        run_attacks(model, x, y, attacks, journal, seed=settings.seed, draws=settings.draws,
                    batch_size=settings.batch_size, progress=progress, record_fields={"model": config["name"]})
        records += [{**r, "pattern": config["pattern"], "scale": config["scale"]} for r in journal.records]
        if config["pattern"] in BASES:
            references.setdefault(config["pattern"], model.label_network)
    for pattern, net in references.items():
        name = f"{pattern}-label-net-alone"
        journal = _journal(out, name, settings, {"pattern": pattern, "scale": None})
        attack = build_attack("pgd-eot", net, norm="Linf", eps=settings.eps, seed=settings.seed,
                              budget=settings.budget())
        run_attacks(net, x, y, {"pgd-eot": attack}, journal, seed=settings.seed, draws=1,
                    batch_size=settings.batch_size, progress=progress, record_fields={"model": name})
        records += [{**r, "pattern": f"{pattern} (label net alone)", "scale": float("nan")} for r in journal.records]
    return records


def wilson(successes: float, n: int) -> tuple[float, float]:
    """95% Wilson score interval of ``successes`` out of ``n`` (a sum of per-example scores), in
    percent (the leaderboard's :func:`~zoo.scoring.intervals.wilson`)."""
    low, high = intervals.wilson(successes / n, n)
    return 100 * low, 100 * high


def _draws(preds) -> list[int]:
    """One example's draws from a record (a list) or a per-example CSV (space-separated)."""
    return [int(p) for p in (preds.split() if isinstance(preds, str) else preds)]


def _verdicts(record: dict) -> dict:
    """One record's verdicts by :mod:`zoo.scoring.verdicts`: clean by vote, robust by vote and by
    worst-of-K (clean and adversarial draws all right)."""
    clean, adv, label = [_draws(record["clean_preds"])], [_draws(record["adv_preds"])], [record["label"]]
    return {"clean_correct": bool(correct(clean, label, "vote")[0]),
            "robust": bool(robust_correct(clean, adv, label, "vote")[0]),
            "robust_all_draws": bool(robust_correct(clean, adv, label, "worst")[0])}


def per_example(records: list[dict]) -> pd.DataFrame:
    """One row per (configuration, attack, example): clean (1.0 or 0.0) and robust verdicts by
    vote, robust by worst-of-K (:func:`_verdicts`), and the draws; plus per configuration run under several
    attacks a ``worst-case`` row per example present under all of them, robust only if robust under
    every attack and clean by the average of the attacks' clean verdicts
    (:func:`~zoo.scoring.worst_case.over_attacks`, as the leaderboard)."""
    rows = [{"model": r["model"], "pattern": r["pattern"], "scale": r["scale"], "attack": r["attack"],
             "index": r["index"], "label": r["label"], **_verdicts(r),
             "clean_preds": " ".join(map(str, _draws(r["clean_preds"]))),
             "adv_preds": " ".join(map(str, _draws(r["adv_preds"])))} for r in records]
    frame = pd.DataFrame(rows)
    worst = [_worst_case(part) for _, part in frame.groupby("model", sort=False) if part["attack"].nunique() > 1]
    frame = pd.concat([frame, *worst], ignore_index=True)
    return frame.astype({"clean_correct": float})  # the worst case's is a fraction (an average over attacks)


def _worst_case(part: pd.DataFrame) -> pd.DataFrame:
    """One configuration's ``worst-case`` rows, by :func:`~zoo.scoring.worst_case.over_attacks`."""
    wide = part.set_index(["index", "attack"])
    scores = {c: wide[c].astype(float).unstack("attack").sort_index() for c in ("clean_correct", "robust",
                                                                               "robust_all_draws")}
    present, clean, robust = over_attacks(scores["clean_correct"].T, scores["robust"].T)
    _, _, all_draws = over_attacks(scores["clean_correct"].T, scores["robust_all_draws"].T)
    first = part.drop_duplicates("index").set_index("index").loc[scores["robust"].index[present]]
    return pd.DataFrame({"model": first["model"].to_numpy(), "pattern": first["pattern"].to_numpy(),
                         "scale": first["scale"].to_numpy(), "attack": WORST, "index": first.index.to_numpy(),
                         "label": first["label"].to_numpy(), "clean_correct": clean, "robust": robust.astype(bool),
                         "robust_all_draws": all_draws.astype(bool)})


def records_of(examples: pd.DataFrame) -> list[dict]:
    """The records a :func:`per_example` frame (or its CSV) was made from, with their K draws: a
    committed sweep re-scored without attacking again."""
    rows = examples[examples["attack"] != WORST]
    return [{"model": r["model"], "pattern": r["pattern"], "scale": float(r["scale"]), "attack": r["attack"],
             "index": int(r["index"]), "label": int(r["label"]), "clean_preds": _draws(r["clean_preds"]),
             "adv_preds": _draws(r["adv_preds"])} for _, r in rows.iterrows()]


def summary(examples: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and attack: n, clean and robust accuracy (vote) with Wilson intervals, and
    robust accuracy over all K draws (worst-of-K)."""
    rows = []
    for (model, attack), g in examples.groupby(["model", "attack"], sort=False):
        n, clean, robust = len(g), float(g["clean_correct"].astype(float).sum()), int(g["robust"].sum())
        rows.append({"model": model, "pattern": g["pattern"].iloc[0], "scale": g["scale"].iloc[0],
                     "attack": attack, "attack_title": TITLES.get(attack, attack), "n": n,
                     "clean_acc": 100 * clean / n, **dict(zip(("clean_lo", "clean_hi"), wilson(clean, n))),
                     "robust_acc": 100 * robust / n, **dict(zip(("robust_lo", "robust_hi"), wilson(robust, n))),
                     "robust_acc_all_draws": 100 * int(g["robust_all_draws"].sum()) / n})
    return pd.DataFrame(rows)


def pick_scale(table: pd.DataFrame, pattern: str) -> dict:
    """The criterion of the module docstring on a :func:`summary` table: the chosen scale of
    ``pattern``, whether the sweep decides it, and why."""
    base = table[(table["model"] == BASELINE) & (table["attack"] == "pgd-eot")]
    rows = table[(table["pattern"] == pattern) & (table["attack"] == WORST)].sort_values("scale")
    if len(base) != 1 or rows.empty:
        raise ValueError(f"the table lacks the {BASELINE} row or the {pattern} worst-case rows")
    eligible = rows[rows["clean_acc"] >= float(base["clean_acc"].iloc[0]) - 1.0]
    if eligible.empty:
        return {"pattern": pattern, "scale": None, "decided": False,
                "reason": "no scale has clean accuracy within one point of DiffPure's"}
    best = eligible.loc[eligible["robust_acc"].idxmax()]  # idxmax: the first (smallest) scale of equal maxima
    paper = rows[rows["scale"] == 1.0]
    if paper.empty:
        raise ValueError("the sweep lacks s = 1, the scale a pick is compared with")
    p = paper.iloc[0]
    half_width = (p["robust_hi"] - p["robust_lo"]) / 2
    decided = bool(best["robust_acc"] - p["robust_acc"] > half_width)
    reason = (f"worst-case robust {best['robust_acc']:.1f}% at s={best['scale']:g} vs {p['robust_acc']:.1f}% at s=1 "
              f"(half-width {half_width:.1f}); clean {best['clean_acc']:.1f}% vs DiffPure "
              f"{float(base['clean_acc'].iloc[0]):.1f}%")
    return {"pattern": pattern, "scale": float(best["scale"]), "decided": decided, "reason": reason}


def reference_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The label networks alone (``<pattern>-label-net-alone``)."""
    return table[table["model"].str.endswith("-label-net-alone")]
