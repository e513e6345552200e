"""The attack loop: every example a shard owns attacked by every attack, re-classified K times
clean and adversarial, journaled batch by batch; and one entry's run of it (its journal, data,
model and attacks), and every record of a run read back from its journals.

Two protocols (:data:`~zoo.running.settings.PROTOCOLS`): ``final`` judges each attack's final
output by K fresh purifications (Lee & Kim); ``anytime`` lets an attack that can (PGD+EOT,
:meth:`~zoo.attacks.PGDEOT.anytime`) judge every iterate by K purifications and stop attacking an
example at its first breaking iterate, whose K predictions become the record's ``adv_preds``.
Anytime records also hold ``broken_at`` (that iteration, 0 for the starting point, ``None`` if
never broken) and ``steps`` (the attack's iteration budget), from which robust accuracy per
iteration follows. Attacks without ``anytime`` run as under ``final``.
"""
from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..attacks.catalogue import build_attack
from ..attacks.gradients import attacker_model
from ..common.devices import device_of
from ..data import load_test_set
from ..models.factory import create_model
from ..models.precision import gradient_module
from ..models.speed import lever_flags
from ..registry.schema import Entry
from ..scoring.verdicts import DEFAULT, check_metric, robust_correct
from .journal import Journal
from .settings import Settings
from .sizing import size_eot_batches
from .draws import broken_by_draws, redraw_predictions
from .shards import batch_seed, redraw_seed, shard_batches


def run_attacks(model: nn.Module, x: Tensor, y: Tensor, attacks: dict, journal, *, seed: int, draws: int,
                batch_size: int, shard: tuple[int, int] = (0, 1), progress: bool = True,
                record_fields: dict | None = None, test_indices: list[int] | None = None,
                protocol: str = "final", stop_on: str | None = None, headline: str | None = None) -> dict[str, int]:
    """Attack every example this shard owns with every attack in ``attacks`` (name -> callable
    ``(x, y) -> x_adv``), re-classify clean and adversarial inputs ``draws`` times (each with a
    generator of its own, :func:`~zoo.running.shards.redraw_seed`: independent of the attack's
    random numbers), and journal each finished batch. Examples the journal already holds are not
    recorded again; a batch that is only partly recorded is computed whole (its seed is its
    position's, so its noise is an uninterrupted run's) and only its missing records are added.
    ``test_indices`` (default: the positions) name each example's place in the test set, for
    random subsets.

    ``protocol`` ``anytime`` with ``stop_on`` (``vote`` or ``worst``) judges the iterates of attacks
    that have an ``anytime`` method (see the module docstring). The progress bar shows robust
    accuracy so far by the run's ``headline`` (default ``stop_on``, else the vote), scored as the
    leaderboard scores it (:func:`zoo.scoring.verdicts.robust_correct`).

    Returns what was done: ``batches`` and ``examples`` attacked, ``recorded`` (new records)."""
    if protocol == "anytime" and stop_on is None:
        raise ValueError("the anytime protocol needs stop_on, the metric that decides when an example is broken")
    headline = check_metric(headline or stop_on or DEFAULT)
    device = device_of(model)
    done = journal.done()
    tally = {"batches": 0, "examples": 0, "recorded": 0}
    for a, (name, attack) in enumerate(attacks.items()):
        todo = [(b, idx) for b, idx in shard_batches(len(x), batch_size, shard)
                if not all((name, i) in done for i in idx)]
        bar = tqdm(todo, desc=name, disable=not progress, unit="batch")
        robust = total = 0
        for b, idx in bar:
            started = time.perf_counter()
            torch.manual_seed(batch_seed(seed, a, b))
            xb, yb = x[list(idx)].to(device), y[list(idx)].to(device)
            extra = [{} for _ in idx]
            if protocol == "anytime" and hasattr(attack, "anytime"):
                _, broken_at, adv = attack.anytime(xb, yb, iterate_judge(model, draws, stop_on, seed, a, b))
                clean = redraw_predictions(model, xb, draws, seed=redraw_seed(seed, a, b, adversarial=False))
                extra = [{"broken_at": b, "steps": attack.steps} for b in broken_at]
            else:
                x_adv = attack(xb, yb)
                clean = redraw_predictions(model, xb, draws, seed=redraw_seed(seed, a, b, adversarial=False))
                adv = redraw_predictions(model, x_adv, draws, seed=redraw_seed(seed, a, b, adversarial=True))
            seconds = (time.perf_counter() - started) / len(idx)
            missing = [(j, i) for j, i in enumerate(idx) if (name, i) not in done]
            journal.append([{**(record_fields or {}), "attack": name, "index": i, "seconds": round(seconds, 3),
                             "test_index": i if test_indices is None else int(test_indices[i]), "label": int(yb[j]),
                             "clean_preds": clean[j].tolist(), "adv_preds": adv[j].tolist(), **extra[j]}
                            for j, i in missing])
            tally["batches"] += 1
            tally["examples"] += len(idx)
            tally["recorded"] += len(missing)
            robust += float(robust_correct(clean.numpy(), adv.numpy(), yb.cpu().numpy(), headline).sum())
            total += len(idx)
            bar.set_postfix(robust=f"{100 * robust / total:.1f}% ({headline})")
    return tally


def iterate_judge(model: nn.Module, draws: int, stop_on: str, seed: int, attack_index: int, batch_index: int):
    """The anytime protocol's verdict on each iterate of one (attack, batch): ``draws``
    purifications from a generator of their own per iterate (:func:`redraw_seed` with the
    iteration), so the verdicts share no random numbers with the attack or with each other."""
    iterations = itertools.count()

    def judge(x_iterate: Tensor, y: Tensor):
        return broken_by_draws(model, x_iterate, y, draws, stop_on,
                               seed=redraw_seed(seed, attack_index, batch_index, True, next(iterations)))
    return judge


def journal_path(out: Path, s: Settings, shard: tuple[int, int]) -> Path:
    suffix = "" if shard == (0, 1) else f"_shard{shard[0]}of{shard[1]}"
    return out / "journal" / f"{s.model}_{s.threat}{suffix}.jsonl"


def evaluate_entry(entry: Entry, s: Settings, out: Path, *, device=None, data_dir="./data",
                   shard=(0, 1), resume=False, progress=True, grad_mode: str = "exact",
                   levers: tuple[str, ...] = (), model: nn.Module | None = None,
                   data: tuple[Tensor, Tensor] | None = None, headline: str | None = None,
                   precision: str = "fp32", eot_batch: int | None = None) -> Journal:
    """Run (or resume) one entry's attacks; returns its journal. ``grad_mode`` is how gradients are
    taken through the chain (the same gradients; not part of the journal's settings, so a run killed
    for lack of memory may resume with ``recompute``), ``levers`` the speed levers of
    :func:`zoo.models.speed.speed_up` (the same function, faster on a GPU); each record names both,
    and the attacker gradient of ``s`` (``attacker_grad``: every attack's gradients come from
    :func:`~zoo.attacks.gradients.attacker_model`, the examples are judged on the real model).
    ``model`` (a user's defense) is attacked instead of the entry's built model, ``data=(x, y)``
    used instead of the entry's test set (its first ``n_examples``). ``headline``: the metric the
    progress bar shows (:func:`run_attacks`; it does not enter the records). ``precision`` is the
    attacker gradients' (:mod:`zoo.models.precision`; every verdict stays fp32), ``eot_batch`` the EOT
    samples per forward (``None``: sized from the free memory, :mod:`.sizing`); both recorded per record.

    The journal is held (one writer at a time) while the run lasts and released before returning;
    when it already holds every result of this shard, no model is built."""
    with Journal(journal_path(out, s, shard), s.spec(), resume=resume) as journal:
        batches = shard_batches(s.n_examples, s.batch_size, shard)
        owned = {(a, i) for a in s.attacks for _, idx in batches for i in idx}
        missing, resumed = len(owned - journal.done()), bool(journal.done())
        if progress and resumed:
            print(f"resuming {journal.path}: {len(owned) - missing} of {len(owned)} results journaled, "
                  f"{missing} to compute", file=sys.stderr, flush=True)
        if not missing:
            return journal
        if data is None:
            x, y, test_indices = load_test_set(entry.dataset, s.n_examples, data_dir, s.subset_seed)
        else:
            x, y, test_indices = data[0][:s.n_examples], data[1][:s.n_examples], torch.arange(s.n_examples)
        if model is None:
            model = create_model(entry, device=device, grad_mode=grad_mode, **lever_flags(levers))
        elif device is not None:
            model = model.to(device)
        attacker = None if s.attacker_grad == "exact" else attacker_model(model, s.attacker_grad, **(s.surrogate or {}))
        attacker = gradient_module(model, attacker, precision)
        attacks = {name: build_attack(name, model, norm=s.threat, eps=s.eps, seed=s.seed, budget=s, attacker=attacker)
                   for name in s.attacks}
        eot_batch = size_eot_batches(attacks, attacker or model, x.to(device_of(model)), y.to(device_of(model)),
                                     batch_size=s.batch_size, eot=s.pgd_eot, given=eot_batch)
        done = run_attacks(model, x, y, attacks, journal, seed=s.seed, draws=s.draws,
                           batch_size=s.batch_size, shard=shard, progress=progress,
                           record_fields={"model": s.model, "threat": s.threat, "eps": s.eps, "seed": s.seed,
                                          "grad_mode": grad_mode, "levers": list(levers),
                                          "attack_precision": precision, "eot_batch": eot_batch,
                                          "attacker_grad": s.gradient_label},
                           test_indices=test_indices.tolist(), protocol=s.protocol, stop_on=s.stop_on,
                           headline=headline)
        if progress and resumed:
            print(f"resumed {journal.path}: attacked {done['examples']} examples in {done['batches']} batches "
                  f"(partly recorded batches whole, for their seeds), recorded the {done['recorded']} missing",
                  file=sys.stderr, flush=True)
    return journal


def collect_records(out: Path, settings: list[Settings]) -> list[dict]:
    """Every record of these runs, from the unsharded journal or merged from shard journals
    (which must all carry the same settings and never repeat an example)."""
    records = []
    for s in settings:
        seen: set = set()
        for path in sorted((out / "journal").glob(f"{s.model}_{s.threat}*.jsonl")):
            with Journal(path, s.spec(), resume=True) as journal:
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
