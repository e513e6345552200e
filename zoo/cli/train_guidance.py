"""Train a classifier or a robust guidance net with the paper's Eq. 6 (TRADES).

    CE(f(x), y) + lambda * max_{|delta|_inf <= eps} KL(f(x), f(x + delta))

``--lam 6`` trains a robust guidance net, ``--lam 0`` a standard classifier. Architectures:
``small-cnn`` (the demo's), ``resnet18``, ``wrn-28-10``. Data: ``mnist`` (the embedded demo: its
``fit`` split, ``val`` for the per-epoch log) or ``cifar10``/``cifar100`` (the training set from
--data-dir, random crop + flip, a fixed held-out slice of it for the log). The test split is never
used. Defaults: MNIST eps 0.3; CIFAR eps 8/255; both 10 PGD steps, lambda 6, Adam + cosine.

Every epoch is checkpointed into OUT's stem + ``.checkpoints/`` (weights, optimizer, scheduler,
RNG); after a kill, the same command with --resume ends with exactly the uninterrupted weights.
The per-epoch log is OUT's stem + ``.log.csv``. (``scripts/train_guidance.py`` is the same command.)

    agdm-zoo train-guidance --lam 0 --epochs 10 --schedule constant --out zoo/weights/mnist/classifier.safetensors
    agdm-zoo train-guidance --lam 6 --eps 0.3 --steps 5 --epochs 8 --schedule constant \\
        --out zoo/weights/mnist/guidance.safetensors
    agdm-zoo train-guidance --dataset cifar10 --arch wrn-28-10 --optimizer sgd --schedule multistep \\
        --milestones 75 90 --epochs 100 --data-dir ./data --out runs/trades_wrn28.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.training.guidance import OPTIMIZERS, SCHEDULES, TrainConfig
from zoo.training.run import ARCHS, DATASET_DEFAULTS, NUM_CLASSES, OPTIMIZER_DEFAULTS, net_config, train_net

__all__ = ["main", "parse_args", "config_from", "net_config"]


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """Command-line arguments, with the data set's and the optimizer's defaults filled in."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    p.add_argument("--arch", choices=ARCHS, default="small-cnn")
    p.add_argument("--width", type=int, default=None, help="small-cnn: channels of its first stage (default 32)")
    p.add_argument("--dataset", choices=sorted(NUM_CLASSES), default="mnist")
    p.add_argument("--data-dir", type=Path, default=Path("./data"), help="CIFAR: torchvision's files are here")
    p.add_argument("--val-size", type=int, default=None, help="CIFAR: held-out training images (default 1000)")
    p.add_argument("--lam", type=float, default=None, help="lambda of Eq. 6 (0: plain cross-entropy; default 6)")
    p.add_argument("--eps", type=float, default=None, help="Linf radius of the inner maximum (MNIST 0.3, CIFAR 8/255)")
    p.add_argument("--steps", type=int, default=None, help="PGD steps of the inner maximum (default 10)")
    p.add_argument("--step-size", type=float, default=None, help="PGD step (default 2.5 * eps / steps)")
    p.add_argument("--epochs", type=int, default=None, help="default: MNIST 15, CIFAR 100")
    p.add_argument("--batch-size", type=int, default=None, help="default: MNIST 64, CIFAR 128")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=float, default=None, help="default: adam 1e-3, sgd 0.1")
    p.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    p.add_argument("--weight-decay", type=float, default=None, help="default: adam 0, sgd 5e-4")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine", help="learning rate, stepped per batch")
    p.add_argument("--milestones", type=int, nargs="*", default=[], help="multistep: epochs where lr *= 0.1")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop (pad 4) + flip (default: on for CIFAR, off for MNIST)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--checkpoint-dir", type=Path, default=None, help="default: OUT's stem + .checkpoints/")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint (same arguments)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.add_argument("--reference", type=Path, default=None,
                   help="safetensors weights of the same net to compare the result with (e.g. the committed demo "
                        "net): bit identity, prediction agreement and accuracies on the held-out data, printed "
                        "and written to OUT's stem + .reference.json")
    args = p.parse_args(argv)
    fill_defaults(args)
    return args


def fill_defaults(args: argparse.Namespace) -> None:
    """Replace every ``None`` setting by the data set's or the optimizer's default."""
    family = "mnist" if args.dataset == "mnist" else "cifar"
    for key, value in {**DATASET_DEFAULTS[family], **OPTIMIZER_DEFAULTS[args.optimizer]}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.width is not None and args.arch != "small-cnn":
        raise ValueError("--width applies to --arch small-cnn only")


def config_from(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lam=args.lam, eps=args.eps,
                       steps=args.steps, step_size=args.step_size, seed=args.seed, optimizer=args.optimizer,
                       momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                       milestones=tuple(args.milestones), augment=args.augment)


def main(argv=None, prog: str | None = None) -> int:
    """Train as the arguments say (a bad setting, missing data or a mismatching checkpoint is
    :func:`zoo.cli.run`'s one-line error)."""
    args = parse_args(argv, prog)
    train_net(args.out, config_from(args), arch=args.arch, dataset=args.dataset, width=args.width,
              data_dir=args.data_dir, val_size=args.val_size, device=args.device, threads=args.threads,
              checkpoint_dir=args.checkpoint_dir, resume=args.resume, progress=not args.no_progress,
              reference=args.reference)
    return 0
