"""Benchmarking zoo entries the way the field does: AutoAttack (standard and rand) and Lee & Kim's
PGD+EOT, every result judged over K independent purifications, journaled per example so a killed
run resumes, sliced into shards for several processes, and handed to :mod:`zoo.reporting` for the
leaderboard tables.

``agdm-zoo benchmark`` (and ``scripts/benchmark.py``) is a thin command line over :func:`benchmark`,
which is ``zoo.run_benchmark``. What is measured is one :class:`~zoo.running.protocol.Protocol`;
how the run is executed (shards, resume, backprop mode, speed levers) is an :class:`Execution`.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..attacks.autoattack import DEPARTURE_NOTE
from ..attacks.catalogue import autoattack_version, describe
from ..attacks.gradients import applicable_gradient
from ..common.devices import default_device
from ..common.provenance import provenance
from ..registry.resolve import applicable_overrides, as_entry, with_overrides
from ..registry.schema import Entry
from ..reporting.files import write_outputs
from .adversarial import write_adversarial
from .costs import measured_costs
from .execution import EXECUTION_FIELDS, Execution
from .loop import collect_records, evaluate_entry
from .own_defense import own_defense
from .protocol import Protocol, protocol_of
from .shards import all_ranks_done, rank_device, torchrun_world

OWN_DEFENSE_FIELDS = ("name", "dataset", "data")
"""Keywords that describe an own ``nn.Module`` defense (not the protocol)."""


def benchmark(models: list[str | Entry] | nn.Module, threat: Protocol | str | None = None, attacks=None, *,
              out: str | Path = "leaderboard", data_dir="./data", device=None, execution: Execution | None = None,
              **fields: Any) -> dict[str, Path]:
    """Evaluate ``models`` (registry names or :class:`Entry` objects, or one own ``nn.Module``) under
    ``protocol`` and write the leaderboard tables into ``out``; returns the written files (empty for
    a shard run).

    ``threat`` is a whole :class:`~zoo.running.protocol.Protocol` (also accepted as ``protocol=``), or
    a threat name with the protocol's fields as keywords (``attacks`` positional; ``n_examples=``, ``batch_size=``, ``budget=``,
    ``eps=``, ``loss=``, ``headline=``, ``protocol="anytime"``, ``overrides=``, ``attacker_grad=``,
    ``surrogate=``, ``seed=``, ``subset_seed=``; :func:`~zoo.running.protocol.protocol_of`). The
    :class:`Execution` may be given whole or by its fields as keywords (``shard=``, ``resume=``,
    ``merge_only=``, ``progress=``, ``grad_mode=``, ``levers=``, ``save_adversarial=``,
    ``attack_precision=``, ``eot_batch=``). With ``shard=(i, n)``, n > 1, only this shard's journal
    is filled; run once more with ``merge_only=True`` after every shard
    finished. Under ``torchrun`` with several processes (and no shard) each rank evaluates its own
    shard on its own GPU, and rank 0 writes the merged tables once every rank has finished.

    Bring your own defense: ``models`` may be one ``nn.Module`` mapping pixels in [0, 1] to logits,
    with ``name=``, an ``eps`` and either ``dataset=`` (its test set, as for entries) or
    ``data=(x, y)`` of any shape; its budget is the protocol's (default: the published one).
    """
    own_kw = {key: fields.pop(key) for key in OWN_DEFENSE_FIELDS if key in fields}
    run_kw = {key: fields.pop(key) for key in EXECUTION_FIELDS if key in fields}
    if execution is not None and run_kw:
        raise TypeError(f"pass execution= or its fields {sorted(run_kw)}, not both")
    execution = execution or Execution(**run_kw)
    if isinstance(fields.get("protocol"), Protocol):
        threat = fields.pop("protocol")
    if threat is None:
        raise TypeError("run_benchmark needs a threat (e.g. 'Linf') or a Protocol")
    protocol = protocol_of(threat, attacks, **fields)
    out = Path(out)
    start = time.time()
    shard, device = execution.shard, device
    ranks = torchrun_world() if shard is None else None
    if ranks is not None:
        shard, device = ranks, device or rank_device(ranks[0])
    shard = shard or (0, 1)
    entries, own = defenses(models, protocol, data_dir=data_dir, **own_kw)
    entries, settings = planned(entries, protocol, own=own is not None)
    if not execution.merge_only:
        for entry, s in zip(entries.values(), settings):
            evaluate_entry(entry, s, out, execution, device=device, data_dir=data_dir, shard=shard, own=own,
                           headline=protocol.headline)
        writes_tables = all_ranks_done() if ranks is not None else shard[1] == 1
        if not writes_tables:
            return {}
    records = collect_records(out, settings)
    record = run_record(settings, records, protocol, device=device, wall_seconds=round(time.time() - start, 1))
    written = write_outputs(out, records, record, entries, headline=protocol.headline)
    if execution.save_adversarial:
        written.update(write_adversarial(out, settings, records, record, {k: e.dataset for k, e in entries.items()}))
    return written


def defenses(models, protocol: Protocol, *, data_dir, name=None, dataset=None,
             data: tuple[Tensor, Tensor] | None = None) -> tuple[dict[str, Entry], Any]:
    """The entries a run evaluates, by name: registry names and :class:`Entry` objects as they
    are, or one own ``nn.Module`` wrapped as an entry (:func:`own_defense`, which needs ``name``
    and the protocol's ``eps``; its examples cap the number evaluated); with the own defense or
    ``None``."""
    if not isinstance(models, nn.Module):
        if name is not None or dataset is not None or data is not None:
            raise ValueError("name=, dataset= and data= describe an own defense: pass an nn.Module, not entry names")
        return {entry.name: entry for entry in map(as_entry, models)}, None
    if protocol.subset_seed is not None and data is not None:
        raise ValueError("subset_seed draws from a dataset's test set; with data=(x, y) pass the subset itself")
    own = own_defense(models, protocol.threat, name=name, eps=protocol.eps, dataset=dataset, data=data,
                      data_dir=data_dir)
    if data is not None:
        asked = protocol.budget.get("n_examples")
        if asked is not None and asked > len(data[1]):
            raise ValueError(f"n_examples={asked}, but data holds {len(data[1])} examples")
        budget = dataclasses.replace(own.entry.budget, n_examples=min(own.entry.budget.n_examples, len(data[1])))
        own = dataclasses.replace(own, entry=dataclasses.replace(own.entry, budget=budget))
    return {own.entry.name: own.entry}, own


def planned(entries: dict[str, Entry], protocol: Protocol, *, own: bool) -> tuple[dict[str, Entry], list]:
    """The entries as the run changes them (the protocol's purification overrides on those that
    purify) and each one's settings (:meth:`Protocol.settings_for`), with the attacker gradient
    that applies to it (an own defense keeps the protocol's: bpda and the others need a zoo model)."""
    planned_entries, settings = {}, []
    for key, entry in entries.items():
        applied = applicable_overrides(entry, protocol.overrides)
        entry = with_overrides(entry, **applied)
        gradient = ((protocol.attacker_grad, protocol.surrogate) if own
                    else applicable_gradient(entry, protocol.attacker_grad, protocol.surrogate))
        resolved = protocol.with_changes(overrides=applied, attacker_grad=gradient[0], surrogate=gradient[1])
        planned_entries[key] = entry
        settings.append(resolved.settings_for(entry))
    return planned_entries, settings


def run_record(settings, records: list[dict], protocol: Protocol, *, device, wall_seconds: float) -> dict:
    """The run's provenance: who ran what (:func:`~zoo.common.provenance.provenance`), the protocol
    whole, every entry's settings and budget, each entry's attacker gradient, what reporting needs
    of each attack (:func:`~zoo.attacks.catalogue.describe`), AutoAttack's departure note where it
    ran, and from the records (all invocations, resumed and sharded ones included) the attack
    time, what each attack cost per example (:func:`~zoo.running.costs.measured_costs`: model calls
    and seconds, beside the final protocol's calls), grad modes, speed levers and attack precisions."""
    record = provenance(torch.device(device) if device else default_device(), seed=protocol.seed,
                        settings=[s.spec() for s in settings],
                        reduced_budget=any(s.reduced for s in settings),
                        budget={s.model: s.describe_budget() for s in settings},
                        wall_seconds_this_invocation=wall_seconds, headline=protocol.headline,
                        protocol=protocol.judge)
    if protocol.overrides:
        record["protocol_overrides"] = dict(protocol.overrides)
    record["evaluation_protocol"] = protocol.as_dict()
    record["attacker_gradient"] = {s.model: s.gradient_label for s in settings}
    record["attacks"] = describe(protocol.attacks)
    if any(autoattack_version(a) for a in protocol.attacks):
        record["autoattack"] = DEPARTURE_NOTE
    record["attack_seconds_all_runs"] = round(sum(r.get("seconds", 0.0) for r in records), 1)
    record["attack_costs"] = measured_costs(settings, records)
    record["grad_modes"] = sorted({r.get("grad_mode", "exact") for r in records})
    record["speed_levers"] = sorted({"+".join(r.get("levers", [])) or "none" for r in records})
    record["attack_precisions"] = sorted({r.get("attack_precision", "fp32") for r in records})
    return record
