"""The gradient-ablation attackers (zoo.attacks.gradients): which settings each mode takes, which
entries it applies to, what a surrogate chain is built from, how each is labelled, and that a bad
request is refused with an error naming the bad value. An ablation scores no leaderboard row, but
its table must say what was weakened and by how much, so these rules are checked as strictly as
the exact gradient's."""
from __future__ import annotations

import re
from types import MappingProxyType, SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from zoo.attacks.gradients import (ATTACKER_GRADIENTS, Surrogate, applicable_gradient, attacker_model,
                                   check_gradient, gradient_label)
from zoo.common.wording import ABLATION_LABEL
from zoo.registry.resolve import OVERRIDABLE

from helpers import tiny_model


@pytest.fixture(scope="module")
def model(one_thread):
    return tiny_model("robust", t_star=3, scale=50.0)


@pytest.mark.parametrize("mode", ["exact", "bpda", "blind"])
def test_modes_other_than_surrogate_take_no_settings(mode):
    assert check_gradient(mode) is None and check_gradient(mode, {}) is None
    with pytest.raises(ValueError, match="^" + re.escape(f"only the surrogate attacker gradient takes chain settings, "
                                                   f"got {{'steps': 2}} for {mode!r}")):
        check_gradient(mode, {"steps": 2})


def test_the_surrogate_takes_only_known_chain_settings_and_gets_them_back_as_a_dict():
    settings = MappingProxyType({"steps": 2, "pattern": "none"})
    checked = check_gradient("surrogate", settings)
    assert checked == {"steps": 2, "pattern": "none"} and type(checked) is dict
    for missing in (None, {}):
        with pytest.raises(ValueError, match="^the surrogate attacker gradient needs its chain's settings, "
                                             "e.g. steps=2 or pattern=none$"):
            check_gradient("surrogate", missing)
    with pytest.raises(ValueError, match="^" + re.escape(f"unknown surrogate setting(s) ['bogus', 'zeta']; "
                                                   f"allowed: {list(OVERRIDABLE)}")):
        check_gradient("surrogate", {"zeta": 1, "steps": 2, "bogus": 0})


def test_an_unknown_mode_is_named_with_the_modes_allowed():
    with pytest.raises(ValueError, match="^" + re.escape(f"attacker gradient must be one of {ATTACKER_GRADIENTS}, "
                                                   f"got 'adjoint'")):
        check_gradient("adjoint")


@pytest.mark.parametrize("mode, settings", [("bpda", None), ("surrogate", {"steps": 1}), ("exact", None)])
def test_an_ablation_applies_to_purifying_entries_only(mode, settings):
    purifying, plain = SimpleNamespace(purification=object()), SimpleNamespace(purification=None)
    assert applicable_gradient(purifying, mode, settings) == (mode, settings)
    assert applicable_gradient(plain, mode, settings) == ("exact", None)


def test_labels_say_which_gradient_and_that_it_is_weaker():
    assert gradient_label("exact") == "exact"
    assert gradient_label("bpda") == f"bpda ({ABLATION_LABEL})"
    assert gradient_label("blind", None) == f"blind ({ABLATION_LABEL})"
    assert gradient_label("surrogate", {"t_star": 1, "pattern": "none"}) == \
        f"surrogate[pattern=none, t_star=1] ({ABLATION_LABEL})"


class Stub:
    """Duck-typed half of a defended classifier: purify, classifier and validate, nothing else."""

    def purify(self, x, generator=None):
        return x

    def classifier(self, x):
        return x.flatten(1)

    def validate(self, x):
        return None


def test_bpda_needs_a_purify_step_and_the_surrogate_also_a_purifier_and_config():
    assert attacker_model(Stub(), "bpda").mode == "bpda"  # purifier and config are not needed here
    with pytest.raises(ValueError, match="^" + re.escape("gradient mode 'surrogate' needs a zoo defended classifier with "
                                                   "a purifier; Stub lacks purifier, config")):
        attacker_model(Stub(), "surrogate", steps=1)
    with pytest.raises(ValueError, match="^" + re.escape("gradient mode 'blind' needs a zoo defended classifier with a "
                                                   "purifier; Linear lacks purify, classifier, validate")):
        attacker_model(torch.nn.Linear(2, 2), "blind")
    no_purifier = Stub()
    no_purifier.purifier, no_purifier.config = None, object()
    with pytest.raises(ValueError, match=re.escape("with a purifier; Stub has no purifier") + "$"):
        attacker_model(no_purifier, "surrogate", steps=1)


def test_only_the_surrogate_takes_overrides_and_they_are_named():
    with pytest.raises(ValueError, match="^" + re.escape("only the surrogate gradient takes chain overrides, got "
                                                   "['steps', 't_star'] for 'blind'")):
        attacker_model(Stub(), "blind", t_star=1, steps=1)
    with pytest.raises(ValueError, match="^" + re.escape(f"gradient mode must be one of {ATTACKER_GRADIENTS}, "
                                                   f"got 'adjoint'")):
        attacker_model(Stub(), "adjoint")


def test_a_surrogate_without_overrides_is_refused_with_an_example(model):
    with pytest.raises(ValueError, match="^" + re.escape("surrogate needs purification overrides for its chain, e.g. "
                                                   "steps=2 or pattern='none'")):
        Surrogate(model)


def test_a_surrogate_with_the_defenses_own_settings_is_the_defense(model):
    """Its chain is built from the defense's own networks, guidance net included, and follows the
    generator it is given: with the defense's settings its logits and input gradient are the
    defense's, draw for draw; with fewer steps they are not (the ablation is a real change)."""
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = torch.tensor([1, 4])
    same = attacker_model(model, "surrogate", steps=3)
    assert same.chain.purifier.guidance.net is model.purifier.guidance.net

    def logits_and_gradient(module):
        point = x.clone().requires_grad_(True)
        logits = module(point, torch.Generator().manual_seed(9))
        F.cross_entropy(logits, y).backward()
        return logits.detach(), point.grad

    want = logits_and_gradient(model)
    for got, expected in zip(logits_and_gradient(same), want):
        torch.testing.assert_close(got, expected)
    fewer = logits_and_gradient(attacker_model(model, "surrogate", steps=1))
    assert not torch.allclose(fewer[1], want[1])


@pytest.mark.parametrize("grad_mode", ["checkpoint", "recompute"])
def test_a_surrogate_computes_its_gradient_by_the_defenses_memory_strategy(grad_mode):
    defense = tiny_model("robust", t_star=3, grad_mode=grad_mode)
    assert attacker_model(defense, "surrogate", steps=2).chain.purifier.grad_mode == grad_mode


def test_the_default_attacker_gradient_is_the_exact_one(model):
    attacker = attacker_model(model)
    assert attacker.mode == "exact" and not attacker.is_ablation and attacker.defense is model


def test_a_surrogate_of_an_unguided_defense_has_no_guidance_either():
    defense = tiny_model("none", t_star=3)
    surrogate = attacker_model(defense, "surrogate", steps=1)
    assert surrogate.chain.purifier.guidance is None and surrogate.chain.purifier.eps_net is defense.purifier.eps_net
