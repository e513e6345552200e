"""The one place that papers over robustbench / pyautoattack packaging quirks.

robustbench 1.1.1 does ``from autoattack import AutoAttack`` (and ``autoattack.state``), but the
AutoAttack on PyPI installs as ``pyautoattack``, with another API. :func:`alias_autoattack` (run by
``import zoo``) registers an import hook that, when ``autoattack`` is first imported by anyone,
hands out :mod:`zoo.common.autoattack_api` (pyautoattack behind fra31/auto-attack's API) under that
name and ``pyautoattack``'s submodules under ``autoattack.*``, so ``from robustbench.utils import
load_model`` and ``robustbench.eval.benchmark`` work after ``import zoo`` as they do for
RobustBench's users. Nothing is imported until then; a real ``autoattack`` package, when
installed, wins. robustbench also imports ``pkg_resources``, which is
why the project pins ``setuptools<81``. The zoo itself imports robustbench through
:func:`robustbench`.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

ALIAS, PACKAGE = "autoattack", "pyautoattack"


class _AutoattackAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``autoattack`` as :mod:`zoo.common.autoattack_api` and ``autoattack.sub`` as
    ``pyautoattack.sub`` (the same module objects, so classes and state are shared), unless a real
    ``autoattack`` is installed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == ALIAS:
            if self._installed(ALIAS) or importlib.util.find_spec(PACKAGE) is None:
                return None  # a real autoattack, or no pyautoattack: the ordinary import (or its error)
        elif not (fullname.startswith(ALIAS + ".") and _aliased()):
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def _installed(self, name: str) -> bool:
        """Whether another finder (the file system's, an editable install's) has ``name``."""
        return any(finder.find_spec(name, None) is not None for finder in sys.meta_path
                   if finder is not self and hasattr(finder, "find_spec"))

    def create_module(self, spec):
        if spec.name == ALIAS:
            return importlib.import_module(f"{__package__}.autoattack_api")
        return importlib.import_module(PACKAGE + spec.name[len(ALIAS):])

    def exec_module(self, module):
        """Nothing: the module was executed when ``pyautoattack`` imported it."""


def _aliased() -> bool:
    """Whether ``autoattack`` in ``sys.modules`` is the alias (not a real autoattack)."""
    return getattr(sys.modules.get(ALIAS), "ALIAS_OF", None) == PACKAGE


def alias_autoattack() -> None:
    """Register the ``autoattack`` -> ``pyautoattack`` import hook once (it imports nothing now)."""
    if not any(isinstance(finder, _AutoattackAlias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AutoattackAlias())


def robustbench() -> ModuleType:
    """Import ``robustbench`` (with ``.utils``, ``.data`` and ``.model_zoo``) and return it."""
    alias_autoattack()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        module = importlib.import_module("robustbench")
        for sub in ("utils", "data", "model_zoo"):
            importlib.import_module(f"robustbench.{sub}")
    return module


def robustbench_models(dataset: str, threat: str) -> dict[str, Any]:
    """RobustBench's model dictionary of one (dataset, threat): name -> {"model": constructor, "gdrive_id": ...}."""
    robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    return model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)]
