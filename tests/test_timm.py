"""RobustBench's own loader (through timm) returns the zoo's modules."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zoo.models.timm import timm_name

ROOT = Path(__file__).resolve().parent.parent


AS_ROBUSTBENCH_USERS_DO = """
import sys, torch, zoo
lazy = not {"robustbench", "autoattack", "pyautoattack", "timm"} & set(sys.modules)
from robustbench.utils import load_model   # the README's lines, nothing of the zoo's own in between
from robustbench import benchmark
from zoo.models.timm import register
from zoo.registry.schema import parse_registry
from zoo.registry.sources import SourceError
from helpers import pyaa_resnet18_component
from test_demo import foolbox_cifar10

register(parse_registry({"pyaa-resnet18": {"dataset": "cifar10", "input_shape": [3, 32, 32], "num_classes": 10,
                                            "threats": {"Linf": 8 / 255}, "classifier": pyaa_resnet18_component()}}))
model = load_model("pyaa-resnet18", dataset="cifar10", threat_model="Linf")
x, y = foolbox_cifar10()
with torch.no_grad():
    accuracy = (model(x).argmax(1) == y).float().mean().item()
try:
    load_model("agdm-wrn28-cifar10", dataset="cifar10", threat_model="Linf")
    refusal = "loaded"
except SourceError as err:   # offline, empty caches: the zoo says which weights are missing
    refusal = str(err).split(": ")[0]
print(lazy, type(model).__name__, model.config.name, accuracy, refusal)
"""


def test_robustbench_load_model_after_import_zoo_returns_the_zoo_module(tmp_path):
    """The README's three lines, in a fresh interpreter: ``import zoo`` imports neither robustbench nor
    AutoAttack, and yet robustbench (which imports ``autoattack``) then loads and returns zoo entries."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", AGDM_ZOO_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    done = subprocess.run([sys.executable, "-c", AS_ROBUSTBENCH_USERS_DO], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "DefendedClassifier", "pyaa-resnet18", "1.0",
                                   "robustbench://cifar10/Linf/Standard"]


def test_import_zoo_registers_every_entry_once_timm_is_imported():
    code = ("import sys, zoo; assert 'timm' not in sys.modules; import timm; "
            "print(timm.is_model('agdm_wrn28_cifar10_cifar10_linf'), timm.is_model('agdm_wrn28_cifar10_cifar10_l2'), "
            "timm.is_model('standard_tiny_mnist_mnist_linf'), timm.is_model('agdm_wrn28_cifar10_cifar10_corruptions'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "False"]
    assert timm_name("agdm-wrn28-cifar10", "cifar10", "Linf") == "agdm_wrn28_cifar10_cifar10_linf"
