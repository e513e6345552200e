"""Splitting a run: which batches a shard owns, each batch's seed (fixed by its position, so a
resumed or sharded run draws the noise of an uninterrupted one), and torchrun ranks."""
from __future__ import annotations

import os

import numpy as np
import torch


def batch_seed(seed: int, attack_index: int, batch_index: int) -> int:
    """The seed of one (attack, batch): fixed by the batch's position alone, so a resumed or
    sharded run draws exactly the noise an uninterrupted single run draws."""
    return (seed * 1_000_003 + attack_index * 10_007 + batch_index) % (2**63)


def redraw_seed(seed: int, attack_index: int, batch_index: int, adversarial: bool) -> int:
    """The seed of one (attack, batch)'s K re-draws, clean or adversarial: fixed by the run seed and
    the batch's position like :func:`batch_seed`, but from a different stream (a numpy
    ``SeedSequence`` of the four numbers), so the re-draws never replay the attack's noise. (The
    anytime pool seeds its verdicts per example instead, :func:`example_seed`.)"""
    words = np.random.SeedSequence([seed, attack_index, batch_index, int(adversarial), 0x6472617773])
    return int(words.generate_state(1, np.uint64)[0] % (2**63))


PURPOSES = {"start": 1, "eot": 2, "verdict": 3, "clean": 4}
"""What an example's random numbers are for in the anytime pool (:func:`example_seed`)."""


def example_seed(seed: int, attack_index: int, test_index: int, purpose: str, iteration: int = 0) -> int:
    """The seed of one example's random numbers in the anytime pool (:mod:`zoo.running.pool`): its
    random start, the EOT samples of its gradient at ``iteration``, the K draws judging that
    iterate, or its clean K draws (:data:`PURPOSES`). Fixed by the run seed, the attack and the
    example's place in the test set alone, never by which examples share its batch, so a refilled
    pool, a resumed run and a shard draw the same numbers for it."""
    words = np.random.SeedSequence([seed, attack_index, test_index, PURPOSES[purpose], iteration, 0x706F6F6C])
    return int(words.generate_state(1, np.uint64)[0] % (2**63))


def shard_batches(n_examples: int, batch_size: int, shard: tuple[int, int]) -> list[tuple[int, range]]:
    """(batch index, example indices) of the batches shard ``i`` of ``n`` owns (every n-th batch)."""
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    starts = range(0, n_examples, batch_size)
    return [(b, range(s, min(s + batch_size, n_examples))) for b, s in enumerate(starts) if b % n == i]


def torchrun_world() -> tuple[int, int] | None:
    """(rank, world size) when this process is one of several started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ["RANK"]), world) if world > 1 else None


def rank_device(rank: int) -> torch.device:
    """This rank's GPU (``LOCAL_RANK``) where there are GPUs, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())


def all_ranks_done() -> bool:
    """Wait for every torchrun rank to finish its shard; True on rank 0, which then merges."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        dist.barrier()
        return dist.get_rank() == 0
    finally:
        dist.destroy_process_group()
