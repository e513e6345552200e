"""Adversarial examples that travel: one attack's kept examples of one entry as a file pair that
loads without unpickling, in test-set order as RobustBench's external evaluations expect.

- ``<stem>.safetensors``: tensors ``adversarial`` (N x input shape, float32, pixels in [0, 1]),
  ``test_indices`` (N, int64, ascending: each example's index in the test set) and ``labels``
  (N, int64); its metadata repeats what defines the examples (model, threat, eps, attack).
- ``<stem>.json``: the same, with the dataset, N, the shape, the tensor file's SHA-256 and the
  run's provenance and settings.

:func:`read_examples` refuses a pair that disagrees with itself (a tensor file changed after it
was written, a JSON edited to another eps or threat, bad shapes), naming the problem;
:func:`check_examples` refuses examples outside [0, 1] or outside their threat's eps-ball around
the clean inputs (which the reader recomputes from the test indices or brings along).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load as load_tensors, save as save_tensors
from torch import Tensor

from ..common.files import atomic_write, atomic_write_text

FORMAT = "agdm-zoo adversarial examples v1"
DEFINING = ("model", "threat", "eps", "attack")
"""What the tensor file's metadata repeats from the JSON (checked to agree on reading)."""
CHECKABLE = ("Linf", "L2")
"""Threats whose ball can be checked from the images (StAdv's flow bound cannot)."""
TOLERANCE = 1e-5
"""Slack of the ball check over eps (float32 rounding of the projection)."""


class AdversarialFileError(ValueError):
    """A stored adversarial-examples file that is damaged, tampered with or out of its threat."""


@dataclass(frozen=True)
class StoredExamples:
    """One file pair read back and checked against itself."""

    adversarial: Tensor
    test_indices: Tensor
    labels: Tensor
    meta: dict[str, Any]
    path: Path

    @property
    def threat(self) -> str:
        return str(self.meta["threat"])

    @property
    def eps(self) -> float:
        return float(self.meta["eps"])


def paths_of(path: str | Path) -> tuple[Path, Path]:
    """The (tensor file, JSON) pair of ``path`` (either of them, or their common stem)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _defining(meta: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(float(meta[key]) if key == "eps" else meta[key]) for key in DEFINING}


def write_examples(path: str | Path, adversarial: Tensor, test_indices: Tensor, labels: Tensor,
                   meta: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write one pair at ``path`` (its stem), examples sorted by test index; ``meta`` holds at
    least :data:`DEFINING` (plus ``dataset``, ``provenance``, ``settings`` as the run has them).
    Returns (tensor file, JSON)."""
    missing = [key for key in DEFINING if key not in meta]
    if missing:
        raise ValueError(f"adversarial examples need {list(DEFINING)} in their description; missing {missing}")
    order = torch.argsort(test_indices.long())
    tensors = {"adversarial": adversarial.detach().float().cpu()[order].contiguous(),
               "test_indices": test_indices.long().cpu()[order].contiguous(),
               "labels": labels.long().cpu()[order].contiguous()}
    data = save_tensors(tensors, metadata={"format": FORMAT, **_defining(meta)})
    tensor_path, json_path = paths_of(path)
    atomic_write(tensor_path, lambda tmp: Path(tmp).write_bytes(data))
    description = {"format": FORMAT, **dict(meta), "eps": float(meta["eps"]), "n": len(order),
                   "shape": list(tensors["adversarial"].shape[1:]), "tensor_file": tensor_path.name,
                   "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(json_path, json.dumps(description, indent=2, default=str) + "\n")
    return tensor_path, json_path


def read_examples(path: str | Path) -> StoredExamples:
    """Read a pair and check it against itself: the tensor file's SHA-256 is the one the JSON
    records, the metadata of both agree, and the tensors have one example per test index.

    Raises:
        AdversarialFileError: naming the file and what is wrong with it.
    """
    tensor_path, json_path = paths_of(path)
    for file in (tensor_path, json_path):
        if not file.is_file():
            raise AdversarialFileError(f"{file}: no such file (a stored example set is a .safetensors and a .json)")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AdversarialFileError(f"{json_path}: not a readable JSON file ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AdversarialFileError(f"{json_path}: not an agdm-zoo adversarial-examples description ({FORMAT!r})")
    data = tensor_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise AdversarialFileError(f"{tensor_path}: its SHA-256 is not the one {json_path.name} records: the "
                                   "examples were changed after the run wrote them (or the pair was mixed up)")
    try:
        tensors = load_tensors(data)
        stored_meta = _header_metadata(data)
    except Exception as err:  # safetensors raises its own error types
        raise AdversarialFileError(f"{tensor_path}: not a readable safetensors file ({err})") from err
    _check_agreement(tensor_path, stored_meta, meta)
    return _checked_tensors(tensor_path, tensors, meta)


def _header_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (8-byte little-endian length, then JSON)."""
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]).get("__metadata__") or {}


def _check_agreement(path: Path, stored: Mapping[str, str], meta: Mapping[str, Any]) -> None:
    missing = [key for key in DEFINING if key not in meta]
    if missing:
        raise AdversarialFileError(f"{path.with_suffix('.json')}: lacks {missing}")
    differ = [key for key, value in _defining(meta).items() if stored.get(key) != value]
    if differ:
        raise AdversarialFileError(f"{path}: the JSON's {differ} differ from the tensor file's "
                                   f"({ {k: stored.get(k) for k in differ} }): the description was edited")


def _checked_tensors(path: Path, tensors: Mapping[str, Tensor], meta: dict) -> StoredExamples:
    names = {"adversarial", "test_indices", "labels"}
    if set(tensors) != names:
        raise AdversarialFileError(f"{path}: expected tensors {sorted(names)}, got {sorted(tensors)}")
    x, idx, y = tensors["adversarial"], tensors["test_indices"], tensors["labels"]
    n = len(idx)
    if x.dim() < 2 or len(x) != n or y.shape != (n,) or idx.dim() != 1 or n == 0:
        raise AdversarialFileError(f"{path}: shapes disagree: adversarial {tuple(x.shape)}, test_indices "
                                   f"{tuple(idx.shape)}, labels {tuple(y.shape)}")
    if n > 1 and not bool((idx[1:] > idx[:-1]).all()):
        raise AdversarialFileError(f"{path}: test indices are not strictly ascending (repeats, or out of order)")
    return StoredExamples(x, idx, y, meta, path)


def check_examples(stored: StoredExamples, clean: Tensor, labels: Tensor) -> None:
    """Refuse examples that are no valid attack on ``clean`` (the test examples at the stored
    indices, with their true ``labels``): other labels, another shape, pixels outside [0, 1], or a
    perturbation outside the threat's eps-ball (per example: the Linf or L2 norm; StAdv's flow
    bound cannot be checked from images and is refused)."""
    x = stored.adversarial
    where = stored.path
    if stored.threat not in CHECKABLE:
        raise AdversarialFileError(f"{where}: {stored.threat} examples cannot be checked from the images "
                                   f"(only {CHECKABLE} balls can); refusing to judge them")
    if tuple(clean.shape) != tuple(x.shape):
        raise AdversarialFileError(f"{where}: examples of shape {tuple(x.shape[1:])}, but the clean inputs at "
                                   f"their test indices have shape {tuple(clean.shape[1:])}")
    if not torch.equal(labels.long().cpu(), stored.labels):
        raise AdversarialFileError(f"{where}: its labels are not the test set's at its test indices")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise AdversarialFileError(f"{where}: pixels outside [0, 1] (range [{float(x.min()):.4g}, "
                                   f"{float(x.max()):.4g}])")
    delta = (x - clean.float().cpu()).flatten(1)
    norms = delta.abs().amax(1) if stored.threat == "Linf" else delta.norm(dim=1)
    outside = torch.nonzero(norms > stored.eps * (1 + TOLERANCE) + TOLERANCE).flatten()
    if len(outside):
        shown = ", ".join(f"test index {int(stored.test_indices[i])} ({float(norms[i]):.4g})" for i in outside[:5])
        raise AdversarialFileError(f"{where}: {len(outside)} example(s) outside the {stored.threat} ball of eps "
                                   f"{stored.eps:g} around their clean inputs: {shown}")
