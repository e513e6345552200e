"""Evaluating zoo models: clean accuracy with seeded purification."""
from __future__ import annotations

import time

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .devices import device_of


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 100, seed: int = 0, progress: bool = False) -> Tensor:
    """Predicted labels of ``x``, batch by batch; all purification noise comes from one generator
    seeded with ``seed``, so a run is reproducible for a given seed and batch size."""
    device = device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    preds = []
    for xb in tqdm(x.split(batch_size), desc="predict", disable=not progress, leave=False):
        preds.append(model(xb.to(device), generator=generator).argmax(1).cpu())
    return torch.cat(preds)


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 100, seed: int = 0,
             progress: bool = False) -> float:
    """Fraction of ``x`` classified as ``y`` (one seeded purification per example)."""
    return int((predict(model, x, batch_size, seed, progress) == y).sum()) / len(y)


@torch.no_grad()
def redraw_predictions(model: nn.Module, x: Tensor, draws: int) -> Tensor:
    """Predictions of ``draws`` independent purifications of every example, as an N x draws tensor.

    All draws run as one batched forward (the batch repeated ``draws`` times): a single lucky
    forward pass must not count as robust, so every result is judged over many draws.
    """
    logits = model(x.repeat(draws, *([1] * (x.dim() - 1))))
    return logits.argmax(1).view(draws, len(x)).T.cpu()


def batch_seed(seed: int, attack_index: int, batch_index: int) -> int:
    """The seed of one (attack, batch): fixed by the batch's position alone, so a resumed or
    sharded run draws exactly the noise an uninterrupted single run draws."""
    return (seed * 1_000_003 + attack_index * 10_007 + batch_index) % (2**63)


def shard_batches(n_examples: int, batch_size: int, shard: tuple[int, int]) -> list[tuple[int, range]]:
    """(batch index, example indices) of the batches shard ``i`` of ``n`` owns (every n-th batch)."""
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    starts = range(0, n_examples, batch_size)
    return [(b, range(s, min(s + batch_size, n_examples))) for b, s in enumerate(starts) if b % n == i]


def run_attacks(model: nn.Module, x: Tensor, y: Tensor, attacks: dict, journal, *, seed: int, draws: int,
                batch_size: int, shard: tuple[int, int] = (0, 1), progress: bool = True,
                record_fields: dict | None = None, test_indices: list[int] | None = None) -> None:
    """Attack every example this shard owns with every attack in ``attacks`` (name -> callable
    ``(x, y) -> x_adv``), re-classify clean and adversarial inputs ``draws`` times, and journal
    each finished batch. Examples the journal already holds are skipped. ``test_indices`` (default:
    the positions) name each example's place in the test set, for random subsets."""
    device = device_of(model)
    done = journal.done()
    for a, (name, attack) in enumerate(attacks.items()):
        todo = [(b, idx) for b, idx in shard_batches(len(x), batch_size, shard)
                if not all((name, i) in done for i in idx)]
        bar = tqdm(todo, desc=name, disable=not progress, unit="batch")
        robust = total = 0
        for b, idx in bar:
            started = time.perf_counter()
            torch.manual_seed(batch_seed(seed, a, b))
            xb, yb = x[list(idx)].to(device), y[list(idx)].to(device)
            x_adv = attack(xb, yb)
            clean, adv = redraw_predictions(model, xb, draws), redraw_predictions(model, x_adv, draws)
            seconds = (time.perf_counter() - started) / len(idx)
            journal.append([{**(record_fields or {}), "attack": name, "index": i, "seconds": round(seconds, 3),
                             "test_index": i if test_indices is None else int(test_indices[i]), "label": int(yb[j]),
                             "clean_preds": clean[j].tolist(), "adv_preds": adv[j].tolist()}
                            for j, i in enumerate(idx)])
            robust += int(((adv == yb.cpu()[:, None]).float().mean(1) > 0.5).sum())
            total += len(idx)
            bar.set_postfix(robust=f"{100 * robust / total:.1f}%")
