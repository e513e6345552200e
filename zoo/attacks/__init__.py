"""Adaptive attacks on zoo models, one attack per file over a small shared base (as torchattacks).

    from zoo.attacks import PGDEOT
    attack = PGDEOT(model, norm="Linf", eps=8 / 255)      # Lee & Kim (2023): 200 steps, 20 EOT samples
    x_adv = attack(x, y)                                  # x: N x C x H x W in [0, 1], y: N long

``ATTACKS`` maps each attack the benchmark runs to its class (:mod:`.catalogue` builds them from
a budget, with every loss variant of PGD+EOT and the label-aware AutoAttacks); :class:`StAdv` is the spatial threat of the
paper's Table 5 (threat ``StAdv``); :mod:`.gradients` builds the ablation attackers' gradient modules; :class:`TRADES` is the inner
maximum of the guidance net's training, not a benchmark attack. ``draw_decisions`` (decisions over
repeated purifications) and ``least_robust`` (AutoAttack's loop keeping each example's least
robust point) make AutoAttack honest on stochastic defenses.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.models``.
"""
from __future__ import annotations

from .autoattack import AutoAttackEval
from .base import Attack
from .pgd_eot import PGDEOT
from .stadv import StAdv
from .trades import TRADES

ATTACKS = {"pgd-eot": PGDEOT, "autoattack": AutoAttackEval, "stadv": StAdv}

__all__ = ["Attack", "PGDEOT", "StAdv", "TRADES", "ATTACKS"]
