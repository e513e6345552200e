"""Registry entry -> :class:`~zoo.models.defended.DefendedClassifier`, as timm's ``create_model``:
the registry stays pure data (names resolve in :mod:`zoo.registry.resolve`), the factory builds."""
from __future__ import annotations

import torch

from ..common.devices import default_device
from ..registry.schema import Entry
from ..registry.sources import SourceError
from . import nets
from .defended import DefendedClassifier
from .diffusion import ReverseProcess, TruncatedDDPM, TruncatedVPSDE, linear_betas
from .guidance import GDMPGuidance, Guidance
from .purifier import Purifier
from .speed import speed_up


def create_model(entry: Entry, device: str | torch.device | None = None, pretrained: bool = True,
                 grad_mode: str = "exact", channels_last: bool = False,
                 compile_unet: bool = False, tf32: bool = False) -> DefendedClassifier:
    """Build ``entry`` (weights fetched unless ``pretrained=False``) on ``device``, in eval mode
    with every parameter frozen (attacks need input gradients only), with the speed levers of
    :func:`zoo.models.speed.speed_up` asked for."""
    classifier = _network(entry, "classifier", pretrained)
    eps_net = guidance_net = None
    if entry.purification is not None:
        eps_net = _network(entry, "diffusion", pretrained)
        if entry.purification.pattern in ("plain", "robust") and not _guided_by_classifier(entry):
            guidance_net = _network(entry, "guidance", pretrained)
    model = assemble(entry, classifier, eps_net, guidance_net, grad_mode)
    model = model.to(torch.device(device) if device is not None else default_device())
    return speed_up(model, channels_last=channels_last, compile_unet=compile_unet, tf32=tf32)


def _network(entry: Entry, role: str, pretrained: bool) -> torch.nn.Module:
    """The entry's ``role`` network built; weights that cannot be had raise an error naming the
    entry and the role besides the source (the source's own message fills in the entry to download)."""
    try:
        return nets.build(getattr(entry, role), pretrained)
    except SourceError as err:
        text = str(err).replace("<entry>", entry.name)
        raise SourceError(f"{text} (the {role} of entry {entry.name!r})") from err


def assemble(entry: Entry, classifier: torch.nn.Module, eps_net: torch.nn.Module | None = None,
             guidance_net: torch.nn.Module | None = None, grad_mode: str = "exact") -> DefendedClassifier:
    """``entry`` as a :class:`DefendedClassifier` around networks already built (shared, not
    copied), in eval mode with every parameter frozen: the classifier, the noise predictor
    ``eps_net`` (an entry with purification needs one) and the guidance net (default: the
    classifier, when the entry declares no other). The purifier's maths, guidance terms and label
    rule come from the entry, so one set of networks serves any ``t_star``, ``steps`` or
    ``grad_mode`` (``zoo.registry.resolve.with_overrides`` of the same entry)."""
    purifier = None
    if entry.purification is not None:
        if eps_net is None:
            raise ValueError(f"{entry.name} purifies its input: pass its noise predictor (eps_net)")
        purifier = _purifier(entry, classifier, eps_net, guidance_net, grad_mode)
    return DefendedClassifier(classifier, entry, purifier).eval().requires_grad_(False)


def diffusion_for(entry: Entry) -> ReverseProcess:
    """The reverse chain's maths of a purifying ``entry``, by its backend: the beta schedule cut at
    t* and respaced to its steps (``ddpm``), or the VP-SDE of that schedule (``vpsde``)."""
    p = entry.purification
    if p is None:
        raise ValueError(f"{entry.name} does not purify its input: it has no diffusion chain")
    if p.backend == "vpsde":
        n = p.schedule.num_timesteps
        return TruncatedVPSDE(p.t_star, p.steps, p.schedule.beta_start * n, p.schedule.beta_end * n, n,
                              sampler=p.sampler)
    betas = linear_betas(p.schedule.num_timesteps, p.schedule.beta_start, p.schedule.beta_end)
    return TruncatedDDPM(betas, p.t_star, p.num_steps)


def _guided_by_classifier(entry: Entry) -> bool:
    """Whether the guidance net is the classifier itself (no other one declared)."""
    return entry.guidance is None or entry.guidance == entry.classifier


def _purifier(entry: Entry, classifier: torch.nn.Module, eps_net: torch.nn.Module,
              guidance_net: torch.nn.Module | None, grad_mode: str) -> Purifier:
    p = entry.purification
    size = getattr(eps_net, "sample_size", None)
    if size is not None and (size, size) != tuple(entry.input_shape[1:]):
        raise ValueError(f"{entry.name}: the diffusion model takes {size}x{size} images, the entry declares "
                         f"{entry.input_shape}")
    guidance, label_net = None, None
    if p.pattern == "gdmp":
        guidance = GDMPGuidance(p.scale, p.distance)
    elif p.pattern != "none":
        net = classifier if guidance_net is None else guidance_net
        guidance = Guidance(net, p.pattern, p.scale, p.distance)
        label_net = classifier if p.label == "classifier" else None
    return Purifier(eps_net, diffusion_for(entry), guidance, label_net, grad_mode, p.rounds)
