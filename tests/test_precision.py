"""Attack precision: bf16 attacker gradients in every grad mode (recompute's replay included), close to
fp32's in direction, and every verdict still computed in fp32; recorded in records and provenance."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.models.precision import PrecisionAttacker, attack_precision, check_precision, gradient_module
from zoo.registry.schema import Budget

SHORT = {"t_star": 20, "steps": 3}  # three reverse steps: guided steps and the unguided last one


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 1, 28, 28, generator=g), torch.tensor([3, 7, 1])


def input_gradient(model, x, y, precision):
    """The cross-entropy's input gradient under one fixed purification noise, at ``precision``."""
    xg = x.clone().requires_grad_(True)
    logits = PrecisionAttacker(model, precision)(xg, torch.Generator().manual_seed(1))
    assert logits.dtype == torch.float32
    return torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xg)[0]


def relative(a, b) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def gradients(batch):
    found = {}
    for mode in ("exact", "checkpoint", "recompute"):
        model = zoo.load("agdm-tiny-mnist", device="cpu", grad_mode=mode, **SHORT)
        for precision in ("fp32", "bf16"):
            found[mode, precision] = input_gradient(model, *batch, precision)
    return found


@pytest.mark.parametrize("mode", ["checkpoint", "recompute"])
def test_every_grad_mode_backpropagates_in_the_forwards_precision(gradients, mode):
    """checkpoint's and recompute's backward passes recompute the steps: at bf16 they must replay
    them in bf16 too (recompute's backward runs outside the autocast region), giving exact's bf16
    gradient, which differs from the fp32 one by bf16 rounding."""
    bf16, exact_bf16 = gradients[mode, "bf16"], gradients["exact", "bf16"]
    assert relative(bf16, exact_bf16) < 1e-5
    assert relative(bf16, gradients[mode, "fp32"]) > 1e-3  # bf16 really was used


def test_bf16_gradient_points_where_the_fp32_one_does(gradients):
    bf16, fp32 = gradients["exact", "bf16"], gradients["exact", "fp32"]
    assert float(F.cosine_similarity(bf16.flatten(), fp32.flatten(), dim=0)) > 0.99
    assert float((bf16.sign() == fp32.sign()).float().mean()) > 0.9  # the Linf step's direction


class Spy(nn.Module):
    """A linear digit classifier that notes, per call, whether it ran with a graph and under autocast."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(784, 10)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")))
        return self.fc(x.flatten(1))


def test_attack_gradients_in_bf16_and_every_verdict_in_fp32_recorded(tmp_path):
    from zoo.data import mnist_demo

    x, y = mnist_demo("test")
    spy = Spy()
    budget = Budget(n_examples=2, draws=2, pgd_steps=2, pgd_eot=1, batch_size=2)
    zoo.run_benchmark(spy, "Linf", ("pgd-eot",), name="spy", eps=0.1, data=(x[:2], y[:2]), budget=budget,
                      out=tmp_path, progress=False, attack_precision="bf16")
    gradient_calls = [autocast for graph, autocast in spy.calls if graph]
    verdict_calls = [autocast for graph, autocast in spy.calls if not graph]
    assert gradient_calls and all(gradient_calls)
    assert verdict_calls and not any(verdict_calls)
    records = [json.loads(line) for line in (tmp_path / "journal" / "spy_Linf.jsonl").read_text().splitlines()[1:]]
    assert {r["attack_precision"] for r in records} == {"bf16"}
    assert json.loads((tmp_path / "provenance_Linf.json").read_text())["attack_precisions"] == ["bf16"]


def test_fp32_is_the_default_and_leaves_the_attacker_alone():
    model = nn.Linear(2, 2)
    assert gradient_module(model, None, "fp32") is None
    assert isinstance(gradient_module(model, None, "bf16"), PrecisionAttacker)
    assert zoo.running.benchmark.Execution().attack_precision == "fp32"
    with attack_precision("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ValueError, match=r"attack precision must be one of \('fp32', 'bf16'\), got 'fp8'"):
        check_precision("fp8")
