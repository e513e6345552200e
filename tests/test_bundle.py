"""Bundles: an entry saved as one folder loads back identically, from a folder or the Hub cache,
and tampered or mismatched bundles are refused."""
from __future__ import annotations

import json

import pytest
import torch

import zoo
from zoo.publishing.bundle import save_bundle
from zoo.registry.bundles import BundleError
from zoo.data import mnist_demo
from zoo.registry import RegistryError, get_entry
from zoo.registry.schema import parse_registry
from zoo.registry.sources import SourceError

from helpers import fake_hub_cache

X = mnist_demo("test")[0][:4]


def logits(model, seed=0):
    return model(X, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def agdm_bundle(tmp_path_factory):
    model = zoo.load("agdm-tiny-mnist", device="cpu")
    folder = save_bundle(model, tmp_path_factory.mktemp("bundle") / "agdm")
    return model, folder


@pytest.mark.parametrize("name", ["guided-tiny-mnist", "standard-tiny-mnist"])
def test_every_kind_of_entry_round_trips(tmp_path, name):
    model = zoo.load(name, device="cpu")
    loaded = zoo.load(str(save_bundle(model, tmp_path / name)), device="cpu")
    assert loaded.config.purification == model.config.purification
    torch.testing.assert_close(logits(loaded), logits(model), rtol=0, atol=0)


def test_bundle_round_trips_to_identical_logits(agdm_bundle):
    model, folder = agdm_bundle
    assert sorted(p.name for p in folder.iterdir()) == [
        "classifier.safetensors", "config.json", "dm.safetensors", "guidance.safetensors"]
    loaded = zoo.load(str(folder), device="cpu")
    assert loaded.config.name == "agdm-tiny-mnist"
    assert loaded.config.purification == model.config.purification
    assert loaded.config.budget == model.config.budget
    torch.testing.assert_close(logits(loaded), logits(model), rtol=0, atol=0)
    assert not torch.equal(logits(loaded, seed=1), logits(model, seed=0))  # the seed matters
    overridden = zoo.load(str(folder), device="cpu", pattern="none")
    assert overridden.purifier.guidance is None


def copy_bundle(folder, to):
    to.mkdir()
    for path in folder.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


def test_tampered_weights_are_refused(agdm_bundle, tmp_path):
    folder = copy_bundle(agdm_bundle[1], tmp_path / "tampered")
    data = bytearray((folder / "guidance.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "guidance.safetensors").write_bytes(bytes(data))
    with pytest.raises(SourceError, match="checksum mismatch"):
        zoo.load(str(folder), device="cpu")


def test_config_that_does_not_fit_the_weights_is_refused(agdm_bundle, tmp_path):
    folder = copy_bundle(agdm_bundle[1], tmp_path / "mismatch")
    config = json.loads((folder / "config.json").read_text())
    config["entry"]["classifier"]["config"]["width"] = 48
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SourceError, match="do not fit SmallCNN"):
        zoo.load(str(folder), device="cpu")


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(format_version=99), "format version 99 is not supported"),
    (lambda c: c.update(format="something"), "not an agdm-zoo bundle config"),
    (lambda c: c["entry"]["guidance"].update(source="../guidance.safetensors"), "not a file of the bundle"),
    (lambda c: c["entry"].update(t_star=3), "unknown key"),
])
def test_malformed_bundle_configs_are_refused(agdm_bundle, tmp_path, edit, message):
    folder = copy_bundle(agdm_bundle[1], tmp_path / "bad")
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises((BundleError, RegistryError), match=message):
        zoo.load(str(folder), device="cpu")


def test_bundle_loads_offline_from_the_hub_cache(agdm_bundle, offline):
    model, folder = agdm_bundle
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    fake_hub_cache(offline / "hf-cache", "someone/agdm-tiny", files, revision="v1")
    loaded = zoo.load("hf://someone/agdm-tiny@v1", device="cpu")
    torch.testing.assert_close(logits(loaded), logits(model), rtol=0, atol=0)
    with pytest.raises(SourceError, match="offline"):
        zoo.load("hf://someone/agdm-tiny@v2", device="cpu")


def test_registry_entry_can_point_at_a_bundle(agdm_bundle):
    folder = agdm_bundle[1]
    registry = parse_registry({"published": {"bundle": str(folder), "dataset": "mnist", "description": "ours"},
                               "wrong": {"bundle": str(folder), "dataset": "cifar10"}})
    entry = get_entry("published", registry)
    assert entry.name == "published" and entry.description == "ours"
    assert entry.purification.pattern == "robust"
    with pytest.raises(RegistryError, match="'cifar10'"):
        get_entry("wrong", registry)
