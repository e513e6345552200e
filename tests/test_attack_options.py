"""agdm-zoo benchmark's attack options end to end on the demo: --attacker-grad (and --surrogate),
--loss and --threat StAdv change what is run, and every record, table and model card says so;
the journal refuses to resume a run with another choice; gradient attacks take their gradients
from the attacker, AutoAttack's included."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

from zoo.attacks import StAdv
from zoo.attacks.autoattack import AutoAttackEval
from zoo.attacks.catalogue import ATTACK_ORDER, build_attack, check_threat, default_attacks
from zoo.attacks.gradients import ABLATION_LABEL, gradient_label
from zoo.running.protocol import settings_for
from zoo.registry.resolve import get_entry
from zoo.registry.schema import parse_registry

from helpers import benchmark_cli, tiny_entry_dict

cli = benchmark_cli()  # as scripts/benchmark.py and agdm-zoo benchmark run it
pytestmark = pytest.mark.usefixtures("one_thread")


def run(out, *extra):
    return cli.main(["--out", str(out), "--n-examples", "2", *extra])


def outputs(out, model, threat="Linf"):
    frame = pd.read_csv(out / f"per_example_{model}_{threat}.csv")
    info = json.loads((out / "model_info" / f"{model}_{threat}.json").read_text())
    return frame, (out / f"results_{threat}.md").read_text(), info


def test_attacker_grad_and_loss_change_records_and_titles(tmp_path):
    args = ["--threat", "Linf", "--model", "diffpure-tiny-mnist", "--attack", "pgd-eot"]
    assert run(tmp_path / "exact", *args) == 0
    assert run(tmp_path / "blind", *args, "--attacker-grad", "blind", "--loss", "margin") == 0
    exact, exact_md, exact_info = outputs(tmp_path / "exact", "diffpure-tiny-mnist")
    blind, blind_md, blind_info = outputs(tmp_path / "blind", "diffpure-tiny-mnist")
    label = f"blind ({ABLATION_LABEL})"
    assert set(exact["attacker_grad"]) == {"exact"} and set(blind["attacker_grad"]) == {label}
    assert set(exact["attack"]) == {"pgd-eot"} and set(blind["attack"]) == {"pgd-eot-margin"}
    title = blind_md.splitlines()[0]
    assert title == f"## Linf, eps = 0.3, attacker gradient {label}"
    assert exact_md.splitlines()[0] == "## Linf, eps = 0.3"
    assert "pgd-eot-margin = pgd-eot (margin)" in blind_md and "| pgd-eot-margin |" in blind_md
    assert ABLATION_LABEL not in exact_md and ABLATION_LABEL not in exact_info["footnote"]
    assert label in blind_info["footnote"] and "pgd-eot (margin)" in blind_info["footnote"]
    provenance = json.loads((tmp_path / "blind" / "provenance_Linf.json").read_text())
    assert provenance["attacker_gradient"] == {"diffpure-tiny-mnist": label}
    assert provenance["settings"][0]["attacker_grad"] == "blind"


def test_journal_refuses_a_resume_with_another_attacker_grad_or_loss(tmp_path, capsys):
    args = ["--threat", "Linf", "--model", "diffpure-tiny-mnist", "--attack", "pgd-eot", "--attacker-grad", "blind"]
    assert run(tmp_path, *args) == 0
    capsys.readouterr()
    for other, differing in ((["--attacker-grad", "exact"], "attacker_grad"),
                             (["--attacker-grad", "bpda"], "attacker_grad"),
                             ([*args[6:], "--loss", "dlr"], "attacks")):
        assert run(tmp_path, *args[:6], *other, "--resume") == 2
        err = capsys.readouterr().err
        assert "other settings" in err and differing in err
    assert run(tmp_path, *args, "--resume") == 0


def test_surrogate_settings_are_parsed_checked_and_recorded(tmp_path, capsys):
    assert cli.surrogate_settings("steps=2,pattern=none, scale=0.5") == {"steps": 2, "pattern": "none", "scale": 0.5}
    with pytest.raises(SystemExit):
        cli.parse_args(["--threat", "Linf", "--surrogate", "stepz=2"])
    assert "unknown key 'stepz'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--threat", "Linf", "--surrogate", "steps"])
    assert "KEY=VALUE" in capsys.readouterr().err
    base = ["--threat", "Linf", "--model", "agdm-tiny-mnist", "--attack", "pgd-eot"]
    assert run(tmp_path, *base, "--attacker-grad", "surrogate") == 2
    assert "needs its chain's settings" in capsys.readouterr().err
    assert run(tmp_path, *base, "--surrogate", "steps=2") == 2
    assert "only the surrogate" in capsys.readouterr().err
    entry = get_entry("agdm-tiny-mnist")
    s = settings_for(entry, "Linf", ("pgd-eot",), attacker_grad="surrogate", surrogate={"steps": 2, "pattern": "none"})
    assert s.spec()["surrogate"] == {"steps": 2, "pattern": "none"}
    assert s.gradient_label == f"surrogate[pattern=none, steps=2] ({ABLATION_LABEL})" in s.describe_budget()
    exact = settings_for(entry, "Linf", ("pgd-eot",))
    assert "attacker_grad" not in exact.spec() and "surrogate" not in exact.spec()  # old journals still resume
    with pytest.raises(ValueError, match="plain classifier"):
        settings_for(get_entry("standard-tiny-mnist"), "Linf", ("pgd-eot",), attacker_grad="surrogate",
                     surrogate={"steps": 2})


def test_stadv_through_the_cli_writes_a_stadv_table(tmp_path, capsys):
    out = tmp_path / "stadv"
    assert cli.main(["--threat", "StAdv", "--model", "standard-tiny-mnist", "--n-examples", "4", "--out", str(out)]) == 0
    frame, markdown, info = outputs(out, "standard-tiny-mnist", "StAdv")
    assert set(frame["threat"]) == {"StAdv"} and set(frame["attack"]) == {"stadv"} and len(frame) == 4
    assert set(frame["eps"]) == {0.05}  # the entry's declared bound, the paper's Table 5
    assert markdown.startswith("## StAdv, eps = 0.05") and "| stadv |" in markdown
    assert "StAdv 5 steps x 2 EOT" in markdown and "AutoAttack" not in markdown
    assert info["eps"] == "0.05"
    summary = pd.read_csv(out / "summary_StAdv.csv")
    robust = summary.set_index("attack").loc["stadv", "robust_acc_vote"]
    clean = summary.set_index("attack").loc["stadv", "clean_acc_vote"]
    assert robust < clean  # StAdv breaks the undefended classifier at the bound
    capsys.readouterr()
    assert cli.main(["--threat", "StAdv", "--attack", "pgd-eot", "--out", str(tmp_path / "x")]) == 2
    assert "do not run under the StAdv threat" in capsys.readouterr().err
    assert cli.main(["--threat", "Linf", "--attack", "stadv", "--out", str(tmp_path / "x")]) == 2
    assert "--threat StAdv" in capsys.readouterr().err


def test_threats_take_only_their_attacks_and_the_schema_stays_strict():
    assert check_threat("StAdv", ("stadv",)) == ("stadv",)
    with pytest.raises(ValueError, match="do not run under the StAdv threat"):
        check_threat("StAdv", ("pgd-eot",))
    with pytest.raises(ValueError, match="do not run under the Linf threat"):
        check_threat("Linf", ("pgd-eot", "stadv"))
    assert default_attacks("StAdv") == ("stadv",) and "stadv" in ATTACK_ORDER
    for bad in ({"StAdv": 0.0}, {"stadv": 0.05}):
        doc = tiny_entry_dict()
        doc["tiny"]["threats"] = bad
        with pytest.raises(ValueError, match="threats: need"):
            parse_registry(doc)
    assert get_entry("agdm-wrn28-cifar10").threats["StAdv"] == 0.05


class Logged(nn.Module):
    """A fixed linear classifier that logs the images of its gradient and its gradient-free calls."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.grad_images = self.plain_images = 0

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            self.grad_images += x.shape[0]
        else:
            self.plain_images += x.shape[0]
        return self.net(x)


@pytest.mark.parametrize("name, threat", [("pgd-eot", "Linf"), ("pgd-eot-dlr", "L2"), ("autoattack-rand", "Linf"),
                                          ("autoattack-standard", "Linf"), ("stadv", "StAdv")])
def test_every_gradient_attack_takes_its_gradients_from_the_attacker(name, threat):
    defense, attacker = Logged(), Logged()
    budget = get_entry("agdm-tiny-mnist").budget
    attack = build_attack(name, defense, norm=threat, eps=0.05, seed=0, budget=budget, attacker=attacker)
    assert attack.attacker is attacker
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = defense.net(x).argmax(1)  # right on the clean inputs, so every attack attacks them
    attack(x, y)
    assert attacker.grad_images > 0 and attacker.plain_images == 0
    assert defense.grad_images == 0  # the defense is only judged
    if isinstance(attack, AutoAttackEval):
        assert defense.plain_images > 0  # its gradient-free decisions stay on the real defense
    assert isinstance(attack, StAdv) == (name == "stadv")


def test_gradient_labels_warn_for_every_mode_but_exact():
    assert gradient_label("exact") == "exact"
    assert gradient_label("bpda") == f"bpda ({ABLATION_LABEL})"
    assert gradient_label("surrogate", {"steps": 2}) == f"surrogate[steps=2] ({ABLATION_LABEL})"
