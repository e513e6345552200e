"""What the purifier's step observer records (zoo.models.purifier): every step, the last and the
unguided ones included, can be rebuilt from its record; GDMP's per-term shifts carry the step
weight; each record names the network's time and its round, in every grad mode; and the rounds
must be an integer >= 1."""
from __future__ import annotations

import re

import pytest
import torch

from helpers import sharpen_guidance, tiny_model


def inputs(n=2):
    return torch.rand(n, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 0.9 + 0.05


def observed(model, x, seed=1):
    records = []
    with torch.no_grad(), model.purifier.observe(records.append):
        model.purify(x, torch.Generator().manual_seed(seed))
    return records


@pytest.mark.parametrize("pattern", ["none", "robust", "gdmp"])
def test_every_step_is_rebuilt_from_its_record_the_last_one_included(pattern):
    model = tiny_model(pattern, t_star=4, scale=50.0, **({"distance": "mse"} if pattern == "gdmp" else {}))
    records = observed(model, inputs())
    assert len(records) == 4 and records[-1].variance == 0.0
    for r in records:
        torch.testing.assert_close(model.purifier.rebuild_step(r), r.x_prev, rtol=0, atol=0)
        assert r.model_time == model.purifier.diffusion.model_time(r.position)


def test_gdmps_term_shifts_carry_the_step_weight_and_sum_to_the_shift():
    model = tiny_model("gdmp", t_star=4, scale=50.0, distance="mse")
    guided = [r for r in observed(model, inputs()) if r.guidance_shift is not None]
    assert len(guided) == 3
    for r in guided:
        weight = model.purifier.guidance.step_weight(model.purifier.diffusion.alpha_bar(r.position))
        assert weight != pytest.approx(1.0)
        (shift,) = r.term_shifts().values()
        torch.testing.assert_close(shift, r.guidance_shift, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("grad_mode", ["exact", "recompute"])
def test_each_record_names_its_round(grad_mode):
    model = sharpen_guidance(tiny_model("robust", t_star=3, scale=50.0, grad_mode=grad_mode))
    model.purifier.rounds = 2
    records, x = [], inputs().requires_grad_(True)
    with model.purifier.observe(records.append):
        model.purify(x, torch.Generator().manual_seed(2)).sum().backward()
    assert [r.round for r in records] == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("rounds", [0, 1.5])
def test_the_rounds_must_be_an_integer_of_at_least_one(rounds):
    from zoo.models.purifier import Purifier

    model = tiny_model("none", t_star=2)
    message = f"rounds must be an integer >= 1, got {rounds!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Purifier(model.purifier.eps_net, model.purifier.diffusion, rounds=rounds)


def test_gdmp_draws_its_guidance_noise_on_guided_steps_only():
    """Per round: the diffusion noise, then each noisy step's noise and its guidance noise; the last
    step (no variance, no guidance) draws nothing, so the generator is advanced by exactly 1 + 2 * 3
    draws for a chain of four steps."""
    model = tiny_model("gdmp", t_star=4, scale=50.0, distance="mse")
    x = inputs()
    generator = torch.Generator().manual_seed(9)
    with torch.no_grad():
        model.purify(x, generator)
    expected = torch.Generator().manual_seed(9)
    for _ in range(1 + 2 * 3):
        torch.randn(tuple(x.shape), generator=expected, dtype=x.dtype)
    assert torch.equal(generator.get_state(), expected.get_state())


def test_the_label_network_given_names_the_guidance_label():
    class Seven(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((len(x),), 7), 10).to(x.dtype)

    model = tiny_model("robust", t_star=3, scale=50.0)
    model.purifier.label_net = Seven()
    records = observed(model, inputs())
    assert all(r.labels.tolist() == [7, 7] for r in records)


def test_recompute_refuses_a_differentiable_observer_saying_which_modes_serve_it():
    model = tiny_model("robust", t_star=3, grad_mode="recompute")
    message = ("grad_mode 'recompute' runs the reverse chain without a graph, so its intermediate states cannot "
               "carry gradients: observe them in grad mode 'exact' or 'checkpoint'")
    with model.purifier.observe(lambda r: None, differentiable=True):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            model.purify(inputs().requires_grad_(True), torch.Generator().manual_seed(0))


class Counting(torch.nn.Module):
    """The noise predictor, counting its calls and recording the shape of the times it is given."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls, self.time_shapes = net, 0, []

    def forward(self, x, t):
        self.calls += 1
        self.time_shapes.append(tuple(t.shape))
        return self.net(x, t)


@pytest.mark.parametrize("grad_mode, runs", [("exact", 1), ("checkpoint", 2)])
def test_checkpointing_runs_the_noise_predictor_again_in_the_backward_pass(grad_mode, runs):
    model = tiny_model("none", t_star=3, grad_mode=grad_mode)
    model.purifier.eps_net = counting = Counting(model.purifier.eps_net)
    x = inputs(3).requires_grad_(True)
    model.purify(x, torch.Generator().manual_seed(0)).sum().backward()
    assert counting.calls == runs * 3
    assert set(counting.time_shapes) == {(3,)}  # one time per example
