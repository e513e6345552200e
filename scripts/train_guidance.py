"""Train a classifier or a robust guidance net with the paper's Eq. 6 (TRADES).

    CE(f(x), y) + lambda * max_{|delta|_inf <= eps} KL(f(x), f(x + delta))

``--lam 6`` trains a robust guidance net, ``--lam 0`` a standard classifier. Architectures:
``small-cnn`` (the demo's), ``resnet18``, ``wrn-28-10``. Data: ``mnist`` (the embedded demo: its
``fit`` split, ``val`` for the per-epoch log) or ``cifar10``/``cifar100`` (the training set from
--data-dir, random crop + flip, a fixed held-out slice of it for the log). The test split is never
used. Defaults: MNIST eps 0.3; CIFAR eps 8/255; both 10 PGD steps, lambda 6, Adam + cosine.

Every epoch is checkpointed into OUT's stem + ``.checkpoints/`` (weights, optimizer, scheduler,
RNG); after a kill, the same command with --resume ends with exactly the uninterrupted weights.
The per-epoch log is OUT's stem + ``.log.csv``.

    python scripts/train_guidance.py --lam 0 --epochs 10 --schedule constant --out zoo/weights/mnist/classifier.safetensors
    python scripts/train_guidance.py --lam 6 --eps 0.3 --steps 5 --epochs 8 --schedule constant \\
        --out zoo/weights/mnist/guidance.safetensors
    python scripts/train_guidance.py --dataset cifar10 --arch wrn-28-10 --optimizer sgd --schedule multistep \\
        --milestones 75 90 --epochs 100 --data-dir ./data --out runs/trades_wrn28.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from zoo.data import DataUnavailable, load_train_set
from zoo.common.devices import default_device, deterministic_cuda, device_of
from zoo.models.nets import ARCHITECTURES
from zoo.common.provenance import provenance
from zoo.registry.sources import sha256_of
from zoo.training.guidance import (OPTIMIZERS, SCHEDULES, TrainConfig, checkpoint_folder, compare_nets, cpu_state_dict,
                          train_classifier)

ARCHS = ("small-cnn", "resnet18", "wrn-28-10")
NUM_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}
DATASET_DEFAULTS = {  # MNIST: the committed demo's; CIFAR: the paper's / TRADES's
    "mnist": {"lam": 6.0, "eps": 0.3, "steps": 10, "epochs": 15, "batch_size": 64, "augment": False},
    "cifar": {"lam": 6.0, "eps": 8 / 255, "steps": 10, "epochs": 100, "batch_size": 128, "augment": True},
}
OPTIMIZER_DEFAULTS = {"adam": {"lr": 1e-3, "weight_decay": 0.0}, "sgd": {"lr": 0.1, "weight_decay": 5e-4}}


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments, with the data set's and the optimizer's defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        raise SystemExit("--width applies to --arch small-cnn only")


def config_from(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lam=args.lam, eps=args.eps,
                       steps=args.steps, step_size=args.step_size, seed=args.seed, optimizer=args.optimizer,
                       momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                       milestones=tuple(args.milestones), augment=args.augment)


def net_config(arch: str, dataset: str, width: int | None) -> dict:
    """Keyword arguments of ``ARCHITECTURES[arch]`` for ``dataset`` (a registry entry's ``config``)."""
    if arch != "small-cnn":
        return {"num_classes": NUM_CLASSES[dataset]}
    if dataset == "mnist":
        config = {"in_channels": 1, "num_classes": 10, "image_size": 28}
    else:
        config = {"in_channels": 3, "num_classes": NUM_CLASSES[dataset], "image_size": 32}
    return {**config, "width": 32 if width is None else width}


def main(argv=None) -> int:
    """Train as the arguments say; a bad setting, missing data or a mismatching checkpoint is a
    one-line error (exit status 2), not a traceback."""
    args = parse_args(argv)
    try:
        return train(args)
    except (ValueError, DataUnavailable) as err:  # ResumeError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2


def train(args: argparse.Namespace) -> int:
    """Build the net, train it (resuming if asked) and write its weights to ``args.out``."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()
    if device.type == "cuda":
        deterministic_cuda()
    cfg = config_from(args)
    train, val = load_train_set(args.dataset, args.data_dir, args.val_size)
    config = net_config(args.arch, args.dataset, args.width)
    torch.manual_seed(cfg.seed)  # the weights' initialisation (train_classifier seeds again, for the data order)
    model = ARCHITECTURES[args.arch](**config).to(device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    train_classifier(model, train, val, cfg, log_path=args.out.with_suffix(".log.csv"),
                     checkpoint_dir=args.checkpoint_dir or checkpoint_folder(args.out), resume=args.resume,
                     spec={"arch": args.arch, "arch_config": config, "dataset": args.dataset},
                     progress=not args.no_progress)
    save_file(cpu_state_dict(model), str(args.out))
    print(f"saved {args.out} ({args.arch} {config})")
    if args.reference is not None:
        report_reference(model, ARCHITECTURES[args.arch](**config).to(device), args, val)
    return 0


def report_reference(model: torch.nn.Module, reference: torch.nn.Module, args: argparse.Namespace, val) -> dict:
    """Compare the trained net with ``--reference`` on the held-out data; print and save the result."""
    try:
        reference.load_state_dict(load_file(str(args.reference), device=str(device_of(model))))
    except RuntimeError as err:
        raise ValueError(f"--reference {args.reference} does not hold a {args.arch} net of this shape: "
                         f"{str(err).splitlines()[0]}") from None
    result = {"provenance": provenance(device_of(model), seed=args.seed, threads=args.threads),
              "reference": str(args.reference), "reference_sha256": sha256_of(args.reference),
              "sha256": sha256_of(args.out), "held_out_examples": len(val[1]), "pgd_steps": args.steps,
              "eps": args.eps, **compare_nets(model.eval(), reference.eval(), *val, args.eps, args.steps)}
    path = args.out.with_suffix(".reference.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    sys.exit(main())
