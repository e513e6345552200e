"""Registry entry -> :class:`~zoo.purifier.DefendedClassifier`, as timm's ``create_model``."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from . import nets
from .devices import default_device
from .diffusion import GaussianDiffusion, linear_betas
from .guidance import Guidance
from .purifier import DefendedClassifier, Purifier
from .registry import Entry, Purification
from .speed import speed_up

OVERRIDABLE = tuple(f.name for f in dataclasses.fields(Purification) if f.name not in ("schedule", "max_trained_t"))


def with_overrides(entry: Entry, **overrides: Any) -> Entry:
    """``entry`` with purification settings replaced (``t_star=100``, ``pattern='none'``, ...).

    Pattern ``none`` drops the guidance net; ``plain`` keeps the declared one, or lets the
    classifier guide itself where none is declared.
    """
    if not overrides:
        return entry
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown override(s) {unknown} for {entry.name}; allowed: {list(OVERRIDABLE)}")
    if entry.purification is None:
        raise ValueError(f"{entry.name} is a plain classifier: it has no purification settings to override")
    purification = dataclasses.replace(entry.purification, **overrides)
    guidance = None if purification.pattern == "none" else entry.guidance
    return dataclasses.replace(entry, purification=purification, guidance=guidance)


def create_model(entry: Entry, device: str | torch.device | None = None, pretrained: bool = True,
                 grad_mode: str = "exact", channels_last: bool = False,
                 compile_unet: bool = False) -> DefendedClassifier:
    """Build ``entry`` (weights fetched unless ``pretrained=False``) on ``device``, in eval mode
    with every parameter frozen (attacks need input gradients only), with the speed levers of
    :func:`zoo.speed.speed_up` asked for."""
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
    diffusion = GaussianDiffusion(betas, p.t_star, p.num_steps)
    guidance = None
    if p.pattern != "none":
        shared = entry.guidance is None or entry.guidance == entry.classifier
        net = classifier if shared else nets.build(entry.guidance, pretrained)
        guidance = Guidance(net, p.pattern, p.scale, p.distance)
    label_net = classifier if p.label == "classifier" else None
    return Purifier(eps_net, diffusion, guidance, label_net, grad_mode)
