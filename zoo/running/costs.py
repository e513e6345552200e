"""What attacks cost per example, in model calls and seconds: predicted for the anytime protocol
from an assumed break curve (``--estimate``), and measured from a run's records (its provenance,
which the tables' notes read), beside what the final protocol costs at the same budget.

Model calls count single-image purifications: ``gradient`` (with a backward pass; PGD+EOT spends
``eot`` per step) and ``forward`` (no backward: the K re-draws, clean and adversarial, and under
the anytime protocol the K-draw confirmations of candidates).
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

from ..attacks.calls import ModelCalls
from ..attacks.catalogue import attack_calls, spec
from .draws import redraw_calls


@dataclass(frozen=True)
class BreakCurve:
    """An ASSUMED break curve, for predicting the anytime protocol's cost before a run: a fraction
    ``broken`` of the examples break, at iterations spread evenly over the first ``within``
    fraction of the steps; each broken example costs one K-draw confirmation (the rest are judged
    once at their final iterate, as under the final protocol). Real curves depend on the defense
    and the attack; the run records what it spent (:func:`measured_costs`)."""

    broken: float = 0.7
    within: float = 0.5

    def __post_init__(self) -> None:
        if not (0.0 <= self.broken <= 1.0 and 0.0 < self.within <= 1.0):
            raise ValueError(f"a break curve needs 0 <= broken <= 1 and 0 < within <= 1, got {self}")

    def describe(self) -> str:
        return (f"assumed break curve: {100 * self.broken:.0f}% of examples broken, evenly over the first "
                f"{100 * self.within:.0f}% of the steps (an assumption, not a measurement)")


ASSUMED = BreakCurve()
"""The estimate's default assumption (DiffBreak-like: most examples of a weak defense break early)."""
NOTHING_BROKEN = BreakCurve(broken=0.0)
"""No example breaks: the anytime protocol then costs exactly what the final one does."""


def final_calls(attack: str, settings) -> ModelCalls:
    """Model calls per example of ``attack`` under the final protocol with ``settings``' budget,
    the K re-draws (clean and adversarial) included."""
    return attack_calls(attack, settings) + redraw_calls(settings.draws)


def anytime_calls(attack: str, settings, curve: BreakCurve = ASSUMED) -> ModelCalls:
    """Expected model calls per example of ``attack`` under the anytime protocol if its examples
    break as ``curve`` assumes (an attack without iterates costs what it costs under final). An
    example broken at iterate t spends t + 1 EOT gradients (the last one's samples found it)."""
    final = final_calls(attack, settings)
    if not spec(attack).anytime:
        return final
    steps, eot = settings.pgd_steps, settings.pgd_eot
    mean_break = (curve.within * steps - 1) / 2 + 1  # gradients until a break spread over [0, within * steps)
    gradients = (1 - curve.broken) * steps + curve.broken * max(1.0, mean_break)
    return ModelCalls(forward=final.forward, gradient=round(eot * gradients), jacobian=final.jacobian)


def measured_costs(settings: list, records: list[dict]) -> dict:
    """Per model and attack, from a run's records: examples, seconds per example, model calls per
    example (measured where records carry them: the anytime pool; else the budget's count), the
    final protocol's calls at the same budget, and for anytime the candidates tried, the breaks
    they confirmed and the share of gradient calls saved."""
    out: dict[str, dict] = {}
    for s in settings:
        for attack in s.attacks:
            rows = [r for r in records if r.get("model") == s.model and r.get("attack") == attack]
            if not rows:
                continue
            final = final_calls(attack, s)
            cost = {"protocol": "final", "n": len(rows), "seconds_per_example": round(mean(r.get("seconds", 0.0)
                                                                                           for r in rows), 3),
                    "calls_per_example": {"gradient": final.gradient + final.jacobian, "forward": final.forward},
                    "final_calls_per_example": {"gradient": final.gradient + final.jacobian, "forward": final.forward}}
            if all("calls" in r for r in rows):
                gradient = mean(r["calls"]["gradient"] for r in rows)
                cost.update(protocol="anytime",
                            calls_per_example={"gradient": round(gradient, 2),
                                               "forward": round(mean(r["calls"]["forward"] for r in rows), 2)},
                            candidates=sum(r.get("candidates", 0) for r in rows),
                            confirmed=sum(r.get("broken_at") is not None and r["broken_at"] < r["steps"]
                                          for r in rows),
                            gradient_saved=round(1 - gradient / max(final.gradient, 1), 4))
            out.setdefault(s.model, {})[attack] = cost
    return out
