"""scripts/benchmark.py end to end on the demo: clear errors, honest numbers, resumable runs."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("benchmark_cli", ROOT / "scripts" / "benchmark.py")
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)


def run(tmp_path, *extra):
    return cli.main(["--threat", "Linf", "--out", str(tmp_path), *extra])


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "unknown zoo entry 'no-such-model'"),
    (["--model", "standard-tiny-mnist", "--eps", "-0.1"], "eps must be >= 0"),
    (["--model", "standard-tiny-mnist", "--n-examples", "0"], "n_examples and batch_size must be >= 1"),
])
def test_bad_arguments_exit_nonzero_with_a_clear_message(tmp_path, capsys, args, message):
    assert run(tmp_path, *args) == 2
    assert message in capsys.readouterr().err


def test_bad_shard_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run(tmp_path, "--shard", "3/2")
    assert info.value.code != 0
    assert "0 <= i < n" in capsys.readouterr().err


def test_missing_cifar_data_offline_is_a_clear_error(tmp_path, capsys, offline):
    from zoo.data import DataUnavailable, load_test_set

    with pytest.raises(DataUnavailable, match="cifar-10-batches-py"):
        load_test_set("cifar10", 10, tmp_path / "nodata")


def pgd_rows(tmp_path, eps):
    assert run(tmp_path, "--model", "standard-tiny-mnist", "--attack", "pgd-eot", "--n-examples", "10",
               "--eps", str(eps)) == 0
    return pd.read_csv(tmp_path / "per_example_standard-tiny-mnist_Linf.csv")


def test_pgd_eot_breaks_the_undefended_classifier_and_eps_zero_changes_nothing(tmp_path):
    strong = pgd_rows(tmp_path / "strong", 0.4)
    assert strong["adv_vote_correct"].mean() <= 0.1
    none = pgd_rows(tmp_path / "none", 0.0)
    assert (none["adv_vote_correct"] == none["clean_vote_correct"]).all()


def test_existing_results_need_resume_and_same_arguments(tmp_path, capsys):
    args = ["--model", "standard-tiny-mnist", "--attack", "pgd-eot", "--n-examples", "4"]
    assert run(tmp_path, *args) == 0
    assert run(tmp_path, *args) == 2
    assert "--resume" in capsys.readouterr().err
    assert run(tmp_path, *args, "--resume") == 0
    assert run(tmp_path, *args[:-1], "6", "--resume") == 2
    assert "other settings" in capsys.readouterr().err
