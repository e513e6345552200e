"""Gradient-masking checks (zoo.studies.sanity, ``agdm-zoo sanity``): they flag a classifier
whose gradient is zero (input quantisation) and pass the undefended demo classifier, the
finite-difference check catches a wrong backward, the replay check a replay that is not the
forward, and the reports reach files, the command line and the model card."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

import zoo
from zoo.cli import main as cli
from zoo.data import mnist_demo
from zoo.publishing.card import site_cards
from zoo.studies.sanity import SanityBudget, read_reports, run_sanity, sanity_folder
from zoo.studies.sanity import attack_checks, gradient_checks
from zoo.studies.sanity.bench import Bench

from helpers import sharpen_guidance, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "standard-tiny-mnist"
SMALL = SanityBudget(n_examples=12, draws=1, pgd_steps=5, pgd_eot=1, pgd_step_fraction=0.5, square_queries=150,
                     fd_inputs=2, fd_directions=2, batch_size=12)
"""Deterministic models: one draw decides; 5 PGD steps of eps/2 reach any corner of the ball."""

MASKED_FILE = '''
import torch, zoo

class Quantised(torch.nn.Module):
    """The undefended demo classifier behind input quantisation: its input gradient is zero."""
    def __init__(self):
        super().__init__()
        self.net = zoo.load("standard-tiny-mnist", device="cpu").classifier
    def forward(self, x):
        return self.net(torch.round(x * 4) / 4)

masked = Quantised
'''


class Quantised(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.round(x * 4) / 4)  # round has a zero gradient everywhere


class ScaledBackward(torch.autograd.Function):
    """The identity, whose backward returns 1.5 times the true gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return 1.5 * grad


class WrongBackward(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(ScaledBackward.apply(x))


@pytest.fixture(scope="module")
def standard():
    return zoo.load(NAME, device="cpu")


@pytest.fixture(scope="module")
def digits():
    x, y = mnist_demo("test")
    return x[:SMALL.n_examples], y[:SMALL.n_examples]


@pytest.fixture(scope="module")
def masked_bench(standard, digits):
    return Bench(Quantised(standard.classifier), *digits, threat="Linf", eps=0.3, budget=SMALL)


def test_square_and_transfer_beat_the_gradient_attack_on_a_masked_model(masked_bench, standard):
    gradient = masked_bench.gradient()
    assert gradient.accuracy() == pytest.approx(masked_bench.clean_accuracy)  # a zero gradient never moves
    square = attack_checks.square(masked_bench)
    transfer = attack_checks.transfer(masked_bench, standard.classifier, NAME)
    for check in (square, transfer):
        assert check["status"] == "flag", check["why"]
        assert check["figures"]["attack"]["robust_vote"] < gradient.accuracy()
        assert check["figures"]["attack_minus_gradient"]["interval"][1] < 0


class ArgmaxLabel(nn.Module):
    """A toy guided defense whose decision is its label network's argmax on x': no gradient
    reaches the input through the decision, only through the label path."""

    def __init__(self, net: nn.Module, through_argmax: bool = True):
        super().__init__()
        self.label_network = net
        self.through_argmax = through_argmax

    def forward(self, x):
        logits = self.label_network(x)
        if not self.through_argmax:  # the honest twin: the decision is differentiable
            return logits
        return 10.0 * torch.nn.functional.one_hot(logits.argmax(1), 10).float() + 0.0 * logits  # zero gradient


def test_the_label_aware_loss_beats_a_plain_loss_held_up_by_the_label(standard, digits):
    bench = Bench(ArgmaxLabel(standard.classifier), *digits, threat="Linf", eps=0.3, budget=SMALL)
    check = attack_checks.label_aware(bench)
    assert check["status"] == "flag", check["why"]
    assert check["figures"]["gradient_attack"]["robust_vote"] == pytest.approx(bench.clean_accuracy, abs=1e-3)
    assert check["figures"]["attack"]["robust_vote"] <= 0.1
    honest = attack_checks.label_aware(Bench(ArgmaxLabel(standard.classifier, through_argmax=False), *digits,
                                             threat="Linf", eps=0.3, budget=SMALL))
    assert honest["status"] == "pass"  # with a gradient through the decision the plain loss is as strong


def test_the_eps_sweep_flags_a_masked_model(masked_bench):
    check = attack_checks.eps_sweep(masked_bench)
    assert check["status"] == "flag" and check["figures"]["eps"] == [0.15, 0.3, 0.6, 1.0]
    assert check["figures"]["outcomes"][-1]["robust_vote_interval"][0] > attack_checks.NEAR_ZERO


def test_more_iterations_flags_an_attack_that_has_not_converged(standard, digits):
    """Five steps of eps/20 cannot leave a quarter of the ball; ten steps break most of what five left
    robust: the check says the budget's number overstates robustness. SMALL's steps reach the corners,
    so doubling them changes nothing beyond the interval."""
    short = dataclasses.replace(SMALL, pgd_step_fraction=0.05)
    check = attack_checks.more_iterations(Bench(standard.classifier, *digits, threat="Linf", eps=0.3, budget=short))
    assert check["status"] == "flag" and "not converged at 5 iterations" in check["why"], check["why"]
    assert check["figures"]["base_minus_doubled"]["interval"][0] > 0
    converged = attack_checks.more_iterations(Bench(standard.classifier, *digits, threat="Linf", eps=0.3, budget=SMALL))
    assert converged["status"] == "pass" and "no change beyond the interval" in converged["why"]


def test_the_undefended_classifier_passes_every_check_that_applies(tmp_path, capsys):
    out = tmp_path / "sanity"
    args = [NAME, "--n-examples", "12", "--draws", "1", "--pgd-steps", "5", "--pgd-eot", "1", "--step-fraction", "0.5",
            "--square-queries", "50", "--batch-size", "12", "--device", "cpu", "--out", str(out)]
    assert cli(["sanity", *args]) == 0
    assert "All 4 checks pass" in capsys.readouterr().out
    (report,) = read_reports(out)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == dict.fromkeys(["eps-sweep", "square", "more-iterations", "finite-differences"], "pass")
    assert {s["name"] for s in report["skipped"]} == {"transfer", "label-aware", "recompute-replay"}
    assert report["reduced"] and "REDUCED" in (out / "sanity_Linf.md").read_text()
    assert json.loads((out / "sanity_Linf.json").read_text())["checks"] == report["checks"]
    sweep = next(c for c in report["checks"] if c["name"] == "eps-sweep")
    assert sweep["figures"]["outcomes"][-1]["robust_vote"] == 0.0


def test_the_command_flags_an_own_module_and_refuses_bad_input(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(MASKED_FILE)
    out = tmp_path / "out"
    code = cli(["sanity", "--model", f"{path}:masked", "--dataset", "mnist", "--eps", "0.3", "--n-examples", "12",
                "--draws", "1", "--pgd-steps", "2", "--pgd-eot", "1", "--square-queries", "20", "--fd-inputs", "1",
                "--fd-directions", "1", "--device", "cpu", "--out", str(out)])
    assert code == 1
    (report,) = read_reports(out)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert report["model"] == "masked" and report["own_defense"]
    assert statuses["transfer"] == "flag" and statuses["eps-sweep"] == "flag"
    assert statuses["finite-differences"] == "pass"  # zero, and honestly so: the attack checks catch it
    assert "**FLAG**" in (out / "sanity_Linf.md").read_text()
    capsys.readouterr()
    assert cli(["sanity", "--model", f"{path}:masked", "--n-examples", "4"]) == 2
    assert "eps" in capsys.readouterr().err
    assert cli(["sanity"]) == 2 and "name one defense" in capsys.readouterr().err


def test_finite_differences_catch_a_wrong_backward(standard, digits):
    wrong = Bench(WrongBackward(standard.classifier), *digits, threat="Linf", eps=0.3, budget=SMALL)
    right = Bench(standard, *digits, threat="Linf", eps=0.3, budget=SMALL)
    bad, good = gradient_checks.finite_differences(wrong), gradient_checks.finite_differences(right)
    assert bad["status"] == "flag" and bad["figures"]["modes"][0]["max_relative_error"] > 0.3
    assert good["status"] == "pass" and good["figures"]["modes"][0]["max_relative_error"] < 1e-6
    assert bad["figures"]["dtype"] == good["figures"]["dtype"] == "float64"


@pytest.fixture(scope="module")
def toy():
    model = sharpen_guidance(tiny_model("robust", t_star=3, scale=1000.0))
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return Bench(model, x, torch.tensor([0, 3, 7]), threat="Linf", eps=0.1,
                 budget=SanityBudget(n_examples=3, draws=1, fd_inputs=2, fd_directions=1))


def test_finite_differences_cover_every_grad_mode_of_a_purifier(toy):
    check = gradient_checks.finite_differences(toy)
    assert check["status"] == "pass", check["why"]
    assert [m["mode"] for m in check["figures"]["modes"]] == ["exact", "checkpoint", "recompute"]
    assert toy.model.purifier.grad_mode == "exact"  # checked on a copy


def test_the_replay_check_passes_the_zoo_and_catches_a_replay_that_is_not_the_forward(toy, monkeypatch):
    good = gradient_checks.recompute_replay(toy)
    assert good["status"] == "pass" and good["figures"]["per_step"] == [0.0, 0.0, 0.0]
    purifier = toy.model.purifier
    real = type(purifier)._guidance_gradient

    def drifts_with_a_graph(self, x_t, labels, ref_logits, need_graph):
        return real(self, x_t, labels, ref_logits, need_graph) * (1.01 if need_graph else 1.0)

    monkeypatch.setattr(type(purifier), "_guidance_gradient", drifts_with_a_graph)
    bad = gradient_checks.recompute_replay(toy)
    assert bad["status"] == "flag" and bad["figures"]["max_abs_difference"] > gradient_checks.REPLAY_TOLERANCE
    assert "_step" not in vars(purifier) and purifier.grad_mode == "exact"  # left as it was


def test_the_model_card_includes_the_checks_when_they_exist(tmp_path):
    leaderboard = tmp_path / "leaderboard"
    zoo.run_benchmark([NAME], "Linf", ("pgd-eot",), out=leaderboard, n_examples=4, progress=False)
    card = site_cards(leaderboard)
    assert "Gradient-masking checks" not in card(NAME)
    run_sanity(NAME, budget=SanityBudget(n_examples=4, draws=1, pgd_steps=2, pgd_eot=1, square_queries=10,
                                          fd_inputs=1, fd_directions=1),
               device="cpu", out=sanity_folder(NAME, leaderboard), progress=False)
    text = card(NAME)
    assert "Gradient-masking checks" in text and "eps-sweep" in text and "REDUCED sanity budget" in text
