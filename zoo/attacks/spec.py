"""What an attack declares about itself, and the registry of those declarations.

Every attack file registers its catalogue names here (timm's ``@register_model`` idea, for
attacks): how the attack is built from a run's budget, what it costs in model calls per example
(for ``--estimate``), which threats it runs under, whether it also attacks the guidance label, how
outputs name and explain it, and whether a benchmark runs it by default. The catalogue
(:mod:`zoo.attacks.catalogue`), the command line's ``--attack`` choices, the tables' legends and the
estimate are all read off these declarations, so adding an attack is one new file in
``zoo/attacks/`` (found by :func:`zoo.attacks.catalogue.specs`) plus its tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .calls import ModelCalls

EPS_BALL = "eps-ball"
"""An attack of every eps-ball threat (``Linf``, ``L2``)."""

LABEL_TERMS = ("step", "gradient-call")

Builder = Callable[..., Any]
"""``build(model, *, norm, eps, seed, budget, attacker) -> attack``: ``budget`` has the fields of
:class:`zoo.registry.schema.Budget`; ``attacker`` (or ``None``) is where gradients come from."""


@dataclass(frozen=True)
class AttackSpec:
    """One catalogue attack, as its file declares it.

    Attributes:
        name: the catalogue name (``pgd-eot-dlr``), unique.
        family: what ``--attack`` selects it by (``pgd-eot``, ``autoattack-label``, ...); a family's
            members differ only in ``options``.
        build: :data:`Builder`.
        calls: ``budget -> ModelCalls`` per example, without the benchmark's K re-classifications.
        order: where tables show it (lower first).
        title: how outputs name it (default: the name).
        legend: one sentence for the tables' notes ("" for none).
        threat: :data:`EPS_BALL` or the one spatial threat it belongs to (``StAdv``).
        label_aware: it also attacks the guidance label, so it runs only on guided entries.
        plain_twin: what it equals on an entry without a label (label-aware attacks; else itself).
        default: a benchmark of its threat runs it when no attack is named.
        options: the variant it is within its family (``{"loss": "dlr"}``, ``{"version": "rand"}``),
            which ``--loss`` and ``--version`` select by.
        anytime: the attack has an ``anytime`` method (the anytime protocol judges its iterates).
        label_term: label-aware only: when the label network's gradient is taken, once per attack
            ``step`` or with every ``gradient-call`` (for the estimate).
    """

    name: str
    family: str
    build: Builder
    calls: Callable[[Any], ModelCalls]
    order: int
    title: str = ""
    legend: str = ""
    threat: str = EPS_BALL
    label_aware: bool = False
    plain_twin: str = ""
    default: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    anytime: bool = False
    label_term: str = "step"

    def __post_init__(self) -> None:
        if not self.name or not self.family:
            raise ValueError("an attack needs a name and a family")
        if self.label_term not in LABEL_TERMS:
            raise ValueError(f"{self.name}: label_term must be one of {LABEL_TERMS}, got {self.label_term!r}")
        object.__setattr__(self, "title", self.title or self.name)
        object.__setattr__(self, "plain_twin", self.plain_twin or self.name)
        object.__setattr__(self, "options", dict(self.options))

    def describe(self) -> dict[str, Any]:
        """What reporting needs to know of the attack (title, legend, order, plain twin, label-aware),
        JSON-able: recorded in a run's provenance, so tables never import the attacks."""
        return {"title": self.title, "legend": self.legend, "order": self.order, "plain_twin": self.plain_twin,
                "label_aware": self.label_aware}


_REGISTRY: dict[str, AttackSpec] = {}


def register(spec: AttackSpec) -> AttackSpec:
    """Add ``spec`` to the catalogue (an attack file calls this at import); a name registered twice
    with another declaration is refused."""
    known = _REGISTRY.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"attack {spec.name!r} is registered twice with different declarations")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove attack ``name`` from the catalogue (for tests of a registration; a no-op if absent)."""
    _REGISTRY.pop(name, None)


def registered() -> dict[str, AttackSpec]:
    """Every registered attack by name, in table order."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].order, item[0])))
