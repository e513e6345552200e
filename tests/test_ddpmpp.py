"""Our DDPM++ (score-SDE "ddpmpp deep continuous") against the fixture measured on DiffPure's code:
the exact state-dict layout, strict loading of DiffPure's checkpoint structure (EMA shadow
parameters as an unnamed list in parameter order) and the deterministic-fill reference output."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.models.nets import build
from zoo.models.nets.ddpmpp import DDPMpp, load_score_sde_checkpoint
from zoo.registry import sources
from zoo.registry.schema import Component

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "score_sde_ddpmpp_deep_continuous_cifar10.json"
SMALL = {"nf": 16, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [4], "image_size": 8, "num_channels": 3}


@pytest.fixture(scope="module")
def fixture():
    """Facts measured on DiffPure's model code (a copy of the shared fixture; see its ``_about``)."""
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def full(fixture):
    """The CIFAR-10 network built from the fixture's config (about 1 s; 106.6M parameters)."""
    config = {k: v for k, v in fixture["config"].items() if not k.startswith("_")}
    return DDPMpp(**config).eval()


def deterministic_fill(layout, state):
    """The fixture's fill rule: base = sin(1.3 i + 0.7 k) for the k-th entry's i-th element."""
    filled = {}
    for k, (key, shape) in enumerate(layout):
        if key == "sigmas":
            filled[key] = state[key]
            continue
        base = np.sin(1.3 * np.arange(int(np.prod(shape)), dtype=np.float64) + 0.7 * k).astype(np.float32)
        if len(shape) == 1:
            value = 1 + 0.1 * base if ("GroupNorm" in key and key.endswith(".weight")) else 0.01 * base
        else:
            fan_in = shape[0] if key.endswith(".W") else int(np.prod(shape[1:]))
            value = math.sqrt(3 / fan_in) * base
        filled[key] = torch.from_numpy(np.asarray(value, dtype=np.float32).reshape(shape))
    return filled


def test_state_dict_has_exactly_the_fixtures_keys_shapes_and_dtypes(full, fixture):
    state = full.state_dict()
    assert [[k, list(v.shape)] for k, v in state.items()] == fixture["state_dict"]
    assert sum(p.numel() for p in full.parameters()) == fixture["counts"]["n_parameters_total"]
    assert len(list(full.parameters())) == fixture["counts"]["n_parameter_tensors"]
    assert state["sigmas"].dtype == torch.float64 and float(state["sigmas"][0]) == pytest.approx(50.0)
    assert all(v.dtype == torch.float32 for k, v in state.items() if k != "sigmas")


def test_deterministic_fill_reproduces_the_reference_output(full, fixture):
    full.load_state_dict(deterministic_fill(fixture["state_dict"], full.state_dict()), strict=True)
    ref = fixture["reference_forward_deterministic_fill"]
    torch.manual_seed(1)
    x = torch.randn(1, 3, 32, 32)
    assert x.flatten()[:5].tolist() == pytest.approx(fixture["reference_forward_init"]["x_first5"])
    with torch.no_grad():
        out = full(x, torch.tensor([499.5]))
    want = ref["net_out"]
    assert list(out.shape) == want["shape"]
    assert float(out.mean()) == pytest.approx(want["mean"], rel=1e-4)
    assert float(out.std()) == pytest.approx(want["std"], rel=1e-4)
    assert float(out.abs().max()) == pytest.approx(want["abs_max"], rel=1e-4)
    assert float(out.sum()) == pytest.approx(ref["net_out_sum"], rel=1e-4)
    assert out.flatten()[:5].tolist() == pytest.approx(want["first5"], rel=1e-4, abs=1e-7)


def small_checkpoint(tmp_path, prefix="module."):
    """A score-SDE-style training checkpoint of a small DDPM++: raw weights under ``model`` (with
    the DataParallel prefix) and different EMA weights as an unnamed list in parameter order."""
    torch.manual_seed(0)
    raw = DDPMpp(**SMALL)
    shadow = [torch.randn_like(p) for p in raw.parameters()]
    ckpt = {"model": {prefix + k: v for k, v in raw.state_dict().items()},
            "ema": {"decay": 0.9999, "num_updates": 3, "shadow_params": shadow},
            "optimizer": {"state": {}, "param_groups": []}, "step": 3}
    path = tmp_path / "checkpoint_8.pth"
    torch.save(ckpt, path)
    return path, raw, shadow


def test_checkpoint_loads_the_ema_shadow_params_in_parameter_order(tmp_path):
    path, raw, shadow = small_checkpoint(tmp_path)
    net = load_score_sde_checkpoint(DDPMpp(**SMALL), path)
    for (name, p), s in zip(net.named_parameters(), shadow):
        assert torch.equal(p, s), name
    raw_net = load_score_sde_checkpoint(DDPMpp(**SMALL), path, weights="raw")
    for (name, p), q in zip(raw_net.named_parameters(), raw.parameters()):
        assert torch.equal(p, q), name
    assert not torch.equal(next(net.parameters()), next(raw_net.parameters()))
    # through the registry: a file:// component of arch ddpmpp loads the EMA weights
    built = build(Component(arch="ddpmpp", source=f"file://{path}", config=SMALL))
    assert all(torch.equal(p, s) for p, s in zip(built.parameters(), shadow))


def test_mismatched_checkpoints_are_refused(tmp_path):
    path, _, shadow = small_checkpoint(tmp_path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["ema"]["shadow_params"] = shadow[:-1]
    torch.save(ckpt, path)
    with pytest.raises(sources.SourceError, match="EMA shadow parameters"):
        load_score_sde_checkpoint(DDPMpp(**SMALL), path)
    ckpt["ema"]["shadow_params"] = shadow[1:] + shadow[:1]
    torch.save(ckpt, path)
    with pytest.raises(sources.SourceError, match="shape"):
        load_score_sde_checkpoint(DDPMpp(**SMALL), path)
    with pytest.raises(sources.SourceError, match="do not fit"):  # a state dict of another layout
        torch.save({"all_modules.0.weight": torch.zeros(1)}, path)
        load_score_sde_checkpoint(DDPMpp(**SMALL), path)


def test_unsupported_config_is_refused():
    with pytest.raises(ValueError, match="fir"):
        DDPMpp(**SMALL, fir=True)
    with pytest.raises(ValueError, match="unknown config key"):
        DDPMpp(**SMALL, widht=3)


def test_gdrive_source_offline_names_the_missing_file(offline):
    parsed = sources.parse_source("gdrive://abc123/checkpoint_8.pth")
    assert (parsed.scheme, parsed.location, parsed.path) == ("gdrive", "abc123", "checkpoint_8.pth")
    with pytest.raises(ValueError, match="gdrive"):
        sources.parse_source("gdrive://abc123")
    with pytest.raises(sources.SourceError, match=r"zoo-cache/gdrive/abc123/checkpoint_8\.pth is missing") as info:
        sources.fetch("gdrive://abc123/checkpoint_8.pth")
    assert "scripts/download.py" in str(info.value)


def test_cached_gdrive_file_is_used_and_checksummed(offline, tmp_path):
    path, _, shadow = small_checkpoint(tmp_path)
    cached = sources.cache_dir() / "gdrive" / "abc123" / "checkpoint_8.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    component = Component(arch="ddpmpp", source="gdrive://abc123/checkpoint_8.pth",
                          sha256=sources.sha256_of(path), config=SMALL)
    assert all(torch.equal(p, s) for p, s in zip(build(component).parameters(), shadow))
    with pytest.raises(sources.SourceError, match="checksum"):
        build(Component(arch="ddpmpp", source=component.source, sha256="0" * 64, config=SMALL))
