"""Benchmarking zoo entries the way the field does: AutoAttack (standard and rand) and Lee & Kim's
PGD+EOT, every result judged over K independent purifications, journaled per example so a killed
run resumes, sliced into shards for several processes, and written as leaderboard tables.

``agdm-zoo benchmark`` (and ``scripts/benchmark.py``) is a thin command line over :func:`benchmark`,
which is ``zoo.run_benchmark``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..attacks.autoattack import DEPARTURE_NOTE
from ..attacks.catalogue import autoattack_version, default_attacks, with_loss
from ..attacks.gradients import applicable_gradient, check_gradient
from ..common.devices import default_device
from ..common.provenance import provenance
from .loop import collect_records, evaluate_entry
from .settings import settings_for
from .shards import all_ranks_done, rank_device, torchrun_world
from ..models.speed import check_levers
from ..registry.resolve import applicable_overrides, as_entry, with_overrides
from ..registry.schema import Budget, Entry
from ..reporting.files import write_outputs
from .own_defense import own_defense
from ..reporting.tables import check_headline


def benchmark(names: list[str | Entry] | nn.Module, threat: str, attacks: tuple[str, ...] | None = None, *,
              out: str | Path = "leaderboard", eps: float | None = None, n_examples: int | None = None,
              batch_size: int | None = None, seed: int = 0, subset_seed: int | None = None, device=None,
              data_dir="./data", shard: tuple[int, int] | None = None, resume: bool = False,
              merge_only: bool = False, progress: bool = True, grad_mode: str = "exact",
              levers: tuple[str, ...] = (), headline: str = "vote", protocol: str = "final",
              overrides: Mapping[str, Any] | None = None, name: str | None = None, dataset: str | None = None,
              data: tuple[Tensor, Tensor] | None = None, budget: Budget | None = None,
              attacker_grad: str = "exact", surrogate: Mapping[str, Any] | None = None,
              loss: str | None = None) -> dict[str, Path]:
    """Evaluate ``names`` (registry names or :class:`Entry` objects) under ``threat`` and write the
    leaderboard tables into ``out``.

    ``subset_seed``: evaluate a random subset of the test set drawn with this seed (DiffPure's
    512-image protocol) instead of its first examples. With ``shard=(i, n)``, n > 1, only this
    shard's journal is filled; run once more with ``merge_only=True`` after every shard finished
    to write the tables from all shard journals. Under ``torchrun`` with several processes (and
    ``shard=None``) each rank evaluates its own shard on its own GPU, and rank 0 writes the merged
    tables once every rank has finished. ``grad_mode``: ``exact``, ``checkpoint`` or ``recompute``
    (:mod:`zoo.models.purifier`: the same gradients, the latter two in memory flat in t*); ``levers``:
    ``channels_last``, ``compile_unet`` (:func:`zoo.models.speed.speed_up`). The provenance lists every
    mode and lever set the records were made with.

    ``headline``: the metric the tables and model_info lead with, ``vote`` (default, as Lee & Kim
    and the AGDM paper), ``worst`` (worst-of-K) or ``mean`` (:mod:`zoo.reporting.metrics`; every
    summary holds all three). ``protocol``: ``final`` (default, Lee & Kim: each attack's final
    iterate) or ``anytime`` (PGD+EOT judges every iterate with K draws by the headline metric, keeps
    an example's first breaking iterate and stops attacking it; :func:`zoo.running.loop.run_attacks`).
    ``overrides``: purification settings changed for every entry that purifies (``t_star``,
    ``steps``, ``scale``, ``pattern``, ...; plain classifiers are left as they are), recorded in each
    entry's settings, the provenance and every table title.
    Bring your own defense: ``names`` may be one ``nn.Module`` mapping pixels in [0, 1] to logits,
    with ``name=``, ``eps=`` and either ``dataset=`` (its test set, as for entries) or ``data=(x, y)``;
    ``budget`` (a :class:`Budget`) defaults to the published protocol (:mod:`zoo.running.own_defense`).
    ``attacks``: catalogue names (default :func:`~zoo.attacks.catalogue.default_attacks` of the
    threat: PGD+EOT and AutoAttack, each plain and (guided entries) label-aware, for Linf / L2,
    ``stadv`` for StAdv).
    ``loss``: what every PGD+EOT attack ascends, ``ce`` (Lee & Kim), ``margin`` or ``dlr`` (the
    attacks are then named ``pgd-eot-dlr`` etc.); default ``None``: as ``attacks`` name them (the
    default attacks: ``ce``). ``attacker_grad``: ``exact`` (default),
    ``bpda``, ``blind`` or ``surrogate`` (``surrogate``: its chain's settings, e.g.
    ``{"steps": 2}``), where every gradient attack takes its gradients
    (:mod:`zoo.attacks.gradients`); all but ``exact`` are weaker, ablation-only attacks, and every
    output says so. Entries without a purifier are attacked with ``exact`` (the modes coincide).

    Returns the written files (empty for a shard run).
    """
    attacks = default_attacks(threat) if attacks is None else attacks
    attacks = attacks if loss is None else with_loss(attacks, loss)
    check_headline(headline)
    out = Path(out)
    start = time.time()
    ranks = torchrun_world() if shard is None else None
    if ranks is not None:
        shard, device = ranks, device or rank_device(ranks[0])
    shard = shard or (0, 1)
    levers = check_levers(levers)
    overrides = dict(overrides or {})
    entries, own, n_examples = defenses(names, threat, name=name, eps=eps, dataset=dataset, data=data, budget=budget,
                                        data_dir=data_dir, subset_seed=subset_seed, n_examples=n_examples)
    entries, settings = planned(entries, threat, attacks, overrides, attacker_grad, surrogate, own=own is not None,
                                eps=eps, n_examples=n_examples, batch_size=batch_size, seed=seed,
                                subset_seed=subset_seed, protocol=protocol, headline=headline)
    if not merge_only:
        for entry, s in zip(entries.values(), settings):
            evaluate_entry(entry, s, out, device=device, data_dir=data_dir, shard=shard, resume=resume,
                           progress=progress, grad_mode=grad_mode, levers=levers,
                           model=own.model if own else None, data=own.data if own else None, headline=headline)
        writes_tables = all_ranks_done() if ranks is not None else shard[1] == 1
        if not writes_tables:
            return {}
    records = collect_records(out, settings)
    record = run_record(settings, records, attacks, device=device, seed=seed, overrides=overrides,
                        headline=headline, protocol=protocol, wall_seconds=round(time.time() - start, 1))
    return write_outputs(out, records, record, entries, headline=headline)


def defenses(names, threat: str, *, name, eps, dataset, data, budget, data_dir, subset_seed,
             n_examples) -> tuple[dict[str, Entry], Any, int | None]:
    """The entries a run evaluates, by name: registry names and :class:`Entry` objects as they
    are, or one own ``nn.Module`` wrapped as an entry (:func:`own_defense`, which needs ``name``
    and ``eps``); with the own defense (or ``None``) and the number of examples (an own
    ``data=(x, y)`` caps it)."""
    own = None
    if isinstance(names, nn.Module):
        if subset_seed is not None and data is not None:
            raise ValueError("subset_seed draws from a dataset's test set; with data=(x, y) pass the subset itself")
        own = own_defense(names, threat, name=name, eps=eps, dataset=dataset, data=data, budget=budget,
                          data_dir=data_dir)
        names = [own.entry]
        if data is not None:
            n_examples = min(own.entry.budget.n_examples, len(data[1])) if n_examples is None else n_examples
            if n_examples > len(data[1]):
                raise ValueError(f"n_examples={n_examples}, but data holds {len(data[1])} examples")
    elif name is not None or dataset is not None or data is not None or budget is not None:
        raise ValueError("name=, dataset=, data= and budget= describe an own defense: pass an nn.Module, not entry names")
    return {entry.name: entry for entry in map(as_entry, names)}, own, n_examples


def planned(entries: dict[str, Entry], threat: str, attacks, overrides: dict, attacker_grad: str, surrogate, *,
            own: bool, **settings_kw) -> tuple[dict[str, Entry], list]:
    """The entries as the run changes them (protocol overrides on those that purify) and each one's
    settings (:func:`~zoo.running.settings.settings_for`), with the attacker gradient that
    applies to it (an own defense keeps its choice: bpda and the others need a zoo model)."""
    applied = {key: applicable_overrides(entry, overrides) for key, entry in entries.items()}
    entries = {key: with_overrides(entry, **applied[key]) for key, entry in entries.items()}
    check_gradient(attacker_grad, surrogate)
    gradient = {key: (attacker_grad, surrogate) if own else applicable_gradient(entry, attacker_grad, surrogate)
                for key, entry in entries.items()}
    settings = [settings_for(e, threat, attacks, overrides=applied[e.name], attacker_grad=gradient[e.name][0],
                             surrogate=gradient[e.name][1], **settings_kw) for e in entries.values()]
    return entries, settings


def run_record(settings, records: list[dict], attacks, *, device, seed: int, overrides: dict, headline: str,
               protocol: str, wall_seconds: float) -> dict:
    """The run's provenance: who ran what (:func:`~zoo.common.provenance.provenance`), every
    entry's settings and budget, the protocol and its overrides, each entry's attacker gradient,
    AutoAttack's departure note where it ran, and from the records (all invocations, resumed and
    sharded ones included) the attack time, grad modes and speed levers they were made with."""
    record = provenance(torch.device(device) if device else default_device(), seed=seed,
                        settings=[s.spec() for s in settings],
                        reduced_budget=any(s.reduced for s in settings),
                        budget={s.model: s.describe_budget() for s in settings},
                        wall_seconds_this_invocation=wall_seconds, headline=headline, protocol=protocol)
    if overrides:
        record["protocol_overrides"] = overrides
    record["attacker_gradient"] = {s.model: s.gradient_label for s in settings}
    if any(autoattack_version(a) for a in attacks):
        record["autoattack"] = DEPARTURE_NOTE
    record["attack_seconds_all_runs"] = round(sum(r.get("seconds", 0.0) for r in records), 1)
    record["grad_modes"] = sorted({r.get("grad_mode", "exact") for r in records})
    record["speed_levers"] = sorted({"+".join(r.get("levers", [])) or "none" for r in records})
    return record

