"""Speed levers for a built zoo model: the same function, computed faster on a GPU.

Offered, off by default, from what the harness (``benchmarks/``) measured on an H200, one exact
gradient through t* = 10 steps. ``torch.compile`` of the UNet: CIFAR-10 networks ``recompute``
1.26x / 1.63x (two runs), ``exact`` 0.96x; trained demo network ``recompute`` 1.20x, ``exact``
1.38x. NHWC weights: CIFAR-10 ``recompute`` 1.11x / 1.24x, ``exact`` 0.91x; the tiny demo network
got slower (0.87x, 0.98x), so it pays on large UNets only (``benchmarks/results/bench_cuda-levers.md``,
``bench_cuda-demo-levers.md``). With the trained demo weights on CUDA the levers' gradients differ
from the plain run's by 7e-5 to 2e-3 relative, the scale of TF32 convolution rounding; the tests check them
equal to 1e-4 on the CPU. bf16 autocast of the whole model changes verdicts and is not offered here; the attacker's
gradients alone may run in bf16 (:mod:`.precision`). ``torch.inference_mode`` cannot host the
guidance gradient. ``torch.compile`` cannot compile the guidance net: its gradient is differentiated
again (double backward), which compiled graphs refuse ("torch.compile with aot_autograd does not
currently support double backward", checked by ``tests/test_speed.py``), so only the UNet, whose
gradient is first order, is compiled.
"""
from __future__ import annotations

import torch

from .nets.unet import EpsUNet
from .purifier import DefendedClassifier

LEVERS = ("channels_last", "compile_unet", "tf32")


def speed_up(model: DefendedClassifier, *, channels_last: bool = False,
             compile_unet: bool = False, tf32: bool = False) -> DefendedClassifier:
    """Apply the chosen levers to ``model`` in place and return it.

    ``channels_last``: NHWC end to end: every network's weights, and the model's input converted on
    entry, so the chain's states stay NHWC (the noise is drawn by shape, layout-independent).
    ``tf32``: fp32 matrix products on TF32 tensor cores (CUDA; convolutions already use TF32 by
    torch's default). A process-wide setting, the rounding of cuDNN's TF32 convolutions.
    ``compile_unet``: ``torch.compile`` the diffusion UNet only; the guidance net is differentiated
    twice (double backward), which compiled graphs do not support. The first call compiles (seconds
    to minutes); each new batch shape compiles again.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
        model.register_forward_pre_hook(_nhwc_input)
    if tf32:
        allow_tf32_matmul()
    if compile_unet:
        eps_net = getattr(model.purifier, "eps_net", None)
        if not isinstance(eps_net, EpsUNet):
            raise ValueError(f"{model.config.name} has no diffusion UNet to compile")
        eps_net.unet = torch.compile(eps_net.unet, dynamic=False)
    return model


def _nhwc_input(module, args):
    """Forward pre-hook: a 4-d input handed on in NHWC (its gradient comes back in the caller's layout)."""
    x, *rest = args
    return (x.contiguous(memory_format=torch.channels_last), *rest) if x.dim() == 4 else None


def allow_tf32_matmul() -> None:
    """fp32 CUDA matrix products on TF32 tensor cores, process-wide."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "tf32"
    else:  # torch before 2.9
        matmul.allow_tf32 = True


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
