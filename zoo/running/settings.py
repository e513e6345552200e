"""What defines one model's results under one threat model: a :class:`~zoo.running.protocol.Protocol`
resolved for one entry, recorded as its journal's spec and compared whole on ``--resume``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..attacks.catalogue import autoattack_version
from ..attacks.gradients import gradient_label
from ..common.wording import FIXED_NOISE_LABEL
from ..registry.schema import BALL_THREATS


@dataclass(frozen=True)
class Settings:
    """Everything that defines one model's results under one threat model (its journal's spec)."""

    model: str
    threat: str
    eps: float
    attacks: tuple[str, ...]
    n_examples: int
    batch_size: int
    seed: int
    draws: int
    pgd_steps: int
    pgd_eot: int
    pgd_step_fraction: float | None = None
    autoattack: Mapping[str, Any] = field(default_factory=dict)
    reduced: bool = False
    subset_seed: int | None = None
    protocol: str = "final"
    stop_on: str | None = None  # anytime only: the metric whose verdict breaks an example
    overrides: Mapping[str, Any] | None = None  # purification settings changed from the entry's (t_star, ...)
    attacker_grad: str = "exact"  # the attacker's gradient (zoo.attacks.gradients); all but exact: ablation only
    surrogate: Mapping[str, Any] | None = None  # the surrogate gradient's chain settings (steps, pattern, ...)
    fixed_noise: bool = False  # the attack and the verdict share the purification noise: reference only

    @property
    def gradient_label(self) -> str:
        """The attacker gradient as outputs name it (with the ablation warning for all but exact)."""
        return gradient_label(self.attacker_grad, self.surrogate)

    def spec(self) -> dict[str, Any]:
        """The journal's specification: every field, except the attacker gradient's while it is the
        default ``exact`` and ``fixed_noise`` while it is off (so journals written before those options
        existed still resume)."""
        spec = dataclasses.asdict(self)
        if self.attacker_grad == "exact":
            del spec["attacker_grad"], spec["surrogate"]
        if not self.fixed_noise:
            del spec["fixed_noise"]
        return spec

    def describe_budget(self) -> str:
        """The budget as the tables state it: examples, draws, and the settings of the attacks this
        run has (PGD+EOT's steps and EOT, which DiffAttack and DiffHammer read too; AutoAttack's)."""
        aa = ", ".join(f"{k}={v}" for k, v in sorted(self.autoattack.items())) or "AutoAttack's own settings"
        step = "default step" if self.pgd_step_fraction is None else f"step {self.pgd_step_fraction:g} eps"
        n = f"{self.n_examples}" if self.subset_seed is None else f"{self.n_examples} (random, seed {self.subset_seed})"
        protocol = "final iterate" if self.protocol == "final" else f"anytime, stop on {self.stop_on}"
        changed = "".join(f"; protocol override {k}={v}" for k, v in sorted((self.overrides or {}).items()))
        changed += "" if self.attacker_grad == "exact" else f"; attacker gradient {self.gradient_label}"
        changed += f"; FIXED NOISE (attack and verdict share it: {FIXED_NOISE_LABEL})" if self.fixed_noise else ""
        if self.threat not in BALL_THREATS:  # StAdv: the PGD+EOT budget's steps and EOT, no AutoAttack
            return (f"n={n}, K={self.draws} draws, StAdv {self.pgd_steps} steps x {self.pgd_eot} EOT ({step}), "
                    f"flow bound {self.eps:g}, protocol: {protocol}{changed}")
        autoattacks = [a for a in self.attacks if autoattack_version(a)]
        pgd = f"PGD+EOT {self.pgd_steps} steps x {self.pgd_eot} EOT ({step})"
        parts = [pgd] * (len(autoattacks) < len(self.attacks))
        parts += [f"AutoAttack: {aa}"] * bool(autoattacks)
        return f"n={n}, K={self.draws} draws, {', '.join(parts)}, protocol: {protocol}{changed}"
