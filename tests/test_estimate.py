"""zoo.estimate: the counts it predicts are the counts that happen (hooks on real runs), and
``scripts/benchmark.py --estimate`` prints them without running the benchmark."""
from __future__ import annotations


import pytest
import torch
from torch import nn

from zoo.attacks import autoattack_catalogue as aa_catalogue, calls as calls_module
from zoo.running import estimate as est
from zoo.running import costs
from zoo.attacks import PGDEOT
from zoo.attacks.autoattack import AutoAttackEval
from zoo.running.settings import Settings
from zoo.registry.schema import parse_registry

from helpers import tiny_entry_dict, tiny_model



class AlwaysRight(nn.Module):
    """A classifier that always predicts class 0 by a wide margin, whatever the attack does, so no
    example is ever broken and AutoAttack's upper bound is its exact cost. It logs every call's
    batch size and whether it was a gradient call."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[int, bool]] = []

    def forward(self, x):
        self.calls.append((x.shape[0], torch.is_grad_enabled() and x.requires_grad))
        logits = torch.zeros(x.shape[0], 10, dtype=x.dtype)
        logits[:, 0] = 5.0
        return logits + 1e-3 * x.flatten(1).sum(1, keepdim=True) * torch.linspace(0, 1, 10, dtype=x.dtype)

    def counted(self) -> tuple[int, int]:
        """(images in forward-only calls, images in gradient calls)."""
        return (sum(n for n, grad in self.calls if not grad), sum(n for n, grad in self.calls if grad))


@pytest.mark.parametrize("version, budget", [
    ("rand", {"n_iter": 2, "eot_iter": 2}),
    ("standard", {"n_iter": 2, "n_target_classes": 2, "n_queries": 3}),
    ("standard", {"n_iter": 3, "n_target_classes": 1, "n_queries": 2, "n_restarts": 2,
                  "attacks_to_run": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"]}),
], ids=["rand", "standard", "all-sub-attacks"])
def test_autoattack_calls_match_a_real_run(version, budget):
    n = 3
    model = AlwaysRight()
    x, y = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.zeros(n, dtype=torch.long)
    AutoAttackEval(model, norm="Linf", eps=0.05, version=version, budget=budget, batch_size=n)(x, y)
    calls = aa_catalogue.autoattack_calls(version, budget)
    forward_images = n * calls.forward + n * aa_catalogue.check_calls(version)  # checks: once, on the one batch
    gradient_images = n * (calls.gradient + calls.jacobian)  # a Jacobian starts with one gradient-mode forward
    assert model.counted() == (forward_images, gradient_images)


def test_pgd_eot_calls_match_a_real_run():
    model = AlwaysRight()
    x, y = torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    PGDEOT(model, norm="Linf", eps=0.1, steps=3, eot=4)(x, y)
    assert model.counted() == (0, 2 * calls_module.gradient_steps(3, 4).gradient)


def attach_counters(model) -> dict[str, int]:
    """Images seen by each network's forward, and by the UNet's backward."""
    counts = {"unet_forward": 0, "unet_backward": 0, "guidance_forward": 0, "classifier_forward": 0}

    def add(key):
        return lambda module, args: counts.__setitem__(key, counts[key] + args[0].shape[0])

    purifier = model.purifier
    purifier.eps_net.register_forward_pre_hook(add("unet_forward"))
    purifier.eps_net.register_full_backward_pre_hook(add("unet_backward"))
    if purifier.guidance is not None:
        purifier.guidance.net.register_forward_pre_hook(add("guidance_forward"))
    model.classifier.register_forward_pre_hook(add("classifier_forward"))
    return counts


def predicted(evals: est.NetworkEvals) -> dict[str, int]:
    return {"unet_forward": evals.unet_forward, "unet_backward": evals.unet_backward,
            "guidance_forward": evals.guidance_forward, "classifier_forward": evals.classifier_forward}


@pytest.mark.parametrize("pattern", ["none", "robust"])
@pytest.mark.parametrize("grad_mode", ["exact", "checkpoint", "recompute"])
def test_network_evaluations_per_call_match_hooks(pattern, grad_mode):
    model = tiny_model(pattern, t_star=5, grad_mode=grad_mode)
    counts = attach_counters(model)
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        model(x)
    assert counts == predicted(est.forward_evals(model.config).scaled(2))
    counts.update(dict.fromkeys(counts, 0))
    xg = x.clone().requires_grad_(True)
    torch.autograd.grad(model(xg).sum(), xg)
    assert counts == predicted(est.gradient_evals(model.config, grad_mode).scaled(2))


def test_respaced_chain_counts_its_steps_not_t_star():
    model = tiny_model("robust", t_star=20, steps=4)
    counts = attach_counters(model)
    with torch.no_grad():
        model(torch.rand(1, 1, 8, 8, dtype=torch.float64))
    assert counts["unet_forward"] == est.forward_evals(model.config).unet_forward == 4


def settings(attacks=("pgd-eot", "autoattack-rand"), n=4, draws=3):
    return Settings(model="tiny", threat="Linf", eps=0.1, attacks=attacks, n_examples=n, batch_size=2, seed=0,
                    draws=draws, pgd_steps=5, pgd_eot=2, autoattack={"n_iter": 2, "eot_iter": 2})


def test_estimate_adds_the_draws_and_scales_time_by_the_probe():
    entry = parse_registry(tiny_entry_dict("robust", t_star=6))["tiny"]
    probe = est.Probe(forward=0.5, gradient=2.0, note="fixed")
    pgd, rand = est.estimate_entry(entry, settings(), probe)
    assert pgd.calls == calls_module.ModelCalls(forward=2 * 3, gradient=5 * 2)
    assert pgd.seconds == pytest.approx(4 * (6 * 0.5 + 10 * 2.0))
    assert pgd.evals.unet_forward == 6 * 6 + 10 * 6 and not pgd.upper_bound
    assert rand.upper_bound
    checks = 2 * aa_catalogue.check_calls("rand") * 2 * 0.5  # two batches of two, each checked
    calls = aa_catalogue.autoattack_calls("rand", {"n_iter": 2, "eot_iter": 2})
    assert rand.seconds == pytest.approx(4 * ((calls.forward + 6) * 0.5 + calls.gradient * 2.0) + checks)


def test_probe_extrapolates_short_chains_linearly(monkeypatch):
    """The probe times 2- and 3-step chains and extends the per-step cost to the entry's S steps."""
    entry = parse_registry(tiny_entry_dict("robust", t_star=30, steps=12))["tiny"]
    timed = []

    def fake(e, device, grad_mode, levers=(), batch=1):
        steps = e.purification.num_steps
        timed.append(steps)
        return 1.0 + 0.5 * steps, 2.0 + 1.5 * steps  # seconds: fixed part + per-step part

    monkeypatch.setattr(est, "_probe_once", fake)
    probe = est.probe(entry, torch.device("cpu"))
    assert timed == [2, 3]
    assert (probe.forward, probe.gradient) == pytest.approx((1.0 + 0.5 * 12, 2.0 + 1.5 * 12))
    assert "12 steps" in probe.note


def test_probe_times_the_runs_batch_and_reports_per_image(monkeypatch):
    """The probe model sees a batch of the run's size (per-image cost falls with the batch) and
    returns seconds per image; ``estimate`` probes at min(batch size, n examples, PROBE_MAX_BATCH)."""
    entry = parse_registry(tiny_entry_dict("robust", t_star=3))["tiny"]
    shapes = []
    monkeypatch.setattr(est, "_timed", lambda fn: (fn(), 2.0)[1])  # every timed call "takes" 2 s
    real_rand = torch.rand
    monkeypatch.setattr(est.torch, "rand", lambda *size, **kw: shapes.append(size) or real_rand(*size, **kw))
    assert est._probe_once(entry, torch.device("cpu"), "exact", batch=4) == (0.5, 0.5)
    assert shapes == [(4, 1, 8, 8)]
    asked = []
    monkeypatch.setattr(est, "probe", lambda e, d, g, levers, batch: asked.append(batch) or est.Probe(1, 2, "x"))
    est.estimate(["diffpure-tiny-mnist"], "Linf", ("pgd-eot",), device="cpu", n_examples=3, batch_size=8)
    est.estimate(["diffpure-tiny-mnist"], "Linf", ("pgd-eot",), device="cpu", n_examples=30, batch_size=6)
    est.estimate(["diffpure-tiny-mnist"], "Linf", ("pgd-eot",), device="cpu", n_examples=30, batch_size=64)
    assert asked == [3, 6, est.PROBE_MAX_BATCH]


def test_real_probe_times_a_forward_and_a_gradient():
    entry = parse_registry(tiny_entry_dict("robust", t_star=4))["tiny"]
    probe = est.probe(entry, torch.device("cpu"))
    assert probe.forward > 0 and probe.gradient > 0  # their ratio depends on the machine's load


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (210, "3.5 min"), (7560, "2.1 h"), (4 * 86400, "4.0 days")])
def test_human_units(seconds, text):
    assert est.human(seconds) == text


def test_cli_estimate_prints_and_runs_nothing(monkeypatch, capsys):
    import zoo.cli.benchmark as cli

    monkeypatch.setattr(cli, "benchmark", lambda *a, **k: pytest.fail("--estimate must not run the benchmark"))
    assert cli.main(["--threat", "Linf", "--model", "diffpure-tiny-mnist", "--attack", "pgd-eot",
                     "--device", "cpu", "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "diffpure-tiny-mnist" in out and "pgd-eot" in out and "expected wall time" in out


def test_anytime_judging_is_counted_and_matches_a_run_that_breaks_nothing(tmp_path):
    """Under the anytime protocol the estimate assumes a break curve (and says so); with a curve of
    nothing broken (no early stop) it is the exact count of a run that breaks nothing, the final
    protocol's: the pool's verdicts come from the EOT samples, at no extra call."""
    from zoo.running.journal import Journal
    from zoo.running.loop import run_attacks

    s = settings(attacks=("pgd-eot",), n=2, draws=3)
    s = Settings(**{**s.__dict__, "protocol": "anytime", "stop_on": "vote"})
    entry = parse_registry(tiny_entry_dict("none", t_star=6))["tiny"]
    probe = est.Probe(forward=1.0, gradient=1.0, note="fixed")
    (assumed,) = est.estimate_entry(entry, s, probe)
    (pgd,) = est.estimate_entry(entry, s, probe, curve=costs.NOTHING_BROKEN)
    assert assumed.assumed and assumed.calls.gradient < pgd.calls.gradient == s.pgd_steps * s.pgd_eot
    assert pgd.calls.forward == 2 * 3
    assert "(assumed curve)" in est.format_estimates([assumed], {"tiny": probe}, torch.device("cpu"))

    model = AlwaysRight()
    attack = PGDEOT(model, norm="Linf", eps=0.1, steps=s.pgd_steps, eot=s.pgd_eot)
    run_attacks(model, torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), {"pgd-eot": attack},
                Journal(tmp_path / "j.jsonl", {"x": 1}, resume=False), seed=0, draws=3, batch_size=2,
                progress=False, record_fields={"model": "m"}, protocol="anytime", stop_on="vote")
    assert model.counted() == (2 * pgd.calls.forward, 2 * pgd.calls.gradient)


def test_cli_estimate_applies_the_protocol_overrides(monkeypatch, capsys):
    """``--steps`` changes the chain the estimate counts (and leaves a plain classifier alone)."""
    import zoo.cli.benchmark as cli

    def unet_forwards(*extra):
        assert cli.main(["--threat", "Linf", "--model", "diffpure-tiny-mnist", "standard-tiny-mnist",
                         "--attack", "pgd-eot", "--device", "cpu", "--estimate", *extra]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()]
        return {row[0]: int(row[5]) for row in rows if len(row) > 5 and row[0].endswith("tiny-mnist") and row[1] == "pgd-eot"}

    default, short = unet_forwards(), unet_forwards("--steps", "2")
    calls = 10 + calls_module.gradient_steps(5, 2).gradient  # the entry's budget: K=5 draws twice, 5 steps x 2 EOT
    assert short["diffpure-tiny-mnist"] == 2 * calls and default["diffpure-tiny-mnist"] > short["diffpure-tiny-mnist"]
    assert short["standard-tiny-mnist"] == default["standard-tiny-mnist"] == 0
