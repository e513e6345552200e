"""agdm-zoo: diffusion-based adversarial purification models (AGDM, DiffPure, guided), by name.

    import zoo
    zoo.list_models()                       # every entry in zoo/checkpoints.yaml
    model = zoo.load("agdm-tiny-mnist")     # a torch.nn.Module: pixels in [0, 1] -> logits
    model.config                            # the entry it was built from
    zoo.run_benchmark(["agdm-tiny-mnist"], "Linf", out="leaderboard")   # = agdm-zoo benchmark

Subpackages, lowest layer first (each imports only those before it): ``common``, ``registry``
(with ``data`` after it), ``models``, ``attacks``, ``evaluation`` and ``training``, ``leaderboard``,
``hub``, ``studies``, ``cli`` (the ``agdm-zoo`` command line).
"""
from __future__ import annotations

from typing import Any

import torch

from .common.compat import alias_autoattack
from .models.factory import create_model
from .models.purifier import DefendedClassifier
from .models.timm import register_when_timm_loads
from .registry.resolve import get_entry, with_overrides
from .registry.schema import Entry
from .registry.store import default_registry

register_when_timm_loads()  # RobustBench's load_model finds the entries through timm
alias_autoattack()  # ... and robustbench's `from autoattack import ...` finds pyautoattack, on first use

__all__ = ["load", "list_models", "run_benchmark", "DefendedClassifier", "Entry"]


def __getattr__(name: str) -> Any:
    """``run_benchmark`` (:func:`zoo.running.benchmark.benchmark`), imported on first use: the attacks
    and tables it needs are not needed to load a model."""
    if name == "run_benchmark":
        from .running.benchmark import benchmark

        return benchmark
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def list_models(dataset: str | None = None, pattern: str | None = None) -> list[str]:
    """Names of the registered entries, optionally only those of one dataset or guidance pattern
    (``none``, ``plain``, ``robust``, ``gdmp``; a plain classifier has pattern ``None``)."""
    names = []
    for name, entry in sorted(default_registry().items()):
        if dataset is not None and entry.dataset != dataset:
            continue
        if pattern is not None:
            entry = get_entry(name)  # a published bundle says its pattern in its own config
            if (entry.purification.pattern if entry.purification else None) != pattern:
                continue
        names.append(name)
    return names


def load(name: str, device: str | torch.device | None = None, *, pretrained: bool = True,
         grad_mode: str = "exact", channels_last: bool = False, compile_unet: bool = False,
         tf32: bool = False, **overrides: Any) -> DefendedClassifier:
    """The defended classifier registered as ``name``, ready for attacks.

    Args:
        name: an entry of ``checkpoints.yaml`` (see :func:`list_models`), or a bundle written by
            ``scripts/publish.py``: ``hf://org/repo[@revision]`` or a local folder.
        device: where to put it; default CUDA when available, else CPU.
        pretrained: fetch the weights (``False``: random weights, same architecture; for tests).
        grad_mode: ``exact``, ``checkpoint`` or ``recompute`` (same gradients; the latter two use far
            less memory in t*, ``recompute`` memory flat in t*).
        channels_last, compile_unet, tf32: GPU speed levers (:func:`zoo.models.speed.speed_up`; same function).
        **overrides: purification settings to change: t_star, steps, scale, pattern, distance, label.
    """
    entry = with_overrides(get_entry(name), **overrides)
    return create_model(entry, device=device, pretrained=pretrained, grad_mode=grad_mode,
                        channels_last=channels_last, compile_unet=compile_unet, tf32=tf32)
