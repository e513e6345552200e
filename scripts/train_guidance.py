"""Train a classifier or a robust guidance net on the MNIST demo with the paper's Eq. 6.

    CE(f(x), y) + lambda * max_{|delta|_inf <= eps} KL(f(x), f(x + delta))

``--lam 6`` trains the demo's robust guidance net, ``--lam 0`` its standard classifier. Training
uses the demo's ``fit`` split; the held-out ``val`` split is for the per-epoch log; the test split
is never used.

    python scripts/train_guidance.py --lam 0 --out zoo/weights/mnist/classifier.safetensors
    python scripts/train_guidance.py --lam 6 --out zoo/weights/mnist/guidance.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file

from zoo.data import mnist_demo
from zoo.nets import SmallCNN
from zoo.training import TrainConfig, train_classifier


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    p.add_argument("--lam", type=float, default=6.0, help="lambda of Eq. 6 (0: plain cross-entropy)")
    p.add_argument("--eps", type=float, default=0.3, help="Linf radius of the inner maximum")
    p.add_argument("--steps", type=int, default=10, help="PGD steps of the inner maximum")
    p.add_argument("--step-size", type=float, default=None, help="PGD step (default 2.5 * eps / steps)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lam=args.lam,
                      eps=args.eps, steps=args.steps, step_size=args.step_size, seed=args.seed)
    torch.manual_seed(cfg.seed)
    model = SmallCNN()
    train_classifier(model, mnist_demo("fit"), mnist_demo("val"), cfg,
                     log_path=args.out.with_suffix(".log.csv"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(args.out))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
