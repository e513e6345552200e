"""``path/to/file.py:object``: a user's defense named on the command line, loaded from its file
with importlib (an ``nn.Module``, or a zero-argument callable returning one)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from torch import nn


def is_module_file(spec: str) -> bool:
    """Whether ``spec`` names an object in a Python file (``file.py:object``) rather than an entry."""
    path, sep, obj = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(obj)


def load_module_file(spec: str) -> nn.Module:
    """The ``nn.Module`` that ``path.py:object`` names: the object itself or what calling it returns.
    Raises ``ValueError`` naming the problem (no such file, no such object, not a module)."""
    if not is_module_file(spec):
        raise ValueError(f"expected path/to/file.py:object, got {spec!r}")
    path, _, obj = spec.rpartition(":")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--model {spec}: no file {file}")
    loader = importlib.util.spec_from_file_location(f"own_defense_{file.stem}", file)
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except Exception as err:
        raise ValueError(f"--model {spec}: importing {file} failed: {type(err).__name__}: {err}") from err
    if not hasattr(module, obj):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ValueError(f"--model {spec}: {file} defines no {obj!r} (it defines {names})")
    found = getattr(module, obj)
    if not isinstance(found, nn.Module) and callable(found):  # a factory, or a class without arguments
        try:
            found = found()
        except TypeError as err:
            raise ValueError(f"--model {spec}: calling {obj!r} with no arguments failed: {err}") from err
    if not isinstance(found, nn.Module):
        raise ValueError(f"--model {spec}: {obj!r} is a {type(found).__name__}, not an nn.Module "
                         "(or a zero-argument callable returning one)")
    return found
