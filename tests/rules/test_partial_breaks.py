"""AutoAttack's repeated-draw rules on points that are wrong on SOME draws only: such a point is not
broken. A row with a known label that is right on one draw of five is decided as its true class
(README: broken only when wrong on all draws), and an example whose every point stays right on
some draws is attacked on every restart and every target of APGD, and returned unbroken."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks.autoattack import AutoAttackEval
from zoo.attacks.draw_decisions import RepeatedDraws, row_keys

N_CLASSES = 10


class RightOnSomeLooks(nn.Module):
    """A toy stochastic defense without randomness: it counts how often it has seen each input row
    and answers the row's own class (the brightest of its first 10 pixels) only on looks whose count
    is ``phase`` modulo ``period``, the next class otherwise. ``never`` rows (keys) are never right.
    Logits: one-hot answer plus 0.01 x the first 10 pixels, so attacks get a gradient that never
    changes the answer. An example of class ``fragile_class`` is right (on those looks) only at a row of
``fragile_at``: any attack step breaks it on every draw."""

    def __init__(self, period: int, phase: int = 0):
        super().__init__()
        self.period, self.phase = period, phase
        self.looks: dict[bytes, int] = {}
        self.never: set[bytes] = set()
        self.fragile_class: int | None = None
        self.fragile_at: set[bytes] = set()

    def forward(self, x):
        head = x.flatten(1)[:, :N_CLASSES]
        own = head.detach().argmax(1)
        right = []
        for key, cls in zip(row_keys(x), own.tolist()):
            count = self.looks.get(key, 0)
            self.looks[key] = count + 1
            fragile = cls == self.fragile_class and key not in self.fragile_at
            right.append(count % self.period == self.phase and key not in self.never and not fragile)
        right = torch.tensor(right)
        answer = torch.where(right, own, (own + 1) % N_CLASSES)
        return nn.functional.one_hot(answer, N_CLASSES).to(x.dtype) + 0.01 * head


def toy_digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n 1x8x8 images in [0.25, 0.75], class c bright at pixel c by a margin (0.25) no eps-0.1 attack
    can undo, and a distinct pattern per example (so no two rows share a key)."""
    y = torch.arange(n) % N_CLASSES
    x = 0.5 + 0.2 * torch.rand(n, 64, generator=torch.Generator().manual_seed(0)) - 0.1
    x[:, :N_CLASSES] = 0.5
    x[torch.arange(n), y] = 0.75
    return x.view(n, 1, 8, 8), y


def test_a_known_row_right_on_one_draw_of_five_is_decided_as_its_class():
    x, y = toy_digits(4)
    model = RightOnSomeLooks(period=5, phase=2)  # right on the third of five draws only
    decider = RepeatedDraws(model, draws=5)
    with torch.no_grad(), decider.labelled(x[:2], y[:2]):  # rows 0, 1 known; rows 2, 3 not
        logits = decider(x)
    assert decider.known == {}  # forgotten on leaving the block
    # known: right on one draw of five, so not broken; the logits are that right draw's
    assert logits[:2].argmax(1).tolist() == y[:2].tolist()
    # unknown: the majority of the five draws (four wrong) decides, so the wrong class
    assert logits[2:].argmax(1).tolist() == ((y[2:] + 1) % N_CLASSES).tolist()


def test_a_known_row_wrong_on_every_draw_is_decided_as_broken():
    x, y = toy_digits(2)
    model = RightOnSomeLooks(period=5, phase=2)
    model.never = set(row_keys(x[:1]))
    decider = RepeatedDraws(model, draws=5)
    with torch.no_grad(), decider.labelled(x, y):
        logits = decider(x)
    assert logits.argmax(1).tolist() == [int((y[0] + 1) % N_CLASSES), int(y[1])]


def test_deterministic_answers_pass_through_as_the_first_draw():
    x, y = toy_digits(3)
    model = RightOnSomeLooks(period=1)  # always right: every draw alike
    decider = RepeatedDraws(model, draws=3)
    with torch.no_grad(), decider.labelled(x, y):
        known = decider(x)
    with torch.no_grad():
        unknown = decider(x)
        assert torch.equal(known, model(x)) and torch.equal(unknown, model(x))
    assert len(decider.draw_logits(x)) == 3


class AttackedRows:
    """Wraps a sub-attack's ``attack_single_run`` (before the zoo's recording wraps it) and records
    how many rows each run is given."""

    def __init__(self, attack):
        self.runs: list[int] = []
        self.original = attack.attack_single_run
        attack.attack_single_run = self

    def __call__(self, x, y, *args, **kwargs):
        self.runs.append(len(x))
        return self.original(x, y, *args, **kwargs)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("sub_attack, runs", [("apgd-ce", 3), ("apgd-t", 2 * 3)])
def test_a_point_wrong_on_some_draws_is_attacked_on_every_restart(sub_attack, runs):
    """Every point of this defense is right on one or two of five draws (never on all, never on
    none): nothing is broken, so APGD must run all its restarts (and, targeted, every target) on
    every example, and the returned points are scored right on some draws."""
    x, y = toy_digits(6)
    model = RightOnSomeLooks(period=3)
    attack = AutoAttackEval(model, norm="Linf", eps=0.1, batch_size=6, decision_draws=5,
                            budget={"attacks_to_run": [sub_attack], "n_iter": 3, "n_restarts": 3,
                                    "n_target_classes": 2})
    spy = AttackedRows(attack.adversary.apgd if sub_attack == "apgd-ce" else attack.adversary.apgd_targeted)
    x_adv = attack(x, y)
    assert spy.runs == [len(x)] * runs
    assert bool((attack.scores > 0).all()) and bool((attack.scores < 1).all())
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
