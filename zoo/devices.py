"""Where models run: the default device, and the device a given model lives on."""
from __future__ import annotations

import itertools

import torch
from torch import nn


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (the CPU for a model with neither, or
    for a plain callable), so inputs can be moved to where the model is."""
    if isinstance(model, nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return torch.device("cpu")
