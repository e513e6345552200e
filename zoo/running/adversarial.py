"""``--save-adversarial``: the adversarial example an attack kept for each record, saved as the
record is written, and merged into one file per (entry, attack) when the tables are written
(:mod:`zoo.reporting.adversarial`'s format: test-set order, safetensors and JSON).

Saving survives resume and shards the way the journal does: the attack loop hands the examples of
the records it is about to journal to :meth:`Keeper.keep` (before it journals them), which writes
them as one part file of their own under ``OUT/adversarial/parts/<model>_<threat>/<attack>/``.
A record journaled after a kill has its part on disk; a part written just before a kill, whose
records were never journaled, is superseded by the newer part of the rerun (parts are named in
the order they were written). Merging needs a part for every record: a run journaled without
``--save-adversarial`` cannot save its examples afterwards, and says so.

It is an option of the :class:`~zoo.running.execution.Execution`, not of the protocol: it changes
no number (the same attacks, the same verdicts), so a run may be resumed with or without it and
its journal stays the same.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..common.files import atomic_write
from ..reporting.adversarial import write_examples
from .settings import Settings

PARTS = Path("adversarial") / "parts"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def parts_folder(out: Path, s: Settings, attack: str) -> Path:
    return Path(out) / PARTS / f"{_safe(s.model)}_{s.threat}" / _safe(attack)


def examples_path(out: Path, model: str, threat: str, attack: str) -> Path:
    """The merged pair's stem: ``OUT/adversarial/<model>_<threat>_<attack>``."""
    return Path(out) / "adversarial" / f"{_safe(model)}_{threat}_{_safe(attack)}"


class Keeper:
    """Saves the kept adversarial examples of one entry's run as its records are written."""

    def __init__(self, out: Path, s: Settings):
        self.out, self.settings = Path(out), s

    def keep(self, attack: str, indices: list[int], x_adv: Tensor) -> None:
        """Save ``x_adv`` (one row per position in ``indices``) as one part file, atomically."""
        if not indices:
            return
        tensors = {"index": torch.tensor(indices, dtype=torch.int64), "adversarial": x_adv.detach().float().cpu()}
        name = f"{time.time_ns():020d}-{indices[0]}.safetensors"
        atomic_write(parts_folder(self.out, self.settings, attack) / name,
                     lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, tmp))


def kept_examples(out: Path, s: Settings, attack: str) -> dict[int, Tensor]:
    """Position -> the saved example, newest part last (so a rerun's part wins)."""
    found: dict[int, Tensor] = {}
    for part in sorted(parts_folder(out, s, attack).glob("*.safetensors")):
        tensors = load_file(str(part))
        for i, x in zip(tensors["index"].tolist(), tensors["adversarial"]):
            found[int(i)] = x
    return found


def write_adversarial(out: Path, settings: list[Settings], records: list[dict], provenance: Mapping[str, Any],
                      datasets: Mapping[str, str]) -> dict[str, Path]:
    """Merge every entry's and attack's parts into one pair per (entry, attack) under
    ``OUT/adversarial/`` (test-set order, the run's provenance and settings beside it); returns the
    written paths keyed relative to ``out``. ``datasets``: entry name -> its dataset.

    Raises:
        ValueError: a record without a saved example (the run, or part of it, ran without saving).
    """
    out, written = Path(out), {}
    for s in settings:
        for attack in s.attacks:
            mine = sorted((r for r in records if r["model"] == s.model and r["threat"] == s.threat
                           and r["attack"] == attack), key=lambda r: r["index"])
            kept = kept_examples(out, s, attack)
            missing = [r["index"] for r in mine if r["index"] not in kept]
            if missing:
                raise ValueError(f"{s.model} {attack}: {len(missing)} of {len(mine)} journaled examples have no saved "
                                 "adversarial example (that part of the run ran without --save-adversarial); rerun "
                                 "into a new --out with --save-adversarial to keep them")
            meta = {"model": s.model, "threat": s.threat, "eps": s.eps, "attack": attack,
                    "dataset": datasets.get(s.model), "provenance": dict(provenance), "settings": s.spec()}
            paths = write_examples(examples_path(out, s.model, s.threat, attack),
                                   torch.stack([kept[r["index"]] for r in mine]),
                                   torch.tensor([r["test_index"] for r in mine]),
                                   torch.tensor([r["label"] for r in mine]), meta)
            written.update({str(p.relative_to(out)): p for p in paths})
    return written
