"""One training run of a zoo classifier or guidance net, end to end: the net for a data set, Eq. 6
training (resumable), its weights written as safetensors, and an optional comparison with a
reference net (``agdm-zoo train-guidance`` is a command line over :func:`train_net`)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..common.devices import default_device, deterministic_cuda, device_of
from ..common.provenance import provenance
from ..data import load_train_set
from ..models.nets import ARCHITECTURES
from ..registry.sources import sha256_of
from .checkpoints import checkpoint_folder, cpu_state_dict
from .compare import compare_nets
from .guidance import TrainConfig, train_classifier

ARCHS = ("small-cnn", "resnet18", "wrn-28-10")
NUM_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}
DATASET_DEFAULTS = {  # MNIST: the committed demo's; CIFAR: the paper's / TRADES's
    "mnist": {"lam": 6.0, "eps": 0.3, "steps": 10, "epochs": 15, "batch_size": 64, "augment": False},
    "cifar": {"lam": 6.0, "eps": 8 / 255, "steps": 10, "epochs": 100, "batch_size": 128, "augment": True},
}
OPTIMIZER_DEFAULTS = {"adam": {"lr": 1e-3, "weight_decay": 0.0}, "sgd": {"lr": 0.1, "weight_decay": 5e-4}}


def net_config(arch: str, dataset: str, width: int | None) -> dict:
    """Keyword arguments of ``ARCHITECTURES[arch]`` for ``dataset`` (a registry entry's ``config``)."""
    if arch != "small-cnn":
        return {"num_classes": NUM_CLASSES[dataset]}
    if dataset == "mnist":
        config = {"in_channels": 1, "num_classes": 10, "image_size": 28}
    else:
        config = {"in_channels": 3, "num_classes": NUM_CLASSES[dataset], "image_size": 32}
    return {**config, "width": 32 if width is None else width}


def train_net(out: Path, cfg: TrainConfig, *, arch: str = "small-cnn", dataset: str = "mnist",
              width: int | None = None, data_dir: Path = Path("./data"), val_size: int | None = None,
              device=None, threads: int = 2, checkpoint_dir: Path | None = None, resume: bool = False,
              progress: bool = True, reference: Path | None = None) -> nn.Module:
    """Build the net, train it (resuming from ``checkpoint_dir``, default OUT's stem +
    ``.checkpoints/``, if asked) and write its weights to ``out``; with ``reference``, compare it
    with those weights (:func:`report_reference`). Returns the trained net."""
    torch.set_num_threads(threads)
    device = torch.device(device) if device else default_device()
    if device.type == "cuda":
        deterministic_cuda()
    train, val = load_train_set(dataset, data_dir, val_size)
    config = net_config(arch, dataset, width)
    torch.manual_seed(cfg.seed)  # the weights' initialisation (train_classifier seeds again, for the data order)
    model = ARCHITECTURES[arch](**config).to(device)
    out.parent.mkdir(parents=True, exist_ok=True)
    train_classifier(model, train, val, cfg, log_path=out.with_suffix(".log.csv"),
                     checkpoint_dir=checkpoint_dir or checkpoint_folder(out), resume=resume,
                     spec={"arch": arch, "arch_config": config, "dataset": dataset}, progress=progress)
    save_file(cpu_state_dict(model), str(out))
    print(f"saved {out} ({arch} {config})")
    if reference is not None:
        report_reference(model, ARCHITECTURES[arch](**config).to(device), out, reference, arch, val,
                         seed=cfg.seed, threads=threads, eps=cfg.eps, steps=cfg.steps)
    return model


def report_reference(model: nn.Module, reference_net: nn.Module, out: Path, reference: Path, arch: str, val, *,
                     seed: int, threads: int, eps: float, steps: int) -> dict:
    """Compare the trained net with the weights at ``reference`` on the held-out data; print the
    result and save it as OUT's stem + ``.reference.json``. A reference of another shape is a
    ``ValueError``."""
    try:
        reference_net.load_state_dict(load_file(str(reference), device=str(device_of(model))))
    except RuntimeError as err:
        raise ValueError(f"--reference {reference} does not hold a {arch} net of this shape: "
                         f"{str(err).splitlines()[0]}") from None
    result = {"provenance": provenance(device_of(model), seed=seed, threads=threads),
              "reference": str(reference), "reference_sha256": sha256_of(reference),
              "sha256": sha256_of(out), "held_out_examples": len(val[1]), "pgd_steps": steps,
              "eps": eps, **compare_nets(model.eval(), reference_net.eval(), *val, eps, steps)}
    path = out.with_suffix(".reference.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result
