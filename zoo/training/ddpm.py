"""Training the embedded demo's small DDPM (a diffusers ``UNet2DModel``) with the eps-prediction
loss of Ho et al. (2020), resumable from checkpoints every N steps.

Only timesteps below ``max_t`` are trained: purification never goes further than t*, so the
network's capacity is spent where it is used. Images are noised by :func:`zoo.models.diffusion.q_sample`
(the same forward marginal purification uses). The EMA weights are saved with ``save_pretrained``
(config.json + safetensors), the folder the registry's ``zoo://`` source points at; the loss
every 50 steps goes to ``train_log.csv`` in it. A killed run resumed from its newest checkpoint
(weights and EMA, optimizer, scheduler, RNG) ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ..common.files import atomic_write_text
from ..models.diffusion import alphas_cumprod, linear_betas, q_sample
from .checkpoints import checkpoint_folder, save_checkpoint, start_run

if TYPE_CHECKING:
    from diffusers import UNet2DModel

LOG_EVERY = 50
UNIT = "step"


@dataclass(frozen=True)
class DDPMConfig:
    """What decides the trained weights (a checkpoint of other values is refused on resume)."""
    steps: int = 2500
    batch_size: int = 128
    lr: float = 5e-4
    ema: float = 0.999
    max_t: int = 300
    channels: tuple[int, ...] = (16, 32, 32)
    seed: int = 0

    def __post_init__(self):
        if min(self.steps, self.batch_size, self.max_t) < 1 or not self.channels:
            raise ValueError(f"steps, batch_size and max_t must be >= 1 and channels non-empty, got {self}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")


def demo_unet(channels, sample_size: int = 28, in_channels: int = 1) -> "UNet2DModel":
    """A small UNet for 1x28x28 inputs: plain residual blocks, one per level, 8 norm groups."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=in_channels, layers_per_block=1,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D",) * len(channels),
        up_block_types=("UpBlock2D",) * len(channels),
        norm_num_groups=8,
    )


def ddpm_loss(model: nn.Module, x0: Tensor, t: Tensor, noise: Tensor, abar: Tensor) -> Tensor:
    """Eq. (14) of Ho et al.: MSE between the noise and the UNet's prediction of it at x_t."""
    x_t = q_sample(x0, noise, abar[t].view(-1, *([1] * (x0.dim() - 1))))
    return F.mse_loss(model(x_t, t).sample, noise)


def _write_log(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "step,loss,seconds\n" + "".join(f"{r['step']},{r['loss']},{r['seconds']}\n" for r in rows))


def train_ddpm(images: Tensor, cfg: DDPMConfig, out: Path, *, checkpoint_dir: Path | None = None,
               checkpoint_every: int = 250, resume: bool = False, progress: bool = True) -> nn.Module:
    """Train a :func:`demo_unet` on ``images`` (N x C x H x W in [0, 1]) and save its EMA weights in
    ``out`` (with ``train_log.csv``); returns the EMA model.

    Checkpoints go to ``checkpoint_dir`` (default ``out``'s name + ``.checkpoints/``) every
    ``checkpoint_every`` steps and after the last; a folder holding some is refused unless
    ``resume``, and with ``resume`` the run continues from the newest (same settings only)."""
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    out = Path(out)
    torch.manual_seed(cfg.seed)
    x = images * 2.0 - 1.0
    abar = alphas_cumprod(linear_betas()).float()
    model = demo_unet(cfg.channels, images.shape[-1], images.shape[1])
    ema = copy.deepcopy(model).requires_grad_(False)
    both = nn.ModuleDict({"model": model, "ema": ema})  # one checkpoint holds the weights and the EMA
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else checkpoint_folder(out)
    spec = {**asdict(cfg), "channels": list(cfg.channels), "data": list(images.shape)}  # as JSON reads it back
    done, rows = start_run(folder, resume, spec, both, opt, sched, unit=UNIT)
    elapsed, start = (rows[-1]["seconds"] if rows else 0), time.time()
    bar = tqdm(range(done + 1, cfg.steps + 1), desc="ddpm", mininterval=10, disable=not progress)
    for step in bar:
        x0 = x[torch.randint(len(x), (cfg.batch_size,))]
        t = torch.randint(cfg.max_t, (cfg.batch_size,))
        loss = ddpm_loss(model, x0, t, torch.randn_like(x0), abar)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1.0 - cfg.ema)
        if step % LOG_EVERY == 0:
            rows.append({"step": step, "loss": f"{loss.item():.5f}", "seconds": round(elapsed + time.time() - start)})
            bar.set_postfix(loss=rows[-1]["loss"])
        if step % checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint(folder, step, both, opt, sched, rows, spec, unit=UNIT)
            _write_log(out / "train_log.csv", rows)
    ema.save_pretrained(out, safe_serialization=True)
    _write_log(out / "train_log.csv", rows)
    return ema
