"""Weight sources offline: the real huggingface_hub / robustbench code paths, no network."""
from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.models.nets.loading import load_state_dict
from zoo.registry import sources
from zoo.models.nets import SmallCNN, build
from zoo.registry.schema import Component

from helpers import fake_hub_cache


def test_robustbench_imports_through_compat():
    from zoo.common.compat import robustbench

    module = robustbench()
    assert callable(module.utils.load_model)
    import autoattack

    assert hasattr(autoattack, "AutoAttack")


@pytest.mark.parametrize("bad", ["hf://only-org", "robustbench://cifar10/Linf", "s3://bucket/x"])
def test_malformed_sources_are_rejected(bad):
    with pytest.raises(ValueError, match="source"):
        sources.parse_source(bad)


def test_parse_hf_source():
    parsed = sources.parse_source("hf://org/repo/sub/w.safetensors@v1.0")
    assert (parsed.location, parsed.path, parsed.revision) == ("org/repo", "sub/w.safetensors", "v1.0")


@pytest.mark.parametrize("name", ["agdm-wrn28-cifar10", "diffpure-wrn28-cifar10", "guided-wrn28-cifar10"])
def test_offline_cifar_entry_gives_a_clear_error(offline, name):
    with pytest.raises(sources.SourceError) as info:
        zoo.load(name, device="cpu")
    text = str(info.value)
    assert "scripts/download.py" in text
    assert "offline" in text
    # names the missing file: the Hub repo of the DM or the RobustBench checkpoint path
    assert "google/ddpm-cifar10-32" in text or "Standard.pt" in text


def test_offline_robustbench_checkpoint_names_the_file(offline):
    with pytest.raises(sources.SourceError, match=r"zoo-cache/robustbench/cifar10/Linf/Standard\.pt is missing"):
        sources.fetch("robustbench://cifar10/Linf/Standard")


def small_cnn_bytes(tmp_path) -> bytes:
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_file(SmallCNN().state_dict(), str(path))
    return path.read_bytes()


def test_hub_file_loads_offline_from_the_cache(offline):
    data = small_cnn_bytes(offline)
    fake_hub_cache(offline / "hf-cache", "someone/tiny", {"guidance.safetensors": data})
    digest = hashlib.sha256(data).hexdigest()
    component = Component("small-cnn", "hf://someone/tiny/guidance.safetensors@main", sha256=digest)
    net = build(component)
    torch.manual_seed(0)
    reference = SmallCNN()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(net(x), reference(x))


def test_hub_folder_loads_offline_from_the_cache(offline, tmp_path):
    from diffusers import UNet2DModel

    config = {"sample_size": 8, "in_channels": 1, "out_channels": 1, "layers_per_block": 1,
              "block_out_channels": [8, 8], "down_block_types": ["DownBlock2D"] * 2,
              "up_block_types": ["UpBlock2D"] * 2, "norm_num_groups": 4}
    unet = UNet2DModel(**config)
    unet.save_pretrained(tmp_path / "dm", safe_serialization=True)
    files = {p.name: p.read_bytes() for p in (tmp_path / "dm").iterdir()}
    fake_hub_cache(offline / "hf-cache", "someone/dm", files)
    net = build(Component("diffusers-unet2d", "hf://someone/dm@main", config=config))
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([3])
    torch.testing.assert_close(net(x, t), unet(x, t).sample)
    with pytest.raises(sources.SourceError, match="does not match the declared UNet config"):
        build(Component("diffusers-unet2d", "hf://someone/dm@main", config={**config, "block_out_channels": [8, 16]}))


def test_offline_hub_file_not_in_cache_says_so(offline):
    with pytest.raises(sources.SourceError, match=r"cannot get w\.safetensors of Hub repo someone/absent@v2.*offline"):
        sources.fetch("hf://someone/absent/w.safetensors@v2")


def test_checksum_mismatch_is_refused(tmp_path):
    data = small_cnn_bytes(tmp_path)
    path = tmp_path / "w.safetensors"
    wrong = hashlib.sha256(data + b"x").hexdigest()
    with pytest.raises(sources.SourceError, match="checksum mismatch"):
        sources.fetch(f"file://{path}", sha256=wrong)
    assert sources.fetch(f"file://{path}", sha256=hashlib.sha256(data).hexdigest()) == path


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    data = small_cnn_bytes(tmp_path)
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    with pytest.raises(sources.SourceError, match="do not (match|fit) SmallCNN"):
        build(Component("small-cnn", f"file://{path}", config={"width": 8}))
    state = SmallCNN().state_dict()
    state.pop("head.3.bias")
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(sources.SourceError, match=r"missing keys \['head\.3\.bias'\]"):
        build(Component("small-cnn", f"file://{tmp_path / 'partial.safetensors'}"))


def test_pickled_checkpoints_load_with_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        load_state_dict(tmp_path / "evil.pt")
