"""Adversarial examples that travel: --save-adversarial writes each attack's kept examples in
test-set order (safetensors + JSON), through shards and resume; ``rejudge`` re-classifies them with
fresh draws and writes the benchmark's metrics; tampered, out-of-ball and out-of-range files are
refused."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import zoo
import zoo.cli
from zoo.data import load_test_examples
from zoo.registry.schema import Budget
from zoo.reporting.adversarial import AdversarialFileError, read_examples, write_examples
from zoo.running.rejudge import rejudge
from zoo.scoring.paired import paired_test

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = Budget(n_examples=8, draws=5, pgd_steps=5, pgd_eot=1, pgd_step_fraction=0.25, batch_size=3)
EPS = 0.08


class Noisy(nn.Module):
    """A linear digit classifier behind Gaussian input noise (``sigma`` 0: deterministic); the noise
    comes from ``generator=`` as a zoo model's does."""

    def __init__(self, sigma: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.sigma = nn.Linear(784, 10), sigma
        with torch.no_grad():  # a template classifier (class means), right on most demo digits
            from zoo.data import mnist_demo
            x, y = mnist_demo("fit")
            means = torch.stack([x[y == c].flatten(1).mean(0) for c in range(10)])
            self.fc.weight.copy_(means * 20)
            self.fc.bias.copy_(-(means ** 2).sum(1) * 10)

    def forward(self, x, generator=None):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return self.fc((x + self.sigma * noise).flatten(1))


def run(out, model, **kw):
    return zoo.run_benchmark(model, "Linf", ("pgd-eot",), name=kw.pop("name", "mine"), eps=EPS, dataset="mnist",
                             out=out, budget=TINY, progress=False, save_adversarial=True, **kw)


@pytest.mark.parametrize("judge", ["final", "anytime"])
def test_saved_examples_are_the_kept_ones_in_test_set_order(tmp_path, judge):
    """Under final the last iterate, under anytime (the pool) the first confirmed one: either way
    the saved example is the one the record's verdict was made on."""
    written = run(tmp_path, Noisy(), subset_seed=4, protocol=judge)
    stem = tmp_path / "adversarial" / "mine_Linf_pgd-eot"
    assert stem.with_suffix(".safetensors") in written.values()
    tensors = load_file(str(stem.with_suffix(".safetensors")))  # plain safetensors: no unpickling
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["eps"] == EPS and meta["threat"] == "Linf" and meta["provenance"]["commit"]
    per_example = pd.read_csv(tmp_path / "per_example_mine_Linf.csv")
    assert tensors["test_indices"].tolist() == sorted(per_example["test_index"])  # test-set order
    clean, labels = load_test_examples("mnist", tensors["test_indices"])
    assert torch.equal(labels, tensors["labels"])
    delta = (tensors["adversarial"] - clean).abs().amax((1, 2, 3))
    assert (delta <= EPS + 1e-6).all() and (delta > EPS / 2).any()  # attacked, inside the ball
    # the deterministic model's verdicts on the saved examples are the run's, example by example
    logits = Noisy()(tensors["adversarial"]).argmax(1)
    recorded = per_example.sort_values("test_index")["adv_pred_0"].to_numpy()
    assert logits.tolist() == recorded.tolist()


def test_rejudge_reproduces_the_run_in_distribution(tmp_path):
    model = Noisy(sigma=1.0)
    run(tmp_path / "run", model)
    written = rejudge(tmp_path / "run" / "adversarial" / "mine_Linf_pgd-eot.json", model, name="mine",
                      out=tmp_path / "again", seed=7)
    assert tmp_path / "again" / "summary_Linf.csv" in written.values()
    first = pd.read_csv(tmp_path / "run" / "per_example_mine_Linf.csv").sort_values("test_index")
    again = pd.read_csv(tmp_path / "again" / "per_example_mine_Linf.csv").sort_values("test_index")
    assert set(again["attack"]) == {"rejudged:pgd-eot"}
    assert first["test_index"].tolist() == again["test_index"].tolist()
    assert not (first.filter(like="adv_pred_").to_numpy() == again.filter(like="adv_pred_").to_numpy()).all()
    for metric in ("vote", "worst"):  # fresh draws: the same metrics within the paired interval
        test = paired_test(first[f"robust_{metric}_correct"], again[f"robust_{metric}_correct"], metric)
        assert test["difference_lo"] <= 0 <= test["difference_hi"]
    provenance = json.loads((tmp_path / "again" / "provenance_Linf.json").read_text())
    assert provenance["rejudged_from"]["attack"] == "pgd-eot"
    assert "rejudged" in (tmp_path / "again" / "results_Linf.md").read_text()


def test_rejudge_on_another_model_is_a_transfer_attack(tmp_path):
    run(tmp_path, Noisy())
    rejudge(tmp_path / "adversarial" / "mine_Linf_pgd-eot.safetensors", Noisy(sigma=0.2), name="other",
            out=tmp_path / "transfer")
    frame = pd.read_csv(tmp_path / "transfer" / "summary_Linf.csv")
    assert "transfer:mine:pgd-eot" in set(frame["attack"])


def stored_copy(tmp_path, x_adv=None, **meta):
    """A valid file of the first 4 demo test digits (adversarial = clean unless ``x_adv``)."""
    idx = torch.arange(4)
    clean, labels = load_test_examples("mnist", idx)
    x = clean if x_adv is None else x_adv(clean)
    write_examples(tmp_path / "set", x, idx, labels, {"model": "mine", "threat": "Linf", "eps": EPS,
                                                       "attack": "pgd-eot", "dataset": "mnist", **meta})
    return tmp_path / "set.safetensors"


def test_tampered_or_edited_files_are_refused(tmp_path):
    path = stored_copy(tmp_path)
    read_examples(path)  # the untouched file reads
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(AdversarialFileError, match="SHA-256"):
        read_examples(path)
    path = stored_copy(tmp_path)
    description = json.loads(path.with_suffix(".json").read_text())
    description["eps"] = 0.5  # a larger ball claimed in the JSON only
    path.with_suffix(".json").write_text(json.dumps(description))
    with pytest.raises(AdversarialFileError, match="eps"):
        read_examples(path)
    assert zoo.cli.main(["rejudge", str(path), "--model", "agdm-tiny-mnist"]) == 2


def test_examples_outside_the_ball_or_the_box_are_refused(tmp_path):
    model = Noisy()
    rejudge(stored_copy(tmp_path, lambda c: (c + EPS * 0.9).clamp(0, 1)), model, name="mine", out=tmp_path / "ok")
    with pytest.raises(AdversarialFileError, match="outside the Linf ball"):
        rejudge(stored_copy(tmp_path, lambda c: (c + 2 * EPS).clamp(0, 1)), model, name="mine", out=tmp_path / "x")
    with pytest.raises(AdversarialFileError, match=r"outside \[0, 1\]"):
        rejudge(stored_copy(tmp_path, lambda c: c - 0.01), model, name="mine", out=tmp_path / "x")
    with pytest.raises(AdversarialFileError, match="labels"):
        path = stored_copy(tmp_path)
        labels = load_file(str(path))["labels"]
        write_examples(tmp_path / "set", load_file(str(path))["adversarial"], torch.arange(4), (labels + 1) % 10,
                       json.loads(path.with_suffix(".json").read_text()))
        rejudge(path, model, name="mine", out=tmp_path / "x")


def test_saving_survives_shards_and_needs_every_record_saved(tmp_path):
    for i in range(2):
        run(tmp_path, Noisy(), shard=(i, 2))
    written = run(tmp_path, Noisy(), merge_only=True)
    stored = read_examples(tmp_path / "adversarial" / "mine_Linf_pgd-eot.json")
    assert stored.test_indices.tolist() == list(range(8)) and written
    plain = tmp_path / "plain"
    zoo.run_benchmark(Noisy(), "Linf", ("pgd-eot",), name="mine", eps=EPS, dataset="mnist", out=plain,
                      budget=TINY, progress=False)
    with pytest.raises(ValueError, match="without --save-adversarial"):
        run(plain, Noisy(), merge_only=True)


def test_the_submit_kit_includes_the_checked_files(tmp_path):
    from zoo.publishing.submit_kit import KitError, write_kit
    from zoo.reporting.files import write_outputs
    from zoo.registry import get_entry

    board = tmp_path / "board"
    records = [{"model": "agdm-tiny-mnist", "threat": "Linf", "eps": EPS, "attack": "pgd-eot", "index": i,
                "label": 0, "clean_preds": [0], "adv_preds": [0], "seed": 0} for i in range(4)]
    write_outputs(board, records, {"date": "2026-01-01", "reduced_budget": True}, {"agdm-tiny-mnist": get_entry(
        "agdm-tiny-mnist")})
    (board / "adversarial").mkdir()
    stored = stored_copy(board / "adversarial")
    stored.rename(board / "adversarial" / "agdm-tiny-mnist_Linf_pgd-eot.safetensors")
    stored.with_suffix(".json").rename(board / "adversarial" / "agdm-tiny-mnist_Linf_pgd-eot.json")
    kit = write_kit("agdm-tiny-mnist", tmp_path / "kit", board)
    assert [p.name for p in kit.adversarial] == ["agdm-tiny-mnist_Linf_pgd-eot.safetensors",
                                                 "agdm-tiny-mnist_Linf_pgd-eot.json"]
    read_examples(kit.adversarial[0])  # the copy is the same, checked pair
    assert "adversarial/agdm-tiny-mnist_Linf_pgd-eot.safetensors" in kit.issue.read_text()
    tensors = board / "adversarial" / "agdm-tiny-mnist_Linf_pgd-eot.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-1] + b"\x01")
    with pytest.raises(KitError, match="refusing"):
        write_kit("agdm-tiny-mnist", tmp_path / "kit2", board)
