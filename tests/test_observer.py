"""The declared backend interface and the purifier's step observer: one record per reverse step,
the model's own chain, per-term guidance shifts, and intermediate states that carry exact input
gradients (a DiffAttack-style loss on x_t) in grad modes exact and checkpoint; recompute refuses."""
from __future__ import annotations

import pytest
import torch

from zoo.models.diffusion import GaussianReverseStep, ReverseProcess, TruncatedDDPM, TruncatedVPSDE, linear_betas

from helpers import sharpen_guidance, tiny_model


def inputs(n=2):
    return torch.rand(n, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 0.9 + 0.05


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_both_backends_implement_the_declared_interface():
    assert isinstance(TruncatedDDPM(linear_betas(), t_star=5), ReverseProcess)
    assert isinstance(TruncatedVPSDE(t_star=5), ReverseProcess)
    assert not isinstance(object(), ReverseProcess)


def test_a_step_class_without_its_variance_says_so():
    with pytest.raises(NotImplementedError, match="step_variance"):
        GaussianReverseStep().noise_variance(0)


@pytest.mark.parametrize("pattern", ["none", "plain", "robust"])
def test_one_record_per_step_chained_into_the_models_own_output(pattern):
    model = sharpen_guidance(tiny_model(pattern, t_star=4, scale=50.0))
    x, records = inputs(), []
    with torch.no_grad(), model.purifier.observe(records.append):
        out = model.purify(x, seeded(3))
    assert [r.step for r in records] == [0, 1, 2, 3] and [r.position for r in records] == [3, 2, 1, 0]
    for a, b in zip(records, records[1:]):
        assert b.x_t is a.x_prev
    torch.testing.assert_close(out, ((records[-1].x_prev + 1) / 2).clamp(0, 1), rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(out, model.purify(x, seeded(3)), rtol=0, atol=0)  # observing changes nothing
    assert not model.purifier._observers  # the observer is gone after the block


def test_records_rebuild_their_step_and_the_terms_sum_to_the_guidance_shift():
    model = sharpen_guidance(tiny_model("robust", t_star=4, scale=50.0))
    records = []
    with torch.no_grad(), model.purifier.observe(records.append):
        model.purify(inputs(), seeded(1))
    guided = [r for r in records if r.guidance_shift is not None]
    assert len(guided) == 3 and records[-1].guidance_shift is None and records[-1].term_shifts() == {}
    for r in guided:
        terms = r.term_shifts()
        assert set(terms) == {"label", "robust"} and all(t.abs().max() > 0 for t in terms.values())
        torch.testing.assert_close(terms["label"] + terms["robust"], r.guidance_shift, rtol=1e-10, atol=1e-12)
        step = r.mean + r.guidance_shift + r.noise_variance ** 0.5 * r.noise
        torch.testing.assert_close(step, r.x_prev, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model.purifier.rebuild_step(r), r.x_prev, rtol=0, atol=0)


def intermediate_loss(model, x, weights, mode, seed=2):
    """A DiffAttack-style loss: a fixed projection of every intermediate state x_t the chain visits."""
    model.purifier.grad_mode = mode
    states = []
    with model.purifier.observe(lambda r: states.append(r.x_t), differentiable=True):
        model.purify(x, seeded(seed))
    return sum((s * w).sum() for s, w in zip(states[1:], weights))


@pytest.mark.parametrize("mode", ["exact", "checkpoint"])
def test_intermediate_states_carry_the_exact_input_gradient(mode):
    model = sharpen_guidance(tiny_model("robust", t_star=4, scale=50.0))
    x = inputs()
    gen = torch.Generator().manual_seed(5)
    weights = [torch.randn(x.shape, generator=gen, dtype=x.dtype) for _ in range(3)]
    z = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(intermediate_loss(model, z, weights, mode), z)[0]
    assert grad.abs().max() > 0
    v = torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1
    h = 1e-6
    with torch.no_grad():
        fd = (intermediate_loss(model, x + h * v, weights, mode) - intermediate_loss(model, x - h * v, weights, mode))
    assert float(fd / (2 * h)) == pytest.approx(float((grad * v).sum()), rel=1e-5)


def test_recompute_refuses_differentiable_observers_but_serves_plain_ones():
    model = tiny_model("robust", t_star=3, grad_mode="recompute")
    z = inputs().requires_grad_(True)
    with pytest.raises(ValueError, match="recompute"):
        with model.purifier.observe(lambda r: None, differentiable=True):
            model.purify(z, seeded(0))
    records = []
    with model.purifier.observe(records.append):
        model.purify(z, seeded(0)).sum().backward()
    assert len(records) == 3 and not records[0].x_t.requires_grad and z.grad is not None
