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
  iterates of every restart and target, FAB's and Square's results, each sub-attack's output) is
  scored over R draws, and the example keeps the one with the fewest correct draws (the first such
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
    draws. Points are mapped to examples by their clean rows (the sub-attacks pass subsets)."""

    def __init__(self, decider: RepeatedDraws, x: Tensor, y: Tensor, best: Tensor, score: Tensor,
                 in_ball):
        self.decider, self.x, self.y = decider, x, y
        self.best, self.score = best.clone(), score.clone()
        self.in_ball = in_ball
        self.position = {key: i for i, key in reversed(list(enumerate(row_keys(x))))}

    def positions(self, clean: Tensor) -> Tensor:
        return torch.tensor([self.position[key] for key in row_keys(clean)], dtype=torch.long)

    def offer(self, points: Tensor, at: Tensor) -> Tensor:
        """Score ``points`` (of the examples at positions ``at``) over R draws, keep each one that is
        less robust than the example's kept point and inside the ball; return the scores."""
        points = points.detach().to(self.x.dtype)
        labels = self.y[at]
        scores = self.decider.correct_fraction(points, labels).to(self.score.device)
        ok = self.in_ball(points, self.x[at]).to(scores.device)
        better = ok & (scores < self.score[at])
        self.best[at[better]] = points[better.to(points.device)].to(self.best.device)
        self.score[at[better]] = scores[better]
        self.decider.remember(points[ok.to(points.device)], labels[ok.to(labels.device)])
        return torch.where(ok, scores, torch.ones_like(scores))


@contextlib.contextmanager
def recording(adversary, kept: Kept) -> Iterator[None]:
    """Within the block, every single run of a sub-attack offers its points to ``kept``, and
    APGD's "still robust" flags are re-decided over R draws (broken only if wrong on all)."""
    originals = {}

    def apgd_run(attack):
        original = attack.attack_single_run

        def run(x, y, x_init=None):
            x_best, acc, loss_best, x_best_adv = original(x, y, x_init)
            at = kept.positions(x)
            scores = torch.minimum(kept.offer(x_best_adv, at), kept.offer(x_best, at))
            return x_best, (scores > 0).to(acc.device), loss_best, x_best_adv
        return original, run

    def fab_run(attack):
        original = attack.attack_single_run

        def run(x, y=None, use_rand_start=False, is_targeted=False):
            adv = original(x, y, use_rand_start=use_rand_start, is_targeted=is_targeted)
            kept.offer(adv, kept.positions(x))
            return adv
        return original, run

    def square_run(attack):
        original = attack.attack_single_run

        def run(x, y):
            queries, x_best = original(x, y)
            kept.offer(x_best, kept.positions(x))
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
                    adv = run_sub_attack(adversary, name, xb, yb)
                    kept.offer(adv, torch.arange(len(idx)))
                best[idx], score[idx] = kept.best, kept.score
        if not bool((score > 0).any()):
            break
    return best, score
