"""The attack catalogue: every attack the benchmark runs, by name, in table order; how each is
built from a budget; and what each costs in model calls per example (for ``--estimate``).

Names: ``pgd-eot`` (:class:`~zoo.attacks.PGDEOT`, Lee & Kim's cross-entropy), ``pgd-eot-margin``
and ``pgd-eot-dlr`` (the same attack and budget ascending the CW margin or AutoAttack's DLR,
:data:`~zoo.attacks.losses.LOSSES`), ``pgd-eot-label`` (the label-aware loss of
:mod:`zoo.attacks.losses`, shown as "pgd-eot (label-aware)"; run only on entries whose guidance
label comes from a network) and its loss variants ``pgd-eot-label-margin``, ``pgd-eot-label-dlr``;
``autoattack-<version>`` (:class:`~zoo.attacks.AutoAttackEval`, versions ``standard`` and
``rand``) and their label-aware twins ``autoattack-<version>-label`` ("autoattack-rand (label-aware)":
the same AutoAttack taking its gradients from :class:`~zoo.attacks.gradients.LabelAware` logits,
guided entries only); and ``stadv`` (:class:`~zoo.attacks.StAdv`, the spatial threat ``StAdv``, with the
PGD+EOT budget's steps and EOT samples). ``budget`` is anything with the attributes of
:class:`zoo.registry.schema.Budget` (``pgd_steps``, ``pgd_eot``, ``pgd_step_fraction``,
``autoattack``, ``batch_size``): an entry's budget or a run's settings.

Every gradient attack takes its gradients from an ``attacker`` when one is given
(:func:`zoo.attacks.gradients.attacker_model`, via :meth:`~zoo.attacks.Attack.with_attacker`);
the defense judged stays ``model``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from .autoattack import DEFAULT_DECISION_DRAWS, VERSIONS, AutoAttackEval
from .gradients import label_aware_attacker
from .losses import LOSSES, AttackLoss, check_loss, label_aware_loss
from .pgd_eot import PGDEOT
from .stadv import StAdv

LABEL_AWARE = "pgd-eot-label"
"""PGD+EOT with the label-aware loss (:class:`~zoo.attacks.losses.LabelAwareLoss`)."""
LABEL_WEIGHT = 1.0
"""The label term's weight w in the catalogue's label-aware attacks (PGD+EOT and AutoAttack)."""
STADV = "stadv"
"""StAdv, the only attack of the threat ``StAdv`` (and run under no other threat)."""
SPATIAL_THREATS = {"StAdv": (STADV,)}
"""Threats that are not eps-balls, with the attacks that run under them."""


def pgd_name(loss: str = "ce", label_aware: bool = False) -> str:
    """The catalogue name of PGD+EOT with ``loss`` (``ce``: no suffix), plain or label-aware."""
    base = LABEL_AWARE if label_aware else "pgd-eot"
    return base if check_loss(loss) == "ce" else f"{base}-{loss}"


PGD_VARIANTS = {pgd_name(loss, aware): (loss, aware) for loss in LOSSES for aware in (False, True)}
"""Every PGD+EOT name -> (loss, label-aware), in table order (each plain one, then its label-aware one)."""


def autoattack_name(version: str, label_aware: bool = False) -> str:
    """The catalogue name of AutoAttack ``version``, plain or label-aware."""
    if version not in VERSIONS:
        raise ValueError(f"AutoAttack version must be one of {VERSIONS}, got {version!r}")
    return f"autoattack-{version}-label" if label_aware else f"autoattack-{version}"


AA_VARIANTS = {autoattack_name(v, aware): (v, aware) for v in VERSIONS for aware in (False, True)}
"""Every AutoAttack name -> (version, label-aware), in table order (each plain one, then its label-aware one)."""

ATTACK_ORDER = (*PGD_VARIANTS, *AA_VARIANTS, STADV)
"""Every attack name, in the order the tables show them."""

DEFAULT_ATTACKS = ("pgd-eot", LABEL_AWARE, *AA_VARIANTS)
"""What an eps-ball threat runs by default (the label-aware ones only on guided entries)."""

def _title(loss: str, label_aware: bool) -> str:
    if loss == "ce":
        return "pgd-eot (label-aware)" if label_aware else "pgd-eot (Lee & Kim loss)"
    return f"pgd-eot (label-aware, {loss})" if label_aware else f"pgd-eot ({loss})"


TITLES = {**{name: _title(loss, aware) for name, (loss, aware) in PGD_VARIANTS.items()},
          **{name: f"autoattack-{v} (label-aware)" for name, (v, aware) in AA_VARIANTS.items() if aware}}
"""How outputs name the PGD+EOT variants and the label-aware AutoAttacks: "pgd-eot (Lee & Kim
loss)", "pgd-eot (label-aware)", "pgd-eot (dlr)", "pgd-eot (label-aware, dlr)", ...,
"autoattack-rand (label-aware)"."""


def default_attacks(threat: str) -> tuple[str, ...]:
    """The attacks a benchmark of ``threat`` runs when none are named."""
    return SPATIAL_THREATS.get(threat, DEFAULT_ATTACKS)


def with_loss(names, loss: str) -> tuple[str, ...]:
    """``names`` with every PGD+EOT attack ascending ``loss`` instead (label-aware ones stay
    label-aware); other attacks unchanged."""
    check_loss(loss)
    return tuple(pgd_name(loss, PGD_VARIANTS[n][1]) if n in PGD_VARIANTS else n for n in check_attacks(names))


def guided(entry) -> bool:
    """Whether ``entry``'s purification takes a label from a network (patterns plain and robust)."""
    return entry.purification is not None and entry.purification.pattern in ("plain", "robust")


def is_label_aware(name: str) -> bool:
    """Whether catalogue attack ``name`` also attacks the guidance label (PGD+EOT or AutoAttack)."""
    return PGD_VARIANTS.get(name, AA_VARIANTS.get(name, (None, False)))[1]


def plain_twin(name: str) -> str:
    """The attack a label-aware attack equals on an entry with no guidance label (its plain
    version: same loss, same version, no label term); any other attack is its own twin. Worst
    cases over attacks compare entries by these (an unguided entry skips the label-aware ones
    because they would repeat the plain ones)."""
    if name in PGD_VARIANTS:
        return pgd_name(PGD_VARIANTS[name][0], False)
    if name in AA_VARIANTS:
        return autoattack_name(AA_VARIANTS[name][0], False)
    return name


def attacks_for(entry, names) -> tuple[str, ...]:
    """``names`` as run on ``entry``: label-aware attacks only where there is a label to attack
    (elsewhere they would repeat the plain attack)."""
    return tuple(n for n in check_attacks(names) if not is_label_aware(n) or guided(entry))


def autoattack_version(name: str) -> str | None:
    """``standard`` / ``rand`` for ``autoattack-<version>`` and its label-aware twin, ``None`` for
    any other attack."""
    return AA_VARIANTS.get(name, (None, False))[0]


def check_attacks(names) -> tuple[str, ...]:
    """``names`` as a tuple, refusing any attack the catalogue does not know."""
    unknown = sorted(set(names) - set(ATTACK_ORDER))
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; known: {list(ATTACK_ORDER)}")
    return tuple(names)


def check_threat(threat: str, names) -> tuple[str, ...]:
    """``names``, refusing attacks that do not belong to ``threat``: a spatial threat runs only its
    own attacks (:data:`SPATIAL_THREATS`), an eps-ball threat none of them."""
    names = check_attacks(names)
    own = SPATIAL_THREATS.get(threat)
    spatial = {a for attacks in SPATIAL_THREATS.values() for a in attacks}
    wrong = [n for n in names if (n not in own if own else n in spatial)]
    if wrong:
        allowed = list(own) if own else [a for a in ATTACK_ORDER if a not in spatial]
        raise ValueError(f"attack(s) {wrong} do not run under the {threat} threat; it takes {allowed}")
    return names


def build_attack(name: str, model: nn.Module, *, norm: str, eps: float, seed: int, budget,
                 attacker: nn.Module | None = None) -> Any:
    """The attack called ``name`` on ``model`` with ``budget``'s settings, taking its gradients from
    ``attacker`` when given (:func:`zoo.attacks.gradients.attacker_model`)."""
    attack = _build(name, model, norm=norm, eps=eps, seed=seed, budget=budget)
    if name in AA_VARIANTS and is_label_aware(name):  # its gradients: the label-aware logits over ``attacker``
        attacker = label_aware_attacker(model, attacker, LABEL_WEIGHT)
    return attack if attacker is None else attack.with_attacker(attacker)


def _build(name: str, model: nn.Module, *, norm: str, eps: float, seed: int, budget) -> Any:
    version = autoattack_version(name)
    step = None if budget.pgd_step_fraction is None else budget.pgd_step_fraction * eps
    if version is not None:
        return AutoAttackEval(model, norm=norm, eps=eps, version=version, seed=seed,
                              batch_size=budget.batch_size, budget=dict(budget.autoattack) or None)
    if name in PGD_VARIANTS:
        loss, aware = PGD_VARIANTS[name]
        objective = label_aware_loss(model, LABEL_WEIGHT, loss) if aware else AttackLoss(loss)
        return PGDEOT(model, norm=norm, eps=eps, steps=budget.pgd_steps, eot=budget.pgd_eot, step_size=step,
                      seed=seed, loss=objective)
    if name == STADV:
        if norm != "StAdv":
            raise ValueError(f"stadv is the StAdv threat's attack, not {norm}'s")
        return StAdv(model, bound=eps, steps=budget.pgd_steps, eot=budget.pgd_eot, step_size=step, seed=seed)
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
    # a label term makes no model call: the label network's gradient once per PGD step, or with every
    # AutoAttack gradient call (zoo.running.estimate.label_term_evals counts its evaluations)
    if attack in PGD_VARIANTS or attack == STADV:
        return pgd_eot_calls(budget.pgd_steps, budget.pgd_eot)  # StAdv: the same steps x EOT gradients
    raise ValueError(f"unknown attack {attack!r}")
