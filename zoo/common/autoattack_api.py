"""The module robustbench gets for ``import autoattack``: pyautoattack with fra31/auto-attack's API.

robustbench 1.1.1 was written against fra31's ``autoattack`` (installed from GitHub), whose
``AutoAttack(model, norm=, eps=, version=, device=, log_path=)`` and
``run_standard_evaluation(x, y, bs=, state_path=)`` returning the adversarial images differ from
PyPI's ``pyautoattack`` (keyword-only ``attacks=``, no ``log_path``, ``batch_size=``, and an
``(x_adv, y_adv)`` pair). :class:`AutoAttack` here takes fra31's arguments and returns what fra31
returns, running pyautoattack's attacks unchanged; everything else (``autoattack.state``,
``autoattack.autopgd_base``, ...) is pyautoattack's own. Imported only when something imports
``autoattack`` (:func:`zoo.common.compat.alias_autoattack`).
"""
from __future__ import annotations

import logging
from typing import Any

import pyautoattack

ALIAS_OF = "pyautoattack"   # marks this module as the autoattack alias (its submodules are pyautoattack's)
__path__: list[str] = []    # a package to the import system, so ``import autoattack.state`` is asked of the alias


class AutoAttack(pyautoattack.AutoAttack):
    """pyautoattack's AutoAttack behind fra31/auto-attack's constructor and return values."""

    def __init__(self, model: Any, norm: str = "Linf", eps: float = 0.3, seed: int | None = None,
                 verbose: bool = True, attacks_to_run: Any = (), version: str = "standard",
                 is_tf_model: bool = False, device: Any = "cuda", log_path: str | None = None):
        if is_tf_model:
            raise NotImplementedError("pyautoattack (the AutoAttack on PyPI) runs PyTorch models only")
        super().__init__(model, attacks=list(attacks_to_run) or None, device=device, eps=eps, norm=norm,
                         seed=seed, version=version)
        self.verbose = verbose
        if log_path is not None:  # fra31 writes its log there; pyautoattack logs on the 'auto-attack' logger
            self.logger.addHandler(logging.FileHandler(log_path))
            self.logger.setLevel(logging.DEBUG)

    def run_standard_evaluation(self, x_orig, y_orig, bs: int = 250, return_labels: bool = False,
                                state_path=None, *, batch_size: int | None = None):
        """fra31's call (``bs=``) returns the adversarial images (and labels if ``return_labels``);
        pyautoattack's own internal call (``batch_size=``) keeps its pair."""
        x_adv, y_adv = super().run_standard_evaluation(x_orig, y_orig, batch_size=batch_size or bs,
                                                       state_path=state_path)
        return (x_adv, y_adv) if return_labels or batch_size is not None else x_adv

    def run_standard_evaluation_individual(self, x_orig, y_orig, bs: int = 250, return_labels: bool = False):
        """Each attack alone, as fra31 returns it: attack name -> adversarial images (or pairs)."""
        adv = super().run_standard_evaluation_individual(x_orig, y_orig, batch_size=bs)
        return adv if return_labels else {name: pair[0] for name, pair in adv.items()}


def __getattr__(name: str) -> Any:
    """Everything else is pyautoattack's (``autoattack.checks``, ``autoattack.__version__``, ...)."""
    return getattr(pyautoattack, name)
