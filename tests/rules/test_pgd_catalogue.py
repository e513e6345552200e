"""PGD+EOT's catalogue entries (zoo.attacks.pgd_eot, bottom): one name and title per loss, plain or
label-aware, each built with the budget's steps, EOT samples and step, the run's seed, its own loss
(the label-aware one against the model's label network) and the attacker gradient given; and the
anytime pool's starting point drawn from the generator it is handed."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from zoo.attacks.catalogue import build_attack, spec
from zoo.attacks.losses import LABEL_WEIGHT, LabelAwareLoss
from zoo.attacks.pgd_eot import LABEL_AWARE, PGDEOT, pgd_name

BUDGET = SimpleNamespace(pgd_steps=7, pgd_eot=3, pgd_step_fraction=0.25)


def test_names_carry_the_loss_unless_it_is_the_default_and_the_label_aware_prefix():
    assert pgd_name() == "pgd-eot" and pgd_name("ce") == "pgd-eot"
    assert pgd_name("dlr") == "pgd-eot-dlr" and pgd_name("margin", False) == "pgd-eot-margin"
    assert pgd_name(label_aware=True) == LABEL_AWARE == "pgd-eot-label"
    assert pgd_name("dlr", True) == "pgd-eot-label-dlr"
    with pytest.raises(ValueError):
        pgd_name("hinge")


def test_titles_say_which_loss_and_whether_label_aware():
    assert spec("pgd-eot").title == "pgd-eot (Lee & Kim loss)"
    assert spec("pgd-eot-label").title == "pgd-eot (label-aware)"
    assert spec("pgd-eot-dlr").title == "pgd-eot (dlr)"
    assert spec("pgd-eot-label-margin").title == "pgd-eot (label-aware, margin)"


class Labelled(nn.Module):
    """A model with a label network, as a guided zoo model has."""

    def __init__(self):
        super().__init__()
        self.net, self.label_network = nn.Flatten(), nn.Flatten()

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_the_plain_entry_is_built_with_the_budget_seed_and_its_loss(loss):
    model = nn.Flatten()
    attack = build_attack(pgd_name(loss), model, norm="Linf", eps=0.2, seed=11, budget=BUDGET)
    assert isinstance(attack, PGDEOT) and attack.model is model and (attack.norm, attack.eps) == ("Linf", 0.2)
    assert (attack.steps, attack.eot, attack.seed) == (7, 3, 11)
    assert attack.step_size == pytest.approx(0.25 * 0.2)
    assert type(attack.loss).__name__ == "AttackLoss" and attack.loss.name == loss
    assert attack.attacker is None


def test_the_default_step_is_the_attacks_own_when_the_budget_names_none():
    attack = build_attack("pgd-eot", nn.Flatten(), norm="Linf", eps=0.2, seed=0,
                          budget=SimpleNamespace(pgd_steps=7, pgd_eot=3, pgd_step_fraction=None))
    assert attack.step_size == PGDEOT(nn.Flatten(), norm="Linf", eps=0.2, steps=7).step_size


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_the_label_aware_entry_attacks_the_models_label_network_with_its_loss(loss):
    model, attacker = Labelled(), nn.Identity()
    attack = build_attack(pgd_name(loss, True), model, norm="L2", eps=0.5, seed=2, budget=BUDGET, attacker=attacker)
    assert isinstance(attack.loss, LabelAwareLoss) and attack.loss.label_net is model.label_network
    assert attack.loss.weight == LABEL_WEIGHT and attack.loss.loss == loss
    assert attack.attacker is attacker and attack.norm == "L2"


def test_the_pools_start_comes_from_the_generator_handed_to_it():
    attack = PGDEOT(nn.Flatten(), norm="Linf", eps=0.1, steps=1, seed=0, random_start=True)
    x = torch.full((2, 1, 2, 2), 0.5)
    first = attack.start(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(attack.start(x, torch.Generator().manual_seed(5)), first)
    assert not torch.allclose(attack.start(x, torch.Generator().manual_seed(6)), first)
