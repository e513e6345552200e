"""The attack catalogue: every attack the benchmark runs, by name, in table order; how each is
built from a budget; and what each costs in model calls per example (for ``--estimate``).

Names: ``pgd-eot`` (:class:`~zoo.attacks.PGDEOT`, Lee & Kim's loss), ``pgd-eot-label`` (the same
attack and budget with the label-aware loss of :mod:`zoo.attacks.losses`, shown as "pgd-eot
(label-aware)"; run only on entries whose guidance label comes from a network, by default next to
the plain one) and ``autoattack-<version>``
(:class:`~zoo.attacks.AutoAttackEval`, versions ``standard`` and ``rand``). ``budget`` is anything
with the attributes of :class:`zoo.registry.schema.Budget` (``pgd_steps``, ``pgd_eot``,
``pgd_step_fraction``, ``autoattack``, ``batch_size``): an entry's budget or a run's settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from .autoattack import DEFAULT_DECISION_DRAWS, VERSIONS, AutoAttackEval
from .losses import label_aware_loss
from .pgd_eot import PGDEOT

LABEL_AWARE = "pgd-eot-label"
"""PGD+EOT with the label-aware loss (:class:`~zoo.attacks.losses.LabelAwareLoss`)."""
LABEL_WEIGHT = 1.0
"""The label term's weight w in the catalogue's ``pgd-eot-label``."""

ATTACK_ORDER = ("pgd-eot", LABEL_AWARE, *(f"autoattack-{v}" for v in VERSIONS))
"""Every attack name, in the order the tables show them."""

TITLES = {"pgd-eot": "pgd-eot (Lee & Kim loss)", LABEL_AWARE: "pgd-eot (label-aware)"}
"""How outputs name the PGD+EOT variants."""


def guided(entry) -> bool:
    """Whether ``entry``'s purification takes a label from a network (patterns plain and robust)."""
    return entry.purification is not None and entry.purification.pattern != "none"


def attacks_for(entry, names) -> tuple[str, ...]:
    """``names`` as run on ``entry``: the label-aware attack only where there is a label to attack
    (elsewhere it would repeat the plain PGD+EOT)."""
    return tuple(n for n in check_attacks(names) if n != LABEL_AWARE or guided(entry))


def autoattack_version(name: str) -> str | None:
    """``standard`` / ``rand`` for ``autoattack-<version>``, ``None`` for any other attack."""
    prefix, _, version = name.partition("-")
    return version if prefix == "autoattack" and version in VERSIONS else None


def check_attacks(names) -> tuple[str, ...]:
    """``names`` as a tuple, refusing any attack the catalogue does not know."""
    unknown = sorted(set(names) - set(ATTACK_ORDER))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {list(ATTACK_ORDER)}")
    return tuple(names)


def build_attack(name: str, model: nn.Module, *, norm: str, eps: float, seed: int, budget) -> Any:
    """The attack called ``name`` on ``model`` with ``budget``'s settings."""
    version = autoattack_version(name)
    if version is not None:
        return AutoAttackEval(model, norm=norm, eps=eps, version=version, seed=seed,
                              batch_size=budget.batch_size, budget=dict(budget.autoattack) or None)
    if name in ("pgd-eot", LABEL_AWARE):
        step = None if budget.pgd_step_fraction is None else budget.pgd_step_fraction * eps
        loss = label_aware_loss(model, LABEL_WEIGHT) if name == LABEL_AWARE else None
        return PGDEOT(model, norm=norm, eps=eps, steps=budget.pgd_steps, eot=budget.pgd_eot, step_size=step,
                      seed=seed, loss=loss)
    check_attacks([name])
    raise AssertionError(name)  # pragma: no cover - check_attacks raised


CHECK_FORWARDS = {"standard": 7, "rand": 2}
"""Forwards of AutoAttack's defense checks on the first batch (randomness 5, range 1, dynamic 1;
the rand version skips the randomness check)."""


@dataclass
class ModelCalls:
    """Calls of the defended model for one example: forward-only, gradient (one backward), and
    FAB's full Jacobian (one forward, one backward per class)."""

    forward: int = 0
    gradient: int = 0
    jacobian: int = 0

    def __add__(self, other: "ModelCalls") -> "ModelCalls":
        return ModelCalls(self.forward + other.forward, self.gradient + other.gradient,
                          self.jacobian + other.jacobian)

    def scaled(self, k: int) -> "ModelCalls":
        return ModelCalls(self.forward * k, self.gradient * k, self.jacobian * k)


def pgd_eot_calls(steps: int, eot: int) -> ModelCalls:
    """PGD+EOT: every step averages ``eot`` gradients (batched into one call, same cost per image)."""
    return ModelCalls(gradient=steps * eot)


def autoattack_config(version: str, budget: dict | None) -> dict[str, Any]:
    """The sub-attack settings AutoAttack will really use for ``version`` with ``budget`` applied,
    read off a configured :class:`~zoo.attacks.AutoAttackEval` (so pyautoattack's defaults and the
    budget overrides are never restated here)."""
    aa = AutoAttackEval(nn.Identity(), norm="Linf", eps=0.0, version=version, budget=budget).adversary
    return {"attacks": list(aa.attacks_to_run),
            "apgd": (aa.apgd.n_iter, aa.apgd.n_restarts, aa.apgd.eot_iter),
            "apgd_t": (aa.apgd_targeted.n_iter, aa.apgd_targeted.n_restarts, aa.apgd_targeted.eot_iter,
                       aa.apgd_targeted.n_target_classes),
            "fab": (aa.fab.n_iter, aa.fab.n_restarts, aa.fab.n_target_classes),
            "square": (aa.square.n_queries, aa.square.n_restarts)}


def sub_attack_calls(name: str, config: dict[str, Any], draws: int = DEFAULT_DECISION_DRAWS) -> ModelCalls:
    """Model calls of one AutoAttack sub-attack on one example that stays robust throughout, with
    every gradient-free call made ``draws`` times (repeated-draw decisions), counting the points
    scored for the least robust one (APGD: best-loss and last misclassified iterate of every run;
    FAB, Square: every run's result; each sub-attack's output) instead of plain AutoAttack's check
    after the sub-attack. APGD (CE, DLR): a prediction and (n_iter + 1) * eot_iter gradients per restart; APGD-T: the
    same per target and restart, plus the logits that pick the target; FAB-T: per target a
    prediction, the target's logits, n_iter (forward + gradient) and a check; FAB: per restart the
    same without the target's logits and with a full Jacobian instead of a gradient; Square:
    1 + n_queries + 1 forwards per restart."""
    jacobian = 0
    if name in ("apgd-ce", "apgd-dlr"):
        n_iter, restarts, eot = config["apgd"]
        forward, gradient, scored = 1, restarts * (n_iter + 1) * eot, 2 * restarts
    elif name == "apgd-t":
        n_iter, restarts, eot, targets = config["apgd_t"]
        forward, gradient = 1 + targets * restarts, targets * restarts * (n_iter + 1) * eot
        scored = 2 * targets * restarts
    elif name in ("fab", "fab-t"):
        n_iter, restarts, targets = config["fab"]
        # a run: a prediction (+ the logits that pick the target, FAB-T only), one forward and one
        # gradient (FAB-T) or Jacobian (FAB) per iteration, a final check; FAB-T: one run per target
        scored = targets if name == "fab-t" else restarts
        forward = 1 + scored * (n_iter + (3 if name == "fab-t" else 2))
        gradient = scored * n_iter if name == "fab-t" else 0
        jacobian = 0 if name == "fab-t" else scored * n_iter
    elif name == "square":
        n_queries, restarts = config["square"]
        forward, gradient, scored = 1 + restarts * (n_queries + 2), 0, restarts
    else:
        raise ValueError(f"unknown AutoAttack sub-attack {name!r}")
    return ModelCalls(forward=draws * (forward + scored), gradient=gradient, jacobian=jacobian)


def autoattack_calls(version: str, budget: dict | None, draws: int = DEFAULT_DECISION_DRAWS) -> ModelCalls:
    """AutoAttack per example, without the defense checks (see :func:`check_calls`): the clean
    input scored over the draws, then every sub-attack (:func:`sub_attack_calls`). An upper bound:
    an example that is broken (or misclassified to begin with) is not attacked further."""
    config = autoattack_config(version, budget)
    total = ModelCalls(forward=draws)  # the clean input, scored over the draws
    for name in config["attacks"]:
        total = total + sub_attack_calls(name, config, draws)
    return total


def check_calls(version: str) -> int:
    """Forward calls of AutoAttack's defense checks, each on the first batch (once per batch run)."""
    return CHECK_FORWARDS[version]


def attack_calls(attack: str, budget) -> ModelCalls:
    """Model calls per example of one catalogue attack with ``budget``, without the benchmark's
    re-classification draws."""
    version = autoattack_version(attack)
    if version is not None:
        return autoattack_calls(version, dict(budget.autoattack) or None)
    if attack in ("pgd-eot", LABEL_AWARE):  # the label term: one label-net gradient per step, not counted
        return pgd_eot_calls(budget.pgd_steps, budget.pgd_eot)
    raise ValueError(f"unknown attack {attack!r}")
