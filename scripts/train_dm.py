"""Train the embedded demo's small DDPM (a diffusers UNet2DModel) on the MNIST demo training split.

Digits stay 28x28 (three UNet levels: 28, 14, 7) and are scaled to [-1, 1].
Only timesteps below ``--max-t`` are trained: purification never goes further than t*, so the
network's capacity is spent where it is used. The EMA weights are saved with ``save_pretrained``
(config.json + safetensors), the folder the registry's ``zoo://`` source points at.

    python scripts/train_dm.py --out zoo/weights/mnist/dm
"""
from __future__ import annotations

import argparse
import copy
import csv
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from tqdm import tqdm

from zoo.data import mnist_demo
from zoo.models.diffusion import linear_betas


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("zoo/weights/mnist/dm"))
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--max-t", type=int, default=300, help="train timesteps 0..max_t-1 only")
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 32])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def demo_unet(channels: list[int]) -> UNet2DModel:
    """A small UNet for 1x28x28 inputs: plain residual blocks, one per level, 8 norm groups."""
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D",) * len(channels),
        up_block_types=("UpBlock2D",) * len(channels),
        norm_num_groups=8,
    )


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x, _ = mnist_demo("train")
    x = x * 2.0 - 1.0
    abar = torch.cumprod(1.0 - linear_betas(), 0).float()
    model = demo_unet(args.channels)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "train_log.csv"
    start = time.time()
    with open(log_path, "w", newline="") as log:
        writer = csv.writer(log)
        writer.writerow(["step", "loss", "seconds"])
        bar = tqdm(range(1, args.steps + 1), desc="ddpm", mininterval=10)
        for step in bar:
            x0 = x[torch.randint(len(x), (args.batch_size,))]
            t = torch.randint(args.max_t, (args.batch_size,))
            noise = torch.randn_like(x0)
            a = abar[t].view(-1, 1, 1, 1)
            loss = F.mse_loss(model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t).sample, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1.0 - args.ema)
            if step % 50 == 0:
                writer.writerow([step, f"{loss.item():.5f}", f"{time.time() - start:.0f}"])
                log.flush()
                bar.set_postfix(loss=f"{loss.item():.4f}")
    ema.save_pretrained(args.out, safe_serialization=True)
    print(f"saved EMA weights to {args.out} after {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
