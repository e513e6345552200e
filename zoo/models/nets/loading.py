"""Weights files into modules: safely (safetensors, or ``torch.load(weights_only=True)``) and
strictly (a missing or unexpected key is an error naming them)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...registry.sources import SourceError


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a weights file safely: safetensors, or ``torch.load(weights_only=True)``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SourceError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def load_into(module: nn.Module, path: Path) -> nn.Module:
    """Load ``path`` into ``module`` strictly: any missing or unexpected key is an error."""
    state = load_state_dict(path)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise SourceError(
            f"weights {path} do not match {type(module).__name__}: missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shape mismatches
        raise SourceError(f"weights {path} do not fit {type(module).__name__}: {err}") from None
    return module
