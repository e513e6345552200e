"""The K re-draws' noise (zoo.running.draws.seeded_forward): a model that takes ``generator=`` (every
zoo model) gets a generator of its own seeded with the draw's seed, so the draws share no random
numbers with anything else; any other module runs on torch's global RNG seeded inside fork_rng."""
from __future__ import annotations

import torch
from torch import nn

from helpers import TakesGenerator
from zoo.running.draws import seeded_forward




def test_a_model_taking_a_generator_gets_its_own_seeded_with_the_seed():
    model, x = TakesGenerator(), torch.zeros(2, 3)
    first = seeded_forward(model, x, 17)
    (generator,) = model.given
    assert isinstance(generator, torch.Generator) and generator.initial_seed() == 17
    torch.testing.assert_close(seeded_forward(model, x, 17), first)
    assert not torch.allclose(seeded_forward(model, x, 18), first)


def test_a_plain_module_runs_on_the_seeded_global_rng_and_leaves_the_callers_as_it_was():
    class Plain(nn.Module):
        def forward(self, x):
            return x + torch.randn(x.shape)

    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    out = seeded_forward(Plain(), torch.zeros(2, 3), 17)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.testing.assert_close(out, seeded_forward(Plain(), torch.zeros(2, 3), 17))
