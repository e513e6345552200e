"""Speed levers for a built zoo model: the same function, computed faster on a GPU.

Offered, off by default, from what the harness (``benchmarks/``) measured on an H200, one exact
gradient through t* = 10 steps. ``torch.compile`` of the UNet: CIFAR-10 networks ``recompute``
1.26x / 1.63x (two runs), ``exact`` 0.96x; trained demo network ``recompute`` 1.20x, ``exact``
1.38x. NHWC weights: CIFAR-10 ``recompute`` 1.11x / 1.24x, ``exact`` 0.91x; the tiny demo network
got slower (0.87x, 0.98x), so it pays on large UNets only (``benchmarks/results/bench_cuda-levers.md``,
``bench_cuda-demo-levers.md``). With the trained demo weights on CUDA the levers' gradients differ
from the plain run's by 7e-5 to 2e-3 relative, the scale of TF32 convolution rounding; the tests check them
equal to 1e-4 on the CPU. bf16 autocast changes results and is not offered;
``torch.inference_mode`` cannot host the guidance gradient.
"""
from __future__ import annotations

import torch

from .nets.unet import EpsUNet
from .purifier import DefendedClassifier

LEVERS = ("channels_last", "compile_unet")


def speed_up(model: DefendedClassifier, *, channels_last: bool = False,
             compile_unet: bool = False) -> DefendedClassifier:
    """Apply the chosen levers to ``model`` in place and return it.

    ``channels_last``: every network's weights in NHWC (inputs follow from the first convolution).
    ``compile_unet``: ``torch.compile`` the diffusion UNet only; the guidance net is differentiated
    twice (double backward), which compiled graphs do not support. The first call compiles (seconds
    to minutes); each new batch shape compiles again.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile_unet:
        eps_net = getattr(model.purifier, "eps_net", None)
        if not isinstance(eps_net, EpsUNet):
            raise ValueError(f"{model.config.name} has no diffusion UNet to compile")
        eps_net.unet = torch.compile(eps_net.unet, dynamic=False)
    return model


def check_levers(levers) -> tuple[str, ...]:
    """``levers`` as a sorted tuple of known lever names; an unknown one is an error naming them."""
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        raise ValueError(f"unknown speed lever(s) {unknown}; known: {list(LEVERS)}")
    return tuple(sorted(set(levers)))


def lever_flags(levers) -> dict[str, bool]:
    """Lever names (as the command lines and records name them) as :func:`speed_up`'s keyword flags."""
    chosen = check_levers(levers)
    return {name: name in chosen for name in LEVERS}
