"""Issue 12's anytime protocol: every PGD+EOT iterate judged by K draws, an example no longer
attacked once broken (its budget saved), never more robust than the final-iterate protocol, and
robust accuracy per iteration recorded and drawn."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.models.noise import draw_normal
from zoo.running.journal import Journal
from zoo.running.loop import run_attacks
from zoo.reporting import curves, metrics


class Threshold(nn.Module):
    """Deterministic 2-class model on one pixel p: class 0 while p < 0.52 (logits [10 (0.52 - p), 0]).
    PGD on label 0 raises p by one step per iteration. Counts the examples of every gradient call."""

    def __init__(self):
        super().__init__()
        self.gradient_rows: list[int] = []
        self.forward_rows = 0

    def forward(self, x):
        if x.requires_grad:
            self.gradient_rows.append(x.shape[0])
        else:
            self.forward_rows += x.shape[0]
        p = x[:, 0, 0, 0]
        return torch.stack([10 * (0.52 - p), torch.zeros_like(p)], dim=1)


# starts 0.45: broken at iteration 1; 0.15: at 4 (0.55); 0.0: never (eps 0.45 keeps it <= 0.45);
# 0.6: wrong before any step (iteration 0)
STARTS = torch.tensor([0.45, 0.15, 0.0, 0.6], dtype=torch.float64).view(-1, 1, 1, 1)
LABELS = torch.zeros(4, dtype=torch.long)


def test_the_final_protocol_spends_the_whole_budget():
    """(The anytime pool's calls: tests/test_pool.py.)"""
    final_model = Threshold()
    final = PGDEOT(final_model, norm="Linf", eps=0.45, steps=10, eot=3, step_size=0.1)(STARTS, LABELS)
    assert final_model.gradient_rows == [4 * 3] * 10
    assert final.flatten().tolist() == pytest.approx([0.9, 0.6, 0.45, 1.0])


class NoisyLinear(nn.Module):
    """A 2-class linear classifier behind input noise from the global RNG (a stand-in purifier)."""

    def __init__(self, sigma=0.25):
        super().__init__()
        self.w = torch.randint(0, 2, (1, 1, 8, 8), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
        self.sigma = sigma

    def forward(self, x):
        z = ((x + self.sigma * torch.randn(x.shape) - 0.5) * self.w).flatten(1).sum(1)
        return torch.stack([z, -z], dim=1)


def evaluate(tmp_path, protocol, stop_on=None, seed=0):
    model = NoisyLinear()
    g = torch.Generator().manual_seed(1)
    s = torch.tensor([1.0, -1.0] * 20).view(-1, 1, 1, 1)
    x = (0.5 + 0.1 * s * model.w + 0.02 * torch.randn(40, 1, 8, 8, generator=g)).clamp(0, 1)
    y = (s.flatten() < 0).long()
    attacks = {"pgd-eot": PGDEOT(model, norm="Linf", eps=0.075, steps=8, eot=2, step_size=0.02)}
    journal = Journal(tmp_path / f"{protocol}.jsonl", {"protocol": protocol}, resume=False)
    run_attacks(model, x, y, attacks, journal, seed=seed, draws=5, batch_size=20, progress=False,
                record_fields={"model": "noisy", "threat": "Linf", "eps": 0.075, "seed": seed},
                protocol=protocol, stop_on=stop_on)
    frame = metrics.per_example_frame(journal.records)
    return frame, metrics.summarize(frame).iloc[0]


def test_anytime_is_never_more_robust_than_final_and_its_curve_ends_at_the_summary(tmp_path):
    final_frame, final = evaluate(tmp_path, "final")
    frame, anytime = evaluate(tmp_path, "anytime", "vote")
    assert "broken_at" not in final_frame and frame["steps"].eq(8).all()
    assert 20 < final["robust_acc_vote"] < 100  # the toy is neither broken nor untouched at the end
    # same seed and budget; five draws per verdict on 40 examples: noise is a few points at most
    assert anytime["robust_acc_vote"] <= final["robust_acc_vote"] + 5
    assert anytime["clean_acc_vote"] == pytest.approx(final["clean_acc_vote"], abs=10)

    curve = curves.robustness_curve(frame, "vote")
    assert curve["iteration"].tolist() == list(range(9))
    assert curve["robust_acc"].is_monotonic_decreasing
    assert curve["robust_acc"].iloc[-1] == anytime["robust_acc_vote"]
    assert curve["robust_acc"].iloc[0] > curve["robust_acc"].iloc[-1]  # the attack breaks examples as it goes
    assert (curve["robust_acc_lo"] <= curve["robust_acc"]).all() and (curve["robust_acc"] <= curve["robust_acc_hi"]).all()
    # an example broken at iteration t is robust before t and not from t on
    broken = frame.dropna(subset=["broken_at"])
    assert not broken["adv_vote_correct"].any()
    assert frame.loc[frame["broken_at"].isna() & frame["clean_vote_correct"], "robust_vote_correct"].all()
    assert curves.robustness_curve(final_frame, "vote").empty


class SeededNoisyLinear(NoisyLinear):
    """NoisyLinear taking its noise from ``generator=`` when given (as zoo models do); records
    the seed of every no-grad call's generator (None: the global RNG). It opts in to per-row
    generators (``accepts_row_generators``), as an own module can."""

    accepts_row_generators = True

    def __init__(self):
        super().__init__()
        self.judged_with: list[int | None] = []

    def forward(self, x, generator=None):
        if not torch.is_grad_enabled():
            rows = getattr(generator, "generators", [generator])  # RowGenerators: one per row
            self.judged_with += list(dict.fromkeys(None if g is None else g.initial_seed() for g in rows))
        noise = draw_normal(x.shape, generator, dtype=x.dtype)
        z = ((x + self.sigma * noise - 0.5) * self.w).flatten(1).sum(1)
        return torch.stack([z, -z], dim=1)


def test_anytime_verdicts_draw_from_generators_of_their_own(tmp_path):
    """Every judged iterate of every example is purified with its own generator (run seed, attack,
    example, iteration), never the global RNG; so the verdicts do not move with the attack's random
    numbers or with the other examples of the pool."""
    def judged(attack_noise_seed):
        model = SeededNoisyLinear()
        x = torch.full((6, 1, 8, 8), 0.5) + 0.1 * model.w
        attack = PGDEOT(model, norm="Linf", eps=0.02, steps=3, eot=2, step_size=0.01)
        journal = Journal(tmp_path / f"{attack_noise_seed}.jsonl", {"p": 1}, resume=False)
        run_attacks(model, x, torch.zeros(6, dtype=torch.long), {"pgd-eot": attack}, journal, seed=attack_noise_seed,
                    draws=3, batch_size=6, progress=False, record_fields={"model": "m"}, protocol="anytime",
                    stop_on="vote")
        return model.judged_with

    seeds = judged(0)
    assert None not in seeds and len(seeds) >= 3
    assert len(set(seeds)) == len(seeds)  # the start, each iterate and the clean re-draws: one stream each
    assert set(seeds).isdisjoint(judged(1))  # a stream of the run seed, not of the position alone


def test_anytime_writes_the_curve_and_refuses_the_mean(tmp_path):
    from zoo.running.protocol import settings_for
    from zoo.reporting.files import write_outputs
    from zoo.registry import load_registry

    frame, _ = evaluate(tmp_path, "anytime", "worst")
    entry = load_registry()["agdm-tiny-mnist"]
    records = Journal(tmp_path / "anytime.jsonl", {"protocol": "anytime"}, resume=True).records
    records = [{**r, "model": entry.name} for r in records]
    paths = write_outputs(tmp_path / "out", records, {"protocol": "anytime"}, {entry.name: entry}, headline="worst")
    assert {"curve_Linf.csv", "curve_Linf.png"} <= set(paths)
    assert (tmp_path / "out" / "curve_Linf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = pd.read_csv(tmp_path / "out" / "curve_Linf.csv")
    assert (curve["headline"] == "worst").all() and curve["iteration"].max() == 8
    assert "Protocol: anytime" in (tmp_path / "out" / "results_Linf.md").read_text()

    assert settings_for(entry, "Linf", ("pgd-eot",), protocol="anytime", headline="worst").stop_on == "worst"
    assert settings_for(entry, "Linf", ("pgd-eot",), headline="worst").stop_on is None
    with pytest.raises(ValueError, match="needs a right/wrong verdict"):
        settings_for(entry, "Linf", ("pgd-eot",), protocol="anytime", headline="mean")
    with pytest.raises(ValueError, match="protocol must be one of"):
        settings_for(entry, "Linf", ("pgd-eot",), protocol="best")


def test_cli_takes_protocol_and_headline_and_refuses_anytime_on_the_mean(tmp_path, capsys):
    from helpers import benchmark_cli

    cli = benchmark_cli()

    args = cli.parse_args(["--threat", "Linf", "--protocol", "anytime", "--headline", "worst"])
    assert (args.judge, args.headline) == ("anytime", "worst")
    assert (cli.parse_args(["--threat", "Linf"]).judge, cli.parse_args(["--threat", "Linf"]).headline) == (
        "final", "vote")
    code = cli.main(["--threat", "Linf", "--model", "standard-tiny-mnist", "--out", str(tmp_path),
                     "--protocol", "anytime", "--headline", "mean"])
    assert code == 2 and "needs a right/wrong verdict" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
