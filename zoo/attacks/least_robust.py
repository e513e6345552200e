"""AutoAttack's evaluation loop with repeated-draw decisions, keeping each example's least robust point.

pyautoattack's ``run_standard_evaluation`` classifies every input once, attacks only the examples
that single draw got right, lets each sub-attack filter again on single draws, and returns the
clean input for every example no sub-attack was judged to break. On a stochastic defense the
returned clean inputs are then scored on fresh draws, mostly as robust: an upward bias. This loop
runs the same sub-attacks, configured and seeded as ``run_standard_evaluation`` does, but:

- every example is handed to the first sub-attack (the ones wrong on every clean draw in batches
  after the others, so the batches of a deterministic model are plain AutoAttack's);
- the sub-attacks see the defense through :class:`~zoo.attacks.draw_decisions.RepeatedDraws`:
  their gradient-free decisions are taken over R purifications, and an example counts as broken
  only when all R draws misclassify it;
- every point a sub-attack exposes for an example (APGD's best-loss and last misclassified
  iterates of every restart and target, FAB's and Square's result of every run; a sub-attack's
  output is one of these or the clean input) is scored over R draws, and the example keeps the one with the fewest correct draws (the first such
  point on a tie), if it lies inside the threat model;
- an example leaves the loop only when its kept point is wrong on all R draws.

For a deterministic model every decision equals the single pass's, so the result is plain
``run_standard_evaluation``'s (tests/test_honest_autoattack.py checks this).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor

from .draw_decisions import RepeatedDraws, row_keys


class Kept:
    """Per example of one batch: the least robust point offered so far and its fraction of correct
    draws. Points are mapped to examples by their clean rows (the sub-attacks pass subsets); a point
    found for one of several identical clean inputs (same label) is offered to each of them."""

    def __init__(self, decider: RepeatedDraws, x: Tensor, y: Tensor, best: Tensor, score: Tensor, in_ball):
        self.decider, self.y, self.in_ball = decider, y, in_ball
        self.best, self.score = best.clone(), score.clone()
        self.positions: dict[bytes, list[int]] = {}
        for i, key in enumerate(row_keys(x)):
            self.positions.setdefault(key, []).append(i)

    def offer(self, candidates: list[Tensor], clean: Tensor) -> Tensor:
        """Score each tensor of ``candidates`` (points for the rows of ``clean``) over R draws, in one
        batched scoring; in order, keep each point that is inside the ball and less robust than the
        kept point of its example(s). Returns each row's least score (1 for a point outside)."""
        pairs = [(row, at) for row, key in enumerate(row_keys(clean)) for at in self.positions[key]]
        rows = torch.tensor([row for row, _ in pairs], dtype=torch.long)
        at = torch.tensor([at for _, at in pairs], dtype=torch.long)
        n, k = len(clean), len(candidates)
        labels = self.y[torch.tensor([self.positions[key][0] for key in row_keys(clean)], dtype=torch.long)]
        points = torch.cat([c.detach().to(self.best.dtype) for c in candidates])
        scores = self.decider.correct_fraction(points, labels.repeat(k)).to(self.score.device)
        ok = self.in_ball(points, clean.to(points.dtype).repeat(k, *([1] * (clean.dim() - 1)))).to(scores.device)
        scores = torch.where(ok, scores, torch.ones_like(scores)).view(k, n)
        for c in range(k):
            offered = scores[c, rows]
            better = offered < self.score[at]
            self.best[at[better]] = points[(c * n + rows[better]).to(points.device)].to(self.best.device)
            self.score[at[better]] = offered[better]
        inside = ok.to(points.device)
        self.decider.remember(points[inside], labels.repeat(k)[inside.to(labels.device)])
        return scores.amin(0)


@contextlib.contextmanager
def recording(adversary, kept: Kept) -> Iterator[None]:
    """Within the block, every single run of a sub-attack offers its points to ``kept``, and
    APGD's "still robust" flags are re-decided over R draws (broken only if wrong on all)."""
    originals = {}

    def apgd_run(attack):
        original = attack.attack_single_run

        def run(x, y, x_init=None):
            x_best, acc, loss_best, x_best_adv = original(x, y, x_init)
            scores = kept.offer([x_best_adv, x_best], x)
            return x_best, (scores > 0).to(acc.device), loss_best, x_best_adv
        return original, run

    def fab_run(attack):
        original = attack.attack_single_run

        def run(x, y=None, use_rand_start=False, is_targeted=False):
            adv = original(x, y, use_rand_start=use_rand_start, is_targeted=is_targeted)
            kept.offer([adv], x)
            return adv
        return original, run

    def square_run(attack):
        original = attack.attack_single_run

        def run(x, y):
            queries, x_best = original(x, y)
            kept.offer([x_best], x)
            return queries, x_best
        return original, run

    for attack, wrap in ((adversary.apgd, apgd_run), (adversary.apgd_targeted, apgd_run),
                         (adversary.fab, fab_run), (adversary.square, square_run)):
        originals[attack], attack.attack_single_run = wrap(attack)
    try:
        yield
    finally:
        for attack, original in originals.items():
            attack.attack_single_run = original


def run_sub_attack(adversary, name: str, x: Tensor, y: Tensor) -> Tensor:
    """One AutoAttack sub-attack on (x, y), set up as ``run_standard_evaluation`` sets it up."""
    seed = adversary.get_seed()
    if name in ("apgd-ce", "apgd-dlr"):
        adversary.apgd.loss, adversary.apgd.seed = name.removeprefix("apgd-"), seed
        return adversary.apgd.perturb(x, y)
    if name == "apgd-t":
        adversary.apgd_targeted.seed = seed
        return adversary.apgd_targeted.perturb(x, y)
    if name in ("fab", "fab-t"):
        adversary.fab.targeted = name == "fab-t"
        if adversary.fab.targeted:
            adversary.fab.n_restarts = 1  # as run_standard_evaluation: FAB-T runs once per target
        adversary.fab.seed = seed
        return adversary.fab.perturb(x, y)
    if name == "square":
        adversary.square.seed = seed
        return adversary.square.perturb(x, y)
    raise ValueError(f"unknown AutoAttack sub-attack {name!r}")


@torch.no_grad()
def least_robust_points(adversary, decider: RepeatedDraws, x: Tensor, y: Tensor, *, batch_size: int,
                        in_ball) -> tuple[Tensor, Tensor]:
    """Every example's least robust point over ``adversary.attacks_to_run`` and its fraction of R
    correct draws (see the module docstring). ``in_ball(points, clean)`` says which points are in
    the threat model."""
    best = x.clone()
    score = torch.cat([decider.correct_fraction(xb, yb).cpu()
                       for xb, yb in zip(x.split(batch_size), y.split(batch_size))]) if len(x) else \
        torch.zeros(0)
    for step, name in enumerate(adversary.attacks_to_run):
        live = torch.nonzero(score > 0).flatten()
        groups = [live]
        if step == 0:
            groups.append(torch.nonzero(score <= 0).flatten())  # wrong on every clean draw: attacked too
        for group in groups:
            for idx in group.split(batch_size) if len(group) else ():
                xb, yb = x[idx], y[idx]
                kept = Kept(decider, xb, yb, best[idx], score[idx], in_ball)
                with decider.labelled(xb, yb), recording(adversary, kept):
                    run_sub_attack(adversary, name, xb, yb)  # its output is among the points offered
                best[idx], score[idx] = kept.best, kept.score
        if not bool((score > 0).any()):
            break
    return best, score
