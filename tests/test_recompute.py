"""grad_mode="recompute": the reverse chain as one autograd node that stores only each step's input
and noise, yet gives exactly the input gradient of plain autograd (``exact``), guidance double
backward and the path through f_phi(x') included."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.attacks import PGDEOT
from zoo.attacks.autoattack import AutoAttackEval
from zoo.models.guidance import Guidance
from zoo.models.purifier import GRAD_MODES, RecomputedChain

from helpers import sharpen_guidance, tiny_model


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def logit_sum(model, x, seed=0, cls=3):
    """A scalar of the logits that touches one class only, so the gradient is not symmetric."""
    return model(x, generator=seeded(seed))[:, cls].sum()


def input_grad(model, x, seed=0):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(logit_sum(model, x, seed), x)[0]


def pair(pattern, **kw):
    """The same tiny model (same weights) in ``exact`` and ``recompute`` mode."""
    exact = sharpen_guidance(tiny_model(pattern, seed=3, **kw))
    recompute = sharpen_guidance(tiny_model(pattern, seed=3, grad_mode="recompute", **kw))
    return exact, recompute


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 1, 8, 8, generator=seeded(1), dtype=torch.float64) * 0.8 + 0.1


def test_recompute_is_a_grad_mode_and_zoo_load_accepts_it():
    assert "recompute" in GRAD_MODES
    model = zoo.load("agdm-tiny-mnist", device="cpu", pretrained=False, grad_mode="recompute")
    assert model.purifier.grad_mode == "recompute"
    with pytest.raises(ValueError, match="grad_mode"):
        tiny_model(grad_mode="nonsense")


@pytest.mark.parametrize("pattern", ["none", "plain", "robust"])
@pytest.mark.parametrize("chain", [dict(t_star=5, scale=5.0), dict(t_star=40, steps=4, scale=5.0)],
                         ids=["full", "respaced"])
def test_gradients_and_outputs_equal_exact_mode(pattern, chain, x):
    exact, recompute = pair(pattern, **chain)
    torch.testing.assert_close(input_grad(recompute, x, seed=7), input_grad(exact, x, seed=7),
                               rtol=1e-9, atol=1e-12)
    xg = x.clone().requires_grad_(True)
    torch.testing.assert_close(recompute(xg, generator=seeded(8)), exact(x, generator=seeded(8)),
                               rtol=1e-12, atol=1e-12)


def test_backward_runs_through_the_recomputed_node_and_replays_every_step(x, monkeypatch):
    """The graph holds one RecomputedChain node (not one node per step), and its backward
    rebuilds each of the t* steps exactly once."""
    _, recompute = pair("robust", t_star=6)
    xg = x.clone().requires_grad_(True)
    out = recompute.purify(xg, generator=seeded(0))
    names = set()
    stack = [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.add(type(node).__name__)
            stack.extend(f for f, _ in node.next_functions)
    assert any("RecomputedChain" in n for n in names)
    assert not any("Convolution" in n for n in names)  # no UNet step in the graph
    calls = []
    eps_net = recompute.purifier.eps_net
    original = eps_net.forward
    monkeypatch.setattr(eps_net, "forward", lambda x_t, t: calls.append(torch.is_grad_enabled()) or original(x_t, t))
    out = recompute.purify(x.clone().requires_grad_(True), generator=seeded(0))
    assert calls == [False] * 6  # forward: no graph
    out.sum().backward()
    assert calls == [False] * 6 + [True] * 6  # backward: one replay per step, with a graph


def test_forward_keeps_no_activation_graph(x):
    """Only the chain's inputs are stored, one x_t per step and nothing else (no graph, no noise:
    the noise is an additive constant that the step's Jacobian does not depend on)."""
    _, recompute = pair("robust", t_star=7)
    captured = {}
    original = RecomputedChain.forward

    def spy(ctx, *args):
        out = original(ctx, *args)
        captured["ctx"] = ctx
        return out

    RecomputedChain.forward = staticmethod(spy)
    try:
        recompute.purify(x.clone().requires_grad_(True), generator=seeded(0))
    finally:
        RecomputedChain.forward = staticmethod(original)
    ctx = captured["ctx"]
    assert ctx.states.shape == (7, *x.shape) and not ctx.states.requires_grad and ctx.states.grad_fn is None
    stored = [v for v in vars(ctx).values() if isinstance(v, torch.Tensor)]
    assert all(v is ctx.states or v is ctx.ref_logits or v is ctx.labels for v in stored)  # nothing else


def test_no_grad_calls_work_and_agree_with_exact(x):
    exact, recompute = pair("robust", t_star=5, scale=5.0)
    with torch.no_grad():
        out = recompute(x.clone().requires_grad_(True), generator=seeded(5))
    assert not out.requires_grad
    torch.testing.assert_close(out, exact(x, generator=seeded(5)))


def test_global_rng_noise_matches_exact(x):
    exact, recompute = pair("robust", t_star=5, scale=5.0)
    torch.manual_seed(9)
    a = recompute(x.clone().requires_grad_(True))
    torch.manual_seed(9)
    torch.testing.assert_close(a, exact(x))


def test_detached_guidance_gradient_is_caught(x, monkeypatch):
    """A broken recompute that drops the double backward (the guidance gradient's value kept but
    its derivative lost in the replay) no longer matches exact mode: the comparison above can fail."""
    exact, recompute = pair("robust", t_star=5, scale=5.0)
    reference = input_grad(exact, x, seed=7)
    original = Guidance.gradient

    def detached(self, x_t, *args, create_graph):
        return original(self, x_t, *args, create_graph=False) + 0.0 * x_t  # right value, zero derivative

    monkeypatch.setattr(Guidance, "gradient", detached)
    broken = input_grad(recompute, x, seed=7)
    assert not torch.allclose(broken, reference, rtol=1e-4, atol=0)


def test_dropped_reference_logit_gradient_is_caught(x, monkeypatch):
    """A broken recompute that forgets the gradient w.r.t. f_phi(x') (the robust term's path to
    the input outside x_t) no longer matches exact mode either."""
    exact, recompute = pair("robust", t_star=5, scale=5.0)
    reference = input_grad(exact, x, seed=7)
    original = RecomputedChain.backward

    def without_ref(ctx, grad_out):
        grads = original(ctx, grad_out)
        return (grads[0], torch.zeros_like(grads[1]), *grads[2:])

    monkeypatch.setattr(RecomputedChain, "backward", staticmethod(without_ref))
    broken = input_grad(recompute, x, seed=7)
    assert not torch.allclose(broken, reference, rtol=1e-4, atol=0)


def test_pgd_eot_gives_the_same_adversarial_examples(x):
    """PGD+EOT (batched EOT) on recompute mode takes the very steps it takes on exact mode."""
    exact, recompute = pair("robust", t_star=4, scale=5.0)
    y = torch.tensor([1, 2])
    results = []
    for model in (exact, recompute):
        torch.manual_seed(0)
        results.append(PGDEOT(model, norm="Linf", eps=0.05, steps=2, eot=3, step_size=0.02)(x, y))
    torch.testing.assert_close(results[1], results[0])
    assert float((results[1] - x).abs().max()) <= 0.05 + 1e-12


def test_autoattack_runs_on_recompute_mode():
    model = tiny_model("robust", dtype=torch.float32, t_star=3, grad_mode="recompute")
    x = torch.rand(2, 1, 8, 8, generator=seeded(6))
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(x).argmax(1)
    budget = {"attacks_to_run": ["apgd-ce"], "n_iter": 2, "n_restarts": 1, "eot_iter": 2}
    x_adv = AutoAttackEval(model, norm="Linf", eps=0.05, version="rand", budget=budget, seed=1)(x, y)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert float((x_adv - x).abs().max()) <= 0.05 + 1e-6
