"""Attacker gradients, separate from the defense (Lee & Kim's attacker / defender split).

An attack differentiates one module and the defense evaluated is another: the real defended
classifier always decides whether an adversarial example counts. :func:`attacker_model` builds
the module the attack takes its gradients from:

    ``exact``      the defended classifier itself: the whole reverse chain and the guidance,
                   double backward (the default, and the only gradient a robustness claim rests on)
    ``bpda``       forward = the real purified classification; backward = identity through the
                   purifier, i.e. the classifier's input gradient at the purified point
                   (Athalye et al.'s BPDA)
    ``blind``      the classifier alone, at the input (the purifier ignored)
    ``surrogate``  the gradient of another chain: fewer steps, a smaller t*, or no guidance
                   (``zoo.registry.resolve.with_overrides``), sharing the same networks

Everything but ``exact`` is a WEAKER, ABLATION-ONLY attack: it shows how much a number depends on
the gradient (DiffBreak: DiffPure's robust accuracy is far higher under an approximate gradient
than under the exact one), never a defense's robustness. Each module says so in ``label`` and
``is_ablation``, for records, tables and model cards to print.

    from zoo.attacks import PGDEOT
    from zoo.attacks.gradients import attacker_model
    attack = PGDEOT(model, norm="Linf", eps=0.3).with_attacker(attacker_model(model, "bpda"))
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..models.factory import assemble
from ..registry.resolve import OVERRIDABLE, with_overrides

GRADIENT_MODES = ("exact", "bpda", "blind", "surrogate")

ABLATION_LABEL = "weaker, ablation-only attack"


def gradient_label(mode: str, overrides: Mapping[str, Any] | None = None) -> str:
    """How records, tables and model cards name an attacker gradient: the mode, a surrogate's chain
    settings, and the ablation warning for every mode but ``exact``."""
    if mode == "exact":
        return mode
    settings = ", ".join(f"{k}={v}" for k, v in sorted((overrides or {}).items()))
    return f"{mode}[{settings}] ({ABLATION_LABEL})" if mode == "surrogate" else f"{mode} ({ABLATION_LABEL})"


def check_gradient(mode: str, surrogate: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """``surrogate`` checked against ``mode``: the surrogate gradient needs its chain's settings
    (keys of :data:`zoo.registry.resolve.OVERRIDABLE`), every other mode takes none. Returns the
    settings as a dict (``None`` for the other modes)."""
    if mode not in GRADIENT_MODES:
        raise ValueError(f"attacker gradient must be one of {GRADIENT_MODES}, got {mode!r}")
    if mode != "surrogate":
        if surrogate:
            raise ValueError(f"only the surrogate attacker gradient takes chain settings, got {dict(surrogate)} "
                             f"for {mode!r}")
        return None
    if not surrogate:
        raise ValueError("the surrogate attacker gradient needs its chain's settings, e.g. steps=2 or pattern=none")
    unknown = sorted(set(surrogate) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown surrogate setting(s) {unknown}; allowed: {list(OVERRIDABLE)}")
    return dict(surrogate)


def applicable_gradient(entry, mode: str, surrogate: Mapping[str, Any] | None = None
                        ) -> tuple[str, dict[str, Any] | None]:
    """(mode, surrogate settings) an entry is attacked with: the ones asked for where ``entry``
    purifies, ``exact`` for a plain classifier (whose gradient every mode would give, and which
    has no chain for a surrogate). One rule for the run and its estimate."""
    return (mode, surrogate) if entry.purification is not None else ("exact", None)


class AttackerModel(nn.Module):
    """The module an attack differentiates; ``defense`` is the real model, evaluated as it is.

    Attributes:
        mode: one of :data:`GRADIENT_MODES`.
        defense: the defended classifier the attack's examples are judged on.
        is_ablation: ``True`` for every mode but ``exact``.
        label: the mode as tables print it, with the ablation warning where it applies.
    """

    mode = "exact"

    def __init__(self, defense: nn.Module):
        super().__init__()
        self.defense = defense

    @property
    def is_ablation(self) -> bool:
        return self.mode != "exact"

    @property
    def label(self) -> str:
        return gradient_label(self.mode)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The defense's own logits and gradient (``exact``)."""
        return self.defense(x, generator)


class BPDA(AttackerModel):
    """Weaker, ablation-only: the real purified classification, differentiated as if the purifier
    were the identity (straight-through), so the input gradient is the classifier's gradient at
    the purified point. The purification runs without a graph (cheap, no double backward)."""

    mode = "bpda"

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            purified = self.defense.purify(x.detach(), generator)
        return self.defense.classifier(x + (purified - x).detach())


class Blind(AttackerModel):
    """Weaker, ablation-only: the classifier alone at the input, as if there were no purifier."""

    mode = "blind"

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.defense.validate(x)
        return self.defense.classifier(x)


class Surrogate(AttackerModel):
    """Weaker, ablation-only: the gradient of another chain built from the same networks (shared,
    not copied) with purification settings replaced, e.g. ``steps=2`` (fewer reverse steps) or
    ``pattern="none"`` (no guidance). Its forward is that chain's classification, not the
    defense's; the defense evaluated stays the real one (``defense``)."""

    mode = "surrogate"

    def __init__(self, defense: nn.Module, **overrides):
        super().__init__(defense)
        if not overrides:
            raise ValueError("surrogate needs purification overrides for its chain, e.g. steps=2 or "
                             "pattern='none'")
        self.overrides = dict(overrides)
        entry = with_overrides(defense.config, **overrides)
        purifier = defense.purifier
        guidance_net = None if purifier.guidance is None else purifier.guidance.net
        grad_mode = purifier.grad_mode
        self.chain = assemble(entry, defense.classifier, purifier.eps_net, guidance_net, grad_mode)

    @property
    def label(self) -> str:
        return gradient_label(self.mode, self.overrides)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.chain(x, generator)


_MODES = {"exact": AttackerModel, "bpda": BPDA, "blind": Blind, "surrogate": Surrogate}


def attacker_model(model: nn.Module, mode: str = "exact", **kw) -> AttackerModel:
    """The module an attack on ``model`` takes its gradients from, in gradient ``mode`` (one of
    :data:`GRADIENT_MODES`); ``kw`` are the surrogate chain's purification overrides (``steps``,
    ``t_star``, ``pattern``, ...). Every mode but ``exact`` is a weaker, ablation-only attack.

    ``bpda``, ``blind`` and ``surrogate`` need a zoo defended classifier (``purify``,
    ``classifier``; ``surrogate`` also a purifier and its registry ``config``)."""
    if mode not in _MODES:
        raise ValueError(f"gradient mode must be one of {GRADIENT_MODES}, got {mode!r}")
    if kw and mode != "surrogate":
        raise ValueError(f"only the surrogate gradient takes chain overrides, got {sorted(kw)} for {mode!r}")
    if mode != "exact":
        needs = ("purify", "classifier", "validate") + (("purifier", "config") if mode == "surrogate" else ())
        missing = [name for name in needs if not hasattr(model, name)]
        if missing or (mode == "surrogate" and model.purifier is None):
            what = f"lacks {', '.join(missing)}" if missing else "has no purifier"
            raise ValueError(f"gradient mode {mode!r} needs a zoo defended classifier with a purifier; "
                             f"{type(model).__name__} {what}")
    return _MODES[mode](model, **kw)
