"""The attack catalogue: every attack the benchmark runs, by name, in table order, read off the
declarations the attack files register (:mod:`zoo.attacks.spec`).

Registered here: ``pgd-eot`` and its loss variants ``pgd-eot-margin``, ``pgd-eot-dlr`` and
label-aware twins ``pgd-eot-label[-<loss>]`` (:mod:`zoo.attacks.pgd_eot`); ``autoattack-<version>``
and ``autoattack-<version>-label`` (:mod:`zoo.attacks.autoattack_catalogue`); ``diffattack`` and
``diffattack-label`` (:mod:`zoo.attacks.diffattack`); ``diffhammer`` (:mod:`zoo.attacks.diffhammer`); ``stadv``, the
spatial threat's attack (:mod:`zoo.attacks.stadv`). Every module of the ``zoo.attacks`` package is
imported once on first use, so a new attack file registers itself; attacks of other packages
register through the ``agdm_zoo.attacks`` entry-point group (each entry point names a module).

Every gradient attack takes its gradients from an ``attacker`` when one is given
(:func:`zoo.attacks.gradients.attacker_model`); the defense judged stays ``model``.
"""
from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from typing import Any

from torch import nn

from .calls import ModelCalls
from .losses import check_loss
from .spec import EPS_BALL, AttackSpec, registered

ENTRY_POINTS = "agdm_zoo.attacks"
"""The entry-point group through which other packages add attacks (each names a module)."""

_loaded = False


def specs() -> dict[str, AttackSpec]:
    """Every attack's declaration by name, in table order (importing the attack modules once)."""
    global _loaded
    if not _loaded:
        _loaded = True
        package = importlib.import_module(__package__)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{__package__}.{module.name}")
        for point in metadata.entry_points(group=ENTRY_POINTS):
            importlib.import_module(point.value)
    return registered()


def spec(name: str) -> AttackSpec:
    """The declaration of attack ``name`` (``ValueError`` naming the known ones otherwise)."""
    check_attacks([name])
    return specs()[name]


def names() -> tuple[str, ...]:
    """Every attack name, in the order the tables show them."""
    return tuple(specs())


def families() -> dict[str, tuple[str, ...]]:
    """Each ``--attack`` family with its members, in table order."""
    found: dict[str, list[str]] = {}
    for s in specs().values():
        found.setdefault(s.family, []).append(s.name)
    return {family: tuple(members) for family, members in found.items()}


def threat_kind(threat: str) -> str:
    """The attacks a threat takes: its own (a spatial threat) or every eps-ball attack."""
    return threat if any(s.threat == threat for s in specs().values()) else EPS_BALL


def default_attacks(threat: str) -> tuple[str, ...]:
    """The attacks a benchmark of ``threat`` runs when none are named."""
    kind = threat_kind(threat)
    return tuple(n for n, s in specs().items() if s.default and s.threat == kind)


def variant(name: str, **options: str) -> str:
    """The member of ``name``'s family with ``options`` changed (``variant("pgd-eot-label", loss="dlr")``
    is ``pgd-eot-label-dlr``); an attack without those options is returned unchanged."""
    own = spec(name)
    if not set(options) <= set(own.options):
        return name
    wanted = {**own.options, **options}
    for other in specs().values():
        if other.family == own.family and other.options == wanted:
            return other.name
    raise ValueError(f"{own.family} has no variant {options}; its members: {list(families()[own.family])}")


def with_loss(names, loss: str) -> tuple[str, ...]:
    """``names`` with every attack that has a loss ascending ``loss`` instead (label-aware ones stay
    label-aware); other attacks unchanged."""
    check_loss(loss)
    return tuple(variant(n, loss=loss) for n in check_attacks(names))


def guided(entry) -> bool:
    """Whether ``entry``'s purification takes a label from a network (patterns plain and robust)."""
    return entry.purification is not None and entry.purification.pattern in ("plain", "robust")


def is_label_aware(name: str) -> bool:
    """Whether attack ``name`` also attacks the guidance label."""
    return spec(name).label_aware


def plain_twin(name: str) -> str:
    """The attack a label-aware attack equals on an entry with no guidance label; any other attack
    is its own twin."""
    return spec(name).plain_twin


def attacks_for(entry, names) -> tuple[str, ...]:
    """``names`` as run on ``entry``: label-aware attacks only where there is a label to attack
    (elsewhere they would repeat the plain attack)."""
    return tuple(n for n in check_attacks(names) if not is_label_aware(n) or guided(entry))


def autoattack_version(name: str) -> str | None:
    """``standard`` / ``rand`` for an AutoAttack (plain or label-aware), ``None`` for any other."""
    return specs()[name].options.get("version") if name in specs() else None


def check_attacks(names) -> tuple[str, ...]:
    """``names`` as a tuple, refusing any attack the catalogue does not know."""
    unknown = sorted(set(names) - set(specs()))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {list(specs())}")
    return tuple(names)


def check_threat(threat: str, names) -> tuple[str, ...]:
    """``names``, refusing attacks that do not belong to ``threat``: a spatial threat runs only its
    own attacks, an eps-ball threat none of them."""
    names = check_attacks(names)
    kind = threat_kind(threat)
    wrong = [n for n in names if specs()[n].threat != kind]
    if wrong:
        allowed = [n for n, s in specs().items() if s.threat == kind]
        homes = sorted({specs()[n].threat for n in wrong if specs()[n].threat != EPS_BALL})
        hint = "".join(f"; use --threat {home} for its own attacks" for home in homes)
        raise ValueError(f"attack(s) {wrong} do not run under the {threat} threat; it takes {allowed}{hint}")
    return names


def describe(names) -> dict[str, dict[str, Any]]:
    """What reporting needs of each attack (title, legend, order, plain twin), for the provenance."""
    return {n: spec(n).describe() for n in names}


def build_attack(name: str, model: nn.Module, *, norm: str, eps: float, seed: int, budget,
                 attacker: nn.Module | None = None) -> Any:
    """The attack called ``name`` on ``model`` with ``budget``'s settings (the fields of
    :class:`zoo.registry.schema.Budget`), taking its gradients from ``attacker`` when given."""
    return spec(name).build(model, norm=norm, eps=eps, seed=seed, budget=budget, attacker=attacker)


def attack_calls(attack: str, budget) -> ModelCalls:
    """Model calls per example of one attack with ``budget``, without the benchmark's K
    re-classifications (a label term makes no model call: the estimate counts its evaluations)."""
    return spec(attack).calls(budget)


def __getattr__(name: str) -> Any:
    """Read-only views of the live catalogue: ``ATTACK_ORDER`` (every name, table order),
    ``TITLES`` (name -> title, where it differs from the name), ``DEFAULT_ATTACKS`` (eps-balls')."""
    if name == "ATTACK_ORDER":
        return names()
    if name == "TITLES":
        return {n: s.title for n, s in specs().items() if s.title != n}
    if name == "DEFAULT_ATTACKS":
        return default_attacks("Linf")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
