"""Attacker gradients (zoo.attacks.gradients): each mode's input gradient against the one it
should equal, computed independently on a tiny random-weight defended classifier."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.attacks import PGDEOT
from zoo.attacks.gradients import ATTACKER_GRADIENTS, attacker_model

from helpers import sharpen_guidance, tiny_model


@pytest.fixture(scope="module")
def model(one_thread):
    return sharpen_guidance(tiny_model("robust", t_star=3, scale=1000.0))  # guidance that matters at t*=3


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 8, 8, generator=gen, dtype=torch.float64), torch.tensor([0, 3, 7])


def input_gradient(module, x, y, seed=None):
    x = x.clone().requires_grad_(True)
    kwargs = {} if seed is None else {"generator": torch.Generator().manual_seed(seed)}
    F.cross_entropy(module(x, **kwargs), y, reduction="sum").backward()
    return x.grad


def classifier_gradient(model, point, y):
    point = point.detach().clone().requires_grad_(True)
    F.cross_entropy(model.classifier(point), y, reduction="sum").backward()
    return point.grad


def test_bpda_is_the_classifiers_gradient_at_the_purified_point(model, batch):
    x, y = batch
    grad = input_gradient(attacker_model(model, "bpda"), x, y, seed=5)
    with torch.no_grad():
        purified = model.purify(x, torch.Generator().manual_seed(5))
    assert not torch.allclose(purified, x)  # the point differs, so the test can tell the two apart
    want = classifier_gradient(model, purified, y)
    torch.testing.assert_close(grad, want)
    assert not torch.allclose(grad, classifier_gradient(model, x, y))
    # its forward is the real purified classification
    with torch.no_grad():
        torch.testing.assert_close(attacker_model(model, "bpda")(x, torch.Generator().manual_seed(5)),
                                   model(x, torch.Generator().manual_seed(5)))


def test_blind_is_the_classifiers_gradient_at_the_input(model, batch):
    x, y = batch
    torch.testing.assert_close(input_gradient(attacker_model(model, "blind"), x, y), classifier_gradient(model, x, y))


def test_exact_is_the_models_own_gradient(model, batch):
    x, y = batch
    torch.testing.assert_close(input_gradient(attacker_model(model, "exact"), x, y, seed=2),
                               input_gradient(model, x, y, seed=2))


@pytest.mark.parametrize("overrides", [{"steps": 1}, {"pattern": "none"}])
def test_surrogate_differs_from_exact_and_is_labelled(model, batch, overrides):
    x, y = batch
    surrogate = attacker_model(model, "surrogate", **overrides)
    assert surrogate.chain.classifier is model.classifier  # networks shared, not copied
    assert surrogate.chain.purifier.eps_net is model.purifier.eps_net
    exact = input_gradient(model, x, y, seed=3)
    approx = input_gradient(surrogate, x, y, seed=3)
    assert (exact - approx).abs().max() > 1e-3 * exact.abs().max()
    assert surrogate.is_ablation and "ablation-only" in surrogate.label
    assert all(f"{k}={v}" in surrogate.label for k, v in overrides.items())
    assert model.config.purification.num_steps == 3  # the defense itself is untouched


def test_labels_name_every_mode_and_only_exact_is_trusted(model):
    for mode in ATTACKER_GRADIENTS:
        kw = {"steps": 1} if mode == "surrogate" else {}
        attacker = attacker_model(model, mode, **kw)
        assert attacker.mode == mode and attacker.label.startswith(mode)
        assert attacker.is_ablation == (mode != "exact")
        assert ("ablation-only" in attacker.label) == (mode != "exact")
        assert attacker.defense is model


def test_pgd_eot_takes_its_gradient_from_the_attacker(model, batch):
    """One PGD step with a blind attacker moves along sign of the classifier's gradient at x."""
    x, y = batch
    attack = PGDEOT(model, norm="Linf", eps=0.05, steps=1, eot=1, step_size=0.01)
    assert attack.gradient_label == "exact"
    attack.with_attacker(attacker_model(model, "blind"))
    assert attack.model is model and "blind" in attack.gradient_label
    want = (x + 0.01 * classifier_gradient(model, x, y).sign()).clamp(0, 1)
    torch.testing.assert_close(attack(x, y), want)


@pytest.mark.parametrize("mode, kw, word", [
    ("adjoint", {}, "gradient mode"), ("bpda", {"steps": 1}, "only the surrogate"),
    ("surrogate", {}, "overrides"), ("surrogate", {"bogus": 1}, "unknown override"),
])
def test_bad_modes_raise(model, mode, kw, word):
    with pytest.raises(ValueError, match=word):
        attacker_model(model, mode, **kw)


def test_non_zoo_modules_get_only_exact():
    plain = torch.nn.Linear(4, 2)
    assert attacker_model(plain, "exact").defense is plain
    with pytest.raises(ValueError, match="zoo defended classifier"):
        attacker_model(plain, "bpda")
    classifier_only = tiny_model("robust")
    classifier_only.purifier = None
    with pytest.raises(ValueError, match="has no purifier"):
        attacker_model(classifier_only, "surrogate", steps=1)
