"""Which protocol made a number: the N-ablation from the recorded draws (N = K is the summary,
N = 1 the one-shot, worst-of-N never rises with N), written with every run's outputs; the
fixed-noise protocol (attack and verdict share the noise) is offered, changes the journal spec only
when set, and is labelled a weaker, reference-only protocol in every output."""
from __future__ import annotations

import json
import random

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from zoo.common.wording import FIXED_NOISE_LABEL
from zoo.registry import get_entry, load_registry
from zoo.registry.schema import Budget
from zoo.reporting.draws_ablation import draws_ablation, first_draws
from zoo.reporting.files import write_outputs
from zoo.reporting.metrics import per_example_frame, summarize
from zoo.running.protocol import Protocol
from zoo.scoring.verdicts import robust_correct

pytestmark = pytest.mark.usefixtures("one_thread")
K = 5


def records(seed=0, n=40, k=K, attacks=("pgd-eot", "autoattack-rand")):
    rng = random.Random(seed)
    out = []
    for attack in attacks:
        for i in range(n):
            label = i % 3
            draw = lambda p: [label if rng.random() < p else rng.randrange(3) for _ in range(k)]  # noqa: E731
            out.append({"model": "agdm-tiny-mnist", "threat": "Linf", "eps": 0.3, "attack": attack, "index": i,
                        "label": label, "clean_preds": draw(0.9), "adv_preds": draw(0.55), "seed": 0,
                        "test_index": i})
    return out


def test_the_ablation_ends_at_the_summary_and_starts_at_one_shot():
    frame = per_example_frame(records())
    table = draws_ablation(frame)
    summary = summarize(frame)
    assert sorted(set(table["draws"])) == list(range(1, K + 1))
    last = table[table["draws"] == K].set_index("attack")
    for _, row in summary.iterrows():  # N = K is the summary, worst case included
        for column in ("robust_acc_vote", "robust_acc_worst", "clean_acc_vote", "robust_acc_worst_lo"):
            assert last.loc[row["attack"], column] == row[column]
    first = table[(table["draws"] == 1) & (table["attack"] == "pgd-eot")].iloc[0]
    one_shot = frame[frame["attack"] == "pgd-eot"]
    expected = robust_correct(one_shot[["clean_pred_0"]], one_shot[["adv_pred_0"]], one_shot["label"], "vote")
    assert first["robust_acc_vote"] == round(100 * expected.mean(), 2)  # N = 1 vote is one-shot
    assert first["robust_acc_vote"] == first["robust_acc_worst"]  # one draw: vote = worst
    for _, rows in table.groupby("attack"):  # worst-of-N only falls as N grows
        assert rows.sort_values("draws")["robust_acc_worst"].is_monotonic_decreasing


def test_first_draws_uses_only_the_first_n():
    frame = per_example_frame(records(k=3))
    changed = frame.copy()
    changed["adv_pred_2"] = (changed["label"] + 1) % 3  # the third draw wrong everywhere
    assert (first_draws(changed, 2)["robust_worst_correct"] == first_draws(frame, 2)["robust_worst_correct"]).all()
    assert not first_draws(changed, 3)["robust_worst_correct"].any()
    with pytest.raises(ValueError, match="1..3"):
        first_draws(frame, 4)


def test_every_run_writes_the_ablation_table_and_plot(tmp_path):
    provenance = {"protocol": "final", "reduced_budget": True, "budget": "tiny"}
    written = write_outputs(tmp_path, records(), provenance, {"agdm-tiny-mnist": get_entry("agdm-tiny-mnist")})
    assert {"draws_ablation_Linf.csv", "draws_ablation_Linf.md", "draws_ablation_agdm-tiny-mnist_Linf.png"} <= set(
        written)
    text = (tmp_path / "draws_ablation_Linf.md").read_text()
    assert "one-shot" in text and "| 5 |" in text and "Protocol: final iterate" in text


class Noisy(nn.Module):
    """A linear model behind input noise drawn from ``generator=`` (a stochastic defense)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(784, 10)

    def forward(self, x, generator=None):
        return self.fc((x + 2.0 * torch.randn(x.shape, generator=generator)).flatten(1))


TINY = Budget(n_examples=6, draws=5, pgd_steps=3, pgd_eot=2, pgd_step_fraction=0.25, batch_size=4)


def test_fixed_noise_shares_the_noise_and_is_labelled_everywhere(tmp_path):
    run = dict(name="mine", eps=0.1, dataset="mnist", budget=TINY, progress=False)
    zoo.run_benchmark(Noisy(), "Linf", ("pgd-eot",), out=tmp_path / "fresh", **run)
    zoo.run_benchmark(Noisy(), "Linf", ("pgd-eot",), out=tmp_path / "fixed", fixed_noise=True, **run)
    fresh = pd.read_csv(tmp_path / "fresh" / "per_example_mine_Linf.csv")
    fixed = pd.read_csv(tmp_path / "fixed" / "per_example_mine_Linf.csv")
    for kind in ("clean", "adv"):  # fixed: the K draws are one noise; fresh: they differ
        assert fixed.filter(like=f"{kind}_pred_").nunique(axis=1).eq(1).all()
        assert fresh.filter(like=f"{kind}_pred_").nunique(axis=1).gt(1).any()
    assert FIXED_NOISE_LABEL not in (tmp_path / "fresh" / "results_Linf.md").read_text()
    for name in ("results_Linf.md", "draws_ablation_Linf.md", "model_info/mine_Linf.json"):
        assert FIXED_NOISE_LABEL in (tmp_path / "fixed" / name).read_text(), name
    provenance = json.loads((tmp_path / "fixed" / "provenance_Linf.json").read_text())
    assert "FIXED NOISE" in provenance["budget"]["mine"] and provenance["evaluation_protocol"]["fixed_noise"]


def test_fixed_noise_enters_the_journal_spec_only_when_set():
    entry = load_registry()["agdm-tiny-mnist"]
    plain = Protocol("Linf").settings_for(entry).spec()
    assert "fixed_noise" not in plain  # journals written before the option still resume
    assert Protocol("Linf", fixed_noise=True).settings_for(entry).spec()["fixed_noise"] is True
    with pytest.raises(ValueError, match="anytime"):
        Protocol("Linf", judge="anytime", fixed_noise=True)


def test_the_site_shows_the_ablation_and_the_fixed_noise_label(tmp_path):
    from zoo.reporting.site import render_site

    provenance = {"protocol": "final", "reduced_budget": True, "budget": "tiny",
                  "evaluation_protocol": {"fixed_noise": True}}
    write_outputs(tmp_path, records(), provenance, {"agdm-tiny-mnist": get_entry("agdm-tiny-mnist")})
    files, _ = render_site(tmp_path)
    page = next(text for name, text in files.items() if name.startswith("runs/"))
    assert "Robust accuracy by the number of draws N" in page and FIXED_NOISE_LABEL in page
    assert any(name.endswith("draws_ablation_agdm-tiny-mnist_Linf.png") for name in files)
