"""Tiny stand-in entries (random weights) that build in milliseconds, and a fake Hub cache."""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from zoo.models.factory import create_model
from zoo.registry.schema import parse_registry

TINY_UNET = {
    "sample_size": 8, "in_channels": 1, "out_channels": 1, "layers_per_block": 1,
    "block_out_channels": [8, 8], "down_block_types": ["DownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "UpBlock2D"], "norm_num_groups": 4,
}
TINY_CNN = {"arch": "small-cnn", "source": "file:///nonexistent/cnn.safetensors",
            "config": {"image_size": 8, "width": 4}}


def tiny_entry_dict(pattern: str = "robust", t_star: int = 3, scale: float = 1.0, **purification) -> dict:
    """A registry document with one 1x8x8 entry of the given pattern."""
    body = {
        "dataset": "mnist", "input_shape": [1, 8, 8], "num_classes": 10,
        "threats": {"Linf": 0.1},
        "classifier": TINY_CNN,
        "diffusion": {"arch": "diffusers-unet2d", "source": "file:///nonexistent/dm", "config": TINY_UNET},
        "purification": {"t_star": t_star, "scale": scale, "pattern": pattern, **purification},
    }
    if pattern == "robust":
        body["guidance"] = {**TINY_CNN, "config": {"image_size": 8, "width": 6}}
    return {"tiny": body}


def tiny_model(pattern: str = "robust", seed: int = 0, grad_mode: str = "exact", dtype=torch.float64, **kw):
    """A random-weight defended classifier on 1x8x8 images (float64 for finite differences)."""
    torch.manual_seed(seed)
    entry = parse_registry(tiny_entry_dict(pattern, **kw))["tiny"]
    return create_model(entry, device="cpu", pretrained=False, grad_mode=grad_mode).to(dtype)


class Killed(RuntimeError):
    """Stands in for a SIGKILL right after a training checkpoint was written."""


def kill_after(monkeypatch, module, number: int) -> None:
    """Make ``module.save_checkpoint`` raise :class:`Killed` right after writing checkpoint
    ``number`` (an epoch or a step), as a SIGKILL at that moment would leave the run."""
    real = module.save_checkpoint

    def save_then_die(folder, at, *args, **kwargs):
        path = real(folder, at, *args, **kwargs)
        if at == number:
            raise Killed
        return path

    monkeypatch.setattr(module, "save_checkpoint", save_then_die)


def fake_hub_cache(root, repo_id: str, files: dict[str, bytes], revision="main") -> str:
    """Lay out files as huggingface_hub's cache does (blobs, snapshots/<commit>, refs/<revision>)."""
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    repo = root / f"models--{repo_id.replace('/', '--')}"
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit


def sharpen_guidance(model):
    """Replace the guidance net by a linear one with large weights: its log-softmax is curved
    enough that the double-backward part of the gradient is far above float64 noise."""
    if model.purifier.guidance is None:
        return model
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double().requires_grad_(False)
    with torch.no_grad():
        linear[1].weight.normal_(0, 0.5)
    model.purifier.guidance.net = linear
    return model


class CommandLine:
    """An agdm-zoo command as ``agdm-zoo`` and ``scripts/<command>.py`` run it, in this process:
    ``main(argv)`` goes through :func:`zoo.cli.run` (the zoo's errors become one line on stderr and
    exit status 2); every other attribute (``parse_args``, ...) is the command module's."""

    def __init__(self, command: str):
        import importlib

        from zoo.cli import COMMANDS

        self.command, self.module = command, importlib.import_module(f"zoo.cli.{COMMANDS[command][0]}")

    def main(self, argv: list[str]) -> int:
        from zoo.cli import run

        return run(self.command, argv)

    def __getattr__(self, name: str):
        return getattr(self.module, name)


def benchmark_cli() -> CommandLine:
    """The benchmark command (``agdm-zoo benchmark``, ``scripts/benchmark.py``), run in this process."""
    return CommandLine("benchmark")


def pyaa_resnet18_component() -> dict:
    """A real CIFAR-10 classifier available offline: the ResNet-18 pyautoattack ships for its
    examples (100% on foolbox's 20 CIFAR-10 test images), as a registry component."""
    import pyautoattack

    weights = Path(pyautoattack.__file__).parent / "examples" / "model_test.pt"
    return {"arch": "resnet18", "source": f"file://{weights}"}


class TakesGenerator(torch.nn.Module):
    """Records every ``generator=`` it is given and draws its noise from it (the global RNG without
    one); returns the flattened input plus that noise, as logits."""

    def __init__(self):
        super().__init__()
        self.given = []

    def forward(self, x, generator=None):
        self.given.append(generator)
        return x.flatten(1) + torch.randn(x.flatten(1).shape, generator=generator)

