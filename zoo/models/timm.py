"""The zoo's entries as timm models, so RobustBench's own loader finds them.

``robustbench.utils.load_model(name, dataset=..., threat_model=...)`` first asks timm for
``f"{name}_{dataset}_{threat}"`` (lower case, ``-`` -> ``_``). Registering every entry under that
name (for each eps-ball threat it declares; RobustBench has no StAdv threat) makes

    load_model("agdm-wrn28-cifar10", dataset="cifar10", threat_model="Linf")

return the zoo's module. timm is slow to import, so ``import zoo`` does not import it: the entries
are registered when timm is (or already was) imported.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any, Callable, Mapping

from ..registry.resolve import get_entry
from ..registry.schema import BALL_THREATS, BundleRef, Entry
from ..registry.store import default_registry


def timm_name(name: str, dataset: str, threat: str) -> str:
    """The model name RobustBench asks timm for."""
    return f"{name.lower().replace('-', '_')}_{dataset}_{threat.lower()}"


def _creator(name: str, registry: Mapping[str, Entry | BundleRef], model_name: str) -> Callable[..., Any]:
    def create(pretrained: bool = False, num_classes: int | None = None, **_timm_kwargs: Any):
        """Build the zoo entry on the CPU (RobustBench moves models itself)."""
        from .factory import create_model

        entry = get_entry(name, registry)
        if num_classes is not None and num_classes != entry.num_classes:
            raise ValueError(f"{name} has {entry.num_classes} classes, {num_classes} asked for")
        return create_model(entry, device="cpu", pretrained=pretrained)

    create.__name__ = create.__qualname__ = model_name
    create.__module__ = __name__
    return create


def register(registry: Mapping[str, Entry | BundleRef] | None = None) -> list[str]:
    """Register every entry of ``registry`` (default: ``checkpoints.yaml``) with timm; returns the
    timm names."""
    from timm.models import register_model

    registry = default_registry() if registry is None else registry
    names = []
    for name, entry in registry.items():
        threats = BALL_THREATS if isinstance(entry, BundleRef) else tuple(t for t in entry.threats if t in BALL_THREATS)
        for threat in threats:
            model_name = timm_name(name, entry.dataset, threat)
            register_model(_creator(name, registry, model_name))
            names.append(model_name)
    return names


class _RegisterWhenTimmLoads(importlib.abc.MetaPathFinder):
    """Runs :func:`register` right after ``timm`` is first imported, by anyone."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            register()

        spec.loader.exec_module = exec_module
        return spec


def register_when_timm_loads() -> None:
    """Register now if timm is loaded, else as soon as it is."""
    if "timm" in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterWhenTimmLoads) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenTimmLoads())
