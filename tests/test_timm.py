"""RobustBench's own loader (through timm) returns the zoo's modules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from zoo.common.compat import robustbench
from zoo.models.purifier import DefendedClassifier
from zoo.registry.schema import parse_registry
from zoo.models.timm import register, timm_name

from test_demo import foolbox_cifar10


def test_robustbench_load_model_returns_a_zoo_entry_with_its_weights():
    import pyautoattack

    weights = Path(pyautoattack.__file__).parent / "examples" / "model_test.pt"
    registry = parse_registry({"pyaa-resnet18": {
        "dataset": "cifar10", "input_shape": [3, 32, 32], "num_classes": 10, "threats": {"Linf": 8 / 255},
        "classifier": {"arch": "resnet18", "source": f"file://{weights}"}}})
    assert register(registry) == ["pyaa_resnet18_cifar10_linf"]
    model = robustbench().utils.load_model("pyaa-resnet18", dataset="cifar10", threat_model="Linf")
    assert isinstance(model, DefendedClassifier) and model.config.name == "pyaa-resnet18"
    x, y = foolbox_cifar10()
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() == 1.0   # the real weights, not random ones


def test_import_zoo_registers_every_entry_once_timm_is_imported():
    code = ("import sys, zoo; assert 'timm' not in sys.modules; import timm; "
            "print(timm.is_model('agdm_wrn28_cifar10_cifar10_linf'), timm.is_model('agdm_wrn28_cifar10_cifar10_l2'), "
            "timm.is_model('standard_tiny_mnist_mnist_linf'), timm.is_model('agdm_wrn28_cifar10_cifar10_corruptions'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "False"]
    assert timm_name("agdm-wrn28-cifar10", "cifar10", "Linf") == "agdm_wrn28_cifar10_cifar10_linf"
