"""Where models run: the default device, the device a given model lives on, and reproducible CUDA."""
from __future__ import annotations

import itertools
import os

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


def deterministic_cuda() -> None:
    """Make CUDA training repeat bit for bit: cuDNN and cuBLAS restricted to deterministic
    algorithms (an op that has none warns instead of failing). Without it the test that a seeded
    training run repeats bit for bit failed on an H200 while passing on the CPU (cuDNN's default
    convolution backward may sum in any order). Costs some speed on large networks. Call before
    the first CUDA work (cuBLAS reads its workspace setting once)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
