"""RobustBench's own ``robustbench.eval.benchmark`` on a zoo entry, as RobustBench's users run it:
the entry loaded by ``robustbench.utils.load_model``, CIFAR-10 read from ``data_dir``.

CIFAR-10 cannot be downloaded here, so the test writes a data folder in torchvision's on-disk
format (``cifar-10-batches-py``, pickled batches) holding foolbox's 20 real CIFAR-10 test images.
torchvision checks the files' md5 against the real data set's, which a folder of 20 images cannot
match: that check alone is replaced by "the file exists". The entry is a cheap AGDM defense: a small
CNN fitted to those images (classifier and guidance net) behind a two-step guided DDPM chain of a
tiny random UNet.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.models.purifier import DefendedClassifier
from zoo.models.timm import register
from zoo.registry.schema import parse_registry

pytestmark = pytest.mark.usefixtures("one_thread")

UNET_3X32 = {"sample_size": 32, "in_channels": 3, "out_channels": 3, "layers_per_block": 1,
             "block_out_channels": [8, 8], "down_block_types": ["DownBlock2D"] * 2,
             "up_block_types": ["UpBlock2D"] * 2, "norm_num_groups": 4}
CNN_3X32 = {"in_channels": 3, "image_size": 32, "width": 8}
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def foolbox_images() -> tuple[np.ndarray, list[int]]:
    """foolbox's 20 CIFAR-10 test images as uint8 N x 32 x 32 x 3, and their labels."""
    foolbox = pytest.importorskip("foolbox")
    from PIL import Image

    files = sorted((Path(foolbox.__file__).parent / "data").glob("cifar10_*.png"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]), [int(f.stem.split("_")[-1]) for f in files]


def write_cifar10_folder(root: Path, images: np.ndarray, labels: list[int]) -> Path:
    """``root/cifar-10-batches-py`` as the CIFAR-10 python release lays it out: ``images`` are the
    test batch (rows of 3072 bytes, the red plane, then green, then blue), the five training
    batches are empty."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batches = {"test_batch": (rows, labels), **{f"data_batch_{i}": (rows[:0], []) for i in range(1, 6)}}
    for name, (data, targets) in batches.items():
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": list(targets),
                         "filenames": [f"{i}.png" for i in range(len(targets))]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": LABELS, "num_cases_per_batch": len(labels), "num_vis": 3072}, f)
    return root


def memorising_cnn(path: Path, images: np.ndarray, labels: list[int]) -> dict:
    """A small CNN fitted to ``images`` (right on all of them, and not robust), saved at ``path``,
    as a registry component: a classifier with real accuracy that AutoAttack runs through quickly."""
    from safetensors.torch import save_file

    from zoo.models.nets import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN(**CNN_3X32)
    x, y = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, torch.tensor(labels)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        if loss < 0.1:
            break
    save_file(net.state_dict(), str(path))
    return {"arch": "small-cnn", "source": f"file://{path}", "config": CNN_3X32}


def agdm_entry(tmp_path: Path, images: np.ndarray, labels: list[int]) -> dict:
    """A cheap CIFAR-10 AGDM entry (robust guidance, t* = 2) whose weights are all on disk: a tiny
    random UNet and the memorising CNN as classifier and guidance net."""
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    UNet2DModel(**UNET_3X32).save_pretrained(tmp_path / "dm", safe_serialization=True)
    cnn = memorising_cnn(tmp_path / "cnn.safetensors", images, labels)
    return {"rb-eval-agdm": {
        "dataset": "cifar10", "input_shape": [3, 32, 32], "num_classes": 10, "threats": {"Linf": 8 / 255},
        "classifier": cnn, "guidance": cnn,
        "diffusion": {"arch": "diffusers-unet2d", "source": f"file://{tmp_path / 'dm'}", "config": UNET_3X32},
        "purification": {"t_star": 2, "pattern": "robust"}}}


def test_robustbench_benchmark_runs_on_a_zoo_entry_from_its_data_folder(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    images, labels = foolbox_images()
    data_dir = write_cifar10_folder(tmp_path / "data", images, labels)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    register(parse_registry(agdm_entry(tmp_path, images, labels)))

    from robustbench.eval import benchmark   # after `import zoo`, as RobustBench's users import it
    from robustbench.utils import load_model

    model = load_model("rb-eval-agdm", dataset="cifar10", threat_model="Linf")
    assert isinstance(model, DefendedClassifier) and model.purifier.guidance is not None
    torch.manual_seed(0)   # eps 32/255: APGD-CE breaks all 4, so the standard version's other attacks (minutes here) skip
    clean, robust = benchmark(model, n_examples=4, dataset="cifar10", threat_model="Linf", eps=32 / 255,
                              data_dir=str(data_dir), batch_size=4)
    assert clean == 1.0          # the folder's first 4 images, read in order, classified by the fitted weights
    assert robust < clean        # AutoAttack's gradients went through the purifier and broke the classifier
