"""What the sanity checks share: the defense and its examples, robust verdicts over K draws, the
gradient attack (run once per setting and reused), paired "beyond the interval" comparisons, and
the record every check returns.

An example is robust under an attack when K purifications of its clean input and K of its
adversarial input are both right (vote: the true label has the most votes, a tie wrong; worst:
all K right): :func:`zoo.scoring.verdicts.robust_correct`, the leaderboard's verdict. One attack
beats another *beyond the interval* when the 95% paired interval of the difference of their robust
accuracies (vote; Newcombe's, :mod:`zoo.scoring.paired`, as the leaderboard's comparisons) lies
wholly below 0: a claim the n examples support, not noise.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ...attacks import PGDEOT
from ...attacks.losses import AttackLoss
from ...common.devices import device_of
from ...reporting.sanity_report import FLAG, PASS
from ...running.draws import redraw_predictions
from ...running.shards import shard_batches
from ...scoring.intervals import wilson
from ...scoring.paired import paired_test
from ...scoring.verdicts import BINARY, correct, robust_correct
from .budget import SanityBudget

def record(name: str, flagged: bool, why: str, **figures) -> dict:
    """One check's result: ``{name, status (pass | flag), why, figures}``."""
    return {"name": name, "status": FLAG if flagged else PASS, "why": why, "figures": figures}


def _rounded(value: float) -> float:
    return round(float(value), 4)


@dataclass
class Outcome:
    """Per-example robust verdicts of one attack's examples (robust: right on clean and adversarial)."""

    attack: str
    vote: np.ndarray
    worst: np.ndarray

    def accuracy(self, metric: str = "vote") -> float:
        return float(getattr(self, metric).mean())

    def figures(self) -> dict:
        """Robust accuracy by vote and worst-of-K, each with its 95% Wilson interval."""
        n = len(self.vote)
        out = {"attack": self.attack, "n": n}
        for metric in ("vote", "worst"):
            p = self.accuracy(metric)
            out[f"robust_{metric}"] = _rounded(p)
            out[f"robust_{metric}_interval"] = [_rounded(v) for v in wilson(p, n)]
        return out


def difference(a: Outcome, b: Outcome) -> dict:
    """Robust accuracy (vote) of ``a`` minus ``b`` on the same examples, its 95% paired interval
    (Newcombe) and exact McNemar p-value (:func:`~zoo.scoring.paired.paired_test`), the
    examples robust under one attack only, and ``below``: whether the interval lies wholly below 0
    (``a`` lower beyond the interval)."""
    test = paired_test(a.vote, b.vote, "vote")
    low, high = test["difference_lo"], test["difference_hi"]
    return {"difference": _rounded(a.vote.mean() - b.vote.mean()), "interval": [_rounded(low), _rounded(high)],
            "robust_only_first": test["a_only"], "robust_only_second": test["b_only"],
            "p_value": _rounded(test["p_value"]), "below": bool(high < 0)}


class Bench:
    """A defense, its test examples and the sanity budget; the checks' common ground.

    Args:
        model: the defense (``model(x) -> logits``), judged as it is.
        x, y: the examples (pixels in [0, 1]) and their labels.
        threat, eps: the threat model and its radius.
        budget: a :class:`SanityBudget`.
    """

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, *, threat: str, eps: float, budget: SanityBudget):
        self.model, self.threat, self.eps, self.budget = model, threat, float(eps), budget
        self.device = device_of(model)
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.labels = self.y.cpu().numpy()
        self.clean = redraw_predictions(model, self.x, budget.draws, seed=self._seed("clean")).numpy()
        self.clean_vote = correct(self.clean, self.labels, "vote")
        self._gradient: dict[tuple, Outcome] = {}

    def _seed(self, label: str) -> int:
        """The redraws' seed for one attack's examples: its own, apart from the attacks' seeds."""
        return self.budget.seed * 1_000_003 + zlib.crc32(label.encode())

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_vote.mean())

    def judge(self, attack: str, x_adv: Tensor) -> Outcome:
        """The robust verdicts of adversarial examples ``x_adv`` (K fresh purifications each)."""
        adv = redraw_predictions(self.model, x_adv.to(self.device), self.budget.draws, seed=self._seed(attack)).numpy()
        return Outcome(attack, **{metric: robust_correct(self.clean, adv, self.labels, metric) for metric in BINARY})

    def run(self, attack, label: str) -> Outcome:
        """``attack`` (``(x, y) -> x_adv``) on every example, batch by batch (the attack loop's
        batches, :func:`~zoo.running.shards.shard_batches`), the defense's noise from torch's global
        RNG seeded per batch (restored afterwards), judged by K draws."""
        pieces = []
        devices = [self.device] if self.device.type == "cuda" else []
        for b, idx in shard_batches(len(self.x), self.budget.batch_size, (0, 1)):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.budget.seed + b)
                pieces.append(attack(self.x[idx.start:idx.stop], self.y[idx.start:idx.stop]))
        return self.judge(label, torch.cat(pieces))

    def pgd(self, model: nn.Module | None = None, *, eps: float | None = None, steps: int | None = None,
            eot: int | None = None, loss: AttackLoss | None = None) -> PGDEOT:
        """PGD+EOT of the budget on ``model`` (default the defense) at ``eps`` (default the bench's)."""
        eps = self.eps if eps is None else eps
        b = self.budget
        return PGDEOT(self.model if model is None else model, norm=self.threat, eps=eps, steps=steps or b.pgd_steps,
                      eot=eot or b.pgd_eot, step_size=b.pgd_step_fraction * eps, seed=b.seed, loss=loss)

    def gradient(self, eps: float | None = None, steps: int | None = None) -> Outcome:
        """The gradient attack (PGD+EOT, exact gradients, plain loss) at ``eps`` with ``steps``,
        run once per setting and reused by every check that compares against it."""
        eps = self.eps if eps is None else float(eps)
        steps = steps or self.budget.pgd_steps
        key = (eps, steps)
        if key not in self._gradient:
            label = f"pgd-eot {steps}x{self.budget.pgd_eot} eps={eps:g}"
            self._gradient[key] = self.run(self.pgd(eps=eps, steps=steps), label)
        return self._gradient[key]
