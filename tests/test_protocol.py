"""The evaluation protocol: built once (command line or Python), every budget field settable,
validated, recorded whole, and the same object for the run and its estimate."""
from __future__ import annotations

import inspect
import json

import pytest

import zoo
from zoo.cli import benchmark as cli
from zoo.registry.resolve import get_entry
from zoo.registry.schema import Budget
from zoo.running.protocol import Protocol, protocol_of, settings_for


def test_every_budget_field_is_a_command_line_flag():
    args = cli.parse_args(["--threat", "Linf", "--pgd-steps", "7", "--pgd-eot", "3", "--pgd-step-fraction", "0.2",
                           "--draws", "3", "--n-examples", "4", "--batch-size", "2",
                           "--autoattack", "n_iter=4,n_restarts=1,attacks_to_run=apgd-ce+square"])
    protocol = cli.protocol_of(args)
    s = protocol.settings_for(get_entry("agdm-tiny-mnist"))
    assert (s.pgd_steps, s.pgd_eot, s.pgd_step_fraction, s.draws, s.n_examples, s.batch_size) == (7, 3, 0.2, 3, 4, 2)
    assert s.autoattack == {"n_iter": 4, "n_restarts": 1, "attacks_to_run": ["apgd-ce", "square"]}
    assert s.reduced  # 7 x 3 is below the published 200 x 20


def test_the_chain_and_the_attack_have_distinct_step_flags():
    args = cli.parse_args(["--threat", "Linf", "--reverse-steps", "4", "--pgd-steps", "9"])
    protocol = cli.protocol_of(args)
    assert protocol.overrides == {"steps": 4} and protocol.budget == {"pgd_steps": 9}
    assert cli.parse_args(["--threat", "Linf", "--steps", "4"]).reverse_steps == 4  # the old spelling still works


def test_untouched_budget_is_the_entrys_declaration():
    entry = get_entry("agdm-tiny-mnist")
    s = Protocol("Linf").settings_for(entry)
    b = entry.budget
    assert (s.pgd_steps, s.pgd_eot, s.draws, s.n_examples, s.reduced) == (b.pgd_steps, b.pgd_eot, b.draws,
                                                                         b.n_examples, b.reduced)


@pytest.mark.parametrize("fields, message", [
    ({"budget": {"pgd_stepz": 1}}, "unknown budget field"),
    ({"budget": {"pgd_steps": 0}}, "pgd_steps must be >= 1"),
    ({"budget": {"autoattack": {"n_itr": 2}}}, "unknown AutoAttack budget key"),
    ({"headline": "best"}, "headline must be one of"),
    ({"judge": "anytime", "headline": "mean"}, "needs a right/wrong verdict"),
    ({"attacks": ("pgd-eot", "stadv")}, "do not run under the Linf threat"),
    ({"overrides": {"t_starr": 5}}, "unknown purification override"),
    ({"attacker_grad": "exactly"}, "attacker"),
])
def test_bad_protocols_are_refused_with_a_clear_error(fields, message):
    with pytest.raises(ValueError, match=message):
        Protocol("Linf", **fields)


def test_keyword_form_and_a_whole_budget_object():
    p = protocol_of("Linf", ("pgd-eot",), n_examples=3, protocol="anytime", headline="worst")
    assert (p.judge, p.budget["n_examples"], p.attacks) == ("anytime", 3, ("pgd-eot",))
    whole = protocol_of("Linf", budget=Budget(pgd_steps=3, pgd_eot=1, n_examples=2))
    assert whole.settings_for(get_entry("standard-tiny-mnist")).pgd_steps == 3
    with pytest.raises(TypeError, match="unknown protocol field"):
        protocol_of("Linf", pgd_stepz=3)


def test_run_benchmark_keeps_ten_parameters():
    params = [p for p in inspect.signature(zoo.run_benchmark).parameters.values() if p.kind != p.VAR_KEYWORD]
    assert len(params) <= 10


def test_a_budget_applies_to_entries_and_is_recorded_whole(tmp_path):
    """budget= on registry entries (refused before the protocol object) runs that budget and the
    provenance records the protocol; a resume with another budget is refused."""
    out = tmp_path / "run"
    zoo.run_benchmark(["standard-tiny-mnist"], "Linf", ("pgd-eot",), out=out, n_examples=2, progress=False,
                      budget={"pgd_steps": 2, "pgd_eot": 1, "draws": 3})
    provenance = json.loads((out / "provenance_Linf.json").read_text())
    assert provenance["evaluation_protocol"]["budget"] == {"pgd_steps": 2, "pgd_eot": 1, "draws": 3, "n_examples": 2}
    assert provenance["settings"][0]["pgd_steps"] == 2 and provenance["settings"][0]["draws"] == 3
    assert provenance["attacks"]["pgd-eot"]["title"] == "pgd-eot (Lee & Kim loss)"
    with pytest.raises(ValueError, match="pgd_steps"):
        zoo.run_benchmark(["standard-tiny-mnist"], "Linf", ("pgd-eot",), out=out, n_examples=2, progress=False,
                          resume=True, budget={"pgd_steps": 3, "pgd_eot": 1, "draws": 3})


def test_the_estimate_uses_the_runs_protocol(capsys):
    """--estimate reads the same protocol as the run: the budget flags change its counted calls."""
    argv = ["--threat", "Linf", "--model", "standard-tiny-mnist", "--attack", "pgd-eot", "--estimate",
            "--n-examples", "2", "--draws", "3"]
    assert cli.main([*argv, "--pgd-steps", "4", "--pgd-eot", "2"]) == 0
    few = capsys.readouterr().out
    assert cli.main([*argv, "--pgd-steps", "8", "--pgd-eot", "2"]) == 0
    many = capsys.readouterr().out

    def grad_calls(text: str) -> int:
        row = next(line for line in text.splitlines() if line.startswith("standard-tiny-mnist"))
        return int(row.split()[4])
    assert (grad_calls(few), grad_calls(many)) == (8, 16)


@pytest.mark.parametrize("attacks, shown, hidden", [
    (("pgd-eot",), ["PGD+EOT 5 steps x 2 EOT"], ["AutoAttack"]),
    (("diffhammer",), ["PGD+EOT 5 steps x 2 EOT"], ["AutoAttack"]),
    (("autoattack-rand",), ["AutoAttack: eot_iter=2"], ["PGD+EOT"]),
    (("pgd-eot", "autoattack-standard-label"), ["PGD+EOT 5 steps x 2 EOT", "AutoAttack: eot_iter=2"], []),
])
def test_the_budget_line_states_the_settings_of_the_attacks_run(attacks, shown, hidden):
    """A run of PGD+EOT alone does not list AutoAttack's settings as if it had run (and the reverse)."""
    line = settings_for(get_entry("agdm-tiny-mnist"), "Linf", attacks).describe_budget()
    assert all(part in line for part in shown) and not any(part in line for part in hidden)
    assert line.startswith("n=10, K=5 draws, ") and line.endswith("protocol: final iterate")
