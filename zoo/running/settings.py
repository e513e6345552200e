"""What defines one model's results under one threat model: the run's settings (its journal's spec)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..attacks.catalogue import SPATIAL_THREATS, attacks_for, check_threat
from ..attacks.gradients import check_gradient, gradient_label
from ..registry.resolve import with_overrides
from ..registry.schema import Entry
from ..scoring.verdicts import BINARY, METRICS, check_metric

PROTOCOLS = ("final", "anytime")
"""``final``: each attack's final output is judged (Lee & Kim). ``anytime``: PGD+EOT judges every
iterate with K draws and stops attacking an example at its first breaking iterate."""


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

    @property
    def gradient_label(self) -> str:
        """The attacker gradient as outputs name it (with the ablation warning for all but exact)."""
        return gradient_label(self.attacker_grad, self.surrogate)

    def spec(self) -> dict[str, Any]:
        """The journal's specification: every field, except the attacker gradient's while it is the
        default ``exact`` (so journals written before that option existed still resume)."""
        spec = dataclasses.asdict(self)
        if self.attacker_grad == "exact":
            del spec["attacker_grad"], spec["surrogate"]
        return spec

    def describe_budget(self) -> str:
        aa = ", ".join(f"{k}={v}" for k, v in sorted(self.autoattack.items())) or "AutoAttack's own settings"
        step = "default step" if self.pgd_step_fraction is None else f"step {self.pgd_step_fraction:g} eps"
        n = f"{self.n_examples}" if self.subset_seed is None else f"{self.n_examples} (random, seed {self.subset_seed})"
        protocol = "final iterate" if self.protocol == "final" else f"anytime, stop on {self.stop_on}"
        changed = "".join(f"; protocol override {k}={v}" for k, v in sorted((self.overrides or {}).items()))
        changed += "" if self.attacker_grad == "exact" else f"; attacker gradient {self.gradient_label}"
        if self.threat in SPATIAL_THREATS:  # StAdv: the PGD+EOT budget's steps and EOT, no AutoAttack
            return (f"n={n}, K={self.draws} draws, StAdv {self.pgd_steps} steps x {self.pgd_eot} EOT ({step}), "
                    f"flow bound {self.eps:g}, protocol: {protocol}{changed}")
        return (f"n={n}, K={self.draws} draws, PGD+EOT {self.pgd_steps} steps x {self.pgd_eot} EOT "
                f"({step}), "
                f"AutoAttack: {aa}, protocol: {protocol}{changed}")


def settings_for(entry: Entry, threat: str, attacks: tuple[str, ...], *, eps: float | None = None,
                 n_examples: int | None = None, batch_size: int | None = None, seed: int = 0,
                 subset_seed: int | None = None, protocol: str = "final", headline: str = "vote",
                 overrides: Mapping[str, Any] | None = None, attacker_grad: str = "exact",
                 surrogate: Mapping[str, Any] | None = None) -> Settings:
    """The entry's declared budget and eps, with command-line overrides applied and checked. The
    label-aware attacks (PGD+EOT, AutoAttack) are dropped for entries without a guidance label
    (:func:`attacks_for`).

    ``headline`` only enters the settings under the anytime protocol, where it decides when an
    example is broken (so its records depend on it); the final protocol's records do not.
    ``overrides``: the purification settings the run changed (recorded, so a resume with others
    is refused). ``attacker_grad`` (with ``surrogate``, the surrogate chain's settings): where
    every gradient attack takes its gradients (:func:`zoo.attacks.gradients.attacker_model`);
    recorded, so a resume with another is refused. Attacks must belong to ``threat``
    (:func:`~zoo.attacks.catalogue.check_threat`: StAdv runs only ``stadv``).
    """
    surrogate = check_gradient(attacker_grad, surrogate)
    if surrogate:
        with_overrides(entry, **surrogate)  # a surrogate the entry cannot build fails here, not mid-run
    check_threat(threat, attacks)
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    check_metric(headline, METRICS)
    if protocol == "anytime" and headline not in BINARY:
        raise ValueError(f"the anytime protocol stops an example the first time it is judged broken, which needs "
                         f"a right/wrong verdict per iterate: headline must be one of {BINARY}, got {headline!r} "
                         "(the mean over draws gives a fraction, not a verdict)")
    if threat not in entry.threats and eps is None:
        raise ValueError(f"{entry.name} declares no eps for {threat}; pass --eps")
    eps = entry.threats[threat] if eps is None else eps
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    wanted, attacks = attacks, attacks_for(entry, attacks)
    if wanted and not attacks:
        raise ValueError(f"{entry.name} has no guidance label to attack (pattern none or no purifier): "
                         f"{list(wanted)} would run nothing on it; add pgd-eot or leave this entry out")
    budget = entry.budget
    n = budget.n_examples if n_examples is None else n_examples
    if n < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError("n_examples and batch_size must be >= 1")
    return Settings(entry.name, threat, float(eps), tuple(attacks), n, batch_size or budget.batch_size, seed,
                    budget.draws, budget.pgd_steps, budget.pgd_eot, budget.pgd_step_fraction,
                    dict(budget.autoattack), budget.reduced, subset_seed, protocol,
                    headline if protocol == "anytime" else None, dict(overrides) if overrides else None,
                    attacker_grad, surrogate)
