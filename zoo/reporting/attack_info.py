"""What reporting knows of an attack: only what a run recorded of it. The running side writes each
attack's description into the provenance (``attacks``: name -> title, legend, order, plain twin,
label-aware; :func:`zoo.attacks.catalogue.describe`), and tables read it from there, so reporting
never imports the attacks. Results written before runs recorded it keep the order their files
were written in and get no legend."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

WORST_CASE = "worst-case"
"""The combined row: robust only if robust under every attack."""

Info = Mapping[str, Mapping[str, Any]]
"""Attack name -> its recorded description."""


def recorded(provenance: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The attack descriptions a run's provenance holds (``{}`` for older runs)."""
    info = (provenance or {}).get("attacks")
    return dict(info) if isinstance(info, Mapping) else {}


def ordered(attacks: Iterable[str], info: Info | None = None) -> list[str]:
    """``attacks`` without repeats, the worst case last: by their recorded table order where known
    (others after them, by name); without descriptions, in the order given."""
    attacks = list(dict.fromkeys(attacks))
    unique = [a for a in attacks if a != WORST_CASE]
    if info:
        unique.sort(key=lambda a: (0, info[a]["order"], a) if a in info else (1, 0, a))
    return unique + ([WORST_CASE] if WORST_CASE in attacks else [])


def title(attack: str, info: Info | None = None) -> str:
    """How outputs name ``attack`` (its recorded title, else its name)."""
    return (info or {}).get(attack, {}).get("title") or attack


def plain_twin(attack: str, info: Info | None = None) -> str:
    """The attack a label-aware attack equals on an entry without a guidance label (itself for any
    other attack, or where nothing was recorded)."""
    return (info or {}).get(attack, {}).get("plain_twin") or attack


def legend(attacks: Iterable[str], info: Info | None = None) -> str:
    """``Attacks: pgd-eot = pgd-eot (Lee & Kim loss); ...`` for the attacks whose title says more
    than their name, with each recorded one-sentence legend; ``""`` when there is none."""
    named = []
    for attack in attacks:
        described = (info or {}).get(attack, {})
        text = title(attack, info)
        text = f"{attack} = {text}" if text != attack else ""
        if described.get("legend"):
            text = f"{text or attack}: {described['legend']}"
        if text:
            named.append(text)
    return "Attacks: " + "; ".join(named) + "." if named else ""
