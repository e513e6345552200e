"""RepeatedDraws' bookkeeping: which rows count as known (a row's key is its float32 value, so a
float64 copy of a labelled input is recognised), which draw's logits are returned, where gradient
calls go, and which draw counts it accepts."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks.draw_decisions import RepeatedDraws, row_keys

from rules.test_partial_breaks import N_CLASSES, RightOnSomeLooks, toy_digits


class ScriptedWrongs(nn.Module):
    """Per input row, its k-th look answers own class + ``offsets[k % len(offsets)]`` (0: right);
    rows of ``always_right`` (keys) answer their own class on every look."""

    def __init__(self, offsets, always_right=()):
        super().__init__()
        self.offsets, self.looks, self.always_right = offsets, {}, set(always_right)

    def forward(self, x):
        own = x.flatten(1)[:, :N_CLASSES].argmax(1)
        shift = []
        for key in row_keys(x):
            count = self.looks.get(key, 0)
            self.looks[key] = count + 1
            shift.append(0 if key in self.always_right else self.offsets[count % len(self.offsets)])
        return nn.functional.one_hot((own + torch.tensor(shift)) % N_CLASSES, N_CLASSES).to(x.dtype)


def test_a_row_is_known_whatever_its_float_precision():
    x, y = toy_digits(2)
    decider = RepeatedDraws(RightOnSomeLooks(period=5, phase=2), draws=5)
    with torch.no_grad(), decider.labelled(x.double(), y):
        assert decider(x.float()).argmax(1).tolist() == y.tolist()


def test_unknown_rows_get_the_majority_and_known_rows_wrong_everywhere_the_majority_wrong_class():
    """Draw 0 is the odd one out: right (own + 0) for unknown rows, another wrong class (own + 2)
    for known rows never right; the majority (own + 1) must be returned for both. Row 1 (label 1)
    is unknown: no stand-in label may make its one right draw count."""
    x, y = toy_digits(8)  # more rows than draws
    decider = RepeatedDraws(ScriptedWrongs([0, 1, 1, 1, 1]), draws=5)
    with torch.no_grad():
        assert decider(x).argmax(1).tolist() == ((y + 1) % N_CLASSES).tolist()
    decider = RepeatedDraws(ScriptedWrongs([2, 1, 1, 1, 1]), draws=5)
    known = [0, 2, 4, 6]
    right = RepeatedDraws(ScriptedWrongs([1, 1, 0, 1, 1]), draws=5)
    with torch.no_grad(), decider.labelled(x[known], y[known]), right.labelled(x[known], y[known]):
        assert decider(x).argmax(1).tolist() == ((y + 1) % N_CLASSES).tolist()
        got = right(x).argmax(1)
    assert got[known].tolist() == y[known].tolist()  # right on draw 2 only: not broken
    assert got[1::2].tolist() == ((y[1::2] + 1) % N_CLASSES).tolist()


def test_gradient_calls_go_to_the_gradient_model_once():
    x, _ = toy_digits(3)
    calls = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, N_CLASSES))
    attacker = nn.Sequential(nn.Flatten(), nn.Linear(64, N_CLASSES))
    attacker.register_forward_hook(lambda *args: calls.append(1))
    decider = RepeatedDraws(model, draws=3)
    decider.gradient_model = attacker
    out = decider(x.requires_grad_(True))
    assert calls == [1] and torch.equal(out, attacker(x))


@pytest.mark.parametrize("draws", [0, -1, True, 2.0, "3"])
def test_draw_counts_other_than_positive_ints_are_refused(draws):
    with pytest.raises(ValueError, match="draws must be an int >= 1"):
        RepeatedDraws(nn.Identity(), draws)


def test_one_draw_is_the_single_pass():
    x, y = toy_digits(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, N_CLASSES))
    decider = RepeatedDraws(model, draws=1)
    with torch.no_grad(), decider.labelled(x, y):
        assert torch.equal(decider(x), model(x)) and decider.draw_logits(x).shape == (1, 2, N_CLASSES)


def test_a_known_row_wrong_everywhere_gets_the_majority_even_beside_a_right_row():
    """Each row is decided on its own draws: another row's right draws do not make this row's first
    (minority) draw the one returned."""
    x, y = toy_digits(3)
    decider = RepeatedDraws(ScriptedWrongs([2, 1, 1, 1, 1], always_right=row_keys(x[:1])), draws=5)
    with torch.no_grad(), decider.labelled(x, y):
        got = decider(x).argmax(1)
    assert got.tolist() == [int(y[0])] + ((y[1:] + 1) % N_CLASSES).tolist()
