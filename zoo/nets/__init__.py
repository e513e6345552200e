"""Architectures by name, and building a registry :class:`~zoo.registry.Component` into a module.

``diffusers-unet2d``  a diffusers ``UNet2DModel`` behind :class:`EpsUNet` (config from the
                      component, or from the source folder's ``config.json``)
``small-cnn``         the demo's :class:`SmallCNN`
``resnet18``          the standard CIFAR ResNet-18 (RobustBench's definition)
``robustbench``       whatever RobustBench's model zoo defines for a ``robustbench://`` source
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from torch import nn

from .. import sources
from ..registry import Component
from .small_cnn import SmallCNN
from .unet import EpsUNet


def _resnet18(**config: Any) -> nn.Module:
    from ..compat import robustbench

    robustbench()
    from robustbench.model_zoo.architectures.resnet import ResNet18

    return ResNet18(**config)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "small-cnn": SmallCNN,
    "resnet18": _resnet18,
}


def _unet_config(component: Component, folder: Path | None) -> dict[str, Any]:
    """The UNet config: the declared one, checked against ``config.json`` where there is one."""
    declared = dict(component.config)
    if folder is None:
        if not declared:
            raise ValueError(f"{component.source}: a randomly initialised UNet needs a declared config")
        return declared
    on_disk = json.loads((folder / "config.json").read_text())
    clash = {k: (v, on_disk.get(k)) for k, v in declared.items() if _plain(on_disk.get(k)) != _plain(v)}
    if clash:
        raise sources.SourceError(
            f"{component.source}: config.json does not match the declared UNet config "
            f"(key: declared vs on disk) {clash}"
        )
    return on_disk


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def build(component: Component, pretrained: bool = True) -> nn.Module:
    """The component's network in eval mode, with its weights unless ``pretrained=False``."""
    if component.arch == "robustbench":
        if pretrained:
            return sources.load_robustbench(component.source, component.sha256).eval()
        return sources.robustbench_architecture(component.source).eval()
    if component.arch == "diffusers-unet2d":
        if pretrained:
            folder = sources.fetch(component.source, component.sha256)
        else:
            local = sources.local_path(component.source)
            folder = local if local is not None and local.is_dir() else None
        net: nn.Module = EpsUNet.from_config(_unet_config(component, folder))
        if pretrained:
            sources.load_into(net.unet, sources.weights_file(folder))
        return net.eval()
    if component.arch not in ARCHITECTURES:
        known = ", ".join(sorted([*ARCHITECTURES, "diffusers-unet2d", "robustbench"]))
        raise ValueError(f"unknown architecture {component.arch!r}; known: {known}")
    net = ARCHITECTURES[component.arch](**component.config)
    if pretrained:
        sources.load_into(net, sources.fetch(component.source, component.sha256))
    return net.eval()
