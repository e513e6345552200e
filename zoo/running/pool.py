"""The anytime protocol's attack loop: a pool of ``batch_size`` examples in flight, each stopped at
its first confirmed breaking iterate, its slot refilled from the queue at once.

Every PGD+EOT gradient already purifies the current iterate ``eot`` times; those logits are a free
verdict on it (vote or worst over the EOT samples, as the run's ``stop_on``). An example they judge
broken is a *candidate*: K fresh purifications of that iterate (the reported verdict) confirm it
or not. A confirmed example leaves the pool with that iterate kept, its record holding the K
fresh predictions, ``broken_at`` (the iterate, 0 = the start) and what it cost; an unconfirmed
one is attacked on. An example never confirmed is judged at its final iterate by K fresh draws,
``broken_at`` = ``steps`` if they judge it wrong, else ``None``. No example is scored on the EOT
samples that chose it.

Randomness is per example (:func:`~zoo.running.shards.example_seed`: run seed, attack, test index,
purpose, iteration), each row of a batch drawing from its example's generator
(:class:`~zoo.models.noise.RowGenerators`, passed as ``generator=``): so an example's result does
not depend on which others share the pool, and a resumed run recomputes only unfinished examples
with the numbers an uninterrupted one drew. A model without ``generator=`` draws from torch's
global RNG seeded per call from the rows' seeds (repeatable for the same run, not across resumes).
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..common.devices import device_of
from ..models.defended import DefendedClassifier
from ..models.noise import RowGenerators
from ..scoring.verdicts import correct, robust_correct
from .shards import example_seed

Finished = Callable[[dict, Tensor], None]
"""``on_finish(record, x_kept)``: called for every record as it is written, with the example's
kept adversarial input (1 x C x H x W), e.g. to save it beside the record."""


@dataclass(eq=False)
class Slot:
    """One example in flight: where it is, its iterate, and what it has cost so far."""

    index: int
    test_index: int
    x: Tensor
    y: Tensor
    x_adv: Tensor
    clean: Tensor
    t: int = 0
    candidates: int = 0
    gradient: int = 0
    forward: int = 0
    seconds: float = 0.0
    outcome: dict = field(default_factory=dict)


def takes_row_generators(model) -> bool:
    """Whether ``model`` draws its noise row by row from a :class:`RowGenerators` passed as
    ``generator=`` (every zoo model does; an own module's ``generator=`` may expect one
    ``torch.Generator``, so it gets the seeded global RNG instead)."""
    return isinstance(model, DefendedClassifier) or bool(getattr(model, "accepts_row_generators", False))


def with_noise(fn: Callable, model, seeds: list[int]):
    """``fn(generator)`` with each row's noise from a CPU generator seeded with its example's seed
    (``seeds``, one per example; :class:`RowGenerators`), or, for any other model,
    ``fn(None)`` with torch's global RNG seeded from all of them (inside ``fork_rng``)."""
    if takes_row_generators(model):
        return fn(RowGenerators([torch.Generator().manual_seed(s) for s in seeds]))
    device = device_of(model) if isinstance(model, nn.Module) else torch.device("cpu")
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(np.random.SeedSequence(seeds).generate_state(1, np.uint64)[0] % (2**63)))
        return fn(None)


@torch.no_grad()
def draws_of(model: nn.Module, x: Tensor, draws: int, seeds: list[int]) -> Tensor:
    """Predictions of ``draws`` purifications of every example of ``x`` (N x draws, CPU), example
    ``i``'s noise from ``seeds[i]`` alone (:func:`with_noise`); one batched forward."""
    batch = x.repeat(draws, *([1] * (x.dim() - 1)))

    def run(generator):
        return model(batch) if generator is None else model(batch, generator=generator.repeat(draws))
    return with_noise(run, model, seeds).argmax(1).view(draws, len(x)).T.cpu()


class Pool:
    """One attack run over the examples ``todo`` of ``x``/``y`` under the anytime protocol (module
    docstring); :meth:`run` journals each record as its example finishes."""

    def __init__(self, model: nn.Module, attack, *, attack_index: int, seed: int, draws: int, stop_on: str,
                 batch_size: int, test_indices: list[int] | None = None):
        self.model, self.attack, self.a, self.seed = model, attack, attack_index, seed
        self.draws, self.stop_on, self.batch_size = draws, stop_on, batch_size
        self.test_indices = test_indices
        self.device = device_of(model)
        self.steps_run = 0

    def seeds(self, slots: list[Slot], purpose: str, iteration: int | None = None) -> list[int]:
        return [example_seed(self.seed, self.a, s.test_index, purpose, s.t if iteration is None else iteration)
                for s in slots]

    def run(self, x: Tensor, y: Tensor, todo: list[int], write: Callable[[list[dict]], None], record: Callable,
            progress: bool = False, desc: str = "", headline: str = "vote") -> int:
        """Attack every example of ``todo`` (positions in ``x``) with ``batch_size`` in flight;
        ``record(slot) -> dict`` makes each finished example's record, ``write(records)`` journals
        them as they finish. Returns the number of pool steps (gradient calls) run."""
        queue, slots = deque(todo), []
        bar = tqdm(total=len(todo), desc=desc, disable=not progress, unit="ex")
        robust = total = 0
        while queue or slots:
            slots += self.enter(x, y, [queue.popleft() for _ in range(min(len(queue), self.batch_size - len(slots)))])
            finished = self.step(slots)
            if finished:
                write([record(s) for s in finished])
                robust += sum(int(robust_correct(s.clean[None].numpy(), s.outcome["adv"][None].numpy(),
                                                 s.y.cpu().numpy(), headline)[0]) for s in finished)
                total += len(finished)
                bar.update(len(finished))
                bar.set_postfix(robust=f"{100 * robust / total:.1f}% ({headline})")
            slots = [s for s in slots if not s.outcome]
        bar.close()
        return self.steps_run

    def enter(self, x: Tensor, y: Tensor, indices: list[int]) -> list[Slot]:
        """New slots for ``indices``: their clean K draws (one batched call) and starting points."""
        if not indices:
            return []
        started = time.perf_counter()
        tests = [i if self.test_indices is None else int(self.test_indices[i]) for i in indices]
        xs, ys = x[indices].to(self.device), y[indices].to(self.device)
        slots = [Slot(i, ti, xs[j:j + 1], ys[j:j + 1], xs[j:j + 1], torch.empty(0))
                 for j, (i, ti) in enumerate(zip(indices, tests))]
        clean = draws_of(self.model, xs, self.draws, self.seeds(slots, "clean", 0))
        for j, s in enumerate(slots):
            g = torch.Generator().manual_seed(example_seed(self.seed, self.a, s.test_index, "start"))
            s.x_adv, s.clean, s.forward = self.attack.start(s.x, g), clean[j], self.draws
        self._share(slots, time.perf_counter() - started)
        return slots

    def step(self, slots: list[Slot]) -> list[Slot]:
        """One gradient step of every slot; returns the slots that finished in it (confirmed
        broken, or at their final iterate and judged there)."""
        started = time.perf_counter()
        x_adv, x0, y = (torch.cat([getattr(s, k) for s in slots]) for k in ("x_adv", "x", "y"))
        sink: list[Tensor] = []
        gradient_model = self.attack.attacker if getattr(self.attack, "attacker", None) is not None else self.model
        nxt = with_noise(lambda g: self.attack.step(x_adv, x0, y, generator=g, sink=sink).detach(),
                         gradient_model, self.seeds(slots, "eot"))
        self.steps_run += 1
        for s in slots:
            s.gradient += self.attack.eot
        self._share(slots, time.perf_counter() - started)
        eot_preds = torch.cat(sink).argmax(-1).T.cpu()  # N x eot: the free verdict on x_adv
        candidate = ~correct(eot_preds.numpy(), y.cpu().numpy(), self.stop_on)
        confirmed = self.judge([s for s, c in zip(slots, candidate) if c], candidate=True)
        finished = [s for s in slots if s in confirmed]
        last = []
        for j, s in enumerate(slots):
            if s in confirmed:
                continue
            s.x_adv, s.t = nxt[j:j + 1], s.t + 1
            if s.t == self.attack.steps:
                last.append(s)
        return finished + self.judge(last, candidate=False)

    def judge(self, slots: list[Slot], candidate: bool) -> list[Slot]:
        """K fresh draws on each slot's current iterate; a candidate judged broken (or a slot at its
        final iterate, judged either way) is finished with them. Returns the finished slots."""
        if not slots:
            return []
        started = time.perf_counter()
        preds = draws_of(self.model, torch.cat([s.x_adv for s in slots]), self.draws, self.seeds(slots, "verdict"))
        right = correct(preds.numpy(), torch.cat([s.y for s in slots]).cpu().numpy(), self.stop_on)
        self._share(slots, time.perf_counter() - started)
        finished = []
        for s, p, ok in zip(slots, preds, right):
            s.forward += self.draws
            s.candidates += candidate
            if candidate and ok:
                continue  # not confirmed: attacked on
            s.outcome = {"adv": p, "broken_at": None if ok else s.t, "confirmed": bool(candidate)}
            finished.append(s)
        return finished

    @staticmethod
    def _share(slots: list[Slot], seconds: float) -> None:
        """Charge a batched call's wall time equally to the examples in it."""
        for s in slots:
            s.seconds += seconds / len(slots)
