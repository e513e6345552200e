"""The tables' note on what each attack cost per example, read from a run's provenance
(``attack_costs``, written by :func:`zoo.running.costs.measured_costs`): model calls and seconds,
and under the anytime protocol the final protocol's calls at the same budget, the gradient calls
saved and the candidate breaks confirmed."""
from __future__ import annotations

from typing import Any, Mapping


def _calls(calls: Mapping[str, Any]) -> str:
    return f"{calls['gradient']:g} gradient + {calls['forward']:g} forward calls"


def cost_line(model: str, attack: str, cost: Mapping[str, Any]) -> str:
    """One attack's cost on one model, as a markdown list item."""
    line = f"- {model}, {attack}: {cost['seconds_per_example']:g} s and {_calls(cost['calls_per_example'])} per example"
    if cost.get("protocol") != "anytime":
        return line + " (final protocol; calls counted from the budget)"
    return (line + f" (anytime, measured; the final protocol at this budget: {_calls(cost['final_calls_per_example'])}; "
            f"{100 * cost['gradient_saved']:.0f}% of gradient calls saved; {cost['confirmed']} of "
            f"{cost['candidates']} candidate breaks from the EOT samples confirmed by K fresh draws)")


def cost_lines(provenance: Mapping[str, Any]) -> list[str]:
    """The cost note's markdown lines (with a trailing blank line), ``[]`` for runs that did not record it."""
    costs = provenance.get("attack_costs") or {}
    lines = [cost_line(model, attack, cost) for model, by_attack in sorted(costs.items())
             for attack, cost in by_attack.items()]
    if not lines:
        return []
    return ["Cost per example (model calls are single-image purifications; seconds: this hardware, "
            "all invocations):", "", *lines, ""]
