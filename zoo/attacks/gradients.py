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

:class:`LabelAware` is not a mode but a layer over any of them: logits that also carry the label
network's prediction on x', so attacks with their own losses (AutoAttack) attack the guidance label.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..common.wording import ABLATION_LABEL
from ..models.factory import assemble
from ..registry.resolve import OVERRIDABLE, with_overrides
from .losses import check_label_term, label_network

ATTACKER_GRADIENTS = ("exact", "bpda", "blind", "surrogate")
"""Which gradient the attacker follows (``attacker_grad``, ``--attacker-grad``); not how that
gradient is computed through the chain, which is the purifier's ``grad_mode``
(:data:`zoo.models.purifier.GRAD_MODES`: the same exact gradient by three memory strategies)."""


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
    if mode not in ATTACKER_GRADIENTS:
        raise ValueError(f"attacker gradient must be one of {ATTACKER_GRADIENTS}, got {mode!r}")
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
        mode: one of :data:`ATTACKER_GRADIENTS`.
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
    :data:`ATTACKER_GRADIENTS`); ``kw`` are the surrogate chain's purification overrides (``steps``,
    ``t_star``, ``pattern``, ...). Every mode but ``exact`` is a weaker, ablation-only attack.

    ``bpda``, ``blind`` and ``surrogate`` need a zoo defended classifier (``purify``,
    ``classifier``; ``surrogate`` also a purifier and its registry ``config``)."""
    if mode not in _MODES:
        raise ValueError(f"gradient mode must be one of {ATTACKER_GRADIENTS}, got {mode!r}")
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


class LabelAware(nn.Module):
    """Logits that attack the final classification and the guidance label at once, for attacks that
    bring their own losses and see the model only as ``x -> logits`` (AutoAttack's APGD-CE, APGD-DLR,
    APGD-T, FAB, FAB-T):

        z(x') = log_softmax(base(x')) + w * log_softmax(label_net(x'))

    ``base`` is the attacker gradient's module (the defense itself for ``exact``, or any
    :class:`AttackerModel`), ``label_net`` the network whose argmax on x' is the guidance label (it
    passes no gradient through the argmax, so without this term no loss of ``base`` tries to move
    the label). z is the log of the unnormalised product of experts p_final * p_label^w: a
    classifier that keeps class y only while both networks keep it. Why this form:

    - one K-class logits tensor with the classes' meaning kept, which is all AutoAttack's losses
      take (two stacked heads or a scalar loss would not fit them);
    - log-probabilities, not raw logits, so the two terms are on one scale whatever each network's
      logit scale, and ``w`` weighs two log-likelihoods (``w = 0``: the plain attack's gradient);
    - CE(z, y) = CE(final, y) + w * CE(label, y) + log sum_c p_final(c) p_label(c)^w: the label-aware
      PGD+EOT loss (:class:`~zoo.attacks.losses.LabelAwareLoss`) plus a normaliser that grows when
      the two experts agree, i.e. ascending it also pushes them towards the same wrong class, the
      class a defense that follows its label then outputs;
    - DLR is unchanged by shifting z per example, so DLR(z) is the DLR of final + w * label logits
      after each is centred by its log-sum-exp: its margin is the sum of the two log-probability
      margins against the best wrong class of the pair, and the targeted variants (APGD-T, FAB-T)
      pick their targets from the pair's top classes.

    Only gradient calls come here: the sub-attacks' bookkeeping may read z's argmax, but every
    decision and every score is taken on the real defense (:class:`~.draw_decisions.RepeatedDraws`,
    :func:`~.least_robust.least_robust_points`). Forward-only attacks (Square, whose queries are
    decisions) therefore see the real defense and stay plain; the label-aware part of AutoAttack is
    its gradient attacks.

    Attributes:
        base, label_net, weight: as above. ``mode``, ``is_ablation``, ``label`` and ``defense`` are
        ``base``'s (``exact`` and the defense when ``base`` is the defense itself).
    """

    def __init__(self, base: nn.Module, label_net: nn.Module, weight: float = 1.0):
        super().__init__()
        self.base, self.label_net = base, label_net
        self.weight = check_label_term(label_net, weight, "attacker", "attack")

    @property
    def mode(self) -> str:
        return getattr(self.base, "mode", "exact")

    @property
    def is_ablation(self) -> bool:
        return self.mode != "exact"

    @property
    def label(self) -> str:
        return getattr(self.base, "label", gradient_label("exact"))

    @property
    def defense(self) -> nn.Module:
        return getattr(self.base, "defense", self.base)

    def forward(self, x: Tensor, *args) -> Tensor:
        final = F.log_softmax(self.base(x, *args), dim=-1)
        return final + self.weight * F.log_softmax(self.label_net(x), dim=-1)


def label_aware_attacker(model: nn.Module, attacker: nn.Module | None = None, weight: float = 1.0) -> LabelAware:
    """:class:`LabelAware` over ``attacker`` (default: ``model`` itself, the exact gradient) with
    ``model``'s own label network (``ValueError`` if it has none)."""
    return LabelAware(model if attacker is None else attacker, label_network(model), weight)
