"""EOT batch sizing: all samples in one call when they fit (so nothing changes), fewer only where
they would not, an explicit --eot-batch wins, and the choice is recorded."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import zoo
from zoo.attacks import PGDEOT
from zoo.models.batching import eot_batch_for, fitting_rows
from zoo.running.sizing import size_eot_batches


def test_rows_that_fit_and_the_eot_batch_they_allow():
    assert fitting_rows(bytes_per_row=1e6, free_bytes=10 ** 9) == 800  # 80% headroom
    assert fitting_rows(bytes_per_row=1e12, free_bytes=10 ** 9) == 1  # never zero
    assert eot_batch_for(None, batch_size=16, eot=20) is None  # no limit known: all at once
    assert eot_batch_for(320, batch_size=16, eot=20) is None  # all 20 x 16 rows fit
    assert eot_batch_for(319, batch_size=16, eot=20) == 19
    assert eot_batch_for(5, batch_size=16, eot=20) == 1


def test_given_eot_batch_wins_and_cpu_default_is_all_at_once():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    attacks = {"a": PGDEOT(model, norm="Linf", eps=0.1, eot=8), "b": PGDEOT(model, norm="Linf", eps=0.1, eot=8)}
    assert size_eot_batches(attacks, model, x, y, batch_size=2, eot=8, given=3) == 3
    assert [a.eot_batch for a in attacks.values()] == [3, 3]
    assert size_eot_batches(attacks, model, x, y, batch_size=2, eot=8) is None
    assert [a.eot_batch for a in attacks.values()] == [None, None]
    with pytest.raises(ValueError, match="eot_batch must be >= 1, got 0"):
        size_eot_batches(attacks, model, x, y, batch_size=2, eot=8, given=0)


def test_eot_batch_reaches_the_attack_and_the_records(tmp_path):
    from zoo.data import mnist_demo

    seen = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])) if torch.is_grad_enabled() else None)
    x, y = mnist_demo("test")
    budget = {"n_examples": 2, "draws": 1, "pgd_steps": 1, "pgd_eot": 4, "batch_size": 2}
    zoo.run_benchmark(model, "Linf", ("pgd-eot",), name="lin", eps=0.1, data=(x[:2], y[:2]), budget=budget,
                      out=tmp_path, progress=False, eot_batch=3)
    assert seen == [6, 2]  # 4 EOT samples of 2 examples: 3 per call, then the remaining one
    records = [json.loads(line) for line in (tmp_path / "journal" / "lin_Linf.jsonl").read_text().splitlines()[1:]]
    assert {r["eot_batch"] for r in records} == {3}
