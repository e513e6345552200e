"""RobustBench's model zoo as architectures: random-weight instances and checkpoints loaded by
robustbench's own ``load_model``, both built on any machine (:func:`cuda_calls_optional`)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from ...common.compat import robustbench
from ...registry.sources import fetch, parse_source, robustbench_model


@contextmanager
def cuda_calls_optional() -> Iterator[None]:
    """While inside: ``Tensor.cuda()`` leaves a tensor where it is when it cannot move it (no CUDA
    on this machine, or a meta tensor); where CUDA is there it moves tensors as ever.

    Why: robustbench 1.1.1 builds some models with ``.cuda()`` in a constructor: its BiT ResNet
    (``bit_rn.ResNetV2``, the ResNet-152 of ``Bai2023Improving_edm``) puts its two normalisation
    constants on the GPU in ``__init__``, so that model cannot be built on a CPU-only machine (nor
    on the meta device). Those constants are plain tensor attributes, not parameters, and its
    ``forward`` moves them to the input's device, so a constant left on the CPU computes the same
    logits. Patching this one method for the duration of a build keeps robustbench's own
    constructor and loader, unchanged, as the definition of the model; rebuilding the model from
    robustbench's classes instead would copy its mixing settings into the zoo. On a GPU machine
    nothing changes: the constants go to the GPU, as robustbench intends. The patch is process-wide
    while it lasts (another thread's ``.cuda()`` on a CPU-only machine is then a no-op, not an error).
    """
    original = torch.Tensor.cuda

    def cuda(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if tensor.is_meta or not torch.cuda.is_available():
            return tensor
        return original(tensor, *args, **kwargs)

    torch.Tensor.cuda = cuda
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def robustbench_architecture(source: str) -> nn.Module:
    """A randomly initialised instance of a RobustBench model's architecture."""
    constructor = robustbench_model(parse_source(source))["model"]
    with cuda_calls_optional():
        return constructor()


def load_robustbench(source: str, sha256: str | None = None) -> nn.Module:
    """A RobustBench model with its weights, loaded by robustbench's own ``load_model`` from the
    file (or files, :func:`zoo.registry.sources.robustbench_files`) :func:`fetch` put where that
    loader reads them: for a model of several files, robustbench loads file ``i`` into its part
    (``Bai2023Improving_edm``: the ResNet-152, the WRN-70-16, then the mixing network and its
    batch norm), which is why the zoo calls it rather than restating that mapping."""
    parsed = parse_source(source)
    path = fetch(source, sha256)
    dataset, threat, name = parsed.location.split("/")
    with cuda_calls_optional():
        return robustbench().utils.load_model(name, model_dir=path.parents[2], dataset=dataset,
                                              threat_model=threat)
