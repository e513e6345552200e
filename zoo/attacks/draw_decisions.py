"""Decisions over repeated purifications, for attacks written for deterministic models.

An attack library such as AutoAttack decides, without gradients, which examples to attack and
which are already broken, each time from ONE forward pass. On a stochastic defense one pass is one
random draw: an example that happens to be misclassified on that draw is skipped (and later scored
on fresh draws, where it is usually right), and an iterate that happens to be misclassified once
is declared a success. :class:`RepeatedDraws` wraps the defense so that every such decision is
taken over ``draws`` independent purifications, while gradient calls stay single draws (EOT is
the attack's own business).

Rules, per example (row) of a forward pass without gradients:

- rows whose true label the wrapper was told (:meth:`RepeatedDraws.labelled`: the clean inputs of
  the batch under attack and every candidate recorded for them) count as correctly classified
  unless EVERY draw misclassifies them, so they are attacked (and kept under attack) until they are
  broken on all draws: the logits returned are those of the first correct draw;
- other rows get the majority vote of the draws (a tie goes to the class drawn first): the logits
  returned are those of the first draw that voted for it.

For a deterministic model all draws predict the same class, so every decision is the single
pass's and the logits returned are the first draw's, bit for bit: that draw is the very call the
unwrapped attack would make (the other draws run as one batched call).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn


def row_keys(x: Tensor) -> list[bytes]:
    """One hashable key per row of ``x``: its float32 bytes (attacks convert inputs to float32)."""
    flat = x.detach().to(device="cpu", dtype=torch.float32).flatten(1).contiguous()
    return [row.numpy().tobytes() for row in flat]


class RepeatedDraws(nn.Module):
    """``model`` with its gradient-free decisions taken over ``draws`` purifications (see module doc).

    ``forward`` with gradients enabled is one call of ``model`` (or of ``gradient_model`` where an
    attacker gradient is set, :mod:`.gradients`); without, the logits of the draw
    the rules pick among ``draws`` (:meth:`draw_logits`: two calls, the first the unwrapped one).
    :meth:`correct_fraction` scores candidate points against known labels.
    """

    def __init__(self, model: nn.Module, draws: int):
        super().__init__()
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an int >= 1, got {draws!r}")
        self.model = model
        self.gradient_model: nn.Module | None = None  # None: gradient calls go to ``model``
        self.draws = draws
        self.known: dict[bytes, int] = {}  # row key -> true label

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            return (self.model if self.gradient_model is None else self.gradient_model)(x)
        logits = self.draw_logits(x)
        preds = logits.argmax(-1)  # draws x N
        chosen = _majority_draw(preds)
        if self.known:
            labels = [self.known.get(key, -1) for key in row_keys(x)]
            label = torch.tensor(labels, device=preds.device)
            correct = preds == label
            first_correct = correct.to(torch.int8).argmax(0)
            chosen = torch.where(correct.any(0) & (label >= 0), first_correct, chosen)
        return logits[chosen, torch.arange(len(x), device=logits.device)]

    @torch.no_grad()
    def draw_logits(self, x: Tensor) -> Tensor:
        """Logits of ``draws`` independent purifications of ``x``: draws x N x classes. The first
        draw is one call on ``x`` (the call an unwrapped attack makes), the others one batched call."""
        first = self.model(x)
        if self.draws == 1:
            return first[None]
        rest = self.model(x.repeat(self.draws - 1, *([1] * (x.dim() - 1))))
        return torch.cat([first[None], rest.view(self.draws - 1, *first.shape)])

    @torch.no_grad()
    def correct_fraction(self, x: Tensor, y: Tensor) -> Tensor:
        """Per row, the fraction of ``draws`` purifications that classify ``x`` as ``y`` (N floats)."""
        preds = self.draw_logits(x).argmax(-1)
        return (preds == y.to(preds.device)).float().mean(0)

    def remember(self, x: Tensor, y: Tensor) -> None:
        """Rows of ``x`` have true labels ``y`` (first label given wins for a repeated row)."""
        for key, label in zip(row_keys(x), y.tolist()):
            self.known.setdefault(key, int(label))

    @contextlib.contextmanager
    def labelled(self, x: Tensor, y: Tensor) -> Iterator["RepeatedDraws"]:
        """Within the block, rows equal to a row of ``x`` (and any row :meth:`remember` adds) are
        decided against their true label ``y``; forgotten on exit."""
        self.remember(x, y)
        try:
            yield self
        finally:
            self.known.clear()


def _majority_draw(preds: Tensor) -> Tensor:
    """Per column of ``preds`` (draws x N), the first draw whose class has the most votes."""
    votes = torch.zeros(preds.shape[1], int(preds.max()) + 1, dtype=torch.long, device=preds.device)
    votes.scatter_add_(1, preds.T, torch.ones_like(preds.T))
    top = votes.max(1).values
    in_majority = votes.gather(1, preds.T).T == top  # draws x N
    return in_majority.to(torch.int8).argmax(0)
