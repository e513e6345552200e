"""Training of classifiers and robust guidance nets with the paper's Eq. 6.

    min_phi  CE(f(x), y) + lambda * max_{||delta||_inf <= eps} KL(f(x) || f(x + delta))

the TRADES objective (Zhang et al. 2019), inner maximum by PGD on the KL term. ``lam = 0`` is plain
cross-entropy training (the demo's standard classifier); ``lam = 6`` is the paper's guidance net.

Runs are checkpointed every epoch (:mod:`zoo.training.checkpoints`), so a killed run resumed
with :func:`train_classifier` ``(resume=True)`` ends with exactly the weights of an uninterrupted
one. Random numbers come from torch's global RNG only (one ``torch.manual_seed`` at the start, then
one ``randperm`` per epoch, the augmentation's draws and the TRADES attack's start), so the same
command on the same machine gives the same weights bit for bit (on another CPU the last bits
differ: :func:`zoo.training.compare.compare_nets` says how close two nets are).
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ..attacks import TRADES
from ..attacks.base import madry_step_size
from ..common.devices import device_of
from ..models.guidance import kl_distance
from ..models.predict import fraction_equal, predicted_labels
from .checkpoints import save_checkpoint, start_run
from .compare import pgd_accuracy

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "multistep", "constant")
LOG_COLUMNS = ("epoch", "loss", "val_clean_acc", "val_pgd_acc", "seconds", "loss_mean", "lr")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_classifier` (CIFAR defaults of the paper: eps 8/255, 10 steps, lambda 6).

    ``optimizer``: ``adam`` (the demo's) or ``sgd`` (momentum, weight decay, as TRADES trains).
    ``schedule``: the learning rate per batch: ``cosine`` annealing to 0 over the run,
    ``multistep`` (times 0.1 at each epoch in ``milestones``) or ``constant``.
    ``augment``: random crop (padding 4) and horizontal flip of every batch (the CIFAR standard).
    """

    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    lam: float = 6.0
    eps: float = 8 / 255
    steps: int = 10
    step_size: float | None = None  # default 2.5 * eps / steps
    seed: int = 0
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    augment: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.steps < 1:
            raise ValueError("epochs, batch_size and steps must be >= 1")
        if self.lam < 0 or self.eps < 0 or self.lr <= 0:
            raise ValueError("need lam >= 0, eps >= 0 and lr > 0")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if any(not 1 <= m <= self.epochs for m in self.milestones):
            raise ValueError(f"milestones must be epochs in [1, {self.epochs}], got {self.milestones}")

    @property
    def pgd_step(self) -> float:
        return self.step_size if self.step_size is not None else madry_step_size(self.eps, self.steps)


def eq6_loss(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> Tensor:
    """CE on clean examples plus lambda times the worst-case KL (Eq. 6), averaged over the batch;
    the worst case is the :class:`~zoo.attacks.TRADES` attack's."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if cfg.lam > 0:
        x_adv = TRADES(model, norm="Linf", eps=cfg.eps, steps=cfg.steps, step_size=cfg.pgd_step)(x, y)
        loss = loss + cfg.lam * kl_distance(logits, model(x_adv)).mean()
    return loss


def random_crop_flip(x: Tensor, pad: int = 4) -> Tensor:
    """Each image cropped at a random offset from its zero-padded copy, and flipped left-right with
    probability 1/2 (torchvision's RandomCrop(padding=4) + RandomHorizontalFlip), batched and
    drawn from torch's global generator so that checkpoints capture it."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, 2 * pad + 1, (n,))
    left = torch.randint(0, 2 * pad + 1, (n,))
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]
    crops = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(n) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam (the demo's default) or SGD with momentum, both with ``cfg.weight_decay``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, batches: int):
    """The learning-rate schedule, stepped once per batch (``batches`` per epoch)."""
    sched = torch.optim.lr_scheduler
    if cfg.schedule == "multistep":
        return sched.MultiStepLR(opt, [m * batches for m in cfg.milestones], gamma=0.1)
    if cfg.schedule == "constant":
        return sched.ConstantLR(opt, factor=1.0, total_iters=0)
    return sched.CosineAnnealingLR(opt, cfg.epochs * batches)


def run_spec(cfg: TrainConfig, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor],
             extra: Mapping[str, Any] | None = None) -> dict:
    """What identifies a run (a resumed run must match it): the config, the data sizes and the
    caller's ``extra`` (architecture, data set, ...), as plain JSON values."""
    spec = {**asdict(cfg), "n_train": len(train[1]), "n_val": len(val[1]), **(extra or {})}
    return json.loads(json.dumps(spec, sort_keys=True))


def _train_epoch(model: nn.Module, x: Tensor, y: Tensor, opt, sched, cfg: TrainConfig, desc: str,
                 progress: bool) -> tuple[float, float]:
    """One pass over (x, y) in a fresh random order; returns (last batch's loss, mean loss)."""
    device = device_of(model)
    model.train()
    order = torch.randperm(len(x))
    bar = tqdm(order.split(cfg.batch_size), desc=desc, leave=False, disable=not progress)
    total = 0.0
    for idx in bar:
        xb = random_crop_flip(x[idx]) if cfg.augment else x[idx]
        loss = eq6_loss(model, xb.to(device), y[idx].to(device), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return loss.item(), total / len(bar)


def train_classifier(model: nn.Module, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor],
                     cfg: TrainConfig, log_path: Path | None = None, *, checkpoint_dir: Path | None = None,
                     resume: bool = False, spec: Mapping[str, Any] | None = None,
                     progress: bool = True) -> list[dict]:
    """Train ``model`` (on its device) with Eq. 6; log clean and PGD accuracy on ``val`` each epoch
    (to ``log_path`` as CSV too) and return those rows.

    With ``checkpoint_dir`` every epoch is checkpointed there; ``resume=True`` continues from the
    newest checkpoint (it must carry the same :func:`run_spec`, of which ``spec`` is the caller's
    part) and ends with the weights an uninterrupted run ends with. Existing checkpoints without
    ``resume`` are refused rather than overwritten.
    """
    torch.manual_seed(cfg.seed)
    x, y = train
    opt = make_optimizer(model, cfg)
    batches = (len(x) + cfg.batch_size - 1) // cfg.batch_size
    sched = make_scheduler(opt, cfg, batches)
    full_spec = run_spec(cfg, train, val, spec)
    start, rows = start_run(checkpoint_dir, resume, full_spec, model, opt, sched)
    for epoch in range(start + 1, cfg.epochs + 1):
        began = time.time()
        loss, loss_mean = _train_epoch(model, x, y, opt, sched, cfg, f"epoch {epoch}/{cfg.epochs}", progress)
        model.eval()
        rows.append({"epoch": epoch, "loss": round(loss, 5),
                     "val_clean_acc": fraction_equal(predicted_labels(model, val[0]), val[1]),
                     "val_pgd_acc": pgd_accuracy(model, *val, eps=cfg.eps),
                     "seconds": round(time.time() - began, 1), "loss_mean": round(loss_mean, 5),
                     "lr": opt.param_groups[0]["lr"]})
        print(rows[-1], flush=True)
        if checkpoint_dir is not None:
            save_checkpoint(Path(checkpoint_dir), epoch, model, opt, sched, rows, full_spec)
        if log_path is not None:
            _write_rows(log_path, rows, full_spec)
    model.eval()
    if log_path is not None and rows:
        _write_rows(log_path, rows, full_spec)
    return rows


def _write_rows(path: Path, rows: list[dict], spec: Mapping[str, Any]) -> None:
    """The per-epoch log: a ``# {settings}`` line, then one CSV row per epoch."""
    with open(path, "w", newline="") as fh:
        fh.write(f"# {dict(spec)}\n")
        writer = csv.DictWriter(fh, fieldnames=list(LOG_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
