"""Eq. 6 training: exact resume after a kill, refusal of mismatching checkpoints, the per-epoch log,
the CIFAR data and defaults, and the architectures the trainer builds."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import zoo.training.checkpoints as checkpoints
import zoo.training.guidance as training
import zoo.training.run as training_run
from helpers import Killed, kill_after
from safetensors.torch import load_file
from zoo.data import DataUnavailable, load_train_set, mnist_demo
from zoo.models.nets import ARCHITECTURES, SmallCNN
from zoo.training.checkpoints import ResumeError
from zoo.training.guidance import TrainConfig, random_crop_flip, train_classifier

CFG = TrainConfig(epochs=2, batch_size=64, lam=6.0, eps=0.3, steps=2, seed=0)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    """A few hundred training digits and a small held-out set (never the test split)."""
    x, y = mnist_demo("fit")
    vx, vy = mnist_demo("val")
    return (x[:320], y[:320]), (vx[:64], vy[:64])


def fresh_net(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(width=4)


def train(digits, folder: Path, cfg: TrainConfig = CFG, resume: bool = False, log: Path | None = None):
    net = fresh_net(cfg.seed)
    train_classifier(net, *digits, cfg, log_path=log, checkpoint_dir=folder, resume=resume, progress=False)
    return net


def kill_after_first_checkpoint(monkeypatch):
    kill_after(monkeypatch, training, 1)


def interrupted_then_resumed(digits, folder: Path, monkeypatch, log: Path | None = None):
    with monkeypatch.context() as m:
        kill_after_first_checkpoint(m)
        with pytest.raises(Killed):
            train(digits, folder, log=log)
    return train(digits, folder, resume=True, log=log)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.fixture(scope="module")
def uninterrupted(digits, tmp_path_factory):
    return train(digits, tmp_path_factory.mktemp("whole") / "ckpt")


def test_killed_run_resumes_to_exactly_the_uninterrupted_weights(digits, uninterrupted, tmp_path, monkeypatch):
    log = tmp_path / "run.log.csv"
    resumed = interrupted_then_resumed(digits, tmp_path / "ckpt", monkeypatch, log)
    assert_same_weights(resumed, uninterrupted)
    # the last checkpoint holds the final weights, and only it is kept
    last = fresh_net()
    last.load_state_dict(load_file(str(tmp_path / "ckpt" / "epoch-0002.safetensors")))
    assert_same_weights(last, uninterrupted)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch-0002.pt", "epoch-0002.safetensors"]
    with open(log) as fh:
        assert fh.readline().startswith("# {")
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert list(rows[0])[:4] == ["epoch", "loss", "val_clean_acc", "val_pgd_acc"]
    assert {"seconds", "loss_mean", "lr"} <= set(rows[0])


def test_resume_without_the_saved_rng_state_would_differ(digits, uninterrupted, tmp_path, monkeypatch):
    """The exactness above rests on the restored RNG (data order, PGD start): without it, it fails."""
    monkeypatch.setattr(checkpoints, "_set_rng_state", lambda state: None)
    resumed = interrupted_then_resumed(digits, tmp_path / "ckpt", monkeypatch)
    assert any(not torch.equal(a, b) for a, b in zip(resumed.state_dict().values(),
                                                      uninterrupted.state_dict().values()))


def test_first_epoch_checkpoint_differs_from_the_final_weights(digits, uninterrupted, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        kill_after_first_checkpoint(m)
        with pytest.raises(Killed):
            train(digits, tmp_path / "ckpt")
    epoch1 = fresh_net()
    epoch1.load_state_dict(load_file(str(tmp_path / "ckpt" / "epoch-0001.safetensors")))
    assert not torch.equal(epoch1.head[-1].weight, uninterrupted.head[-1].weight)


def test_other_settings_or_a_missing_resume_flag_are_refused(digits, tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    with monkeypatch.context() as m:
        kill_after_first_checkpoint(m)
        with pytest.raises(Killed):
            train(digits, folder)
    other = TrainConfig(**{**CFG.__dict__, "lam": 3.0})
    with pytest.raises(ResumeError, match=r"other settings \(lam: checkpoint 6.0 vs now 3.0\)"):
        train(digits, folder, cfg=other, resume=True)
    with pytest.raises(ResumeError, match="pass --resume"):
        train(digits, folder)
    smaller = ((digits[0][0][:256], digits[0][1][:256]), digits[1])
    with pytest.raises(ResumeError, match="n_train"):
        train(smaller, folder, resume=True)


def window(image: torch.Tensor, top: int, left: int, flip: bool) -> torch.Tensor:
    crop = image[:, top:top + 8, left:left + 8]
    return crop.flip(2) if flip else crop


def test_crop_flip_returns_shifted_or_mirrored_crops_of_each_image():
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    seen_flip = seen_shift = False
    for _ in range(20):
        out = random_crop_flip(x, pad=2)
        assert out.shape == x.shape
        for n in range(2):
            crops = {(i, j, f) for i in range(5) for j in range(5) for f in (False, True)
                     if torch.equal(out[n], window(padded[n], i, j, f))}
            assert crops, "not a crop of the padded image"
            seen_flip |= any(f for _, _, f in crops)
            seen_shift |= any((i, j) != (2, 2) for i, j, _ in crops)
    assert seen_flip and seen_shift


def test_missing_cifar_training_data_offline_names_the_folder(offline):
    with pytest.raises(DataUnavailable, match="cifar-100-python"):
        load_train_set("cifar100", offline / "nodata")


def test_cifar_validation_slice_is_fixed_and_disjoint(monkeypatch):
    import zoo.data as data

    images = torch.rand(50, 3, 32, 32)
    labels = torch.arange(50)
    monkeypatch.setattr(data, "_cifar_train_arrays", lambda dataset, data_dir: (images, labels))
    (fx, fy), (vx, vy) = load_train_set("cifar10", "unused", val_size=10)
    (_, fy2), (_, vy2) = load_train_set("cifar10", "unused", val_size=10)
    assert len(vy) == 10 and len(fy) == 40 and torch.equal(vy, vy2) and torch.equal(fy, fy2)
    assert not set(vy.tolist()) & set(fy.tolist())
    assert torch.equal(vx, images[vy])


def load_cli():
    from helpers import CommandLine

    return CommandLine("train-guidance")  # as scripts/train_guidance.py and agdm-zoo train-guidance run it


def test_cli_defaults_follow_the_dataset_and_optimizer():
    cli = load_cli()
    mnist = cli.config_from(cli.parse_args(["--out", "x.safetensors"]))
    assert (mnist.eps, mnist.steps, mnist.lam, mnist.optimizer, mnist.lr, mnist.augment) == (
        0.3, 10, 6.0, "adam", 1e-3, False)
    cifar = cli.config_from(cli.parse_args(["--out", "x.safetensors", "--dataset", "cifar10", "--optimizer", "sgd"]))
    assert (cifar.eps, cifar.steps, cifar.lam, cifar.lr, cifar.weight_decay, cifar.momentum, cifar.augment) == (
        8 / 255, 10, 6.0, 0.1, 5e-4, 0.9, True)
    assert cli.net_config("small-cnn", "mnist", None) == {"in_channels": 1, "num_classes": 10,
                                                          "image_size": 28, "width": 32}


def test_cli_refuses_to_resume_with_other_settings(digits, tmp_path, capsys, monkeypatch):
    cli = load_cli()
    (x, y), (vx, vy) = digits
    monkeypatch.setattr(training_run, "load_train_set", lambda *a: ((x[:64], y[:64]), (vx[:16], vy[:16])))
    args = ["--out", str(tmp_path / "g.safetensors"), "--width", "4", "--epochs", "1", "--steps", "1",
            "--threads", "1", "--no-progress"]
    assert cli.main(args) == 0
    assert (tmp_path / "g.checkpoints" / "epoch-0001.pt").is_file()
    assert cli.main([*args, "--lam", "1", "--resume"]) == 2
    assert "other settings (lam: checkpoint 6.0 vs now 1.0)" in capsys.readouterr().err
    assert cli.main([*args, "--resume"]) == 0  # a finished run resumes to the same file


def test_cli_compares_a_retrained_net_with_its_reference(digits, tmp_path, capsys, monkeypatch):
    """--reference: the same command twice is bit-identical on the CPU; another seed is not, and predicts
    differently somewhere; a reference of another shape is a clear error."""
    import json

    cli = load_cli()
    (x, y), (vx, vy) = digits
    monkeypatch.setattr(training_run, "load_train_set", lambda *a: ((x[:64], y[:64]), (vx, vy)))
    base = ["--width", "4", "--epochs", "1", "--steps", "1", "--threads", "1", "--no-progress", "--device", "cpu"]
    first = tmp_path / "a.safetensors"
    assert cli.main(["--out", str(first), *base]) == 0
    assert cli.main(["--out", str(tmp_path / "b.safetensors"), *base, "--reference", str(first)]) == 0
    same = json.loads((tmp_path / "b.reference.json").read_text())
    assert same["bit_identical"] and same["sha256"] == same["reference_sha256"]
    assert same["prediction_agreement"] == 1.0 and same["max_abs_weight_difference"] == 0.0
    assert same["clean_accuracy"] == same["reference_clean_accuracy"]
    assert cli.main(["--out", str(tmp_path / "c.safetensors"), *base, "--seed", "1", "--reference", str(first)]) == 0
    other = json.loads((tmp_path / "c.reference.json").read_text())
    assert not other["bit_identical"] and other["max_abs_weight_difference"] > 0
    assert other["prediction_agreement"] < 1.0
    capsys.readouterr()
    wide = [a if a != "4" else "8" for a in base]
    assert cli.main(["--out", str(tmp_path / "d.safetensors"), *wide, "--reference", str(first)]) == 2
    assert "does not hold a small-cnn net of this shape" in capsys.readouterr().err


@pytest.mark.parametrize("arch, params", [("wrn-28-10", 36_479_194), ("resnet18", 11_173_962)])
def test_cifar_architectures_have_their_published_size_and_class_count(arch, params):
    """WRN-28-10 and the CIFAR ResNet-18 have 36.5M and 11.2M parameters with 10 classes."""
    assert sum(p.numel() for p in ARCHITECTURES[arch]().parameters()) == params
    net = ARCHITECTURES[arch](num_classes=100).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 32, 32)).shape == (1, 100)
