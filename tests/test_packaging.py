"""A built wheel is a working zoo: it holds the registry and the demo weights, and installed
somewhere else (no source tree, no editable install, another working directory) it lists and
loads the demo entries and runs the ``agdm-zoo`` command line."""
from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import COMMANDS
from zoo.data import mnist_demo

ROOT = Path(__file__).resolve().parent.parent
WHEEL_SECONDS = 120  # measured ~7 s on 2 busy CPU cores; far more means the build picked up something big


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built (no dependencies, no isolation: offline) from a copy of the project files,
    so the build leaves nothing in the checkout; the copy holds a training run's checkpoints
    beside the demo weights, as ``agdm-zoo train-dm --out zoo/weights/mnist/dm`` leaves them."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "zoo", source / "zoo", ignore=shutil.ignore_patterns("__pycache__", "*.checkpoints"))
    for leftover in ("dm.checkpoints/step-0250.pt", "guidance.checkpoints/epoch-0001.safetensors"):
        (source / "zoo" / "weights" / "mnist" / leftover).parent.mkdir(exist_ok=True)
        (source / "zoo" / "weights" / "mnist" / leftover).write_bytes(b"resume state")
    start = time.time()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    str(source), "-w", str(work / "dist")], check=True, cwd=work, capture_output=True)
    assert time.time() - start < WHEEL_SECONDS
    (found,) = (work / "dist").glob("agdm_zoo-*.whl")
    return found


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (``pip install --target``, console script included) into an empty folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return target


def run_installed(target: Path, tmp_path: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -c code`` (or the installed ``agdm-zoo`` script with ``args``) with only the
    install folder on PYTHONPATH and the working directory elsewhere."""
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "AGDM_ZOO_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-c", code] if code is not None else [str(target / "bin" / "agdm-zoo"), *args]
    work = tmp_path / "elsewhere"
    work.mkdir(exist_ok=True)
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_the_registry_the_weights_and_the_entry_point(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = whl.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    shipped = [p.relative_to(ROOT).as_posix() for p in (ROOT / "zoo" / "weights").rglob("*")
               if p.is_file() and ".checkpoints" not in p.parent.name]
    assert "zoo/checkpoints.yaml" in names
    assert {"zoo/weights/mnist/dm/diffusion_pytorch_model.safetensors", "zoo/weights/mnist/guidance.safetensors",
            "zoo/weights/mnist/classifier.safetensors"} <= set(shipped)
    assert set(shipped) <= names
    assert {"zoo/__main__.py", "zoo/cli/__init__.py", "zoo/cli/benchmark.py"} <= names
    assert not any(n.startswith(("tests/", "scripts/", "leaderboard/")) for n in names)
    assert not any(".checkpoints/" in n for n in names)  # training checkpoints are not shipped
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert dict(parser["console_scripts"]) == {"agdm-zoo": "zoo.cli:main"}


def test_the_installed_wheel_lists_and_loads_the_demo_without_the_source_tree(installed, tmp_path):
    code = """
import json, torch, zoo
from zoo.data import mnist_demo
model = zoo.load("agdm-tiny-mnist", device="cpu")
x, y = mnist_demo("test")
logits = model(x[:2], generator=torch.Generator().manual_seed(0))
print(json.dumps({"file": zoo.__file__, "models": zoo.list_models(), "preds": logits.argmax(1).tolist()}))
"""
    done = run_installed(installed, tmp_path, code=code)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).is_relative_to(installed)  # not the checkout, not the editable install
    assert result["models"] == zoo.list_models() and "agdm-tiny-mnist" in result["models"]
    x, _ = mnist_demo("test")
    here = zoo.load("agdm-tiny-mnist", device="cpu")(x[:2], generator=torch.Generator().manual_seed(0))
    assert result["preds"] == here.argmax(1).tolist()  # the same weights and code as the checkout's


def test_the_installed_console_script_names_its_commands(installed, tmp_path):
    top = run_installed(installed, tmp_path, "--help")
    assert top.returncode == 0, top.stderr
    assert all(name in top.stdout for name in COMMANDS)
    bench = run_installed(installed, tmp_path, "benchmark", "--help")
    assert bench.returncode == 0, bench.stderr
    assert "agdm-zoo benchmark" in bench.stdout and "--threat" in bench.stdout and "--resume" in bench.stdout
    wrong = run_installed(installed, tmp_path, "no-such-command")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    module = run_installed(installed, tmp_path, code="import runpy, sys; sys.argv = ['zoo', '--help']; "
                                                     "runpy.run_module('zoo', run_name='__main__')")
    assert module.returncode == 0 and all(name in module.stdout for name in COMMANDS)
