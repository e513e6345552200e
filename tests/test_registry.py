"""checkpoints.yaml parsing: every entry is valid, and every malformed one is named precisely."""
from __future__ import annotations

import copy

import pytest

import zoo
from zoo.registry import RegistryError, default_registry
from zoo.registry.schema import parse_registry

from helpers import tiny_entry_dict


def test_every_registered_entry_is_valid_and_listed():
    registry = default_registry()
    assert set(zoo.list_models()) == set(registry)
    expected = {"agdm-wrn28-cifar10", "guided-wrn28-cifar10", "diffpure-wrn28-cifar10",
                "agdm-tiny-mnist", "guided-tiny-mnist", "diffpure-tiny-mnist", "standard-tiny-mnist",
                "gdmp-tiny-mnist", "gdmp-wrn28-cifar10"}
    assert expected <= set(registry)
    assert registry["agdm-wrn28-cifar10"].purification.t_star == 70


def test_list_models_filters():
    assert zoo.list_models(dataset="mnist", pattern="robust") == ["agdm-tiny-mnist"]
    assert set(zoo.list_models(pattern="none")) == {
        "diffpure-tiny-mnist", "diffpure-wrn28-cifar10", "diffpure-sde-wrn28-cifar10", "diffpure-wrn70-cifar10",
        "diffpure-rn50-cifar10", "diffpure-wrn28-cifar100"}


def test_paper_patterns_of_the_cifar_entries():
    registry = default_registry()
    assert registry["agdm-wrn28-cifar10"].purification.pattern == "robust"
    assert registry["guided-wrn28-cifar10"].purification.pattern == "plain"
    assert registry["diffpure-wrn28-cifar10"].guidance is None


def broken(edit) -> dict:
    doc = copy.deepcopy(tiny_entry_dict())
    edit(doc["tiny"])
    return doc


@pytest.mark.parametrize("edit, message", [
    (lambda e: e.update(colour="red"), r"entry 'tiny': unknown key\(s\) \['colour'\]"),
    (lambda e: e.pop("classifier"), r"entry 'tiny': missing required field 'classifier'"),
    (lambda e: e["purification"].update(pattern="strong"), r"entry 'tiny'\.purification\.pattern: must be one of"),
    (lambda e: e["purification"].update(t_star=0), r"entry 'tiny'\.purification: t_star must be in \[1, 1000\]"),
    (lambda e: e["purification"].update(t_star=50, max_trained_t=20), r"t_star must be in \[1, 20\]"),
    (lambda e: e["purification"].update(steps=9), r"steps must be in \[1, t_star=3\]"),
    (lambda e: e["purification"].update(scale="big"), r"purification\.scale: expected a number"),
    (lambda e: e.update(input_shape=[1, 8]), r"input_shape must be 3 positive ints"),
    (lambda e: e.update(threats={"L1": 0.1}), r"threats: need"),
    (lambda e: e.update(dataset="svhn"), r"dataset must be one of"),
    (lambda e: e.pop("guidance"), r"pattern 'robust' needs a guidance net"),
    (lambda e: e["classifier"].update(sha256="abc"), r"classifier: sha256 must be 64 hex digits"),
    (lambda e: e["diffusion"].update(weights="x"), r"entry 'tiny'\.diffusion: unknown key\(s\) \['weights'\]"),
])
def test_malformed_entries_name_entry_and_field(edit, message):
    with pytest.raises(RegistryError, match=message):
        parse_registry(broken(edit))


def test_unknown_entry_lists_the_known_ones():
    with pytest.raises(KeyError) as info:
        zoo.load("agdm-wrn99-cifar10")
    text = str(info.value)
    assert "unknown zoo entry 'agdm-wrn99-cifar10'" in text and "agdm-tiny-mnist" in text


def test_overrides_are_validated():
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['temperature'\]"):
        zoo.load("agdm-tiny-mnist", temperature=2)
    with pytest.raises(ValueError, match="t_star must be in"):
        zoo.load("agdm-tiny-mnist", t_star=5000)
    with pytest.raises(ValueError, match="plain classifier"):
        zoo.load("standard-tiny-mnist", t_star=10)


def test_browsing_the_registry_does_not_import_diffusers():
    """``import zoo`` and ``list_models`` stay cheap: diffusers (seconds to import) loads only when
    a UNet is built."""
    import subprocess
    import sys

    code = "import sys, zoo; zoo.list_models(); print('diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
