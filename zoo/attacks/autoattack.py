"""AutoAttack (Croce & Hein, 2020) through the PyPI package ``pyautoattack``, run as RobustBench runs it."""
from __future__ import annotations

import logging
import sys
from typing import Any, Mapping

import torch
from pyautoattack import AutoAttack, checks
from torch import Tensor, nn

from ..common.devices import device_of
from .base import Attack, batch_norms

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

LOGGER_NAME = "auto-attack"  # pyautoattack reports everything, warnings included, on this logger


class _Collect(logging.Handler):
    """Appends the message of every record it sees to a list."""

    def __init__(self, sink: list[str]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


class AutoAttackEval(Attack):
    """AutoAttack, the attack RobustBench ranks models by, wrapping ``pyautoattack.AutoAttack``.

    ``version="standard"`` is RobustBench's evaluation: APGD-CE, APGD-T (9 targets), FAB-T (9
    targets) and Square (5,000 queries), each run only on the examples the previous ones did not
    fool, built as ``AutoAttack(model, norm=..., eps=..., version="standard", device=...)`` and run
    with ``run_standard_evaluation(x, y, batch_size=...)``. ``version="rand"`` is AutoAttack's
    version for randomised defenses: APGD-CE and APGD-DLR, 1 restart, each gradient averaged over
    20 EOT samples. Neither is adaptive to the purifier beyond what EOT gives; pair it with
    :class:`~zoo.attacks.PGDEOT`.

    ``budget`` overrides sub-attack settings after AutoAttack configured its version, for runs
    below the published budget; the keys are :data:`BUDGET_KEYS` (``n_iter``, ``n_restarts``,
    ``eot_iter``, ``n_target_classes``, ``n_queries``: ints >= 1; ``attacks_to_run``: a non-empty
    list of distinct :data:`SUB_ATTACKS`). Changing ``n_iter`` also rescales APGD's step-size
    checkpoints (``n_iter_2``, ``n_iter_min``, ``size_decr``) with the formulas APGD's constructor
    uses, which pyautoattack would otherwise leave at their 100-iteration values.

    AutoAttack's own messages go to the ``"auto-attack"`` logger; the wrapper turns its progress
    reports off (``verbose = False``) and appends every warning it logs during a call, such as
    "it seems to be a randomized defense! Please use version="rand"", to :attr:`warnings` (kept
    across calls; clear it yourself). Those records still propagate to handlers the application
    configured, but are no longer printed by logging's last-resort handler. pyautoattack counts the
    autograd calls its dynamic-defense check sees in a module-level dict it never resets, so once one
    model in a process looked dynamic every later model would too; the wrapper zeroes those counters
    before each call, so the flag describes this model. The check also ends with
    ``sys.settrace(None)``; the wrapper reinstates the trace function (debugger, coverage) after the call.

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

    Attributes:
        adversary: the configured ``pyautoattack.AutoAttack``.
        warnings: AutoAttack's warnings, one string each, in the order logged.

    Shapes:
        x: N x C x H x W float in [0, 1]; y: N long; returns x_adv of the same shape, dtype and
        device, in [0, 1]: the adversarial example where AutoAttack fooled the model, else x itself.
    """

    def __init__(self, model: nn.Module, *, norm: str, eps: float, version: str = "standard", seed: int = 0,
                 batch_size: int = 250, budget: Mapping[str, Any] | None = None):
        super().__init__(model, norm=norm, eps=eps, seed=seed)
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        budget = dict(budget or {})
        unknown = sorted(set(budget) - set(BUDGET_KEYS))
        if unknown:
            raise ValueError(f"unknown budget key(s) {unknown}; accepted: {sorted(BUDGET_KEYS)}")
        for key, value in budget.items():
            _check_budget_value(key, value)

        self.version = version
        self.batch_size = batch_size
        self.budget = budget
        self.device = device_of(model)
        self.warnings: list[str] = []
        self.adversary = AutoAttack(model, norm=norm, eps=self.eps, version=version, device=self.device, seed=seed)
        self.adversary.verbose = False
        self._apply_budget(budget)

    def _apply_budget(self, budget: Mapping[str, Any]) -> None:
        aa = self.adversary
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
                x_adv, _ = self.adversary.run_standard_evaluation(
                    x.to(self.device), y.to(self.device), batch_size=self.batch_size)
        finally:
            logger.removeHandler(handler)
            sys.settrace(tracer)
        x_adv = x_adv.to(device=x.device, dtype=x.dtype)
        self._check_threat_model(x_adv, x)
        return x_adv

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
