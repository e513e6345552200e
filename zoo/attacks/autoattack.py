"""AutoAttack (Croce & Hein, 2020) through the PyPI package ``pyautoattack``: its sub-attacks as
RobustBench runs them, with decisions over repeated purifications for stochastic defenses."""
from __future__ import annotations

import logging
import sys
from typing import Any, Mapping

import torch
from pyautoattack import AutoAttack, checks
from torch import Tensor, nn

from ..common.devices import device_of
from .base import Attack, batch_norms
from .draw_decisions import RepeatedDraws
from .least_robust import least_robust_points

VERSIONS = ("standard", "rand")

SUB_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
"""The sub-attacks AutoAttack knows, by the names ``attacks_to_run`` takes."""

BUDGET_KEYS = {
    "n_iter": "iterations of APGD-CE/DLR, APGD-T and FAB (published: 100)",
    "n_restarts": "restarts of APGD-CE/DLR, APGD-T, FAB and Square (FAB-T always runs 1)",
    "eot_iter": "EOT samples per APGD gradient, APGD-CE/DLR and APGD-T (standard: 1, rand: 20)",
    "n_target_classes": "target classes of APGD-T and FAB-T (published: 9)",
    "n_queries": "queries of Square (published: 5000)",
    "attacks_to_run": f"the sub-attacks to run, in order, a subset of {list(SUB_ATTACKS)}",
}
"""The keys ``budget`` accepts, with what each overrides."""

DEFAULT_DECISION_DRAWS = 5
"""R by default: odd (no tied votes), and a clean input right on 69% of draws is wrong on all five
with probability 0.3%."""

DEPARTURE = "AutoAttack with repeated-draw decisions (agdm-zoo)"
"""How every output that reports AutoAttack numbers names this evaluation."""

DEPARTURE_NOTE = (f"{DEPARTURE}: pyautoattack's sub-attacks with every example attacked, each gradient-free "
                  f"decision over R={DEFAULT_DECISION_DRAWS} purifications (broken only when wrong on all R) and "
                  "each example's least robust point kept; not plain run_standard_evaluation, which decides on "
                  "one draw (identical results for deterministic models)")
"""The sentence outputs carry (provenance, tables, model_info) where AutoAttack was run."""

LOGGER_NAME = "auto-attack"  # pyautoattack reports everything, warnings included, on this logger


class _Collect(logging.Handler):
    """Appends the message of every record it sees to a list."""

    def __init__(self, sink: list[str]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


class AutoAttackEval(Attack):
    """AutoAttack, the attack RobustBench ranks models by: ``pyautoattack``'s sub-attacks, run as
    :data:`DEPARTURE` (see "Departure" below).

    ``version="standard"`` is RobustBench's evaluation: APGD-CE, APGD-T (9 targets), FAB-T (9
    targets) and Square (5,000 queries), each run on the examples the previous ones did not
    break, configured as ``AutoAttack(model, norm=..., eps=..., version="standard", device=...)``
    configures them. ``version="rand"`` is AutoAttack's version for randomised defenses: APGD-CE
    and APGD-DLR, 1 restart, each gradient averaged over 20 EOT samples. Neither is adaptive to the
    purifier beyond what EOT gives; pair it with :class:`~zoo.attacks.PGDEOT`.

    Departure from plain ``run_standard_evaluation`` (which decides on ONE forward pass which
    examples to attack and which are broken, and returns the clean input for every example it did
    not break; on a stochastic defense those clean inputs are then scored on fresh draws, mostly as
    robust): the sub-attacks run in :func:`~zoo.attacks.least_robust.least_robust_points`, where
    every gradient-free decision is taken over R = ``decision_draws`` purifications
    (:class:`~zoo.attacks.draw_decisions.RepeatedDraws`), every example is attacked, an example
    counts as broken only when all R draws misclassify it, and each example's returned point is the
    least robust one the sub-attacks exposed (fewest correct draws of R; the idea of AutoAttack's
    unmerged PR #105, written here). Gradient calls are single draws as before. For a deterministic
    model the result is plain ``run_standard_evaluation``'s, exactly (the first draw of every
    decision is the call plain AutoAttack makes). The cost: each gradient-free call becomes R
    calls, and examples stay under attack until broken on every draw.

    ``budget`` overrides sub-attack settings after AutoAttack configured its version, for runs
    below the published budget; the keys are :data:`BUDGET_KEYS` (``n_iter``, ``n_restarts``,
    ``eot_iter``, ``n_target_classes``, ``n_queries``: ints >= 1;
    ``attacks_to_run``: a non-empty list of distinct :data:`SUB_ATTACKS`). Changing ``n_iter``
    also rescales APGD's step-size checkpoints (``n_iter_2``, ``n_iter_min``, ``size_decr``) with
    the formulas APGD's constructor uses, which pyautoattack would otherwise leave at their
    100-iteration values.

    AutoAttack's own messages go to the ``"auto-attack"`` logger; the wrapper turns its progress
    reports off (``verbose = False``) and appends every warning it logs during a call, such as
    "it seems to be a randomized defense! Please use version="rand"", to :attr:`warnings` (kept
    across calls; clear it yourself). Those records still propagate to handlers the application
    configured, but are no longer printed by logging's last-resort handler. AutoAttack's defense
    checks (randomness, output range, dynamic defense, number of classes) run on the unwrapped
    model, once per call, on the first batch. pyautoattack counts the autograd calls its
    dynamic-defense check sees in a module-level dict it never resets, so once one model in a
    process looked dynamic every later model would too; the wrapper zeroes those counters before
    each call, so the flag describes this model. The check also ends with ``sys.settrace(None)``;
    the wrapper reinstates the trace function (debugger, coverage) after the call.

    Randomness: every sub-attack reseeds torch's global RNG with ``seed`` before it runs (its random
    starts come from there, as does the defense's noise). The wrapper runs AutoAttack inside
    ``torch.random.fork_rng``, so the caller's global RNG state is the same after the call as
    before it. A run is reproducible given ``seed`` and the global RNG state at the call.

    Args:
        model: ``model(x) -> logits``; a zoo ``DefendedClassifier`` or any ``nn.Module``. AutoAttack
            calls it under ``torch.no_grad()`` and with gradients, and feeds it float32 inputs.
        norm: ``"Linf"`` or ``"L2"``.
        eps: radius of the ball, >= 0.
        version: ``"standard"`` (default) or ``"rand"``.
        seed: AutoAttack's ``seed`` (every sub-attack's).
        batch_size: examples per sub-attack call (``run_standard_evaluation``'s ``batch_size``);
            default 250, AutoAttack's own.
        budget: sub-attack overrides, see above; ``None`` or empty for AutoAttack's own settings.
        decision_draws: R, the purifications behind every gradient-free decision (default
            :data:`DEFAULT_DECISION_DRAWS`; 1 decides on single draws, as plain AutoAttack, but
            still attacks every example and keeps its least robust point).

    Attributes:
        adversary: the configured ``pyautoattack.AutoAttack``, built on the wrapped model.
        decider: the :class:`~zoo.attacks.draw_decisions.RepeatedDraws` wrapping ``model``.
        warnings: AutoAttack's warnings, one string each, in the order logged.
        scores: after a call, each example's fraction of R correct draws at its returned point.

    Shapes:
        x: N x C x H x W float in [0, 1]; y: N long; returns x_adv of the same shape, dtype and
        device, in [0, 1]: each example's least robust point found (x itself where none was less
        robust than x).
    """

    name = DEPARTURE

    def __init__(self, model: nn.Module, *, norm: str, eps: float, version: str = "standard", seed: int = 0,
                 batch_size: int = 250, budget: Mapping[str, Any] | None = None,
                 decision_draws: int = DEFAULT_DECISION_DRAWS):
        super().__init__(model, norm=norm, eps=eps, seed=seed)
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        budget = check_budget(budget)

        self.version = version
        self.batch_size = batch_size
        self.budget = budget
        self.device = device_of(model)
        self.warnings: list[str] = []
        self.scores: Tensor | None = None
        self.decider = RepeatedDraws(model, decision_draws)
        self.adversary = AutoAttack(self.decider, norm=norm, eps=self.eps, version=version, device=self.device,
                                    seed=seed)
        self.adversary.verbose = False
        configure(self.adversary, budget)

    def with_attacker(self, attacker: nn.Module) -> "AutoAttackEval":
        """Every gradient call of the sub-attacks goes to ``attacker`` (:mod:`.gradients`); the
        gradient-free decisions and the scoring of every point stay on the real defense."""
        super().with_attacker(attacker)
        self.decider.gradient_model = attacker
        return self

    def perturb(self, x: Tensor, y: Tensor) -> Tensor:
        logger = logging.getLogger(LOGGER_NAME)
        handler = _Collect(self.warnings)
        logger.addHandler(handler)
        devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()] \
            if self.device.type == "cuda" else []
        for name in checks.funcs:  # the dynamic-defense check's call counters are never reset by pyautoattack
            checks.funcs[name] = 0
        tracer = sys.gettrace()  # the same check ends with sys.settrace(None), dropping any debugger or coverage
        try:
            with torch.random.fork_rng(devices=devices):
                xd, yd = x.to(self.device), y.to(self.device)
                self._defense_checks(xd, yd)
                x_adv, self.scores = self.evaluate(xd, yd)
        finally:
            logger.removeHandler(handler)
            sys.settrace(tracer)
        x_adv = x_adv.to(device=x.device, dtype=x.dtype)
        self._check_threat_model(x_adv, x)
        return x_adv

    def evaluate(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The sub-attacks on (x, y) on this attack's device: (least robust points, their scores)."""
        return least_robust_points(self.adversary, self.decider, x, y, batch_size=self.batch_size,
                                   in_ball=self._inside)

    def _defense_checks(self, x: Tensor, y: Tensor) -> None:
        """AutoAttack's checks of the defense (warnings only), on the unwrapped model and the first batch."""
        aa, first_x, first_y = self.adversary, x[:self.batch_size], y[:self.batch_size]
        if self.version != "rand":
            checks.check_randomized(self.model, first_x, first_y, bs=self.batch_size, logger=aa.logger)
        n_classes = checks.check_range_output(self.model, first_x, logger=aa.logger)
        checks.check_dynamic(self.model, first_x, False, logger=aa.logger)
        checks.check_n_classes(n_classes, aa.attacks_to_run, aa.apgd_targeted.n_target_classes,
                               aa.fab.n_target_classes, logger=aa.logger)

    def _inside(self, points: Tensor, x: Tensor) -> Tensor:
        """Per row: ``points`` lies in the eps-ball around ``x`` and in [0, 1] (float32 rounding allowed)."""
        delta = (points - x).flatten(1)
        size = delta.abs().amax(1) if self.norm == "Linf" else delta.norm(dim=1)
        flat = points.flatten(1)
        return (size <= self.eps * (1 + 1e-5) + 1e-6) & (flat.amin(1) >= 0) & (flat.amax(1) <= 1)

    def _check_threat_model(self, x_adv: Tensor, x: Tensor) -> None:
        """Refuse a result outside the eps-ball or [0, 1] (beyond float32 rounding): an evaluation
        must never count an example as broken by an out-of-threat-model point."""
        delta = x_adv - x
        size = delta.flatten(1).abs().amax(1) if self.norm == "Linf" else batch_norms(delta).flatten()
        bound = self.eps * (1 + 1e-5) + 1e-6
        if x.numel() and (float(size.max()) > bound or float(x_adv.min()) < 0.0 or float(x_adv.max()) > 1.0):
            raise RuntimeError(f"AutoAttack returned points outside the {self.norm} ball of radius {self.eps:g} "
                               f"or [0, 1]: max perturbation {float(size.max()):.6g}, range "
                               f"[{float(x_adv.min()):.4g}, {float(x_adv.max()):.4g}]")


def configure(aa: AutoAttack, budget: Mapping[str, Any]) -> None:
    """Apply the sub-attack overrides of ``budget`` (:data:`BUDGET_KEYS`) to a configured ``aa``."""
    apgds = (aa.apgd, aa.apgd_targeted)
    if "attacks_to_run" in budget:
        aa.attacks_to_run = list(budget["attacks_to_run"])
    if "n_iter" in budget:
        n = int(budget["n_iter"])
        for apgd in apgds:
            apgd.n_iter = apgd.n_iter_orig = n
            # derived in APGDAttack.__init__ from n_iter, so recompute them the same way
            apgd.n_iter_2 = max(int(0.22 * n), 1)
            apgd.n_iter_min = max(int(0.06 * n), 1)
            apgd.size_decr = max(int(0.03 * n), 1)
        aa.fab.n_iter = n
    if "n_restarts" in budget:
        for sub in (*apgds, aa.fab, aa.square):
            sub.n_restarts = int(budget["n_restarts"])
    if "eot_iter" in budget:
        for apgd in apgds:
            apgd.eot_iter = int(budget["eot_iter"])
    if "n_target_classes" in budget:
        aa.apgd_targeted.n_target_classes = aa.fab.n_target_classes = int(budget["n_target_classes"])
    if "n_queries" in budget:
        aa.square.n_queries = int(budget["n_queries"])


def check_budget(budget: Mapping[str, Any] | None) -> dict[str, Any]:
    """AutoAttack's sub-attack overrides as a dict, refusing unknown keys and bad values."""
    budget = dict(budget or {})
    unknown = sorted(set(budget) - set(BUDGET_KEYS))
    if unknown:
        raise ValueError(f"unknown AutoAttack budget key(s) {unknown}; accepted: {sorted(BUDGET_KEYS)}")
    for key, value in budget.items():
        _check_budget_value(key, value)
    return budget


def _check_budget_value(key: str, value: Any) -> None:
    if key == "attacks_to_run":
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"budget attacks_to_run must be a non-empty list of {list(SUB_ATTACKS)}, got {value!r}")
        bad = [a for a in value if a not in SUB_ATTACKS]
        if bad:
            raise ValueError(f"budget attacks_to_run: unknown sub-attack(s) {bad}; known: {list(SUB_ATTACKS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"budget attacks_to_run repeats a sub-attack: {list(value)}")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"budget {key} must be an int >= 1, got {value!r}")
