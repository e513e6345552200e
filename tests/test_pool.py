"""Issue 21: the anytime protocol's pool. Candidates from the EOT samples of each gradient (no extra
call), confirmed by K fresh draws before an example stops; a freed slot refilled at once; every
example's randomness its own, so pooled runs repeat and a killed one resumes to the same records."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from zoo.attacks import PGDEOT
from zoo.running.journal import Journal
from zoo.running.loop import run_attacks

pytestmark = pytest.mark.usefixtures("one_thread")


class Decoy(nn.Module):
    """Deterministic 2-class model on one pixel p: class 0 while p < 0.52, so PGD on label 0 raises p
    by one step (0.1) per iteration. Its gradient calls (EOT samples) also say class 1 on the decoy
    band 0.22 <= p < 0.28, which fresh draws (no-grad calls) do not: an unconfirmed candidate.
    Logs the starting pixel values of every gradient call and the rows of every no-grad call."""

    def __init__(self):
        super().__init__()
        self.gradient_calls: list[list[float]] = []
        self.forward_rows: list[int] = []

    def forward(self, x):
        p = x[:, 0, 0, 0]
        wrong = 0.52 - p
        if x.requires_grad:
            self.gradient_calls.append([round(v, 2) for v in p.tolist()])
            decoy = ((p >= 0.22) & (p < 0.28)).to(p.dtype)
            wrong = wrong - decoy.detach() * 10.0
        else:
            self.forward_rows.append(len(p))
        return torch.stack([10 * wrong, torch.zeros_like(p)], dim=1)


# 0.45: broken at 1; 0.15: a decoy candidate at 1 (0.25), broken at 4 (0.55); 0.0: never (eps 0.45);
# 0.6: wrong at the start (iteration 0)
STARTS = torch.tensor([0.45, 0.15, 0.0, 0.6], dtype=torch.float64).view(-1, 1, 1, 1)
LABELS = torch.zeros(4, dtype=torch.long)


def pooled(tmp_path, model, x, y, *, batch_size=2, steps=10, eot=3, draws=5, seed=0, name="j", stop_on="vote",
           attack=None):
    attack = attack or PGDEOT(model, norm="Linf", eps=0.45, steps=steps, eot=eot, step_size=0.1)
    journal = Journal(tmp_path / f"{name}.jsonl", {"p": 1}, resume=False)
    run_attacks(model, x, y, {"pgd-eot": attack}, journal, seed=seed, draws=draws, batch_size=batch_size,
                progress=False, record_fields={"model": "m"}, protocol="anytime", stop_on=stop_on)
    return {r["index"]: r for r in journal.records}


@pytest.mark.parametrize("stop_on", ["vote", "worst"])
def test_the_pool_makes_exactly_the_calls_expected_and_refills_the_freed_slot(tmp_path, stop_on):
    model = Decoy()
    records = pooled(tmp_path, model, STARTS, LABELS, stop_on=stop_on)
    assert [records[i]["broken_at"] for i in range(4)] == [1, 4, None, 0]
    # gradient calls: examples 0 and 1 in flight; 0 leaves at its iterate 1, 2 takes its slot (its
    # start 0.0 beside 1's 0.35); 1 leaves at 4, 3 enters and leaves at once; 2 finishes alone
    eot = 3
    slots = [[0.45, 0.15], [0.55, 0.25], [0.35, 0.0], [0.45, 0.1], [0.55, 0.2], [0.3, 0.6],
             [0.4], [0.45], [0.45], [0.45], [0.45], [0.45]]
    assert model.gradient_calls == [row * eot for row in slots]
    # no-grad calls of K = 5 draws: clean (0, 1); confirm 0 and the decoy 1; clean 2; confirm 1;
    # clean 3; confirm 3; 2's final iterate
    assert model.forward_rows == [10, 10, 5, 5, 5, 5, 5]
    assert [records[i]["candidates"] for i in range(4)] == [1, 2, 0, 1]
    assert [records[i]["calls"] for i in range(4)] == [
        {"gradient": 2 * eot, "forward": 10}, {"gradient": 5 * eot, "forward": 15},
        {"gradient": 10 * eot, "forward": 10}, {"gradient": eot, "forward": 10}]
    assert [records[i]["adv_preds"] for i in range(4)] == [[1] * 5, [1] * 5, [0] * 5, [1] * 5]
    assert all(records[i]["steps"] == 10 and records[i]["clean_preds"] == [0] * 5 for i in (0, 1, 2))


def test_an_unconfirmed_candidate_is_attacked_on(tmp_path):
    """The decoy is a candidate by its EOT samples at iterate 1 (0.25); the fresh draws say right, so
    it is attacked on: the next gradient call holds its iterate 2, and it breaks only at 4."""
    model = Decoy()
    records = pooled(tmp_path, model, STARTS[1:2], LABELS[1:2], batch_size=1)
    assert records[0]["broken_at"] == 4 and records[0]["candidates"] == 2
    assert [call[0] for call in model.gradient_calls] == [0.15, 0.25, 0.35, 0.45, 0.55]


class RowNoisyLinear(nn.Module):
    """A 2-class linear classifier behind input noise, from ``generator=`` when given (as zoo models):
    it opts in to per-row generators as an own module can."""

    accepts_row_generators = True

    def __init__(self, sigma=0.25):
        super().__init__()
        self.w = torch.randint(0, 2, (1, 1, 8, 8), generator=torch.Generator().manual_seed(0)).float() * 2 - 1
        self.sigma = sigma

    def forward(self, x, generator=None):
        from zoo.models.noise import draw_normal

        noise = draw_normal(x.shape, generator, device=x.device, dtype=x.dtype)
        z = ((x + self.sigma * noise - 0.5) * self.w).flatten(1).sum(1)
        return torch.stack([z, -z], dim=1)


def noisy_data(n=16):
    model = RowNoisyLinear()
    s = torch.tensor([1.0, -1.0] * (n // 2)).view(-1, 1, 1, 1)
    g = torch.Generator().manual_seed(1)
    x = (0.5 + 0.06 * s * model.w + 0.02 * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1)
    return model, x, (s.flatten() < 0).long()


def results(records: dict) -> dict:
    return {i: {k: v for k, v in r.items() if k != "seconds"} for i, r in records.items()}


def test_pooled_results_repeat_and_do_not_depend_on_the_company(tmp_path):
    model, x, y = noisy_data()
    kw = dict(eot=2, draws=3, attack=PGDEOT(model, norm="Linf", eps=0.04, steps=6, eot=2, step_size=0.01))
    first = pooled(tmp_path, model, x, y, name="a", batch_size=4, **kw)
    again = pooled(tmp_path, model, x, y, name="b", batch_size=4, **kw)
    assert results(first) == results(again)
    broken_at = [r["broken_at"] for r in first.values()]
    assert None in broken_at and len(set(broken_at)) > 2, broken_at  # examples leave at various iterates
    # each example's noise is its own: another pool size (other company at every step) gives the same records
    assert results(pooled(tmp_path, model, x, y, name="c", batch_size=3, **kw)) == results(first)
    assert results(pooled(tmp_path, model, x, y, name="d", batch_size=4, seed=1, **kw)) != results(first)


ENTRY = "diffpure-tiny-mnist"  # a real zoo entry: stochastic purification, noise from generator=
ARGS = ["--threat", "Linf", "--model", ENTRY, "--attack", "pgd-eot", "--n-examples", "6", "--batch-size", "2",
        "--pgd-steps", "3", "--pgd-eot", "2", "--draws", "3", "--protocol", "anytime", "--eps", "0.3"]
TABLES = (f"per_example_{ENTRY}_Linf.csv", "summary_Linf.csv")


class Killed(BaseException):
    """Stands in for a SIGKILL right after a journal write (no handler catches it)."""


def journal_results(out) -> dict:
    lines = (out / "journal" / f"{ENTRY}_Linf.jsonl").read_text().splitlines()[1:]
    return {r["index"]: {k: v for k, v in r.items() if k not in ("seconds", "_check")} for r in map(json.loads, lines)}


def test_a_killed_pooled_run_resumes_to_the_uninterrupted_tables(tmp_path, monkeypatch):
    from helpers import benchmark_cli
    from zoo.running import journal as journal_module
    from zoo.running import pool as pool_module

    cli = benchmark_cli()
    reference = tmp_path / "reference"
    assert cli.main([*ARGS, "--out", str(reference)]) == 0
    expected = journal_results(reference)
    assert len(expected) == 6 and {r["calls"]["gradient"] for r in expected.values()} != {3 * 2}  # some stopped early
    cost = json.loads((reference / "provenance_Linf.json").read_text())["attack_costs"][ENTRY]["pgd-eot"]
    spent = sum(r["calls"]["gradient"] for r in expected.values()) / 6
    assert cost["protocol"] == "anytime" and cost["calls_per_example"]["gradient"] == pytest.approx(spent, abs=0.01)
    assert cost["final_calls_per_example"] == {"gradient": 3 * 2, "forward": 2 * 3}
    assert cost["gradient_saved"] == pytest.approx(1 - spent / 6, abs=1e-3)
    assert cost["confirmed"] == sum(r["broken_at"] is not None and r["broken_at"] < 3 for r in expected.values())
    assert "candidate breaks from the EOT samples confirmed" in (reference / "results_Linf.md").read_text()

    real, writes = journal_module.Journal.append, []

    def append_then_die(self, records):
        real(self, records)
        writes.append(len(records))
        if len(writes) == 2:
            raise Killed

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(journal_module.Journal, "append", append_then_die)
        with pytest.raises(Killed):
            cli.main([*ARGS, "--out", str(out)])
    kept = journal_results(out)
    assert 0 < len(kept) < 6

    entered: list[int] = []
    enter = pool_module.Pool.enter
    monkeypatch.setattr(pool_module.Pool, "enter", lambda self, x, y, idx: entered.extend(idx) or enter(self, x, y, idx))
    assert cli.main([*ARGS, "--out", str(out), "--resume"]) == 0
    assert sorted(entered) == sorted(set(range(6)) - set(kept))  # only the unfinished are recomputed
    assert journal_results(out) == expected
    for name in TABLES:
        assert (out / name).read_text() == (reference / name).read_text(), name


def test_sharded_and_torchrun_pooled_runs_write_the_one_process_tables(tmp_path):
    """The pool under --shard i/n + --merge and under torchrun (two CPU ranks, gloo): each shard
    attacks only its own examples, and the merged tables equal one process's, byte for byte (every
    example's noise is its own, so who attacks it does not matter)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from helpers import benchmark_cli

    cli = benchmark_cli()
    one = tmp_path / "one"
    assert cli.main([*ARGS, "--out", str(one)]) == 0
    expected = journal_results(one)

    sharded = tmp_path / "sharded"
    for shard in ("0/2", "1/2"):
        assert cli.main([*ARGS, "--out", str(sharded), "--shard", shard]) == 0
    owned = [{json.loads(line)["index"] for line in path.read_text().splitlines()[1:]}
             for path in sorted((sharded / "journal").glob("*_shard*.jsonl"))]
    assert len(owned) == 2 and owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(6))
    assert cli.main([*ARGS, "--out", str(sharded), "--merge"]) == 0

    script = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    ranks = tmp_path / "ranks"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29519",
                    str(script), *ARGS, "--out", str(ranks)], env=env, check=True, capture_output=True)
    for out in (sharded, ranks):
        for name in TABLES:
            assert (out / name).read_text() == (one / name).read_text(), (out.name, name)
    merged = {}
    for path in (ranks / "journal").glob("*_shard*.jsonl"):
        merged.update({r["index"]: {k: v for k, v in r.items() if k not in ("seconds", "_check")}
                       for r in map(json.loads, path.read_text().splitlines()[1:])})
    assert merged == expected
