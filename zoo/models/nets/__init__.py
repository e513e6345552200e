"""Architectures by name, and building a registry :class:`~zoo.registry.schema.Component` into a module.

``diffusers-unet2d``  a diffusers ``UNet2DModel`` behind :class:`EpsUNet` (config from the
                      component, or from the source folder's ``config.json``)
``small-cnn``         the demo's :class:`SmallCNN`
``ddpmpp``            score-SDE's DDPM++ noise predictor (:class:`DDPMpp`; loads a score-SDE
                      training checkpoint's EMA weights, or a plain state dict)
``resnet18``          the standard CIFAR ResNet-18 (RobustBench's definition)
``resnet-50``         the CIFAR ResNet-50 (RobustBench's definition)
``wrn-28-10``         WideResNet-28-10 (RobustBench's definition)
``wrn-70-16``         WideResNet-70-16 (RobustBench's definition)
``robustbench``       whatever RobustBench's model zoo defines for a ``robustbench://`` source
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ...registry import sources
from ...registry.bundles import robustbench_model_of
from ...registry.schema import Component
from .ddpmpp import DDPMpp, load_score_sde_checkpoint
from .loading import load_into
from .robustbench import load_robustbench, robustbench_architecture
from .small_cnn import SmallCNN
from .unet import EpsUNet


def _robustbench_arch(module: str, name: str) -> Any:
    """A class of robustbench's architectures package (imported through :mod:`zoo.common.compat`)."""
    from importlib import import_module

    from ...common.compat import robustbench

    robustbench()
    return getattr(import_module(f"robustbench.model_zoo.architectures.{module}"), name)


def _resnet18(num_classes: int = 10) -> nn.Module:
    """RobustBench's CIFAR ResNet-18 (its ``ResNet18()``), with ``num_classes`` logits."""
    resnet = _robustbench_arch("resnet", "ResNet")
    return resnet(_robustbench_arch("resnet", "BasicBlock"), [2, 2, 2, 2], num_classes=num_classes)


def _resnet50(num_classes: int = 10) -> nn.Module:
    """RobustBench's CIFAR ResNet-50 (its ``ResNet50()``), with ``num_classes`` logits: Table 5's shape."""
    resnet = _robustbench_arch("resnet", "ResNet")
    return resnet(_robustbench_arch("resnet", "Bottleneck"), [3, 4, 6, 3], num_classes=num_classes)


def _wrn(depth: int, widen_factor: int) -> Callable[..., nn.Module]:
    def build(num_classes: int = 10, **config: Any) -> nn.Module:
        wide_resnet = _robustbench_arch("wide_resnet", "WideResNet")
        return wide_resnet(depth=depth, widen_factor=widen_factor, num_classes=num_classes, **config)

    build.__doc__ = f"RobustBench's WideResNet(depth={depth}, widen_factor={widen_factor})."
    return build


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "small-cnn": SmallCNN,
    "resnet18": _resnet18,
    "resnet-50": _resnet50,
    "wrn-28-10": _wrn(28, 10),
    "wrn-70-16": _wrn(70, 16),
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


def _noted(component: Component, load: Callable[..., Any], *args: Any) -> Any:
    """``load(*args)``; a missing source's error gains the component's ``note`` (what the file
    must hold and how to make it, for weights that are not public)."""
    try:
        return load(*args)
    except sources.SourceError as err:
        if not component.note:
            raise
        raise sources.SourceError(f"{err} {component.note}") from None


def _fetch(component: Component) -> Path:
    return _noted(component, sources.fetch, component.source, component.sha256)


def _robustbench(component: Component, pretrained: bool) -> nn.Module:
    """A RobustBench model: through robustbench's loader for a ``robustbench://`` source, or its
    architecture (``config.model``) with the weights of a file (a bundle's)."""
    is_zoo_checkpoint = sources.parse_source(component.source).scheme == "robustbench"
    if pretrained and is_zoo_checkpoint:
        return _noted(component, load_robustbench, component.source, component.sha256)
    net = robustbench_architecture("robustbench://" + robustbench_model_of(component))
    if pretrained:
        load_into(net, _fetch(component))
    return net


def _unet(component: Component, pretrained: bool) -> EpsUNet:
    """A diffusers UNet from a ``save_pretrained`` folder (config.json checked against the declared
    config) or from a weights file with its full config declared (a bundle's)."""
    path = _fetch(component) if pretrained else sources.local_path(component.source)
    folder = path if path is not None and path.is_dir() else None
    net = EpsUNet.from_config(_unet_config(component, folder))
    if pretrained:
        load_into(net.unet, sources.weights_file(folder) if folder else path)
    return net


def build(component: Component, pretrained: bool = True) -> nn.Module:
    """The component's network in eval mode, with its weights unless ``pretrained=False``."""
    if component.arch == "robustbench":
        return _robustbench(component, pretrained).eval()
    if component.arch == "diffusers-unet2d":
        return _unet(component, pretrained).eval()
    if component.arch not in ARCHITECTURES and component.arch != "ddpmpp":
        known = ", ".join(sorted([*ARCHITECTURES, "ddpmpp", "diffusers-unet2d", "robustbench"]))
        raise ValueError(f"unknown architecture {component.arch!r}; known: {known}")
    path = _fetch(component) if pretrained else None  # first: a missing file fails before a big build
    if component.arch == "ddpmpp":
        net = DDPMpp(**component.config)
        if path is not None and path.suffix != ".safetensors":
            return load_score_sde_checkpoint(net, path).eval()
    else:
        net = ARCHITECTURES[component.arch](**component.config)
    if path is not None:
        load_into(net, path)
    return net.eval()
