"""agdm-zoo benchmark (= scripts/benchmark.py) end to end on the demo: clear errors, honest numbers, resumable runs."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
import pytest

from helpers import benchmark_cli

ROOT = Path(__file__).resolve().parent.parent
cli = benchmark_cli()  # as scripts/benchmark.py and agdm-zoo benchmark run it


def run(tmp_path, *extra):
    return cli.main(["--threat", "Linf", "--out", str(tmp_path), *extra])


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "unknown zoo entry 'no-such-model'"),
    (["--model", "standard-tiny-mnist", "--eps", "-0.1"], "eps must be >= 0"),
    (["--model", "standard-tiny-mnist", "--n-examples", "0"], "n_examples must be >= 1"),
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


def test_killed_run_resumes_to_identical_tables(tmp_path):
    """SIGKILL the CLI once its first batch is journaled, resume it, and compare with a run that was
    never interrupted: same tables, every example journaled exactly once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--threat", "Linf", "--model",
            "diffpure-tiny-mnist", "--attack", "pgd-eot", "--n-examples", "6", "--batch-size", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    journal = killed / "journal" / "diffpure-tiny-mnist_Linf.jsonl"
    proc = subprocess.Popen([*args, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:  # spec + first batch
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary_Linf.csv").exists(), "the run finished before it could be killed"
    subprocess.run([*args, "--out", str(killed), "--resume"], env=env, check=True, capture_output=True)
    subprocess.run([*args, "--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)
    lines = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert sorted(r["index"] for r in lines) == list(range(6))
    for name in ("per_example_diffpure-tiny-mnist_Linf.csv", "summary_Linf.csv"):
        assert (killed / name).read_text() == (tmp_path / "whole" / name).read_text()


def test_grad_mode_is_recorded_and_a_run_may_resume_in_another_mode(tmp_path):
    """A run that ran out of memory resumes with --grad-mode recompute (and a speed lever): the
    journal's settings accept it, each record and the provenance name the mode and levers."""
    args = ["--model", "agdm-tiny-mnist", "--attack", "pgd-eot", "--n-examples", "2", "--batch-size", "1"]
    assert run(tmp_path, *args, "--grad-mode", "exact") == 0
    journal = tmp_path / "journal" / "agdm-tiny-mnist_Linf.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) == 3  # spec + two one-example batches
    journal.write_text("\n".join(lines[:2]) + "\n")  # as if killed after the first batch
    assert run(tmp_path, *args, "--grad-mode", "recompute", "--levers", "channels_last", "--resume") == 0
    records = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [(r["index"], r["grad_mode"], r["levers"]) for r in records] == [
        (0, "exact", []), (1, "recompute", ["channels_last"])]
    provenance = json.loads((tmp_path / "provenance_Linf.json").read_text())
    assert provenance["grad_modes"] == ["exact", "recompute"]
    assert provenance["speed_levers"] == ["channels_last", "none"]
    assert "speed levers: channels_last, none" in (tmp_path / "results_Linf.md").read_text()


def test_random_subset_is_seeded_distinct_and_recorded(tmp_path):
    from zoo.data import load_test_set, mnist_demo

    x, y, idx = load_test_set("mnist", 8, subset_seed=5)
    again = load_test_set("mnist", 8, subset_seed=5)[2]
    other = load_test_set("mnist", 8, subset_seed=6)[2]
    assert torch.equal(idx, again) and not torch.equal(idx, other)
    assert len(set(idx.tolist())) == 8 and idx.tolist() != list(range(8))
    xs, ys = mnist_demo("test")
    assert torch.equal(x, xs[idx]) and torch.equal(y, ys[idx])
    with pytest.raises(ValueError, match="1000 examples, 1001 asked"):
        load_test_set("mnist", 1001, subset_seed=0)

    assert run(tmp_path, "--model", "standard-tiny-mnist", "--attack", "pgd-eot", "--n-examples", "8",
               "--subset-seed", "5") == 0
    rows = pd.read_csv(tmp_path / "per_example_standard-tiny-mnist_Linf.csv")
    assert rows["test_index"].tolist() == idx.tolist()
    assert rows["label"].tolist() == y.tolist()
    assert "random, seed 5" in (tmp_path / "results_Linf.md").read_text()


def test_torchrun_ranks_write_the_same_tables_as_one_process(tmp_path):
    """Two torchrun ranks (CPU, gloo) each take a shard; rank 0 merges: same tables as one run."""
    import os
    import subprocess
    import sys

    args = [str(ROOT / "scripts" / "benchmark.py"), "--threat", "Linf", "--model", "standard-tiny-mnist",
            "--attack", "pgd-eot", "--n-examples", "6", "--batch-size", "2"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                    "29517", *args, "--out", str(tmp_path / "ranks")], env=env, check=True, capture_output=True)
    assert sorted(p.name for p in (tmp_path / "ranks" / "journal").iterdir()) == [
        "standard-tiny-mnist_Linf_shard0of2.jsonl", "standard-tiny-mnist_Linf_shard1of2.jsonl"]
    assert run(tmp_path / "one", *args[3:]) == 0
    for name in ("per_example_standard-tiny-mnist_Linf.csv", "summary_Linf.csv"):
        assert (tmp_path / "ranks" / name).read_text() == (tmp_path / "one" / name).read_text()
