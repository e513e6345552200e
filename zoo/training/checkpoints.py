"""Checkpoints of a training run (per epoch for guidance nets, every N steps for the DDPM), so a
killed run resumes to exactly the weights of an uninterrupted one: weights as safetensors, then a
state file (optimizer, scheduler, RNG, log rows, the run's spec) written last, which marks the
checkpoint complete. Files are named ``<unit>-<number>`` (``epoch-0003``, ``step-0250``). A
checkpoint of other settings is refused (:class:`ResumeError`), never silently continued."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..common.devices import device_of
from ..common.files import atomic_write, spec_difference


class ResumeError(ValueError):
    """A checkpoint folder that does not fit the run asked for (other settings, or no ``resume``)."""


def checkpoint_folder(out: Path) -> Path:
    """Where a run writing ``out`` (``name.safetensors``) keeps its checkpoints: ``name.checkpoints/``."""
    out = Path(out)
    return out.with_name(out.stem + ".checkpoints")


def _rng_state() -> dict:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The model's tensors on the CPU, contiguous (what safetensors stores)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(folder: Path, epoch: int, model: nn.Module, opt, sched, rows: list[dict], spec: dict, *,
                    unit: str = "epoch") -> Path:
    """Write the weights (safetensors) and state (optimizer, scheduler, RNG, log rows, run spec)
    after ``epoch`` (or step: ``unit``) into ``folder``; the state file is written last and marks
    the checkpoint complete. Older checkpoints are removed afterwards. Returns the state file."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{unit}-{epoch:04d}"
    atomic_write(folder / f"{stem}.safetensors", lambda tmp: save_file(cpu_state_dict(model), tmp))
    state = {"epoch": epoch, "spec": json.dumps(spec, sort_keys=True), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "rng": _rng_state(), "rows": json.dumps(rows)}
    atomic_write(folder / f"{stem}.pt", lambda tmp: torch.save(state, tmp))
    for old in folder.glob(f"{unit}-*"):
        if not old.name.startswith(stem + "."):
            old.unlink()
    return folder / f"{stem}.pt"


def latest_checkpoint(folder: Path | None, unit: str = "epoch") -> Path | None:
    """The state file of the newest complete checkpoint in ``folder`` (None if there is none)."""
    if folder is None or not Path(folder).is_dir():
        return None
    done = [p for p in Path(folder).glob(f"{unit}-*.pt") if p.with_suffix(".safetensors").is_file()]
    return max(done, key=lambda p: int(p.stem.split("-")[1])) if done else None


def restore_checkpoint(path: Path, spec: dict, model: nn.Module, opt, sched) -> tuple[int, list[dict]]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model``, ``opt``, ``sched`` and
    torch's RNG; refuse (``ResumeError``) one written with another run spec. Returns (epoch, rows)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = json.loads(state["spec"])
    if saved != spec:
        raise ResumeError(f"{path.parent} holds a run with other settings ({spec_difference(saved, spec, 'checkpoint')}); "
                          "resume it with the same arguments, or train into another --out")
    weights = load_file(str(path.with_suffix(".safetensors")), device=str(device_of(model)))
    model.load_state_dict(weights, strict=True)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return int(state["epoch"]), json.loads(state["rows"])


def start_run(folder: Path | None, resume: bool, spec: dict, model, opt, sched, *,
              unit: str = "epoch") -> tuple[int, list[dict]]:
    """(last finished epoch or step, its log rows): (0, []) for a fresh run, else from the checkpoint."""
    path = latest_checkpoint(folder, unit)
    if path is None:
        return 0, []
    if not resume:
        raise ResumeError(f"{folder} already holds checkpoints of a run (up to {path.stem}); pass --resume "
                          "(resume=True) to continue it, or remove the folder to start over")
    epoch, rows = restore_checkpoint(path, spec, model, opt, sched)
    print(f"resuming after {unit} {epoch} from {path}", flush=True)
    return epoch, rows
