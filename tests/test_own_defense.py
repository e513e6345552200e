"""Bring your own defense: a user's nn.Module through zoo.run_benchmark (data=(x, y) and dataset=)
and through the CLI's path form, with the entries' outputs, and clear errors for bad input."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from zoo.data import mnist_demo
from zoo.registry.schema import Budget

from helpers import benchmark_cli

cli = benchmark_cli()  # as scripts/benchmark.py and agdm-zoo benchmark run it

TINY = Budget(n_examples=4, draws=3, pgd_steps=10, pgd_eot=1, pgd_step_fraction=0.25, batch_size=4)

MODULE_FILE = '''
import torch
from torch import nn

class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))

def make():
    return Linear()
'''


def linear(train: bool = False) -> nn.Module:
    """A linear classifier on 1x28x28 digits; ``train``: fitted on the demo's training digits (seconds)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if train:
        x, y = (t[:1000] for t in mnist_demo("train"))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(100):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return model


def summary(out, name):
    frame = pd.read_csv(out / "summary_Linf.csv")
    assert set(frame["model"]) == {name}
    return frame


def test_data_pair_runs_the_entries_protocol_and_a_large_eps_breaks_a_linear_model(tmp_path):
    x, y = mnist_demo("test")
    model = linear(train=True)
    clean = (model(x[:4]).argmax(1) == y[:4]).numpy()
    assert clean.sum() >= 3  # so that a broken attack (adv = clean) would fail below
    written = zoo.run_benchmark(model, "Linf", ("pgd-eot",), name="mine", eps=0.3, data=(x[:4], y[:4]),
                                out=tmp_path, budget=TINY, progress=False)
    assert (tmp_path / "per_example_mine_Linf.csv") in written.values()
    rows = pd.read_csv(tmp_path / "per_example_mine_Linf.csv")
    assert len(rows) == 4 and list(rows["label"]) == y[:4].tolist()
    # eps 0.3 on an undefended linear classifier: PGD breaks it (a dead attack would leave clean accuracy)
    assert rows["adv_vote_correct"].sum() == 0
    assert (rows["clean_vote_correct"].to_numpy().astype(bool) == clean).all()
    frame = summary(tmp_path, "mine")
    assert frame["eps"].iloc[0] == 0.3


def test_dataset_name_uses_its_test_set_and_drops_the_label_aware_attack(tmp_path):
    zoo.run_benchmark(linear(), "Linf", ("pgd-eot", "pgd-eot-label"), name="mine-ds", eps=0.1, dataset="mnist",
                      n_examples=4, out=tmp_path, budget=TINY, progress=False)
    rows = pd.read_csv(tmp_path / "per_example_mine-ds_Linf.csv")
    assert set(rows["attack"]) == {"pgd-eot"}
    assert list(rows["label"]) == mnist_demo("test")[1][:4].tolist()
    summary(tmp_path, "mine-ds")


def test_cli_path_form_loads_the_object_from_the_file(tmp_path, monkeypatch):
    import zoo.running.own_defense as own

    monkeypatch.setattr(own, "Budget", lambda: TINY)  # the published protocol's budget, shrunk for speed
    source = tmp_path / "mine.py"
    source.write_text(MODULE_FILE)
    out = tmp_path / "out"
    assert cli.main(["--threat", "Linf", "--model", f"{source}:make", "--name", "from-file", "--eps", "0.3",
                     "--attack", "pgd-eot", "--n-examples", "4", "--out", str(out)]) == 0
    summary(out, "from-file")
    assert (out / "per_example_from-file_Linf.csv").exists()


@pytest.mark.parametrize("extra", [["--name", "x"], ["--eps", "0.3"]])
def test_cli_refuses_a_module_without_name_or_eps(tmp_path, capsys, extra):
    (tmp_path / "mine.py").write_text(MODULE_FILE)
    assert cli.main(["--threat", "Linf", "--model", f"{tmp_path / 'mine.py'}:make", *extra,
                     "--out", str(tmp_path / "out")]) == 2
    assert "needs --name and --eps" in capsys.readouterr().err


def test_cli_refuses_an_object_the_file_does_not_define(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(MODULE_FILE)
    assert cli.main(["--threat", "Linf", "--model", f"{tmp_path / 'mine.py'}:nothing", "--name", "x",
                     "--eps", "0.3", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "defines no 'nothing'" in err and "make" in err


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "m", "dataset": "mnist"}, "needs eps > 0"),
    ({"eps": 0.1, "dataset": "mnist"}, "needs name="),
    ({"name": "m", "eps": 0.1}, "exactly one of dataset="),
    ({"name": "m", "eps": 0.1, "data": (torch.rand(2, 1, 28, 28) * 2, torch.zeros(2, dtype=torch.long))},
     "values in \\[0, 1\\]"),
    ({"name": "m", "eps": 0.1, "dataset": "mnist", "budget": {"pgd_stepz": 1}}, "unknown budget field"),
])
def test_bad_own_defense_input_is_a_clear_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.run_benchmark(linear(), "Linf", ("pgd-eot",), out=tmp_path, progress=False, **kwargs)


def test_own_defense_keywords_with_entry_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="describe an own defense"):
        zoo.run_benchmark(["standard-tiny-mnist"], "Linf", ("pgd-eot",), name="x", out=tmp_path)
