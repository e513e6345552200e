"""The one place that papers over robustbench / pyautoattack packaging quirks.

robustbench 1.1.1 does ``from autoattack import AutoAttack`` (and ``autoattack.state``), but the
AutoAttack on PyPI installs as ``pyautoattack``. We alias the PyPI package under the name
robustbench expects before robustbench is first imported. robustbench also imports
``pkg_resources``, which is why the project pins ``setuptools<81``. Import robustbench only through
:func:`robustbench` so the alias is always in place.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any


def _alias_autoattack() -> None:
    if "autoattack" in sys.modules:
        return
    try:
        importlib.import_module("autoattack")
        return
    except ImportError:
        pass
    pyautoattack = importlib.import_module("pyautoattack")
    sys.modules["autoattack"] = pyautoattack
    sys.modules["autoattack.state"] = importlib.import_module("pyautoattack.state")


def robustbench() -> ModuleType:
    """Import ``robustbench`` (with ``.utils``, ``.data`` and ``.model_zoo``) and return it."""
    _alias_autoattack()
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
