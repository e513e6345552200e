"""Is a defense's number trustworthy? Gradient-masking checks (``agdm-zoo sanity``) and the table
of which attacker gradient broke what (``agdm-zoo gradient-ablation``).

``budget``           :class:`SanityBudget`, the small stated budget (REDUCED in every output)
``bench``            the defense and its examples, robust verdicts over K draws, the gradient
                     attack, paired "beyond the interval" comparisons, the per-check record
``attack_checks``    eps sweep, Square, transfer, more iterations, label-aware vs plain loss
``gradient_checks``  finite differences in every grad mode, recompute's replay
``run``              :func:`run_sanity`: the checks that apply to an entry or an own module
``report``           the JSON and markdown files, read back, and the model card's section
``ablation``         robust accuracy under each attacker gradient (exact, bpda, blind, surrogate)
"""
from .ablation import run_gradient_ablation
from .budget import SanityBudget
from ...reporting.sanity_report import card_section, read_reports, sanity_folder
from .run import run_sanity

__all__ = ["SanityBudget", "run_sanity", "run_gradient_ablation", "card_section", "read_reports", "sanity_folder"]
