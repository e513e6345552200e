"""Train the embedded demo's small DDPM (a diffusers UNet2DModel) on the MNIST demo training split.

Digits stay 28x28 (three UNet levels: 28, 14, 7) and are scaled to [-1, 1].
Only timesteps below ``--max-t`` are trained: purification never goes further than t*, so the
network's capacity is spent where it is used. The EMA weights are saved with ``save_pretrained``
(config.json + safetensors), the folder the registry's ``zoo://`` source points at.
Checkpoints every ``--checkpoint-every`` steps go to OUT's name + ``.checkpoints/``; after a kill,
the same command with --resume ends with exactly the uninterrupted weights.

    agdm-zoo train-dm --out zoo/weights/mnist/dm            # = scripts/train_dm.py
    agdm-zoo train-dm --out zoo/weights/mnist/dm --resume   # after a kill
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from zoo.data import mnist_demo
from zoo.training.ddpm import DDPMConfig, train_ddpm


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("zoo/weights/mnist/dm"))
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--max-t", type=int, default=300, help="train timesteps 0..max_t-1 only")
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 32])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    p.add_argument("--checkpoint-dir", type=Path, default=None, help="default: OUT's name + .checkpoints/")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint (same arguments)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    """Train as the arguments say (bad settings or a mismatching checkpoint are :func:`zoo.cli.run`'s
    one-line error)."""
    args = parse_args(argv, prog)
    torch.set_num_threads(args.threads)
    start = time.time()
    cfg = DDPMConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, ema=args.ema, max_t=args.max_t,
                     channels=tuple(args.channels), seed=args.seed)
    train_ddpm(mnist_demo("train")[0], cfg, args.out, checkpoint_dir=args.checkpoint_dir,
               checkpoint_every=args.checkpoint_every, resume=args.resume, progress=not args.no_progress)
    print(f"saved EMA weights to {args.out} after {time.time() - start:.0f}s")
    return 0
