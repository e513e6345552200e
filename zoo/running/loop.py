"""The attack loop: every example a shard owns attacked by every attack, re-classified K times
clean and adversarial, journaled batch by batch; and one entry's run of it (its journal, data,
model and attacks), and every record of a run read back from its journals.

Two protocols (:data:`~zoo.running.settings.PROTOCOLS`): ``final`` judges each attack's final
output by K fresh purifications (Lee & Kim), batch by batch; ``anytime`` runs an attack that can
(PGD+EOT with any loss, plain or label-aware: ``iterates``) in a pool of ``batch_size`` examples in
flight (:mod:`zoo.running.pool`): the EOT samples of every gradient find candidate breaks at no
extra call, K fresh draws confirm them, a confirmed example stops and leaves, the next takes its
slot. Anytime records also hold ``broken_at`` (the kept iterate, 0 for the starting point,
``None`` if never broken), ``steps`` (the attack's budget), ``candidates`` (K-draw confirmations
tried) and ``calls`` (model calls spent on the example), from which robust accuracy per iteration
and the savings follow. Attacks without iterates (AutoAttack, StAdv) run as under ``final``.
"""
from __future__ import annotations

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
from .adversarial import Keeper
from .fixed_noise import FixedNoise, fix_noise
from .execution import Execution
from .journal import Journal
from .settings import Settings
from .draws import redraw_predictions
from .pool import Finished, Pool
from .sizing import size_eot_batches
from .shards import batch_seed, redraw_seed, shard_batches


def bar_label(attack: str, record_fields: dict | None) -> str:
    """The progress bar's label: the entry (``record_fields["model"]``, where given) and the attack."""
    model = (record_fields or {}).get("model")
    return attack if model is None else f"{model} {attack}"


def run_attacks(model: nn.Module, x: Tensor, y: Tensor, attacks: dict, journal, *, seed: int, draws: int,
                batch_size: int, shard: tuple[int, int] = (0, 1), progress: bool = True,
                record_fields: dict | None = None, test_indices: list[int] | None = None,
                protocol: str = "final", stop_on: str | None = None, headline: str | None = None,
                keep=None) -> dict[str, int]:
    """Attack every example this shard owns with every attack in ``attacks`` (name -> callable
    ``(x, y) -> x_adv``), re-classify clean and adversarial inputs ``draws`` times (each with a
    generator of its own, :func:`~zoo.running.shards.redraw_seed`: independent of the attack's
    random numbers), and journal each finished batch. Examples the journal already holds are not
    recorded again; a batch that is only partly recorded is computed whole (its seed is its
    position's, so its noise is an uninterrupted run's) and only its missing records are added.
    ``test_indices`` (default: the positions) name each example's place in the test set, for
    random subsets.

    ``protocol`` ``anytime`` with ``stop_on`` (``vote`` or ``worst``) judges the iterates of attacks
    with iterates in a pool (see the module docstring). The progress bar shows robust
    accuracy so far by the run's ``headline`` (default ``stop_on``, else the vote), scored as the
    leaderboard scores it (:func:`zoo.scoring.verdicts.robust_correct`).

    ``keep`` (``--save-adversarial``, :class:`zoo.running.adversarial.Keeper.keep`) receives the
    kept adversarial examples of the records about to be journaled, before they are.

    Returns what was done: ``batches`` and ``examples`` attacked, ``recorded`` (new records)."""
    if protocol == "anytime" and stop_on is None:
        raise ValueError("the anytime protocol needs stop_on, the metric that decides when an example is broken")
    headline = check_metric(headline or stop_on or DEFAULT)
    device = device_of(model)
    done = journal.done()
    tally = {"batches": 0, "examples": 0, "recorded": 0}
    for a, (name, attack) in enumerate(attacks.items()):
        if protocol == "anytime" and getattr(attack, "iterates", False):
            saved = None if keep is None else (lambda body, x_kept, n=name: keep(n, [body["index"]], x_kept))
            pooled = run_pool(model, x, y, name, a, attack, journal, done, seed=seed, draws=draws, stop_on=stop_on,
                              batch_size=batch_size, shard=shard, progress=progress, record_fields=record_fields,
                              test_indices=test_indices, headline=headline, on_finish=saved)
            tally = {key: tally[key] + pooled[key] for key in tally}
            continue
        todo = [(b, idx) for b, idx in shard_batches(len(x), batch_size, shard)
                if not all((name, i) in done for i in idx)]
        bar = tqdm(todo, desc=bar_label(name, record_fields), disable=not progress, unit="batch")
        robust = total = 0
        for b, idx in bar:
            started = time.perf_counter()
            torch.manual_seed(batch_seed(seed, a, b))
            fix_noise(model, batch_seed(seed, a, b), len(idx))  # --fixed-noise only (zoo.running.fixed_noise)
            xb, yb = x[list(idx)].to(device), y[list(idx)].to(device)
            x_adv = attack(xb, yb)
            clean = redraw_predictions(model, xb, draws, seed=redraw_seed(seed, a, b, adversarial=False))
            adv = redraw_predictions(model, x_adv, draws, seed=redraw_seed(seed, a, b, adversarial=True))
            seconds = (time.perf_counter() - started) / len(idx)
            missing = [(j, i) for j, i in enumerate(idx) if (name, i) not in done]
            if keep is not None:  # --save-adversarial: the examples of these records, saved before they are journaled
                keep(name, [i for _, i in missing], x_adv[[j for j, _ in missing]])
            journal.append([{**(record_fields or {}), "attack": name, "index": i, "seconds": round(seconds, 3),
                             "test_index": i if test_indices is None else int(test_indices[i]), "label": int(yb[j]),
                             "clean_preds": clean[j].tolist(), "adv_preds": adv[j].tolist()}
                            for j, i in missing])
            tally["batches"] += 1
            tally["examples"] += len(idx)
            tally["recorded"] += len(missing)
            robust += float(robust_correct(clean.numpy(), adv.numpy(), yb.cpu().numpy(), headline).sum())
            total += len(idx)
            bar.set_postfix(robust=f"{100 * robust / total:.1f}% ({headline})")
    return tally


def run_pool(model: nn.Module, x: Tensor, y: Tensor, name: str, a: int, attack, journal, done: set, *, seed: int,
             draws: int, stop_on: str, batch_size: int, shard: tuple[int, int], progress: bool,
             record_fields: dict | None, test_indices: list[int] | None, headline: str,
             on_finish: Finished | None = None) -> dict[str, int]:
    """The anytime protocol for one attack with iterates: the examples this shard owns and the
    journal lacks, attacked in a :class:`~zoo.running.pool.Pool` of ``batch_size``, each record
    journaled as its example finishes (``on_finish(record, x_kept)`` sees it with its kept input)."""
    todo = [i for _, idx in shard_batches(len(x), batch_size, shard) for i in idx if (name, i) not in done]
    pool = Pool(model, attack, attack_index=a, seed=seed, draws=draws, stop_on=stop_on, batch_size=batch_size,
                test_indices=test_indices)

    def record(slot) -> dict:
        outcome = slot.outcome
        body = {**(record_fields or {}), "attack": name, "index": slot.index, "seconds": round(slot.seconds, 3),
                "test_index": slot.test_index, "label": int(slot.y[0]), "clean_preds": slot.clean.tolist(),
                "adv_preds": outcome["adv"].tolist(), "broken_at": outcome["broken_at"], "steps": attack.steps,
                "candidates": slot.candidates, "calls": {"gradient": slot.gradient, "forward": slot.forward}}
        if on_finish is not None:
            on_finish(body, slot.x_adv)
        return body

    steps = pool.run(x, y, todo, journal.append, record, progress=progress, desc=bar_label(name, record_fields),
                     headline=headline) if todo else 0
    return {"batches": steps, "examples": len(todo), "recorded": len(todo)}


def journal_path(out: Path, s: Settings, shard: tuple[int, int]) -> Path:
    suffix = "" if shard == (0, 1) else f"_shard{shard[0]}of{shard[1]}"
    return out / "journal" / f"{s.model}_{s.threat}{suffix}.jsonl"


def evaluate_entry(entry: Entry, s: Settings, out: Path, execution: Execution, *, device=None, data_dir="./data",
                   shard=(0, 1), own=None, headline: str | None = None) -> Journal:
    """Run (or resume) one entry's attacks as ``execution`` says (:class:`~zoo.running.execution.Execution`);
    returns its journal. Its grad mode (the same gradients; not part of the journal's settings, so a
    run killed for lack of memory may resume with ``recompute``), speed levers, attack precision
    (every verdict stays fp32) and EOT batch (``None``: sized from the free memory, :mod:`.sizing`)
    are named in each record, with the attacker gradient of ``s`` (every attack's gradients come
    from :func:`~zoo.attacks.gradients.attacker_model`, the examples are judged on the real model).
    ``own`` (a user's defense, :class:`~zoo.running.own_defense.OwnDefense`): its module is attacked
    instead of the entry's built model, and its ``data=(x, y)`` (if any) used instead of the entry's
    test set (the first ``n_examples``). ``headline``: the metric the progress bar shows
    (:func:`run_attacks`; it does not enter the records).

    The journal is held (one writer at a time) while the run lasts and released before returning;
    when it already holds every result of this shard, no model is built."""
    model, data = (own.model, own.data) if own is not None else (None, None)
    with Journal(journal_path(out, s, shard), s.spec(), resume=execution.resume) as journal:
        batches = shard_batches(s.n_examples, s.batch_size, shard)
        owned = {(a, i) for a in s.attacks for _, idx in batches for i in idx}
        missing, resumed = len(owned - journal.done()), bool(journal.done())
        if execution.progress and resumed:
            print(f"resuming {journal.path}: {len(owned) - missing} of {len(owned)} results journaled, "
                  f"{missing} to compute", file=sys.stderr, flush=True)
        if not missing:
            return journal
        if data is None:
            x, y, test_indices = load_test_set(entry.dataset, s.n_examples, data_dir, s.subset_seed)
        else:
            x, y, test_indices = data[0][:s.n_examples], data[1][:s.n_examples], torch.arange(s.n_examples)
        if model is None:
            model = create_model(entry, device=device, grad_mode=execution.grad_mode, **lever_flags(execution.levers))
        elif device is not None:
            model = model.to(device)
        model = FixedNoise(model) if s.fixed_noise else model
        attacker = None if s.attacker_grad == "exact" else attacker_model(model, s.attacker_grad, **(s.surrogate or {}))
        attacker = gradient_module(model, attacker, execution.attack_precision)
        attacks = {name: build_attack(name, model, norm=s.threat, eps=s.eps, seed=s.seed, budget=s, attacker=attacker)
                   for name in s.attacks}
        eot_batch = size_eot_batches(attacks, attacker or model, x.to(device_of(model)), y.to(device_of(model)),
                                     batch_size=s.batch_size, eot=s.pgd_eot, given=execution.eot_batch)
        done = run_attacks(model, x, y, attacks, journal, seed=s.seed, draws=s.draws,
                           batch_size=s.batch_size, shard=shard, progress=execution.progress,
                           record_fields={"model": s.model, "threat": s.threat, "eps": s.eps, "seed": s.seed,
                                          "grad_mode": execution.grad_mode, "levers": list(execution.levers),
                                          "attack_precision": execution.attack_precision, "eot_batch": eot_batch,
                                          "attacker_grad": s.gradient_label},
                           test_indices=test_indices.tolist(), protocol=s.protocol, stop_on=s.stop_on,
                           headline=headline, keep=Keeper(out, s).keep if execution.save_adversarial else None)
        if execution.progress and resumed:
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
