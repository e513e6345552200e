"""One entry's run (``evaluate_entry``) on a toy in milliseconds: which data, model, attacks and
journal it uses, what every record says of how it ran, what a resume reads, prints and skips, and
how a user's own defense, shards, fixed noise and kept adversarial examples change it. The network
and the test set are stand-ins (the call is spied on, not replaced in meaning), so the rules of the
run itself are checked without building a diffusion model or reading a dataset."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import zoo.running.loop as loop
from zoo.models.speed import lever_flags
from zoo.registry.schema import parse_registry
from zoo.running.adversarial import kept_examples
from zoo.running.execution import Execution
from zoo.running.settings import Settings
from zoo.running.shards import shard_batches

from tests.helpers import tiny_entry_dict

pytestmark = pytest.mark.usefixtures("one_thread")

N, BATCH, DRAWS = 5, 2, 4
TEST_INDICES = torch.tensor([17, 3, 42, 8, 25, 60, 61])  # a random subset's places in the test set


class Noisy(nn.Module):
    """Two classes on the first pixel p: class 0 while p + noise < 0.5; the noise (sd 0.3) comes
    from ``generator`` when given, so K draws of one input disagree unless the noise is fixed."""

    def forward(self, x, generator=None):
        p = x.flatten(1)[:, 0]
        noise = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device)
        return torch.stack([0.5 - p - 0.3 * noise, torch.zeros_like(p)], dim=1)


def data(n=len(TEST_INDICES)):
    torch.manual_seed(1)
    x = torch.rand(n, 1, 2, 2) * 0.4 + 0.3
    return x, torch.zeros(n, dtype=torch.long)


def settings(**changes) -> Settings:
    base = dict(model="tiny", threat="Linf", eps=0.05, attacks=("pgd-eot",), n_examples=N, batch_size=BATCH,
                seed=3, draws=DRAWS, pgd_steps=2, pgd_eot=2, subset_seed=11)
    return Settings(**{**base, **changes})


@pytest.fixture
def entry():
    return parse_registry(tiny_entry_dict())["tiny"]


@pytest.fixture
def spied(monkeypatch):
    """The network factory and the test set replaced by a toy and a fixed subset; every call logged."""
    calls = SimpleNamespace(create=[], load=[], attackers=[], built=[], sized=[])

    def create_model(entry, **kwargs):
        calls.create.append((entry, kwargs))
        return Noisy()

    def load_test_set(*args):
        calls.load.append(args)
        x, y = data()
        return x[:args[1]], y[:args[1]], TEST_INDICES[:args[1]]

    real_build = loop.build_attack

    def build_attack(name, model, **kwargs):
        calls.built.append((name, model, kwargs))
        return real_build(name, model, **kwargs)

    def attacker_model(model, gradient, **surrogate):
        calls.attackers.append((model, gradient, surrogate))
        return model

    real_size = loop.size_eot_batches

    def size_eot_batches(attacks, gradient_model, x, y, **kwargs):
        calls.sized.append((gradient_model, kwargs))
        return real_size(attacks, gradient_model, x, y, **kwargs)

    monkeypatch.setattr(loop, "size_eot_batches", size_eot_batches)
    monkeypatch.setattr(loop, "create_model", create_model)
    monkeypatch.setattr(loop, "load_test_set", load_test_set)
    monkeypatch.setattr(loop, "build_attack", build_attack)
    monkeypatch.setattr(loop, "attacker_model", attacker_model)
    return calls


def run(entry, tmp_path, s=None, execution=None, **kwargs):
    execution = execution or Execution(progress=False)
    journal = loop.evaluate_entry(entry, s or settings(), tmp_path, execution, data_dir="DATA", **kwargs)
    return {(r["attack"], r["index"]): r for r in journal.records}


def lines(path):
    return path.read_text().splitlines()


def test_the_entry_is_built_and_its_test_subset_read_as_the_settings_and_execution_say(entry, spied, tmp_path):
    execution = Execution(progress=False, grad_mode="recompute", levers=("channels_last",), eot_batch=3)
    records = run(entry, tmp_path, execution=execution, device="cpu")
    assert spied.load == [("mnist", N, "DATA", 11)]
    assert len(spied.create) == 1 and spied.create[0][0] is entry
    assert spied.create[0][1] == {"device": "cpu", "grad_mode": "recompute", **lever_flags(("channels_last",))}
    assert set(records) == {("pgd-eot", i) for i in range(N)}
    for (_, i), r in records.items():
        assert r["test_index"] == int(TEST_INDICES[i]) and r["label"] == 0
        assert {k: r[k] for k in ("model", "threat", "eps", "seed", "grad_mode", "levers", "attack_precision",
                                  "eot_batch", "attacker_grad")} == {
            "model": "tiny", "threat": "Linf", "eps": 0.05, "seed": 3, "grad_mode": "recompute",
            "levers": ["channels_last"], "attack_precision": "fp32", "eot_batch": 3, "attacker_grad": "exact"}
        assert len(r["clean_preds"]) == DRAWS == len(r["adv_preds"])
    assert lines(tmp_path / "journal" / "tiny_Linf.jsonl")[1:] and not spied.attackers


def test_every_attack_is_built_on_the_attacked_model_with_the_settings_budget(entry, spied, tmp_path):
    s = settings(attacks=("pgd-eot", "pgd-eot-margin"))
    records = run(entry, tmp_path, s=s)
    assert [b[0] for b in spied.built] == ["pgd-eot", "pgd-eot-margin"]
    for _, model, kwargs in spied.built:
        assert isinstance(model, Noisy)
        assert kwargs == {"norm": "Linf", "eps": 0.05, "seed": 3, "budget": s, "attacker": None}
    assert set(records) == {(a, i) for a in s.attacks for i in range(N)}


def test_the_attack_precision_names_the_gradient_module_the_attacks_get(entry, spied, tmp_path):
    records = run(entry, tmp_path, execution=Execution(progress=False, attack_precision="bf16"))
    attacker = spied.built[0][2]["attacker"]
    assert attacker is not None and attacker is not spied.built[0][1]
    assert {r["attack_precision"] for r in records.values()} == {"bf16"}


def test_an_ablation_gradient_comes_from_the_attacker_model_and_is_named_in_each_record(entry, spied, tmp_path):
    s = settings(attacker_grad="surrogate", surrogate={"steps": 2})
    records = run(entry, tmp_path, s=s)
    assert len(spied.attackers) == 1
    model, gradient, surrogate = spied.attackers[0]
    assert isinstance(model, Noisy) and gradient == "surrogate" and surrogate == {"steps": 2}
    assert spied.built[0][2]["attacker"] is model
    assert {r["attacker_grad"] for r in records.values()} == {s.gradient_label}


def test_the_eot_batch_is_sized_on_the_gradient_model_for_the_settings_batch_and_eot(entry, spied, tmp_path,
                                                                                    monkeypatch):
    run(entry, tmp_path / "exact", s=settings(pgd_eot=3))
    model, kwargs = spied.sized[-1]
    assert isinstance(model, Noisy) and kwargs == {"batch_size": BATCH, "eot": 3, "given": None}
    surrogate = Noisy()
    monkeypatch.setattr(loop, "attacker_model", lambda model, gradient, **kw: surrogate)
    run(entry, tmp_path / "ablation", s=settings(attacker_grad="surrogate", surrogate={"steps": 2}),
        execution=Execution(progress=False, eot_batch=2))
    assert spied.sized[-1] == (surrogate, {"batch_size": BATCH, "eot": 2, "given": 2})


def test_the_anytime_protocol_reaches_the_pool_with_its_stopping_metric(entry, spied, tmp_path):
    records = run(entry, tmp_path, s=settings(protocol="anytime", stop_on="worst"))
    assert set(records) == {("pgd-eot", i) for i in range(N)}
    assert all({"broken_at", "steps", "candidates", "calls"} <= set(r) for r in records.values())
    assert {r["steps"] for r in records.values()} == {2}


def test_progress_is_shown_only_when_asked_and_leads_with_the_headline(entry, spied, tmp_path, capsys):
    run(entry, tmp_path / "quiet")
    assert capsys.readouterr().err == ""
    run(entry, tmp_path / "shown", execution=Execution(progress=True), headline="worst")
    err = capsys.readouterr().err
    assert "pgd-eot" in err and "(worst)" in err and "(vote)" not in err


def test_a_shard_runs_its_own_examples_into_its_own_journal(entry, spied, tmp_path):
    records = run(entry, tmp_path, shard=(1, 2))
    mine = {i for _, idx in shard_batches(N, BATCH, (1, 2)) for i in idx}
    assert {i for _, i in records} == mine and 0 < len(mine) < N
    assert (tmp_path / "journal" / "tiny_Linf_shard1of2.jsonl").exists()
    assert not (tmp_path / "journal" / "tiny_Linf.jsonl").exists()


def test_a_resumed_run_prints_what_it_found_and_adds_only_the_missing_records(entry, spied, tmp_path, capsys):
    whole = run(entry, tmp_path / "whole")
    run(entry, tmp_path / "cut")
    path = tmp_path / "cut" / "journal" / "tiny_Linf.jsonl"
    path.write_text("\n".join(lines(path)[:1 + BATCH]) + "\n")  # killed after its first batch
    capsys.readouterr()
    resumed = run(entry, tmp_path / "cut", execution=Execution(progress=True, resume=True))
    err = capsys.readouterr().err
    assert f"resuming {path}: {BATCH} of {N} results journaled, {N - BATCH} to compute" in err
    attacked = N - BATCH
    batches = len([b for b in shard_batches(N, BATCH, (0, 1)) if b[1][0] >= BATCH])
    assert (f"resumed {path}: attacked {attacked} examples in {batches} batches (partly recorded batches whole, "
            f"for their seeds), recorded the {N - BATCH} missing") in err
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert {k: strip(r) for k, r in resumed.items()} == {k: strip(r) for k, r in whole.items()}
    path.write_text("\n".join(lines(path)[:1 + BATCH]) + "\n")
    capsys.readouterr()
    quiet = run(entry, tmp_path / "cut", execution=Execution(progress=False, resume=True))
    assert capsys.readouterr().err == "" and set(quiet) == set(whole)  # no progress asked: nothing printed


def test_a_finished_journal_resumes_without_building_or_reading_anything(entry, spied, tmp_path, capsys):
    first = run(entry, tmp_path)
    before = (tmp_path / "journal" / "tiny_Linf.jsonl").read_bytes()
    spied.create.clear(), spied.load.clear()
    capsys.readouterr()
    again = run(entry, tmp_path, execution=Execution(progress=False, resume=True))
    assert again == first and not spied.create and not spied.load
    assert (tmp_path / "journal" / "tiny_Linf.jsonl").read_bytes() == before
    assert capsys.readouterr().err == ""  # no progress asked: nothing printed


def test_a_journal_is_refused_without_resume_or_under_other_settings(entry, spied, tmp_path):
    run(entry, tmp_path)
    with pytest.raises(FileExistsError, match="--resume"):
        run(entry, tmp_path)
    with pytest.raises(ValueError):
        run(entry, tmp_path, s=settings(seed=4), execution=Execution(progress=False, resume=True))
    spec = json.loads(lines(tmp_path / "journal" / "tiny_Linf.jsonl")[0])["spec"]
    assert spec == json.loads(json.dumps(settings().spec()))


def test_an_own_defense_is_attacked_on_its_own_data_and_nothing_is_built(entry, spied, tmp_path):
    model, (x, y) = Noisy(), data()
    records = run(entry, tmp_path, own=SimpleNamespace(model=model, data=(x, y)), device="cpu")
    assert not spied.create and not spied.load
    assert spied.built[0][1] is model
    assert sorted(r["test_index"] for r in records.values()) == list(range(N))  # the first N, in order


def test_an_own_defense_without_data_reads_the_entry_test_set(entry, spied, tmp_path):
    model = Noisy()
    records = run(entry, tmp_path, own=SimpleNamespace(model=model, data=None))
    assert spied.load == [("mnist", N, "DATA", 11)] and not spied.create
    assert sorted(r["test_index"] for r in records.values()) == sorted(TEST_INDICES[:N].tolist())


def test_fixed_noise_makes_the_k_draws_agree_and_fresh_noise_does_not(entry, spied, tmp_path):
    fresh = run(entry, tmp_path / "fresh")
    fixed = run(entry, tmp_path / "fixed", s=settings(fixed_noise=True))
    assert isinstance(spied.built[-1][1], loop.FixedNoise)
    assert all(len(set(r["clean_preds"])) == 1 == len(set(r["adv_preds"])) for r in fixed.values())
    assert any(len(set(r["clean_preds"])) > 1 for r in fresh.values())


def test_kept_adversarial_examples_are_saved_only_when_asked(entry, spied, tmp_path):
    s = settings()
    run(entry, tmp_path / "no", s=s)
    assert kept_examples(tmp_path / "no", s, "pgd-eot") == {}
    run(entry, tmp_path / "yes", s=s, execution=Execution(progress=False, save_adversarial=True))
    kept = kept_examples(tmp_path / "yes", s, "pgd-eot")
    x, _ = data()
    assert sorted(kept) == list(range(N))
    assert all((kept[i] - x[i]).abs().max() <= 0.05 + 1e-6 for i in kept)


def test_the_test_set_is_read_from_the_default_data_folder_unless_told(entry, spied, tmp_path):
    loop.evaluate_entry(entry, settings(), tmp_path, Execution(progress=False))
    assert spied.load == [("mnist", N, "./data", 11)]
