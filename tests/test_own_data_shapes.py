"""Own data of any shape: zoo.run_benchmark(model, data=(x, y)) runs examples that are no registry
dataset's (a table's rows, 5-d tensors) with any number of classes, under Linf and L2, with every
output named after name=; the kept examples stay in their ball and rejudge on the same data."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from zoo.registry.schema import Budget
from zoo.reporting.adversarial import read_examples
from zoo.running.rejudge import rejudge

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = Budget(n_examples=6, draws=3, pgd_steps=5, pgd_eot=1, pgd_step_fraction=0.25, batch_size=4)


def separable(shape: tuple[int, ...], classes: int):
    """A linear model over flattened inputs and 6 examples it classifies right (labels from it)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(shape).prod()), classes))
    x = torch.rand(6, *shape)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("shape, classes, threat, eps", [((5,), 3, "Linf", 0.5), ((2, 3, 4, 5), 7, "L2", 3.0)])
def test_any_shape_and_number_of_classes_runs_and_stays_in_its_ball(tmp_path, shape, classes, threat, eps):
    model, x, y = separable(shape, classes)
    written = zoo.run_benchmark(model, threat, ("pgd-eot",), name="tabular", eps=eps, data=(x, y), out=tmp_path,
                                budget=TINY, progress=False, save_adversarial=True)
    assert tmp_path / f"per_example_tabular_{threat}.csv" in written.values()
    assert (tmp_path / f"model_info/tabular_{threat}.json").is_file()
    rows = pd.read_csv(tmp_path / f"per_example_tabular_{threat}.csv")
    assert len(rows) == 6 and rows["clean_vote_correct"].all()
    assert not rows["adv_vote_correct"].all()  # the attack moved some example across a boundary
    stored = read_examples(tmp_path / "adversarial" / f"tabular_{threat}_pgd-eot.json")
    assert stored.meta["dataset"] == "own" and tuple(stored.adversarial.shape[1:]) == shape
    delta = (stored.adversarial - x).flatten(1)
    norms = delta.abs().amax(1) if threat == "Linf" else delta.norm(dim=1)
    assert (norms <= eps * (1 + 1e-5)).all()
    rejudge(stored.path, model, name="tabular", data=(x, y), out=tmp_path / "again")
    again = pd.read_csv(tmp_path / "again" / f"per_example_tabular_{threat}.csv")
    assert (again["adv_vote_correct"].to_numpy() == rows.sort_values("test_index")["adv_vote_correct"].to_numpy()).all()
    with pytest.raises(ValueError, match="data=\\(x, y\\)"):
        rejudge(stored.path, model, name="tabular", out=tmp_path / "x")


def test_inputs_outside_the_box_or_without_a_batch_axis_are_clear_errors(tmp_path):
    model, x, y = separable((5,), 3)
    with pytest.raises(ValueError, match="one row per example"):
        zoo.run_benchmark(model, "Linf", ("pgd-eot",), name="t", eps=0.1, data=(x[:, 0], y), out=tmp_path)
    with pytest.raises(ValueError, match="rescale"):
        zoo.run_benchmark(model, "Linf", ("pgd-eot",), name="t", eps=0.1, data=(x * 3, y), out=tmp_path)
