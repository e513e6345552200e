"""``agdm-zoo rejudge``: stored adversarial examples (``--save-adversarial``) re-classified by K
fresh purifications of an entry or an own defense, with the metrics a benchmark run writes.

On the entry that made them this checks a published number in distribution (fresh noise, the same
examples); on another entry it is a transfer attack. Nothing is attacked here: the examples are
judged as they are, after :func:`~zoo.reporting.adversarial.read_examples` (checksum and
description) and :func:`~zoo.reporting.adversarial.check_examples` (labels, [0, 1] and the
eps-ball around the clean inputs, recomputed from the test indices) accepted them.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..common.devices import default_device
from ..common.provenance import provenance
from ..data import load_test_examples
from ..models.factory import create_model
from ..registry.resolve import as_entry
from ..registry.schema import DATASETS, Entry
from ..reporting.adversarial import StoredExamples, check_examples, read_examples
from ..reporting.files import write_outputs
from ..scoring.verdicts import check_metric
from .draws import redraw_predictions
from .own_defense import own_defense


def rejudge_seed(seed: int, batch_index: int, adversarial: bool) -> int:
    """The seed of one batch's re-draws: a stream of its own (never a benchmark run's)."""
    words = np.random.SeedSequence([seed, batch_index, int(adversarial), 0x72656A75646765])
    return int(words.generate_state(1, np.uint64)[0] % (2**63))


def attack_name(stored: StoredExamples, model: str) -> str:
    """``rejudged:<attack>`` on the entry that made the examples, ``transfer:<source>:<attack>`` on another."""
    source, attack = str(stored.meta["model"]), str(stored.meta["attack"])
    return f"rejudged:{attack}" if source == model else f"transfer:{source}:{attack}"


def judged_entry(model: str | Entry | nn.Module, stored: StoredExamples, *, name: str | None,
                 data: tuple[Tensor, Tensor] | None, data_dir) -> tuple[Entry, nn.Module | None]:
    """The entry the examples are judged on, and the own module (``None`` for a zoo entry)."""
    if not isinstance(model, nn.Module):
        if name is not None or data is not None:
            raise ValueError("name= and data= describe an own defense: pass an nn.Module, not an entry name")
        entry = as_entry(model)
        if stored.meta.get("dataset") not in (None, entry.dataset):
            raise ValueError(f"{stored.path} holds {stored.meta['dataset']} examples; {entry.name} classifies "
                             f"{entry.dataset}")
        return entry, None
    dataset = stored.meta.get("dataset")
    if data is None and dataset not in DATASETS:
        raise ValueError(f"{stored.path} holds examples of own data ({dataset}): pass data=(x, y), the examples "
                         "the run was given, so the clean inputs can be checked")
    own = own_defense(model, stored.threat, name=name, eps=stored.eps, dataset=None if data else dataset,
                      data=data, data_dir=data_dir)
    return own.entry, own.model


def clean_inputs(entry: Entry, stored: StoredExamples, data, data_dir) -> tuple[Tensor, Tensor]:
    """The clean examples at the stored test indices: recomputed from the test set (or ``data``)."""
    if data is not None:
        if int(stored.test_indices.max()) >= len(data[1]):
            raise ValueError(f"{stored.path}: test index {int(stored.test_indices.max())} beyond data's "
                             f"{len(data[1])} examples")
        return data[0][stored.test_indices], data[1][stored.test_indices]
    return load_test_examples(entry.dataset, stored.test_indices, data_dir)


def judge(model: nn.Module, x: Tensor, draws: int, batch_size: int, seed: int, adversarial: bool,
          device) -> Tensor:
    """N x draws predictions, batch by batch, each batch's draws from :func:`rejudge_seed`."""
    preds = [redraw_predictions(model, x[s:s + batch_size].to(device), draws,
                                seed=rejudge_seed(seed, b, adversarial))
             for b, s in enumerate(range(0, len(x), batch_size))]
    return torch.cat(preds)


def rejudge(path: str | Path, model: str | Entry | nn.Module, *, out: str | Path = "rejudged",
            data_dir="./data", device=None, draws: int | None = None, seed: int = 0, headline: str = "vote",
            name: str | None = None, data: tuple[Tensor, Tensor] | None = None) -> dict[str, Path]:
    """Re-classify the examples stored at ``path`` by ``draws`` (default: the run's K) fresh
    purifications of ``model`` (an entry's name, an :class:`Entry`, or an own ``nn.Module`` with
    ``name=`` and, for own data, the ``data=(x, y)`` the run was given) and write the benchmark's
    outputs into ``out`` (:func:`zoo.reporting.files.write_outputs`), the attack named by
    :func:`attack_name`; returns the written files.

    Raises:
        zoo.reporting.adversarial.AdversarialFileError: a tampered or invalid file (see the module).
        ValueError: a model or data that does not fit the examples.
    """
    start = time.time()
    check_metric(headline)
    stored = read_examples(path)
    entry, module = judged_entry(model, stored, name=name, data=data, data_dir=data_dir)
    x, y = clean_inputs(entry, stored, data, data_dir)
    check_examples(stored, x, y)
    device = torch.device(device) if device else default_device()
    net = (module.to(device) if module is not None else create_model(entry, device=device)).eval()
    made = stored.meta.get("settings") or {}
    k, batch = draws or made.get("draws") or entry.budget.draws, made.get("batch_size") or entry.budget.batch_size
    clean = judge(net, x, k, batch, seed, False, device)
    adv = judge(net, stored.adversarial, k, batch, seed, True, device)
    attack = attack_name(stored, entry.name)
    records = [{"model": entry.name, "threat": stored.threat, "eps": stored.eps, "attack": attack, "index": j,
                "test_index": int(t), "label": int(y[j]), "clean_preds": clean[j].tolist(),
                "adv_preds": adv[j].tolist(), "seed": seed} for j, t in enumerate(stored.test_indices)]
    record = rejudge_record(stored, entry, attack, k, seed=seed, headline=headline, device=device,
                            wall_seconds=round(time.time() - start, 1))
    return write_outputs(Path(out), records, record, {entry.name: entry}, headline=headline)


def rejudge_record(stored: StoredExamples, entry: Entry, attack: str, draws: int, *, seed: int, headline: str,
                   device, wall_seconds: float) -> dict[str, Any]:
    """The provenance of a rejudgement: who ran it, the K draws, and where the examples come from
    (their file, checksum and the run that made them, whose budget and protocol they carry)."""
    source: dict[str, Any] = stored.meta.get("provenance") or {}
    described = dict((source.get("attacks") or {}).get(stored.meta["attack"], {}))
    title = described.get("title") or stored.meta["attack"]
    described.update(title=f"{title}, examples of {stored.meta['model']} rejudged", plain_twin=attack,
                     order=described.get("order", 0))
    budget = source.get("budget") or {}
    made = budget.get(stored.meta["model"], "not recorded") if isinstance(budget, dict) else str(budget)
    return provenance(device, seed=seed, headline=headline, protocol=source.get("protocol"),
                      reduced_budget=bool(source.get("reduced_budget")),
                      budget={entry.name: f"K={draws} fresh draws of stored examples (made with: {made})"},
                      wall_seconds_this_invocation=wall_seconds, attacks={attack: described},
                      evaluation_protocol=source.get("evaluation_protocol"),
                      rejudged_from={"file": str(stored.path), "sha256": stored.meta.get("sha256"),
                                     "model": stored.meta["model"], "attack": stored.meta["attack"],
                                     "eps": stored.eps, "threat": stored.threat, "n": len(stored.labels),
                                     "commit": source.get("commit"), "command": source.get("command")})
