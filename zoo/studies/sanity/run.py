"""``agdm-zoo sanity``: every gradient-masking check that applies to a defense, on a few test
examples, written as JSON (one record per check) and markdown (:mod:`.report`).

The defense is a registry entry (by name, or an :class:`~zoo.registry.schema.Entry`) or a user's
own ``nn.Module`` (:func:`zoo.running.own_defense.own_defense` describes it: dataset, eps). A
check that cannot apply is listed under ``skipped`` with the reason, never given a status.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ...attacks.catalogue import guided
from ...common.devices import default_device
from ...common.provenance import provenance
from ...data import load_test_set
from ...models.factory import create_model
from ...registry.resolve import as_entry
from ...registry.schema import Entry
from ...running.own_defense import own_defense
from . import attack_checks, gradient_checks
from .bench import Bench
from .budget import SanityBudget
from ...reporting.sanity_report import write_report

UNDEFENDED = {"mnist": "standard-tiny-mnist"}
"""The zoo's undefended classifier per dataset: the transfer source for an own module that names none."""


@dataclasses.dataclass
class Defense:
    """A defense ready for the checks: its entry (synthetic for an own module), the module and a bench."""

    entry: Entry
    model: nn.Module
    bench: Bench
    own: bool


def prepare(model: str | Entry | nn.Module, threat: str = "Linf", *, budget: SanityBudget | None = None,
            eps: float | None = None, name: str | None = None, dataset: str | None = None,
            data: tuple[Tensor, Tensor] | None = None, device=None, data_dir="./data") -> Defense:
    """The defense (an entry built on ``device``, or a user's module) and its first
    ``budget.n_examples`` test examples (or ``data``) on a :class:`Bench` at ``eps`` (default:
    the entry's for ``threat``)."""
    budget = budget or SanityBudget()
    device = torch.device(device) if device is not None else default_device()
    if isinstance(model, nn.Module):
        described = own_defense(model, threat, name=name, eps=eps, dataset=dataset, data=data, data_dir=data_dir)
        entry, module, own = described.entry, model.to(device), True
    else:
        entry = as_entry(model)
        if threat not in entry.threats and eps is None:
            raise ValueError(f"{entry.name} declares no eps for {threat}; pass eps (--eps)")
        module, own = create_model(entry, device=device), False
    eps = entry.threats[threat] if eps is None else float(eps)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if data is None:
        x, y, _ = load_test_set(entry.dataset, budget.n_examples, data_dir)
    else:
        x, y = data[0][:budget.n_examples], data[1][:budget.n_examples]
    return Defense(entry, module, Bench(module, x, y, threat=threat, eps=eps, budget=budget), own)


def transfer_source(defense: Defense, transfer_from: str | nn.Module | None) -> tuple[nn.Module | None, str]:
    """The undefended classifier to transfer from and its name, or ``(None, why not)``: the one
    given, else the entry's own classifier (without its purifier), else for an own module the zoo's
    undefended classifier of its dataset."""
    device = defense.bench.device
    if isinstance(transfer_from, nn.Module):
        return transfer_from.to(device), type(transfer_from).__name__
    if isinstance(transfer_from, str):
        return create_model(as_entry(transfer_from), device=device), transfer_from
    if not defense.own:
        if defense.model.purifier is None:
            return None, "the model is an undefended classifier itself: transfer from it is the gradient attack"
        return defense.model.classifier, f"{defense.entry.name}'s classifier"
    fallback = UNDEFENDED.get(defense.entry.dataset)
    if fallback is None:
        return None, f"no undefended zoo classifier for {defense.entry.dataset}: pass transfer_from (--transfer-from)"
    return create_model(as_entry(fallback), device=device), fallback


def applicable_checks(defense: Defense, transfer_from=None) -> tuple[list[tuple[str, Callable[[], dict]]], list[dict]]:
    """The checks that apply, as (name, run) in report order, and the skipped ones with why."""
    bench, model = defense.bench, defense.model
    checks = [("eps-sweep", lambda: attack_checks.eps_sweep(bench)), ("square", lambda: attack_checks.square(bench))]
    skipped = []
    source, source_name = transfer_source(defense, transfer_from)
    if source is None:
        skipped.append({"name": "transfer", "why": source_name})
    else:
        checks.append(("transfer", lambda: attack_checks.transfer(bench, source, source_name)))
    checks.append(("more-iterations", lambda: attack_checks.more_iterations(bench)))
    if not defense.own and guided(defense.entry) and getattr(model, "label_network", None) is not None:
        checks.append(("label-aware", lambda: attack_checks.label_aware(bench)))
    else:
        skipped.append({"name": "label-aware", "why": "no guidance label to attack (not a guided zoo entry)"})
    checks.append(("finite-differences", lambda: gradient_checks.finite_differences(bench)))
    if getattr(model, "purifier", None) is not None:
        checks.append(("recompute-replay", lambda: gradient_checks.recompute_replay(bench)))
    else:
        skipped.append({"name": "recompute-replay", "why": "no zoo purifier, so no recompute grad mode"})
    return checks, skipped


def run_sanity(model: str | Entry | nn.Module, threat: str = "Linf", *, budget: SanityBudget | None = None,
               eps: float | None = None, name: str | None = None, dataset: str | None = None,
               data: tuple[Tensor, Tensor] | None = None, transfer_from: str | nn.Module | None = None,
               device=None, data_dir="./data", out: str | Path | None = None, progress: bool = True) -> dict:
    """Run every check that applies to ``model`` under ``threat`` and return the report (written
    into ``out`` as ``sanity_<threat>.json`` and ``.md`` when given). ``name``, ``dataset``,
    ``data`` describe an own module as for :func:`zoo.run_benchmark`; ``transfer_from`` (an entry
    name or a module) overrides the transfer source (:func:`transfer_source`)."""
    budget = budget or SanityBudget()
    started = time.perf_counter()
    defense = prepare(model, threat, budget=budget, eps=eps, name=name, dataset=dataset, data=data, device=device,
                      data_dir=data_dir)
    checks, skipped = applicable_checks(defense, transfer_from)
    records = []
    for check_name, check in tqdm(checks, desc="sanity", disable=not progress, unit="check"):
        records.append(check())
    bench = defense.bench
    report = {"model": defense.entry.name, "own_defense": defense.own, "dataset": defense.entry.dataset,
              "threat": threat, "eps": bench.eps, "reduced": True, "budget": dataclasses.asdict(budget),
              "budget_note": budget.describe(), "clean_accuracy_vote": round(bench.clean_accuracy, 4),
              "checks": records, "skipped": skipped,
              "provenance": provenance(bench.device, seconds=round(time.perf_counter() - started, 1))}
    if out is not None:
        write_report(report, out)
    return report
