"""The K re-draws the benchmark judges by have randomness of their own: seeded by the run seed and
the batch's position, sharing no random numbers with the attack that ran before them."""
from __future__ import annotations

import torch
from torch import nn

from zoo.running.loop import run_attacks


class ListJournal:
    """The part of a Journal that ``run_attacks`` uses, in memory."""

    def __init__(self):
        self.records: list[dict] = []

    def done(self):
        return set()

    def append(self, records):
        self.records += records


class NoisyLogits(nn.Module):
    """Logits that are pure noise from torch's global RNG (no ``generator`` argument); every draw is logged."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        noise = torch.randn(len(x), 10)
        self.seen.append(noise)
        return noise


def reseeding_attack(model, seed):
    """An attack that, like pyautoattack's sub-attacks, reseeds the global RNG with its own seed
    and queries the model; returns the input unchanged."""
    def attack(x, y):
        torch.manual_seed(seed)
        with torch.no_grad():
            model(x)
        return x
    return attack


def clean_preds(model, attack_seed: int) -> list[list[int]]:
    x, y = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(6) % 10
    journal = ListJournal()
    run_attacks(model, x, y, {"a": reseeding_attack(model, attack_seed)}, journal, seed=3, draws=5, batch_size=3,
                progress=False)
    return [r["clean_preds"] for r in journal.records]


def test_changing_the_attack_seed_leaves_clean_redraws_unchanged():
    model = NoisyLogits()
    first = clean_preds(model, attack_seed=1)
    assert clean_preds(model, attack_seed=2) == first
    assert len({tuple(preds) for preds in first}) > 1  # the draws do vary


def test_redraws_share_no_random_numbers_with_an_attack_in_a_fork():
    """AutoAttack runs inside fork_rng: without a generator of their own, the re-draws would
    replay the very Gaussians its checks and filters drew."""
    model = NoisyLogits()

    def forking_attack(x, y):
        with torch.random.fork_rng(), torch.no_grad():
            model(x)
        return x

    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    run_attacks(model, x, y, {"a": forking_attack}, ListJournal(), seed=0, draws=3, batch_size=4, progress=False)
    attack_noise, clean_noise, adv_noise = model.seen
    for redraw in (clean_noise, adv_noise):
        for row in attack_noise:
            assert not (redraw == row).all(1).any()
    assert not torch.equal(clean_noise, adv_noise)
