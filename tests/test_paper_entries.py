"""The remaining tables' entries: the paper's settings, DiffPure's score-SDE setting, and a clear
offline / not-public error naming the missing file and how to supply it."""
from __future__ import annotations

import pytest

import zoo
from zoo.models.diffusion import TruncatedVPSDE
from zoo.models.nets import build
from zoo.registry import default_registry, sources

TABLES = {  # entry stem -> (dataset, classifier arch, t_star, backend)
    "sde-wrn28-cifar10": ("cifar10", "robustbench", 100, "vpsde"),
    "wrn70-cifar10": ("cifar10", "wrn-70-16", 100, "ddpm"),
    "rn50-cifar10": ("cifar10", "resnet-50", 125, "ddpm"),
    "wrn28-cifar100": ("cifar100", "wrn-28-10", 70, "ddpm"),
}
NEW = [f"{pattern}-{stem}" for stem in TABLES for pattern in ("agdm", "guided", "diffpure")]


@pytest.mark.parametrize("name", NEW)
def test_entry_has_the_papers_settings(name):
    entry = default_registry()[name]
    dataset, arch, t_star, backend = TABLES[name.split("-", 1)[1]]
    p = entry.purification
    assert (entry.dataset, entry.classifier.arch, p.t_star, p.backend) == (dataset, arch, t_star, backend)
    assert p.pattern == {"agdm": "robust", "guided": "plain", "diffpure": "none"}[name.split("-")[0]]
    assert entry.num_classes == (100 if dataset == "cifar100" else 10)
    if name.startswith("agdm"):
        assert entry.guidance.source.startswith("robustbench://")


def test_diffpure_sde_entry_runs_diffpures_purifier():
    """t* = 0.1 by 100 Euler-Maruyama steps (first label 99.9) on the DDPM++ network."""
    from zoo.models.factory import diffusion_for

    entry = default_registry()["diffpure-sde-wrn28-cifar10"]
    sde = diffusion_for(entry)
    assert isinstance(sde, TruncatedVPSDE) and sde.num_steps == 100
    assert sde.model_time(sde.num_steps - 1) == pytest.approx(99.9)
    assert entry.diffusion.arch == "ddpmpp" and entry.diffusion.source.endswith("/checkpoint_8.pth")


def test_offline_score_sde_checkpoint_names_the_file(offline):
    component = default_registry()["diffpure-sde-wrn28-cifar10"].diffusion
    with pytest.raises(sources.SourceError, match=r"gdrive/[\w-]+/checkpoint_8\.pth is missing") as info:
        build(component)
    assert "scripts/download.py" in str(info.value) and "score_sde_pytorch" in str(info.value)


@pytest.mark.parametrize("name, missing, how", [
    ("diffpure-wrn70-cifar10", "user/cifar10/wrn-70-16.safetensors", "--arch wrn-70-16"),
    ("agdm-rn50-cifar10", "user/cifar10/resnet-50.safetensors", "--arch resnet-50"),
    ("guided-wrn28-cifar100", "user/cifar100/wrn-28-10.safetensors", "--dataset cifar100"),
])
def test_weights_with_no_public_download_say_what_is_missing_and_how_to_supply_it(offline, name, missing, how):
    with pytest.raises(sources.SourceError) as info:
        zoo.load(name, device="cpu")
    text = str(info.value)
    assert missing in text and "no public download" in text and how in text


def test_cifar100_diffusion_model_gap_is_explained(offline):
    component = default_registry()["diffpure-wrn28-cifar100"].diffusion
    with pytest.raises(sources.SourceError, match="user/cifar100/ddpm is missing") as info:
        build(component)
    assert "save_pretrained" in str(info.value)


def test_supplied_user_weights_are_loaded(offline, tmp_path):
    """Putting a file at the user:// path is all it takes."""
    from safetensors.torch import save_file

    from zoo.models.nets import ARCHITECTURES
    from zoo.registry.schema import Component

    component = Component(arch="resnet18", source="user://cifar10/r18.safetensors", note="make it")
    with pytest.raises(sources.SourceError, match="make it"):
        build(component)
    net = ARCHITECTURES["resnet18"]()
    path = sources.cache_dir() / "user" / "cifar10" / "r18.safetensors"
    path.parent.mkdir(parents=True)
    save_file(net.state_dict(), str(path))
    loaded = build(component)
    assert all((a == b).all() for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))
