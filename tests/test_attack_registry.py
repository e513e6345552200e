"""Attacks describe themselves: one registered file is all the catalogue, the command line, the
estimate and the tables need (tests/fixtures/attacks/uniform_noise.py plays a contributor's file)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import zoo
from zoo.attacks import catalogue, spec as spec_module
from zoo.cli import benchmark as cli

FIXTURE = Path(__file__).parent / "fixtures" / "attacks" / "uniform_noise.py"


@pytest.fixture
def new_attack():
    """The fixture file imported as a module (as the catalogue imports every file of zoo/attacks);
    unregistered afterwards so other tests see the shipped catalogue."""
    loaded = importlib.util.spec_from_file_location("uniform_noise_fixture", FIXTURE)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    yield module
    spec_module.unregister(module.NAME)


def test_a_registered_file_reaches_the_catalogue_the_cli_and_the_estimate(new_attack, capsys):
    assert new_attack.NAME in catalogue.names() and new_attack.NAME not in catalogue.default_attacks("Linf")
    assert new_attack.NAME in cli.attack_choices()
    args = cli.parse_args(["--threat", "Linf", "--attack", "pgd-eot", new_attack.NAME])
    assert cli.attacks_of(args) == ("pgd-eot", new_attack.NAME)
    assert catalogue.attack_calls(new_attack.NAME, zoo.registry.schema.Budget(pgd_steps=7)).forward == 7
    assert cli.main(["--threat", "Linf", "--model", "standard-tiny-mnist", "--attack", new_attack.NAME,
                     "--estimate", "--n-examples", "2", "--pgd-steps", "6", "--draws", "3"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if new_attack.NAME in line)
    assert int(row.split()[3]) == 6 + 2 * 3  # its 6 forwards + K = 3 clean and adversarial re-draws


def test_a_registered_attack_runs_and_the_tables_explain_it(new_attack, tmp_path):
    written = zoo.run_benchmark(["standard-tiny-mnist"], "Linf", (new_attack.NAME,), out=tmp_path, n_examples=2,
                                progress=False, budget={"pgd_steps": 2, "draws": 1})
    text = written["results_Linf.md"].read_text()
    assert f"| {new_attack.NAME} |" in text or new_attack.NAME in text.split("| defense")[1].splitlines()[0]
    assert "uniform noise (a test fixture)" in text and "fools one forward" in text


def test_unregistered_attacks_are_refused_and_a_conflicting_registration_too(new_attack):
    spec_module.unregister(new_attack.NAME)
    with pytest.raises(ValueError, match="unknown attack"):
        catalogue.spec(new_attack.NAME)
    spec_module.register(new_attack.SPEC)
    clash = spec_module.AttackSpec(name=new_attack.NAME, family="other", build=new_attack.build, order=1,
                                   calls=new_attack.SPEC.calls)
    with pytest.raises(ValueError, match="registered twice"):
        spec_module.register(clash)
