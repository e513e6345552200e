"""Seeded clean accuracy and the re-draws' cost (zoo/running/draws.py) on a logging toy: the batches
and the one generator the accuracy draws all its noise from, its defaults, and the model calls the
attack loop's K re-classifications of one example cost."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks.calls import ModelCalls
from zoo.running.draws import accuracy, redraw_calls, redraw_predictions

pytestmark = pytest.mark.usefixtures("one_thread")


class Logged(nn.Module):
    """Class 0 where p + noise < 0.5 (p the first pixel, noise from ``generator``); logs the rows of
    every call and the noise it drew."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))  # gives the model a device
        self.rows: list[int] = []
        self.noise: list[torch.Tensor] = []

    def forward(self, x, generator=None):
        self.rows.append(len(x))
        noise = torch.randn(len(x), generator=generator)
        self.noise.append(noise)
        p = x.flatten(1)[:, 0]
        return torch.stack([0.5 - p - noise, torch.zeros_like(p)], dim=1) + self.weight


def examples(n):
    torch.manual_seed(0)
    return torch.rand(n, 1, 2, 2), torch.zeros(n, dtype=torch.long)


def expected(x, y, batch_size, seed):
    """The accuracy as documented: one generator seeded with ``seed``, batch after batch."""
    generator = torch.Generator().manual_seed(seed)
    right = 0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        noise = torch.randn(len(xb), generator=generator)
        right += int(((0.5 - xb.flatten(1)[:, 0] - noise > 0).long() == (yb == 0).long()).sum())
    return right / len(x)


def test_accuracy_draws_its_noise_from_one_generator_seeded_with_seed_batch_by_batch():
    x, y = examples(250)
    model = Logged()
    got = accuracy(model, x, y, batch_size=60, seed=5)
    assert model.rows == [60, 60, 60, 60, 10]
    assert got == pytest.approx(expected(x, y, 60, 5), abs=0)
    assert 0 < got < 1  # the noise decides some examples either way
    again = Logged()
    assert accuracy(again, x, y, batch_size=60, seed=5) == got
    assert all(torch.equal(a, b) for a, b in zip(model.noise, again.noise))
    other = Logged()
    accuracy(other, x, y, batch_size=60, seed=6)
    assert not torch.equal(torch.cat(other.noise), torch.cat(model.noise))


def test_accuracy_defaults_to_batches_of_100_seed_0_and_no_progress_bar(capsys):
    x, y = examples(250)
    model = Logged()
    got = accuracy(model, x, y)
    assert model.rows == [100, 100, 50]
    assert got == expected(x, y, 100, 0)
    seeded = torch.Generator().manual_seed(0)
    assert torch.equal(torch.cat(model.noise), torch.cat([torch.randn(n, generator=seeded) for n in (100, 100, 50)]))
    assert capsys.readouterr().err == ""
    accuracy(Logged(), x, y, progress=True)
    assert "predict" in capsys.readouterr().err


@pytest.mark.parametrize("draws", [1, 3, 7])
def test_redraw_calls_count_the_forwards_the_clean_and_adversarial_redraws_make(draws):
    x, _ = examples(4)
    model = Logged()
    redraw_predictions(model, x, draws, seed=1)  # the clean input's K draws
    redraw_predictions(model, x + 0.01, draws, seed=2)  # and the adversarial one's
    per_example = sum(model.rows) // len(x)
    assert redraw_calls(draws) == ModelCalls(forward=per_example, gradient=0, jacobian=0)
    assert redraw_calls(draws).forward == 2 * draws
