"""--estimate knows the new attack options: StAdv's model calls and each attacker gradient's
network evaluations are the ones counted on real runs (bpda and blind: no backward through the
chain), and the CLI prints estimates for them without running anything."""
from __future__ import annotations

import pytest
import torch

from zoo.attacks import StAdv, catalogue
from zoo.attacks.gradients import attacker_model
from zoo.running import estimate as est
from zoo.running.settings import Settings

from helpers import tiny_model
from test_estimate import AlwaysRight, attach_counters, predicted

pytestmark = pytest.mark.usefixtures("one_thread")


def test_stadv_calls_match_a_real_run():
    model = AlwaysRight()
    x, y = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.zeros(3, dtype=torch.long)
    StAdv(model, bound=0.05, steps=4, eot=3)(x, y)
    budget = Settings(model="m", threat="StAdv", eps=0.05, attacks=("stadv",), n_examples=3, batch_size=3, seed=0,
                      draws=1, pgd_steps=4, pgd_eot=3)
    calls = catalogue.attack_calls("stadv", budget)
    assert model.counted() == (3 * calls.forward, 3 * calls.gradient) == (0, 3 * 4 * 3)


def count_gradient_call(model, attacker) -> dict[str, int]:
    """Images each network sees in one gradient call of ``attacker`` on two images, the classifier's
    backward included."""
    counts = attach_counters(model)
    counts["classifier_backward"] = 0

    def backward(module, grad_output):
        counts["classifier_backward"] += grad_output[0].shape[0]

    model.classifier.register_full_backward_pre_hook(backward)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    torch.autograd.grad(attacker(x).sum(), x)
    return counts


@pytest.mark.parametrize("mode, surrogate", [("exact", None), ("bpda", None), ("blind", None),
                                             ("surrogate", {"steps": 2}), ("surrogate", {"pattern": "none"})])
def test_attacker_gradient_evaluations_match_hooks(mode, surrogate):
    model = tiny_model("robust", t_star=5)
    attacker = model if mode == "exact" else attacker_model(model, mode, **(surrogate or {}))
    counts = count_gradient_call(model, attacker)
    want = est.attacker_evals(model.config, "exact", mode, surrogate)[1].scaled(2)
    assert counts == {**predicted(want), "classifier_backward": want.classifier_backward}
    if mode in ("bpda", "blind"):
        assert counts["unet_backward"] == 0  # no backward through the chain
    if mode == "blind":
        assert counts["unet_forward"] == 0


def test_estimate_entry_counts_the_attacker_gradient():
    model = tiny_model("robust", t_star=6)
    entry = model.config
    probe = est.Probe(forward=0.5, gradient=2.0, note="fixed")

    def pgd(attacker_grad, surrogate=None):
        s = Settings(model="tiny", threat="Linf", eps=0.1, attacks=("pgd-eot",), n_examples=4, batch_size=2, seed=0,
                     draws=3, pgd_steps=5, pgd_eot=2, attacker_grad=attacker_grad, surrogate=surrogate)
        return est.estimate_entry(entry, s, probe)[0]

    exact, bpda, blind, short = pgd("exact"), pgd("bpda"), pgd("blind"), pgd("surrogate", {"steps": 2})
    assert exact.calls == bpda.calls == blind.calls  # the same model calls, differently differentiated
    assert exact.evals.unet_backward == 10 * 6 and bpda.evals.unet_backward == blind.evals.unet_backward == 0
    assert short.evals.unet_backward == 10 * 2
    redraws = est.forward_evals(entry).scaled(6)  # 2 x K forward-only calls on the real defense, every mode
    assert blind.evals == redraws + est.NetworkEvals(classifier_forward=10, classifier_backward=10)


def test_cli_estimate_takes_the_new_options(monkeypatch, capsys):
    import zoo.cli.benchmark as cli

    monkeypatch.setattr(cli, "benchmark", lambda *a, **k: pytest.fail("--estimate must not run the benchmark"))
    assert cli.main(["--threat", "Linf", "--model", "diffpure-tiny-mnist", "--attack", "pgd-eot", "--loss", "dlr",
                     "--attacker-grad", "bpda", "--device", "cpu", "--n-examples", "2", "--estimate"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("diffpure-tiny-mnist"))
    assert row.split()[1] == "pgd-eot-dlr" and row.split()[6] == "0"  # UNet backward: none under bpda
    assert cli.main(["--threat", "StAdv", "--model", "standard-tiny-mnist", "--device", "cpu", "--estimate"]) == 0
    assert "stadv" in capsys.readouterr().out
