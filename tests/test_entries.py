"""Every registered entry, built with random weights (no download) and a tiny t*: shapes, patterns
and input gradients through the whole module."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.registry import default_registry

ENTRIES = sorted(default_registry())


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_builds_and_is_differentiable(name):
    entry = default_registry()[name]
    overrides = {"t_star": 2, "steps": None} if entry.purification else {}
    torch.manual_seed(0)
    model = zoo.load(name, device="cpu", pretrained=False, **overrides)
    assert model.config.name == name
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, *entry.input_shape, requires_grad=True)
    logits = model(x)
    assert logits.shape == (1, entry.num_classes)
    (grad,) = torch.autograd.grad(logits[0, 0], x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_structure_follows_its_pattern(name):
    entry = default_registry()[name]
    model = zoo.load(name, device="cpu", pretrained=False)
    purifier = model.purifier
    if entry.purification is None:
        assert purifier is None
        return
    assert purifier.diffusion.t_star == entry.purification.t_star
    if entry.purification.pattern == "none":
        assert purifier.guidance is None
    elif entry.purification.pattern == "plain":
        assert purifier.guidance.pattern == "plain" and purifier.guidance.net is model.classifier
    elif entry.purification.pattern == "gdmp":
        assert purifier.guidance.pattern == "gdmp" and purifier.guidance.net is None and model.label_network is None
        assert purifier.rounds == entry.purification.rounds
    else:
        assert purifier.guidance.pattern == "robust" and purifier.guidance.net is not model.classifier


def test_pattern_override_drops_the_guidance_net():
    model = zoo.load("agdm-tiny-mnist", device="cpu", pretrained=False, pattern="none")
    assert model.purifier.guidance is None and model.config.guidance is None
