"""The sanity checks that attack: does the gradient attack do what a working one must?

- ``eps-sweep``: robust accuracy falls to about 0 as eps grows to the whole image cube (Linf 1,
  L2 sqrt(d): any image reachable), and never rises with eps beyond the interval.
- ``square``: a gradient-free attack (pyautoattack's Square) does not beat the gradient attack.
- ``transfer``: adversarial examples of the undefended classifier do not beat it either.
- ``more-iterations``: doubling the iterations neither raises robust accuracy (noise, not ascent)
  nor lowers it (not converged).
- ``label-aware`` (guided entries): the label-aware loss does not beat the plain loss.

Each flag is a sign of gradient masking or of an attack that has not converged (Athalye et al.
2018; Carlini et al. 2019's checklist): the reported gradient-attack number is then an upper bound
that a better attack would lower. "Beat" means beyond the 95% paired interval (:mod:`.bench`).
"""
from __future__ import annotations

import math

from torch import nn

from ...attacks import AutoAttackEval
from ...attacks.losses import LABEL_WEIGHT
from ...attacks.losses import label_aware_loss
from ...scoring.intervals import wilson
from .bench import Bench, difference, record

NEAR_ZERO = 0.05
"""The eps sweep flags when, at the largest eps, the 95% Wilson interval's lower end of robust
accuracy is above this: the examples show a robust accuracy clearly above 0 where none can exist."""


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


def _interval(d: dict) -> str:
    lo, hi = d["interval"]
    return f"{100 * d['difference']:+.1f} points, 95% interval [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def sweep_eps(threat: str, eps: float, input_shape) -> list[float]:
    """eps/2, eps, 2 eps and the diameter of the image cube (Linf 1; L2 sqrt of the pixel count),
    each at most the diameter, sorted."""
    diameter = 1.0 if threat == "Linf" else math.sqrt(math.prod(input_shape))
    return sorted({round(min(e, diameter), 6) for e in (eps / 2, eps, 2 * eps, diameter)})


def eps_sweep(bench: Bench) -> dict:
    values = sweep_eps(bench.threat, bench.eps, bench.x.shape[1:])
    outcomes = [bench.gradient(eps=e) for e in values]
    last = outcomes[-1]
    low = wilson(last.accuracy(), len(last.vote))[0]
    rises = []
    for (e_small, small), (e_big, big) in zip(zip(values, outcomes), zip(values[1:], outcomes[1:])):
        d = difference(small, big)
        if d["below"]:
            rises.append({"from_eps": e_small, "to_eps": e_big, **d})
    flagged = low > NEAR_ZERO or bool(rises)
    if low > NEAR_ZERO:
        why = (f"robust accuracy stays at {_pct(last.accuracy())} at eps={values[-1]:g}, where every image is "
               f"reachable (95% interval from {_pct(low)}): the gradient attack fails where any attack should "
               "win (masked or shattered gradients, or too few iterations)")
    elif rises:
        why = (f"robust accuracy rises with eps beyond the interval ({rises[0]['from_eps']:g} -> {rises[0]['to_eps']:g}"
               "): the attack is not using its budget (masking or too few iterations)")
    else:
        why = f"robust accuracy falls to {_pct(last.accuracy())} at eps={values[-1]:g} and never rises with eps"
    return record("eps-sweep", flagged, why, eps=values, outcomes=[o.figures() for o in outcomes],
                  near_zero=NEAR_ZERO, rises=rises)


def square(bench: Bench) -> dict:
    b = bench.budget
    attack = AutoAttackEval(bench.model, norm=bench.threat, eps=bench.eps, version="standard", seed=b.seed,
                            batch_size=b.batch_size, decision_draws=b.draws,
                            budget={"attacks_to_run": ["square"], "n_queries": b.square_queries, "n_restarts": 1})
    found = bench.run(attack, f"square {b.square_queries} queries")
    return _not_better("square", found, bench, "the gradient-free Square attack")


def transfer(bench: Bench, source: nn.Module, source_name: str) -> dict:
    """Adversarial examples made on ``source`` (the undefended classifier, white-box PGD at the
    budget, one sample per gradient) judged on the defense."""
    found = bench.run(bench.pgd(source, eot=1), f"transfer from {source_name}")
    return _not_better("transfer", found, bench, f"transfer from {source_name}'s adversarial examples",
                       source=source_name)


def more_iterations(bench: Bench) -> dict:
    """Flag when doubling the iterations moves robust accuracy beyond the interval: up (the attack's
    progress is noise, not ascent) or down (the attack has not converged at the budget's iterations,
    so its number overstates robustness)."""
    steps = bench.budget.pgd_steps
    base, doubled = bench.gradient(), bench.gradient(steps=2 * steps)
    d = difference(base, doubled)
    raised, lowered = d["below"], d["interval"][0] > 0  # the interval of base minus doubled below / above 0
    counts = f"{2 * steps} iterations: {_pct(doubled.accuracy())} robust, {steps}: {_pct(base.accuracy())}"
    if raised:
        why = f"{counts} (base minus doubled {_interval(d)}): the attack's progress is noise, not ascent"
    elif lowered:
        why = (f"{counts} (base minus doubled {_interval(d)}): the attack has not converged at {steps} "
               "iterations, so its number overstates robustness; run more iterations")
    else:
        why = f"{counts}; no change beyond the interval"
    return record("more-iterations", raised or lowered, why, base=base.figures(), doubled=doubled.figures(),
                  base_minus_doubled=d)


def label_aware(bench: Bench) -> dict:
    found = bench.run(bench.pgd(loss=label_aware_loss(bench.model, LABEL_WEIGHT)), "pgd-eot (label-aware)")
    return _not_better("label-aware", found, bench, "the label-aware loss",
                       consequence="the plain-loss number was held up by the untouched guidance label")


def _verdict(name: str, d: dict, flag_why: str, pass_why: str, **figures) -> dict:
    """A comparison's record: flagged (with ``flag_why``) when ``d``'s interval lies below 0."""
    return record(name, d["below"], flag_why if d["below"] else pass_why, **figures)


def _not_better(name: str, found, bench: Bench, what: str, consequence: str = "gradient masking", **extra) -> dict:
    """Flag when ``found`` (another attack) leaves fewer examples robust than the gradient attack
    beyond the interval."""
    grad = bench.gradient()
    d = difference(found, grad)
    return _verdict(name, d,
                    f"{what} beats the gradient attack: {_pct(found.accuracy())} robust vs {_pct(grad.accuracy())} "
                    f"({_interval(d)}): {consequence}",
                    f"{what}: {_pct(found.accuracy())} robust vs the gradient attack's {_pct(grad.accuracy())}; not "
                    "lower beyond the interval",
                    attack=found.figures(), gradient_attack=grad.figures(), attack_minus_gradient=d, **extra)
