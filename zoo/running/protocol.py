"""What an evaluation measures, built once at the edge (the command line, or Python) and passed
down whole: :class:`Protocol`.

A protocol holds everything that defines a benchmark's numbers: the threat and eps, the attacks
and the loss they ascend, the attack budget (steps, EOT samples, step size, AutoAttack's settings,
K draws, examples, batch), the headline metric, whether each attack's final iterate or every
iterate is judged, the attacker's gradient, the purification overrides, the seeds and the subset.
What it leaves unset (``None``, or a budget field not given) is each entry's declaration in
``checkpoints.yaml``. :meth:`Protocol.settings_for` resolves it for one entry into the
:class:`~zoo.running.settings.Settings` that its journal records and a ``--resume`` compares;
the run's provenance records the protocol itself (:meth:`Protocol.as_dict`).

How the run is executed (where, in how many shards, with which backprop memory strategy or speed
levers) is not part of it: those change no number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..attacks.autoattack import check_budget
from ..attacks.catalogue import attacks_for, check_threat, default_attacks, with_loss
from ..attacks.gradients import check_gradient
from ..registry.resolve import OVERRIDABLE, with_overrides
from ..registry.schema import THREATS, Budget, Entry
from ..scoring.verdicts import BINARY, METRICS
from .settings import Settings

JUDGES = ("final", "anytime")
"""``final``: each attack's final output is judged (Lee & Kim). ``anytime``: attacks with iterates
(PGD+EOT) run in a pool (:mod:`zoo.running.pool`) that judges every iterate by its EOT samples,
confirms a break by K fresh draws and stops attacking that example."""
BUDGET_FIELDS = tuple(f.name for f in dataclasses.fields(Budget))
"""What a protocol's ``budget`` may change of an entry's declared :class:`Budget`."""
PUBLISHED = Budget()
"""The published protocol's budget (Lee & Kim's PGD+EOT, AutoAttack's own settings)."""


@dataclass(frozen=True)
class Protocol:
    """Everything that defines an evaluation's numbers (see the module docstring).

    Attributes:
        threat: ``Linf``, ``L2`` or ``StAdv``.
        attacks: catalogue names (default: the threat's default set, :func:`default_attacks`).
        eps: the threat's radius (default: each entry's declared eps).
        loss: what every attack with a loss ascends (``ce``, ``margin``, ``dlr``; default: as named).
        budget: changes to each entry's declared :class:`Budget` (any of its fields); a whole
            :class:`Budget` replaces it.
        headline: the metric outputs lead with, ``vote``, ``worst`` or ``mean``.
        judge: ``final`` or ``anytime`` (:data:`JUDGES`).
        attacker_grad: where gradient attacks take their gradients (``exact``, or an ablation:
            ``bpda``, ``blind``, ``surrogate`` with ``surrogate`` its chain's settings).
        overrides: purification settings changed on every entry that purifies (``t_star``, ...).
        seed: the attacks' and the re-draws' seed.
        subset_seed: evaluate a random subset of the test set drawn with this seed.
        fixed_noise: the attack and the verdict share the purification noise
            (:mod:`zoo.running.fixed_noise`), as some papers evaluate: a weaker, reference-only
            protocol, labelled so in every output.
    """

    threat: str
    attacks: tuple[str, ...] | None = None
    eps: float | None = None
    loss: str | None = None
    budget: Mapping[str, Any] = field(default_factory=dict)
    headline: str = "vote"
    judge: str = "final"
    attacker_grad: str = "exact"
    surrogate: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    subset_seed: int | None = None
    fixed_noise: bool = False

    def __post_init__(self) -> None:
        if self.threat not in THREATS:
            raise ValueError(f"threat must be one of {THREATS}, got {self.threat!r}")
        attacks = default_attacks(self.threat) if self.attacks is None else tuple(self.attacks)
        attacks = attacks if self.loss is None else with_loss(attacks, self.loss)
        object.__setattr__(self, "attacks", check_threat(self.threat, attacks))
        object.__setattr__(self, "budget", budget_changes(self.budget))
        object.__setattr__(self, "surrogate", check_gradient(self.attacker_grad, self.surrogate))
        object.__setattr__(self, "overrides", check_overrides(self.overrides))
        self._check_choices()

    def _check_choices(self) -> None:
        if self.headline not in METRICS:
            raise ValueError(f"headline must be one of {METRICS}, got {self.headline!r}")
        if self.judge not in JUDGES:
            raise ValueError(f"protocol must be one of {JUDGES} (the judge: final or anytime), got {self.judge!r}")
        if self.judge == "anytime" and self.headline not in BINARY:
            raise ValueError(f"the anytime protocol stops an example the first time it is judged broken, which needs "
                             f"a right/wrong verdict per iterate: headline must be one of {BINARY}, got "
                             f"{self.headline!r} (the mean over draws gives a fraction, not a verdict)")
        if self.fixed_noise and self.judge == "anytime":
            raise ValueError("fixed_noise judges a batch with the noise its attack saw; the anytime protocol attacks "
                             "shrinking subsets of a batch, which fixed noise per batch cannot follow: use judge final")
        if self.eps is not None and not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")

    def settings_for(self, entry: Entry) -> Settings:
        """This protocol resolved for ``entry`` (its declared eps and budget where the protocol
        leaves them; label-aware attacks dropped where it has no guidance label)."""
        if self.surrogate:
            with_overrides(entry, **self.surrogate)  # a surrogate the entry cannot build fails here, not mid-run
        if self.threat not in entry.threats and self.eps is None:
            raise ValueError(f"{entry.name} declares no eps for {self.threat}; pass --eps")
        eps = entry.threats[self.threat] if self.eps is None else self.eps
        attacks = attacks_for(entry, self.attacks)
        if self.attacks and not attacks:
            raise ValueError(f"{entry.name} has no guidance label to attack (pattern none or no purifier): "
                             f"{list(self.attacks)} would run nothing on it; add pgd-eot or leave this entry out")
        budget = self.budget_for(entry)
        return Settings(entry.name, self.threat, float(eps), attacks, budget.n_examples, budget.batch_size, self.seed,
                        budget.draws, budget.pgd_steps, budget.pgd_eot, budget.pgd_step_fraction,
                        dict(budget.autoattack), budget.reduced, self.subset_seed, self.judge,
                        self.headline if self.judge == "anytime" else None,
                        dict(self.overrides) if self.overrides else None, self.attacker_grad, self.surrogate,
                        self.fixed_noise)

    def budget_for(self, entry: Entry) -> Budget:
        """``entry``'s declared budget with this protocol's changes; REDUCED when the entry's was, or
        when the changes fall below the published protocol's attack (unless ``reduced`` is given)."""
        changes = dict(self.budget)
        if "reduced" not in changes:
            changes["reduced"] = entry.budget.reduced or below_published(changes)
        return dataclasses.replace(entry.budget, **changes)

    def with_changes(self, **changes: Any) -> "Protocol":
        """The same protocol with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The protocol as JSON-able data (for the provenance)."""
        out = dataclasses.asdict(self)
        out["attacks"] = list(self.attacks)
        return out


def budget_changes(budget: Budget | Mapping[str, Any] | None) -> dict[str, Any]:
    """A budget's changes, validated: a whole :class:`Budget` (every field) or a mapping of some of
    its fields; unknown fields and out-of-range values are refused."""
    if isinstance(budget, Budget):
        return dataclasses.asdict(budget)
    changes = dict(budget or {})
    unknown = sorted(set(changes) - set(BUDGET_FIELDS))
    if unknown:
        raise ValueError(f"unknown budget field(s) {unknown}; a budget takes {list(BUDGET_FIELDS)}")
    dataclasses.replace(PUBLISHED, **changes)  # Budget's own checks (>= 1, ...)
    if changes.get("pgd_step_fraction") is not None and not changes["pgd_step_fraction"] > 0:
        raise ValueError(f"pgd_step_fraction must be > 0, got {changes['pgd_step_fraction']}")
    if "autoattack" in changes:
        changes["autoattack"] = check_budget(changes["autoattack"])
    return changes


def below_published(changes: Mapping[str, Any]) -> bool:
    """Whether budget changes make the attack weaker than the published protocol's."""
    return (changes.get("pgd_steps", PUBLISHED.pgd_steps) < PUBLISHED.pgd_steps
            or changes.get("pgd_eot", PUBLISHED.pgd_eot) < PUBLISHED.pgd_eot
            or bool(changes.get("autoattack")))


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Purification overrides by name, refusing unknown ones."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown purification override(s) {unknown}; allowed: {list(OVERRIDABLE)}")
    return overrides


LEGACY = {"n_examples": "budget", "batch_size": "budget", "protocol": "judge"}
"""Keywords of the older flat form, and where they go in a :class:`Protocol`."""


def protocol_of(threat: "str | Protocol", attacks=None, **fields: Any) -> Protocol:
    """A :class:`Protocol` from the keyword form researchers type (``run_benchmark(names, "Linf",
    ("pgd-eot",), n_examples=8, protocol="anytime")``): ``n_examples`` and ``batch_size`` go into the
    budget, ``protocol`` (``final``/``anytime``) is ``judge``; ``None`` values mean "not given". A
    :class:`Protocol` passed as ``threat`` is taken as it is, with any ``fields`` changed."""
    fields = {key: value for key, value in fields.items() if value is not None}
    budget = budget_changes(fields.pop("budget", None))
    for key in ("n_examples", "batch_size"):
        if key in fields:
            budget[key] = fields.pop(key)
    if "protocol" in fields:
        fields["judge"] = fields.pop("protocol")
    if attacks is not None:
        fields["attacks"] = tuple(attacks)
    if isinstance(threat, Protocol):
        return threat.with_changes(**fields, **({"budget": {**threat.budget, **budget}} if budget else {}))
    names = {f.name for f in dataclasses.fields(Protocol)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise TypeError(f"unknown protocol field(s) {unknown}; a protocol takes {sorted(names | set(LEGACY))}")
    return Protocol(threat, **fields, budget=budget)


def settings_for(entry: Entry, threat: str, attacks=None, **fields: Any) -> Settings:
    """:meth:`Protocol.settings_for` of the protocol the keyword form describes (:func:`protocol_of`)."""
    return protocol_of(threat, attacks, **fields).settings_for(entry)
