"""Writing a loaded zoo model as a bundle folder (the format is :mod:`zoo.registry.bundles`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from ..common.files import atomic_write_text
from ..registry import sources
from ..registry.bundles import CONFIG, FILES, FORMAT, FORMAT_VERSION, _plain, entry_to_dict, library_version, \
    robustbench_model_of
from ..registry.schema import Component, Entry


def component_nets(model: nn.Module) -> dict[str, nn.Module]:
    """The networks of a :class:`~zoo.models.purifier.DefendedClassifier` whose weights a bundle holds,
    by role (the guidance net only where the entry declares its own)."""
    nets = {"classifier": model.classifier}
    purifier = model.purifier
    if purifier is not None:
        nets["diffusion"] = purifier.eps_net
        if model.config.guidance is not None and purifier.guidance is not None:
            nets["guidance"] = purifier.guidance.net
    return nets


def save_bundle(model: nn.Module, folder: str | Path, name: str | None = None) -> Path:
    """Write ``model`` (a loaded zoo entry) as a bundle into ``folder``; returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entry: Entry = model.config
    described = entry_to_dict(entry)
    for role, net in component_nets(model).items():
        described[role] = _save_component(getattr(entry, role), net, folder / FILES[role])
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "library_version": library_version(),
              "name": name or entry.name, "entry": described}
    atomic_write_text(folder / CONFIG, json.dumps(config, indent=2) + "\n")
    return folder


def _save_component(component: Component, net: nn.Module, path: Path) -> dict[str, Any]:
    """Save one network's weights; return its bundle declaration (arch, file, sha256, config)."""
    config = dict(component.config)
    module = net
    if component.arch == "diffusers-unet2d":
        module = net.unet
        config = {k: v for k, v in net.unet.config.items() if not k.startswith("_")}
    elif component.arch == "robustbench":
        config = {"model": robustbench_model_of(component)}
    state = {k: v.detach().to("cpu").clone().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path))
    return {"arch": component.arch, "source": path.name, "sha256": sources.sha256_of(path),
            "config": _plain(config)}
