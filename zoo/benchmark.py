"""Benchmarking zoo entries the way the field does: AutoAttack (standard and rand) and Lee & Kim's
PGD+EOT, every result judged over K independent purifications, journaled per example so a killed
run resumes, sliced into shards for several processes, and written as leaderboard tables.

``scripts/benchmark.py`` is a thin command line over :func:`benchmark`.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from . import results
from .attacks import ATTACKS, PGDEOT
from .data import load_test_set
from .devices import default_device
from .factory import create_model
from .journal import Journal
from .evaluation import run_attacks
from .provenance import provenance
from .registry import Entry, get_entry
from .speed import check_levers, lever_flags

ATTACK_CHOICES = results.ATTACK_ORDER


@dataclass(frozen=True)
class Settings:
    """Everything that defines one model's results under one threat model (its journal's spec)."""

    model: str
    threat: str
    eps: float
    attacks: tuple[str, ...]
    n_examples: int
    batch_size: int
    seed: int
    draws: int
    pgd_steps: int
    pgd_eot: int
    pgd_step_fraction: float | None = None
    autoattack: Mapping[str, Any] = field(default_factory=dict)
    reduced: bool = False
    subset_seed: int | None = None

    def describe_budget(self) -> str:
        aa = ", ".join(f"{k}={v}" for k, v in sorted(self.autoattack.items())) or "AutoAttack's own settings"
        step = "default step" if self.pgd_step_fraction is None else f"step {self.pgd_step_fraction:g} eps"
        n = f"{self.n_examples}" if self.subset_seed is None else f"{self.n_examples} (random, seed {self.subset_seed})"
        return (f"n={n}, K={self.draws} draws, PGD+EOT {self.pgd_steps} steps x {self.pgd_eot} EOT "
                f"({step}), "
                f"AutoAttack: {aa}")


def settings_for(entry: Entry, threat: str, attacks: tuple[str, ...], *, eps: float | None = None,
                 n_examples: int | None = None, batch_size: int | None = None, seed: int = 0,
                 subset_seed: int | None = None) -> Settings:
    """The entry's declared budget and eps, with command-line overrides applied and checked."""
    if threat not in entry.threats and eps is None:
        raise ValueError(f"{entry.name} declares no eps for {threat}; pass --eps")
    eps = entry.threats[threat] if eps is None else eps
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    unknown = sorted(set(attacks) - set(ATTACK_CHOICES))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {list(ATTACK_CHOICES)}")
    budget = entry.budget
    n = budget.n_examples if n_examples is None else n_examples
    if n < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError("n_examples and batch_size must be >= 1")
    return Settings(entry.name, threat, float(eps), tuple(attacks), n, batch_size or budget.batch_size, seed,
                    budget.draws, budget.pgd_steps, budget.pgd_eot, budget.pgd_step_fraction,
                    dict(budget.autoattack), budget.reduced, subset_seed)


def build_attacks(model: torch.nn.Module, s: Settings) -> dict:
    """Attack objects by name, with the settings' budget."""
    built = {}
    for name in s.attacks:
        if name == "pgd-eot":
            step = None if s.pgd_step_fraction is None else s.pgd_step_fraction * s.eps
            built[name] = PGDEOT(model, norm=s.threat, eps=s.eps, steps=s.pgd_steps, eot=s.pgd_eot,
                                 step_size=step, seed=s.seed)
        else:
            version = name.split("-", 1)[1]
            built[name] = ATTACKS["autoattack"](model, norm=s.threat, eps=s.eps, version=version, seed=s.seed,
                                                batch_size=s.batch_size, budget=dict(s.autoattack) or None)
    return built


def journal_path(out: Path, s: Settings, shard: tuple[int, int]) -> Path:
    suffix = "" if shard == (0, 1) else f"_shard{shard[0]}of{shard[1]}"
    return out / "journal" / f"{s.model}_{s.threat}{suffix}.jsonl"


def evaluate_entry(entry: Entry, s: Settings, out: Path, *, device=None, data_dir="./data",
                   shard=(0, 1), resume=False, progress=True, grad_mode: str = "exact",
                   levers: tuple[str, ...] = ()) -> Journal:
    """Run (or resume) one entry's attacks; returns its journal. ``grad_mode`` is how gradients are
    taken through the chain (the same gradients; not part of the journal's settings, so a run killed
    for lack of memory may resume with ``recompute``), ``levers`` the speed levers of
    :func:`zoo.speed.speed_up` (the same function, faster on a GPU); each record names both."""
    journal = Journal(journal_path(out, s, shard), dataclasses.asdict(s), resume=resume)
    x, y, test_indices = load_test_set(entry.dataset, s.n_examples, data_dir, s.subset_seed)
    model = create_model(entry, device=device, grad_mode=grad_mode, **lever_flags(levers))
    run_attacks(model, x, y, build_attacks(model, s), journal, seed=s.seed, draws=s.draws,
                batch_size=s.batch_size, shard=shard, progress=progress,
                record_fields={"model": s.model, "threat": s.threat, "eps": s.eps, "seed": s.seed,
                               "grad_mode": grad_mode, "levers": list(levers)},
                test_indices=test_indices.tolist())
    return journal


def collect_records(out: Path, settings: list[Settings]) -> list[dict]:
    """Every record of these runs, from the unsharded journal or merged from shard journals
    (which must all carry the same settings and never repeat an example)."""
    records = []
    for s in settings:
        seen: set = set()
        for path in sorted((out / "journal").glob(f"{s.model}_{s.threat}*.jsonl")):
            journal = Journal(path, dataclasses.asdict(s), resume=True)
            keys = journal.done()
            if keys & seen:
                raise ValueError(f"{path} repeats examples of another journal of {s.model}: mixed shard layouts?")
            seen |= keys
            records += journal.records
        expected = {(a, i) for a in s.attacks for i in range(s.n_examples)}
        if seen != expected:
            raise ValueError(f"{s.model} {s.threat}: {len(expected - seen)} of {len(expected)} results missing; "
                             "finish every shard (same arguments, --resume) before writing tables")
    return records


def torchrun_world() -> tuple[int, int] | None:
    """(rank, world size) when this process is one of several started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ["RANK"]), world) if world > 1 else None


def rank_device(rank: int) -> torch.device:
    """This rank's GPU (``LOCAL_RANK``) where there are GPUs, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())


def _all_ranks_done() -> bool:
    """Wait for every torchrun rank to finish its shard; True on rank 0, which then merges."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        dist.barrier()
        return dist.get_rank() == 0
    finally:
        dist.destroy_process_group()


def as_entry(model: str | Entry) -> Entry:
    """A registry name's entry, or an :class:`Entry` itself (one made with ``dataclasses.replace``,
    e.g. another guidance net's weights from ``file:///abs/path``)."""
    return model if isinstance(model, Entry) else get_entry(model)


def benchmark(names: list[str | Entry], threat: str, attacks: tuple[str, ...] = ATTACK_CHOICES, *,
              out: str | Path = "leaderboard", eps: float | None = None, n_examples: int | None = None,
              batch_size: int | None = None, seed: int = 0, subset_seed: int | None = None, device=None,
              data_dir="./data", shard: tuple[int, int] | None = None, resume: bool = False,
              merge_only: bool = False, progress: bool = True, grad_mode: str = "exact",
              levers: tuple[str, ...] = ()) -> dict[str, Path]:
    """Evaluate ``names`` (registry names or :class:`Entry` objects) under ``threat`` and write the
    leaderboard tables into ``out``.

    ``subset_seed``: evaluate a random subset of the test set drawn with this seed (DiffPure's
    512-image protocol) instead of its first examples. With ``shard=(i, n)``, n > 1, only this
    shard's journal is filled; run once more with ``merge_only=True`` after every shard finished
    to write the tables from all shard journals. Under ``torchrun`` with several processes (and
    ``shard=None``) each rank evaluates its own shard on its own GPU, and rank 0 writes the merged
    tables once every rank has finished. ``grad_mode``: ``exact``, ``checkpoint`` or ``recompute``
    (:mod:`zoo.purifier`: the same gradients, the latter two in memory flat in t*); ``levers``:
    ``channels_last``, ``compile_unet`` (:func:`zoo.speed.speed_up`). The provenance lists every
    mode and lever set the records were made with. Returns the written files (empty for a shard run).
    """
    out = Path(out)
    start = time.time()
    ranks = torchrun_world() if shard is None else None
    if ranks is not None:
        shard, device = ranks, device or rank_device(ranks[0])
    shard = shard or (0, 1)
    levers = check_levers(levers)
    entries = {entry.name: entry for entry in map(as_entry, names)}
    settings = [settings_for(e, threat, attacks, eps=eps, n_examples=n_examples, batch_size=batch_size, seed=seed,
                             subset_seed=subset_seed) for e in entries.values()]
    if not merge_only:
        for entry, s in zip(entries.values(), settings):
            evaluate_entry(entry, s, out, device=device, data_dir=data_dir, shard=shard, resume=resume,
                           progress=progress, grad_mode=grad_mode, levers=levers)
        writes_tables = _all_ranks_done() if ranks is not None else shard[1] == 1
        if not writes_tables:
            return {}
    record = provenance(torch.device(device) if device else default_device(), seed=seed,
                        settings=[dataclasses.asdict(s) for s in settings],
                        reduced_budget=any(s.reduced for s in settings),
                        budget={s.model: s.describe_budget() for s in settings},
                        wall_seconds_this_invocation=round(time.time() - start, 1))
    records = collect_records(out, settings)
    # every invocation's attack time, resumed and sharded runs included
    record["attack_seconds_all_runs"] = round(sum(r.get("seconds", 0.0) for r in records), 1)
    record["grad_modes"] = sorted({r.get("grad_mode", "exact") for r in records})
    record["speed_levers"] = sorted({"+".join(r.get("levers", [])) or "none" for r in records})
    return results.write_outputs(out, records, record, entries)
