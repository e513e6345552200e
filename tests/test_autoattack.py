"""AutoAttack through pyautoattack: configured as published (standard, rand) unless a budget says
otherwise, breaks an undefended linear classifier only with enough eps, stays in the threat model,
routes AutoAttack's warnings into ``warnings``, and runs on a defended classifier."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks import ATTACKS, Attack
from zoo.attacks.autoattack import BUDGET_KEYS, AutoAttackEval

from helpers import tiny_model

CLASSES = 4
SMALL = {"n_iter": 10, "n_restarts": 1, "n_target_classes": CLASSES - 1, "n_queries": 20}


class Linear(nn.Module):
    """An undefended linear classifier with fixed +-1 weights over 1x8x8 pixels: logits W (x - 0.5).
    ``sigma > 0`` adds Gaussian input noise from the global RNG (a randomised stand-in)."""

    def __init__(self, sigma: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randint(0, 2, (CLASSES, 64), generator=g).float() * 2 - 1)
        self.sigma = sigma

    def forward(self, x):
        if self.sigma:
            x = x + self.sigma * torch.randn(x.shape)
        return (x - 0.5).flatten(1) @ self.w.T


@pytest.fixture
def data():
    """Class c is 0.5 + 0.1 * w_c plus a little noise: logit_c ~ 6.4, the others ~ 0.1 <w_c, w_k>."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(12) % CLASSES
    x = 0.5 + 0.1 * Linear().w[y].view(-1, 1, 8, 8) + 0.02 * torch.randn(12, 1, 8, 8, generator=g)
    return x.clamp(0, 1), y


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def size(d, norm):
    return d.flatten(1).abs().amax(1) if norm == "Linf" else d.flatten(1).norm(dim=1)


def test_registered_and_standard_is_the_published_configuration():
    assert ATTACKS["autoattack"] is AutoAttackEval and issubclass(AutoAttackEval, Attack)
    aa = AutoAttackEval(Linear(), norm="Linf", eps=8 / 255).adversary
    assert (aa.version, aa.norm, aa.epsilon, aa.seed, aa.verbose) == ("standard", "Linf", 8 / 255, 0, False)
    assert aa.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert (aa.apgd.n_iter, aa.apgd.n_restarts, aa.apgd.eot_iter) == (100, 1, 1)
    assert (aa.apgd_targeted.n_iter, aa.apgd_targeted.n_target_classes, aa.fab.n_target_classes) == (100, 9, 9)
    assert aa.square.n_queries == 5000


def test_rand_version_sets_eot_unless_the_budget_overrides_it():
    aa = AutoAttackEval(Linear(), norm="L2", eps=0.5, version="rand", seed=3).adversary
    assert (aa.version, aa.seed) == ("rand", 3)
    assert aa.attacks_to_run == ["apgd-ce", "apgd-dlr"]
    assert (aa.apgd.eot_iter, aa.apgd.n_restarts, aa.apgd.n_iter) == (20, 1, 100)
    reduced = AutoAttackEval(Linear(), norm="L2", eps=0.5, version="rand", budget={"eot_iter": 2}).adversary
    assert reduced.attacks_to_run == ["apgd-ce", "apgd-dlr"] and reduced.apgd.eot_iter == 2


def test_budget_reaches_every_sub_attack():
    budget = {"n_iter": 10, "n_restarts": 2, "eot_iter": 3, "n_target_classes": 2, "n_queries": 7,
              "attacks_to_run": ["square", "apgd-ce"]}
    assert set(budget) == set(BUDGET_KEYS)
    aa = AutoAttackEval(Linear(), norm="Linf", eps=0.1, budget=budget).adversary
    assert aa.attacks_to_run == ["square", "apgd-ce"]
    for apgd in (aa.apgd, aa.apgd_targeted):
        # the step-size checkpoints APGD derives from n_iter follow it (0.22, 0.06, 0.03 of n_iter, >= 1)
        assert (apgd.n_iter, apgd.n_iter_2, apgd.n_iter_min, apgd.size_decr) == (10, 2, 1, 1)
        assert (apgd.n_restarts, apgd.eot_iter) == (2, 3)
    assert (aa.fab.n_iter, aa.fab.n_restarts, aa.square.n_restarts) == (10, 2, 2)
    assert (aa.apgd_targeted.n_target_classes, aa.fab.n_target_classes, aa.square.n_queries) == (2, 2, 7)


@pytest.mark.parametrize("kwargs, word", [
    ({"version": "plus"}, "plus"), ({"version": "Standard"}, "Standard"),
    ({"budget": {"n_iters": 5}}, "n_iters"), ({"budget": {"n_iter": 5, "steps": 1}}, "steps"),
    ({"budget": {"attacks_to_run": ["apgd-ce", "pgd"]}}, "pgd"),
    ({"budget": {"attacks_to_run": "apgd-ce"}}, "attacks_to_run"),
    ({"budget": {"attacks_to_run": ["apgd-ce", "apgd-ce"]}}, "repeats"),
    ({"budget": {"n_iter": 0}}, "n_iter"), ({"budget": {"eot_iter": 1.5}}, "eot_iter"),
    ({"batch_size": 0}, "batch_size"), ({"norm": "L1"}, "L1"), ({"eps": -0.1}, "eps"),
])
def test_bad_arguments_raise_naming_the_culprit(kwargs, word):
    with pytest.raises(ValueError, match=word):
        AutoAttackEval(Linear(), **{"norm": "Linf", "eps": 0.1, **kwargs})


@pytest.mark.parametrize("norm, eps", [("Linf", 0.3), ("L2", 3.0)])
def test_breaks_undefended_linear_model_with_large_eps(norm, eps, data):
    x, y = data
    model = Linear()
    assert accuracy(model, x, y) == 1.0
    attack = AutoAttackEval(model, norm=norm, eps=eps, budget={"attacks_to_run": ["apgd-ce"], **SMALL})
    assert accuracy(model, attack(x, y), y) == 0.0
    assert attack.warnings == []  # a deterministic, static model with logits: nothing to flag


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_tiny_eps_changes_no_prediction(norm, data):
    """All four standard sub-attacks run on every example (none is fooled) and return x itself."""
    x, y = data
    model = Linear()
    x_adv = AutoAttackEval(model, norm=norm, eps=1e-6, budget=SMALL, batch_size=5)(x, y)
    assert torch.equal(model(x_adv).argmax(1), model(x).argmax(1))
    assert torch.equal(x_adv, x)


@pytest.mark.parametrize("norm, eps", [("Linf", 0.05), ("Linf", 0.12), ("L2", 0.5), ("L2", 1.0)])
def test_outputs_stay_in_ball_and_pixel_range(norm, eps, data):
    x, _ = data
    x[0], x[1] = 0.0, 1.0  # saturated images: the [0, 1] clamp is active
    model = Linear()
    y = model(x).argmax(1)
    attack = AutoAttackEval(model, norm=norm, eps=eps, budget={"attacks_to_run": ["apgd-ce", "apgd-t"], **SMALL})
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    moved = size(x_adv - x, norm)
    assert float(moved.max()) <= eps * (1 + 1e-6) + 1e-7
    assert float(moved.max()) >= 0.5 * eps  # it did move: the bound is not met by standing still
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_out_of_ball_result_is_refused(data):
    x, y = data
    attack = AutoAttackEval(Linear(), norm="Linf", eps=0.01, budget={"attacks_to_run": ["apgd-ce"]})
    attack.evaluate = lambda x, y, **kw: ((x + 0.02).clamp(0, 1), y)
    with pytest.raises(RuntimeError, match="outside"):
        attack(x, y)


def test_randomness_warning_is_captured_not_printed_and_rng_is_left_alone(data, capfd):
    x, y = data
    model = Linear(sigma=0.3)
    budget = {"attacks_to_run": ["apgd-ce"], **SMALL}
    torch.manual_seed(0)
    state = torch.get_rng_state()
    standard = AutoAttackEval(model, norm="Linf", eps=0.05, budget=budget)
    first = standard(x, y)
    assert torch.equal(torch.get_rng_state(), state)  # AutoAttack reseeds the global RNG: inside a fork only
    assert any("randomized defense" in w for w in standard.warnings)
    assert torch.equal(standard(x, y), first)  # same seed, same global state: same result
    assert len(standard.warnings) == 2 * len(set(standard.warnings))  # kept across calls
    rand = AutoAttackEval(model, norm="Linf", eps=0.05, version="rand", budget={**budget, "eot_iter": 2})
    rand(x, y)
    assert not any("randomized" in w for w in rand.warnings)  # the rand version skips that check
    out, err = capfd.readouterr()
    assert "randomized" not in out + err


def test_runs_on_tiny_defended_classifier_and_flags_it():
    model = tiny_model("robust", dtype=torch.float32, t_star=3)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(x).argmax(1)  # labels it gets right, so the sub-attacks do run
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    budget = {"n_iter": 2, "n_restarts": 1, "eot_iter": 1, "n_target_classes": 1, "n_queries": 5}
    attack = AutoAttackEval(model, norm="Linf", eps=0.05, budget=budget, seed=1)
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == torch.float32 and x_adv.device == x.device
    assert not x_adv.requires_grad
    assert float(size(x_adv - x, "Linf").max()) <= 0.05 + 1e-7 and 0 <= float(x_adv.min()) <= float(x_adv.max()) <= 1
    assert len(calls) > 8  # more than AutoAttack's checks and clean pass (5 + 1 + 1 + 1 forwards)
    assert any("randomized defense" in w for w in attack.warnings)
    assert any("dynamic defense" in w for w in attack.warnings)  # the guidance takes input gradients
    # pyautoattack's dynamic-defense counters are process-wide; the wrapper resets them per call
    linear = AutoAttackEval(Linear(), norm="Linf", eps=0.05, budget={"attacks_to_run": ["apgd-ce"], "n_iter": 2})
    linear(torch.full((2, 1, 8, 8), 0.5), torch.tensor([0, 1]))
    assert not any("dynamic" in w for w in linear.warnings)
