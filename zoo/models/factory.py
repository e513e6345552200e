"""Registry entry -> :class:`~zoo.models.purifier.DefendedClassifier`, as timm's ``create_model``:
the registry stays pure data (names resolve in :mod:`zoo.registry.resolve`), the factory builds."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..common.devices import default_device
from ..registry.schema import Entry
from . import nets
from .diffusion import TruncatedDDPM, linear_betas
from .guidance import Guidance
from .purifier import DefendedClassifier, Purifier
from .speed import speed_up

def create_model(entry: Entry, device: str | torch.device | None = None, pretrained: bool = True,
                 grad_mode: str = "exact", channels_last: bool = False,
                 compile_unet: bool = False) -> DefendedClassifier:
    """Build ``entry`` (weights fetched unless ``pretrained=False``) on ``device``, in eval mode
    with every parameter frozen (attacks need input gradients only), with the speed levers of
    :func:`zoo.models.speed.speed_up` asked for."""
    classifier = nets.build(entry.classifier, pretrained)
    purifier = None
    if entry.purification is not None:
        purifier = _purifier(entry, classifier, pretrained, grad_mode)
    model = DefendedClassifier(classifier, entry, purifier).eval().requires_grad_(False)
    model = model.to(torch.device(device) if device is not None else default_device())
    return speed_up(model, channels_last=channels_last, compile_unet=compile_unet)


def _purifier(entry: Entry, classifier: torch.nn.Module, pretrained: bool, grad_mode: str) -> Purifier:
    p = entry.purification
    eps_net = nets.build(entry.diffusion, pretrained)
    size = getattr(eps_net, "sample_size", None)
    if size is not None and (size, size) != tuple(entry.input_shape[1:]):
        raise ValueError(f"{entry.name}: the diffusion model takes {size}x{size} images, the entry declares "
                         f"{entry.input_shape}")
    betas = linear_betas(p.schedule.num_timesteps, p.schedule.beta_start, p.schedule.beta_end)
    diffusion = TruncatedDDPM(betas, p.t_star, p.num_steps)
    guidance = None
    if p.pattern != "none":
        shared = entry.guidance is None or entry.guidance == entry.classifier
        net = classifier if shared else nets.build(entry.guidance, pretrained)
        guidance = Guidance(net, p.pattern, p.scale, p.distance)
    label_net = classifier if p.label == "classifier" else None
    return Purifier(eps_net, diffusion, guidance, label_net, grad_mode)
