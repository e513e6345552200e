"""The last reverse step is pinned: it adds neither noise nor guidance (its posterior variance is
zero), so with a zero noise predictor it returns exactly x_t / sqrt(alpha); and one purification
draws exactly one noise tensor for the forward diffusion plus one per noisy step, in every
gradient mode (the recomputing backward pass draws none)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.models.purifier import GRAD_MODES, to_pixels

from helpers import sharpen_guidance, tiny_model


class ZeroEps(nn.Module):
    """A noise predictor that predicts zero noise and records every input it is given."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, x_t, t):
        self.inputs.append((int(t[0]), x_t.detach().clone()))
        return torch.zeros_like(x_t)


def zero_eps_model(grad_mode: str):
    model = sharpen_guidance(tiny_model("robust", t_star=50, steps=3, scale=10.0, grad_mode=grad_mode))
    model.purifier.eps_net = ZeroEps()
    return model


def pixels():
    # inside (0, 1) by a margin, so a step's output is not hidden by the final clamp
    return torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.5 + 0.25


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("with_graph", [False, True])
def test_last_step_is_x_t_over_sqrt_alpha_and_draws_are_counted(grad_mode, with_graph):
    model = zero_eps_model(grad_mode)
    diffusion = model.purifier.diffusion
    assert diffusion.num_steps == 3 and float(diffusion.posterior_variance[0]) == 0.0
    x = pixels().requires_grad_(with_graph)
    generator = torch.Generator().manual_seed(0)
    with torch.set_grad_enabled(with_graph):
        out = model.purify(x, generator)
    forward_calls = list(model.purifier.eps_net.inputs)
    assert [t for t, _ in forward_calls] == sorted(diffusion.model_timesteps.tolist(), reverse=True)
    last_t, last_input = forward_calls[-1]
    assert last_t == int(diffusion.model_timesteps[0])
    alpha = 1.0 - float(diffusion.betas[0])
    expected = to_pixels(last_input / alpha ** 0.5).clamp(0.0, 1.0)
    assert torch.allclose(out.detach(), expected, rtol=0.0, atol=1e-12)

    noisy_steps = int((diffusion.posterior_variance > 0).sum())
    assert noisy_steps == diffusion.num_steps - 1
    reference = torch.Generator().manual_seed(0)
    for _ in range(1 + noisy_steps):  # the forward diffusion to t*, then one per noisy reverse step
        torch.randn(x.shape, generator=reference, dtype=x.dtype)
    assert torch.equal(generator.get_state(), reference.get_state())
    if with_graph:
        out.sum().backward()  # replays (recompute, checkpoint) must not draw again
        assert torch.equal(generator.get_state(), reference.get_state())
        assert x.grad is not None and torch.isfinite(x.grad).all()
