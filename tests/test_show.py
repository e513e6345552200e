"""agdm-zoo show (= scripts/show.py): the Fig. 4 grid shows what the model really did."""
from __future__ import annotations

import json

import torch

import zoo.cli.show as cli  # noqa: E402 - scripts/show.py runs its main


def test_grid_rows_are_clean_adversarial_and_purified(tmp_path, monkeypatch):
    result = cli.panels("diffpure-tiny-mnist", "Linf", 0.3, 3, 0, "./data", "cpu")
    monkeypatch.setattr(cli, "panels", lambda *args: result)  # main() draws what panels() computed
    rows = result["rows"]
    assert list(rows) == ["clean", "adversarial", "purified adversarial", "purified clean"]
    assert (rows["adversarial"] - rows["clean"]).abs().max() <= 0.3 + 1e-6
    assert (rows["adversarial"] - rows["clean"]).abs().max() > 0.1           # really attacked
    assert not torch.allclose(rows["purified adversarial"], rows["adversarial"])  # really purified
    out = tmp_path / "grid.png"
    assert cli.main(["diffpure-tiny-mnist", "--n", "3", "--eps", "0.3", "--out", str(out), "--device", "cpu"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["labels"] == result["labels"].tolist()
    assert record["predictions"] == {k: v.tolist() for k, v in result["preds"].items()}
