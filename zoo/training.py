"""Training of classifiers and robust guidance nets with the paper's Eq. 6.

    min_phi  CE(f(x), y) + lambda * max_{||delta||_inf <= eps} KL(f(x) || f(x + delta))

the TRADES objective (Zhang et al. 2019), inner maximum by PGD on the KL term. ``lam = 0`` is plain
cross-entropy training (the demo's standard classifier); ``lam = 6`` is the paper's guidance net.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_classifier` (CIFAR defaults of the paper: eps 8/255, 10 steps, lambda 6)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    lam: float = 6.0
    eps: float = 8 / 255
    steps: int = 10
    step_size: float | None = None  # default 2.5 * eps / steps
    seed: int = 0

    @property
    def pgd_step(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps


def kl_to(clean_logits: Tensor, logits: Tensor) -> Tensor:
    """KL(softmax(clean) || softmax(logits)), averaged over the batch."""
    return F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(clean_logits, dim=1),
                    reduction="batchmean", log_target=True)


def trades_adversary(model: nn.Module, x: Tensor, eps: float, steps: int, step_size: float) -> Tensor:
    """The inner maximum of Eq. 6: PGD on KL(f(x) || f(x + delta)) in the Linf ball, within [0, 1]."""
    with torch.no_grad():
        clean = model(x)
    x_adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad = torch.autograd.grad(kl_to(clean, model(x_adv)), x_adv)[0]
        with torch.no_grad():
            x_adv = x_adv + step_size * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def eq6_loss(model: nn.Module, x: Tensor, y: Tensor, cfg: TrainConfig) -> Tensor:
    """CE on clean examples plus lambda times the worst-case KL (Eq. 6)."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if cfg.lam > 0:
        x_adv = trades_adversary(model, x, cfg.eps, cfg.steps, cfg.pgd_step)
        loss = loss + cfg.lam * kl_to(logits, model(x_adv))
    return loss


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    return correct / len(y)


def pgd_accuracy(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10) -> float:
    """Accuracy under a CE PGD attack in the Linf ball (a quick robustness read-out for logs)."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)[0]
        with torch.no_grad():
            x_adv = torch.min(torch.max(x_adv + 2.5 * eps / steps * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return accuracy(model, x_adv.detach(), y)


def train_classifier(model: nn.Module, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor],
                     cfg: TrainConfig, log_path: Path | None = None) -> list[dict]:
    """Train ``model`` with Eq. 6 (Adam, cosine learning rate); log clean and PGD accuracy on
    ``val`` each epoch (to ``log_path`` as CSV too) and return those rows."""
    torch.manual_seed(cfg.seed)
    x, y = train
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = (len(x) + cfg.batch_size - 1) // cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * batches)
    rows = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x))
        bar = tqdm(order.split(cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", leave=False)
        for idx in bar:
            loss = eq6_loss(model, x[idx], y[idx], cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        rows.append({"epoch": epoch, "loss": round(loss.item(), 5), "val_clean_acc": accuracy(model, *val),
                     "val_pgd_acc": pgd_accuracy(model, *val, eps=cfg.eps)})
        print(rows[-1], flush=True)
        if log_path is not None:
            _write_rows(log_path, rows, cfg)
    return rows


def _write_rows(path: Path, rows: list[dict], cfg: TrainConfig) -> None:
    with open(path, "w", newline="") as fh:
        fh.write(f"# {asdict(cfg)}\n")
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
