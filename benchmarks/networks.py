"""The networks under test and the methods measured on them: zoo's grad modes behind full t*-step
chains over one set of networks, and the two references (``references.py``)."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from references import AdjointSDEReference, AutogradReference
from zoo.models.factory import assemble
from zoo.models.purifier import DefendedClassifier
from zoo.models.speed import speed_up
from zoo.registry.resolve import with_overrides

OURS = ("exact", "checkpoint", "recompute")
REFERENCES = ("ref-autograd", "ref-sde-adjoint")
METHODS = OURS + REFERENCES
DEMO, CIFAR = "agdm-tiny-mnist", "agdm-wrn28-cifar10"


@dataclasses.dataclass
class Network:
    """One network under test: the zoo model (t* set per measurement) and its inputs."""

    name: str
    model: DefendedClassifier
    x: Tensor
    y: Tensor
    t_stars: list[int]
    note: str


def variant(base: DefendedClassifier, t_star: int, grad_mode: str) -> DefendedClassifier:
    """``base``'s networks (shared, not copied) behind a full t*-step chain in ``grad_mode``."""
    guidance = base.purifier.guidance
    return assemble(with_overrides(base.config, t_star=t_star, steps=t_star), base.classifier,
                    base.purifier.eps_net, None if guidance is None else guidance.net, grad_mode)


def methods_for(base: DefendedClassifier, t_star: int, names: tuple[str, ...]) -> dict[str, nn.Module]:
    built = {}
    for name in names:
        if name in OURS:
            built[name] = variant(base, t_star, name)
        elif name == "ref-autograd":
            built[name] = AutogradReference(variant(base, t_star, "exact"))
        else:
            built[name] = AdjointSDEReference(variant(base, t_star, "exact"))
    return built


def input_gradient(model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
    """Gradient of the summed cross-entropy w.r.t. the input, purification noise seeded."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    xg = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(xg, generator=generator).float(), y, reduction="sum")
    return torch.autograd.grad(loss, xg)[0]


def relative_difference(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def load_networks(args, device: torch.device) -> list[Network]:
    nets = []
    if not args.no_demo:
        from zoo.data import mnist_demo

        model = zoo.load(DEMO, device=device)
        x, y = mnist_demo("test")
        nets.append(Network(DEMO, model, x[: args.batch].to(device), y[: args.batch].to(device), args.t_star,
                            "shipped weights, real MNIST test digits"))
    if args.cifar:
        model = zoo.load(CIFAR, device=device, pretrained=False)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(args.cifar_batch, 3, 32, 32, generator=g).to(device)
        y = torch.randint(0, 10, (args.cifar_batch,), generator=g).to(device)
        nets.append(Network(CIFAR, model, x, y, args.cifar_t_star,
                            "google/ddpm-cifar10-32 UNet + WRN-34-10 guidance + WRN-28-10 classifier "
                            "architectures, random weights, random images"))
    for net in nets:
        speed_up(net.model, channels_last=args.channels_last, compile_unet=args.compile)
        if args.channels_last:
            net.x = net.x.contiguous(memory_format=torch.channels_last)
    return nets
