"""The attacks' random start and EOT arguments: a start is uniform in the eps-ball of the threat
(the Linf box, the L2 ball: uniform inside, not on the shell), drawn from the attack's own seeded
generator at the input's precision; EOT refuses sample counts below one."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT

EPS = 0.1


def starts(norm: str, n: int, shape=(1, 1, 2), dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """``n`` random starts around a mid-grey input (far from the [0, 1] clamp), minus the input."""
    attack = PGDEOT(nn.Flatten(), norm=norm, eps=EPS, steps=1, seed=seed)
    x = torch.full((n, *shape), 0.5, dtype=dtype)
    return attack.random_point(x) - x


def test_linf_start_is_uniform_in_the_box():
    delta = starts("Linf", 4000).flatten()
    assert float(delta.abs().max()) <= EPS + 1e-12
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):  # uniform on [-eps, eps]: the q-quantile is eps (2q - 1)
        assert float(delta.quantile(q)) == pytest.approx(EPS * (2 * q - 1), abs=0.05 * EPS)


def test_l2_start_is_uniform_in_the_ball():
    """In d = 2 dimensions a uniform point of the disc of radius eps lies within eps * sqrt(q) with
    probability q, and its direction is uniform."""
    delta = starts("L2", 4000).flatten(1)
    norms = delta.norm(dim=1)
    assert float(norms.max()) <= EPS * (1 + 1e-9)
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert float((norms <= EPS * q ** 0.5).double().mean()) == pytest.approx(q, abs=0.03)
    assert float(norms.std()) > 0.2 * EPS  # every example its own radius
    angle = torch.atan2(delta[:, 1], delta[:, 0])
    assert float((angle > 0).double().mean()) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_start_comes_from_the_attacks_seed_and_keeps_the_inputs_precision(norm):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, again, other = starts(norm, 8, seed=1), starts(norm, 8, seed=1), starts(norm, 8, seed=2)
    assert torch.equal(torch.get_rng_state(), before)  # torch's global RNG is the defense's, untouched
    assert torch.equal(first, again) and not torch.equal(first, other)
    # float64 inputs: the start is drawn in float64, not float32 values widened
    assert first.dtype == torch.float64 and bool((first.float().double() != first).any())
    assert starts(norm, 8, dtype=torch.float32, seed=1).dtype == torch.float32


def test_eot_needs_at_least_one_sample_per_batch():
    attack = PGDEOT(nn.Sequential(nn.Flatten(), nn.Linear(2, 3)).double(), norm="Linf", eps=EPS, steps=1)
    x, y = torch.full((2, 1, 1, 2), 0.5, dtype=torch.float64), torch.tensor([0, 1])
    loss = lambda logits, labels: nn.functional.cross_entropy(logits, labels, reduction="sum")  # noqa: E731
    one = attack.eot_gradient(x, y, 3, loss, eot_batch=1)
    torch.testing.assert_close(one, attack.eot_gradient(x, y, 3, loss))  # a deterministic model: the same mean
    for samples, eot_batch in ((0, None), (3, 0)):
        with pytest.raises(ValueError, match="samples and eot_batch must be >= 1"):
            attack.eot_gradient(x, y, samples, loss, eot_batch=eot_batch)


def test_the_default_seed_is_zero_and_one_example_gets_a_start_too():
    model = nn.Flatten()
    x = torch.full((1, 1, 1, 2), 0.5, dtype=torch.float64)
    for norm in ("Linf", "L2"):
        default, zero = PGDEOT(model, norm=norm, eps=EPS, steps=1), PGDEOT(model, norm=norm, eps=EPS, steps=1, seed=0)
        assert default.seed == 0 and PGDEOT(model, norm=norm, eps=EPS, steps=1, seed=7).seed == 7
        start = default.random_point(x)
        assert torch.equal(start, zero.random_point(x)) and not torch.equal(start, x)
        assert float((start - x).norm()) <= EPS * 2 ** 0.5 + 1e-12


@pytest.mark.parametrize("x", [[[0.5]], torch.zeros(2, 1, 2, 2, dtype=torch.long), torch.zeros(2)])
def test_inputs_other_than_float_batches_are_refused(x):
    attack = PGDEOT(nn.Flatten(), norm="Linf", eps=EPS, steps=1)
    with pytest.raises(ValueError, match="x must be a float tensor N x C x H x W"):
        attack(x, torch.zeros(2, dtype=torch.long))


def test_a_flat_batch_of_features_is_attacked_too():
    """The attacks need N x ... with N examples first: a N x D batch (no image axes) is accepted."""
    model = nn.Linear(4, 3)
    x, y = torch.full((2, 4), 0.5), torch.tensor([0, 1])
    x_adv = PGDEOT(model, norm="Linf", eps=EPS, steps=2, eot=1)(x, y)
    assert x_adv.shape == x.shape and float((x_adv - x).abs().max()) <= EPS + 1e-6


def test_an_attack_built_without_a_seed_starts_where_the_documented_default_seed_0_does():
    """The base class's default seed is 0, the default every attack documents, so an attack built
    without one (the TRADES training attack) draws the same starts as one given seed 0."""
    from zoo.attacks.base import Attack

    class Start(Attack):
        def perturb(self, x, y):
            return self.random_point(x)

    x = torch.full((3, 1, 2, 2), 0.5)
    y = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(Start(nn.Flatten(), norm="Linf", eps=EPS)(x, y),
                               Start(nn.Flatten(), norm="Linf", eps=EPS, seed=0)(x, y))
    assert Start(nn.Flatten(), norm="Linf", eps=EPS).seed == 0


def test_an_eot_gradient_hands_a_single_generator_to_the_model_as_it_is():
    """A plain ``torch.Generator`` (one stream for the batch) is passed on unchanged for every EOT
    chunk; only a per-row generator (RowGenerators) is repeated with the batch."""
    from helpers import TakesGenerator

    model = TakesGenerator()
    attack = PGDEOT(model, norm="Linf", eps=EPS, steps=1, eot=4, eot_batch=2)
    generator = torch.Generator().manual_seed(3)
    x = torch.full((2, 1, 1, 2), 0.5)
    grad = attack.eot_gradient(x, torch.tensor([0, 1]), 4, lambda logits, y: logits.gather(1, y[:, None]).sum(),
                               eot_batch=2, generator=generator)
    assert grad.shape == x.shape and model.given == [generator, generator]
