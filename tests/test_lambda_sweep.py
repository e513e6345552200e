"""The lambda sweep's parts: benchmarking Entry objects with swapped weights, the swapped guidance
entry, and the sweep's resume rules (existing nets are not retrained, other settings refused)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from zoo.models import nets
from zoo.registry import sources
from zoo.running.benchmark import benchmark
from zoo.models.nets import SmallCNN
from zoo.registry import get_entry
import zoo.studies.lambda_sweep as sweep

from helpers import CommandLine

cli = CommandLine("lambda-sweep")  # as scripts/lambda_sweep.py and agdm-zoo lambda-sweep run it


def with_classifier(entry, name: str, path: Path):
    component = dataclasses.replace(entry.classifier, source=path.resolve().as_uri(), sha256=sources.sha256_of(path))
    return dataclasses.replace(entry, name=name, classifier=component)


def random_weights(path: Path) -> Path:
    torch.manual_seed(123)
    save_file(SmallCNN().state_dict(), str(path))
    return path


def test_benchmark_evaluates_entry_objects_with_their_own_weights(tmp_path):
    """The same weights through file:// give the registry entry's predictions; other weights do not."""
    base = get_entry("standard-tiny-mnist")
    copy = tmp_path / "copy.safetensors"
    shutil.copy(sources.fetch(base.classifier.source, base.classifier.sha256), copy)
    same = with_classifier(base, "standard-copy", copy)
    other = with_classifier(base, "standard-random", random_weights(tmp_path / "random.safetensors"))
    out = tmp_path / "out"
    written = benchmark([base.name, same, other], "Linf", ("pgd-eot",), out=out, n_examples=6, progress=False)
    summary = pd.read_csv(written["summary_Linf.csv"])
    assert set(summary["model"]) == {base.name, "standard-copy", "standard-random"}

    def predictions(name: str) -> pd.DataFrame:
        frame = pd.read_csv(out / f"per_example_{name}_Linf.csv")
        return frame.filter(regex="^(index|clean_pred|adv_pred)").reset_index(drop=True)

    pd.testing.assert_frame_equal(predictions(base.name), predictions("standard-copy"))
    assert not predictions(base.name).equals(predictions("standard-random"))


def test_swapped_entry_changes_only_the_guidance_weights_and_name(tmp_path):
    base = get_entry("agdm-tiny-mnist")
    path = random_weights(tmp_path / "g.safetensors")
    entry = sweep.swapped_entry(base, 0.5, path)
    assert entry.name == "agdm-tiny-mnist-lam0.5"
    assert entry.guidance.source == path.resolve().as_uri()
    assert entry.guidance.sha256 == sources.sha256_of(path)
    assert (entry.classifier, entry.diffusion, entry.purification, entry.budget) == (
        base.classifier, base.diffusion, base.purification, base.budget)
    built = nets.build(entry.guidance)
    torch.manual_seed(123)
    expected = SmallCNN()
    for a, b in zip(built.state_dict().values(), expected.state_dict().values()):
        assert torch.equal(a, b)


def args_for(tmp_path: Path, *extra: str):
    return cli.sweep_of(cli.parse_args(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), *extra]))


def test_existing_nets_are_not_retrained_and_missing_ones_resume(tmp_path):
    args = args_for(tmp_path, "--lambdas", "0", "6", "--epochs", "2")
    existing = sweep.net_path(args.runs, 0.0)
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"trained before")
    calls = []
    status = sweep.train_missing(args, run=lambda command, check: calls.append(command))
    assert status == {0.0: "existed", 6.0: "trained"}
    assert len(calls) == 1
    command = calls[0]
    assert command[command.index("--lam") + 1] == "6" and command[command.index("--epochs") + 1] == "2"
    assert "--resume" in command
    assert command[command.index("--out") + 1] == str(sweep.net_path(args.runs, 6.0))


def test_a_sweep_folder_with_other_settings_is_refused(tmp_path, capsys):
    sweep.check_settings(tmp_path / "runs", args_for(tmp_path, "--epochs", "3"))
    sweep.check_settings(tmp_path / "runs", args_for(tmp_path, "--epochs", "3", "--lambdas", "0", "2"))
    with pytest.raises(sweep.SweepSettingsError, match="other settings"):
        sweep.check_settings(tmp_path / "runs", args_for(tmp_path, "--epochs", "4"))
    assert cli.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--epochs", "4"]) == 2
    assert "other settings (epochs: saved 3 vs now 4)" in capsys.readouterr().err


def test_rows_carry_the_label_aware_attack_beside_lee_and_kims_where_it_ran():
    """A guided lambda's row shows both losses with their intervals; the unguided baseline (no label
    to attack) shows a dash, never a number it did not get."""
    def summary_row(model, attack, robust):
        return {"model": model, "attack": attack, "n": 50, "k": 5, "clean_acc_vote": 96.0, "clean_acc_mean": 95.0,
                "robust_acc_vote": robust, "robust_acc_mean": robust - 1, "robust_acc_vote_lo": robust - 10,
                "robust_acc_vote_hi": robust + 10}

    summary = pd.DataFrame([summary_row("agdm-lam6", "pgd-eot", 60.0), summary_row("agdm-lam6", "pgd-eot-label", 40.0),
                            summary_row("diffpure", "pgd-eot", 30.0)])
    guided, base = sweep.benchmark_row(summary, "agdm-lam6"), sweep.benchmark_row(summary, "diffpure")
    assert (guided["robust_acc_vote"], guided["label_robust_acc_vote"]) == (60.0, 40.0)
    assert "label_robust_acc_vote" not in base
    assert sweep.robust_cell(guided, "label_") == "40.00 (39.00) [30.0, 50.0]"
    assert sweep.robust_cell(base, "label_") == "-"
