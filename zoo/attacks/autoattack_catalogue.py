"""AutoAttack in the catalogue: its names (``autoattack-<version>`` and the label-aware
``autoattack-<version>-label``), how each is built from a budget, and its call-count model (model
calls per example, for ``--estimate``), read off a configured :class:`~zoo.attacks.AutoAttackEval`
so pyautoattack's defaults and the budget's overrides are never restated here.

The label-aware versions are the same AutoAttack taking its gradients from
:class:`~zoo.attacks.gradients.LabelAware` logits (guided entries only); decisions and scores stay
on the real defense.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .autoattack import DEFAULT_DECISION_DRAWS, VERSIONS, AutoAttackEval
from .calls import ModelCalls
from .gradients import label_aware_attacker
from .losses import LABEL_WEIGHT
from .spec import AttackSpec, register

CHECK_FORWARDS = {"standard": 7, "rand": 2}
"""Forwards of AutoAttack's defense checks on the first batch (randomness 5, range 1, dynamic 1;
the rand version skips the randomness check)."""


def autoattack_name(version: str, label_aware: bool = False) -> str:
    """The catalogue name of AutoAttack ``version``, plain or label-aware."""
    if version not in VERSIONS:
        raise ValueError(f"AutoAttack version must be one of {VERSIONS}, got {version!r}")
    return f"autoattack-{version}-label" if label_aware else f"autoattack-{version}"


def autoattack_config(version: str, budget: dict | None) -> dict[str, Any]:
    """The sub-attack settings AutoAttack will really use for ``version`` with ``budget`` applied."""
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
    after the sub-attack. APGD (CE, DLR): a prediction and (n_iter + 1) * eot_iter gradients per
    restart; APGD-T: the same per target and restart, plus the logits that pick the target; FAB-T:
    per target a prediction, the target's logits, n_iter (forward + gradient) and a check; FAB: per
    restart the same without the target's logits and with a full Jacobian instead of a gradient;
    Square: 1 + n_queries + 1 forwards per restart."""
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
    total = ModelCalls(forward=draws)
    for name in config["attacks"]:
        total = total + sub_attack_calls(name, config, draws)
    return total


def check_calls(version: str) -> int:
    """Forward calls of AutoAttack's defense checks, each on the first batch (once per batch run)."""
    return CHECK_FORWARDS[version]


def _builder(version: str, label_aware: bool):
    def build(model: nn.Module, *, norm: str, eps: float, seed: int, budget, attacker=None) -> AutoAttackEval:
        attack = AutoAttackEval(model, norm=norm, eps=eps, version=version, seed=seed,
                                batch_size=budget.batch_size, budget=dict(budget.autoattack) or None)
        if label_aware:  # its gradients: the label-aware logits over ``attacker``
            attacker = label_aware_attacker(model, attacker, LABEL_WEIGHT)
        return attack if attacker is None else attack.with_attacker(attacker)
    return build


for _i, _version in enumerate(VERSIONS):
    for _aware in (False, True):
        register(AttackSpec(
            name=autoattack_name(_version, _aware), family="autoattack-label" if _aware else "autoattack",
            build=_builder(_version, _aware), order=20 + 2 * _i + _aware, default=True,
            calls=lambda budget, v=_version: autoattack_calls(v, dict(budget.autoattack) or None),
            title=f"autoattack-{_version} (label-aware)" if _aware else "", label_aware=_aware,
            plain_twin=autoattack_name(_version), options={"version": _version},
            label_term="gradient-call"))
