"""The TRADES inner maximum (``zoo.attacks.TRADES``, Eq. 6's attack): it raises the divergence from
the clean prediction within the ball, ignores the labels, and draws its start from torch's global
RNG exactly once per call (what seeded and resumed training rely on)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import TRADES, Attack
from zoo.models.guidance import kl_distance


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 5))


def digits(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 5, (n,), generator=g)


def divergence(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return kl_distance(model(x), model(x_adv))


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 1.0)])
def test_raises_the_divergence_within_the_ball(norm, eps):
    model, (x, y) = mlp(), digits()
    torch.manual_seed(3)
    x_adv = TRADES(model, norm=norm, eps=eps, steps=10)(x, y)
    torch.manual_seed(3)
    start = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    assert isinstance(TRADES(model, norm=norm, eps=eps, steps=1), Attack)
    gained = divergence(model, x, x_adv)
    assert (gained > 10 * divergence(model, x, start)).all()
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "Linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1


def test_start_is_one_draw_from_the_global_rng_and_labels_are_unused():
    """With a zero step the result is the start, x + 0.001 * randn (clamped): exactly one draw of
    x's shape from torch's global RNG, whose next draws then follow as after that one draw."""
    model, (x, y) = mlp(), digits()
    attack = TRADES(model, norm="Linf", eps=0.1, steps=2, step_size=0.0)
    torch.manual_seed(5)
    out = attack(x, y)
    after = torch.randn(4)
    torch.manual_seed(5)
    expected = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-7)
    assert torch.equal(after, torch.randn(4))
    torch.manual_seed(6)
    a = TRADES(model, norm="Linf", eps=0.1, steps=3)(x, y)
    torch.manual_seed(6)
    b = TRADES(model, norm="Linf", eps=0.1, steps=3)(x, (y + 1) % 5)
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_default_step_is_madrys_and_bad_settings_are_refused():
    model = mlp()
    assert TRADES(model, norm="Linf", eps=0.3, steps=5).step_size == pytest.approx(2.5 * 0.3 / 5)
    with pytest.raises(ValueError, match="steps"):
        TRADES(model, norm="Linf", eps=0.3, steps=0)
    with pytest.raises(ValueError, match="step_size"):
        TRADES(model, norm="Linf", eps=0.3, steps=5, step_size=-1.0)
