"""Words every output uses the same way, wherever it is written (attacks label records with them,
tables repeat them)."""

ABLATION_LABEL = "weaker, ablation-only attack"
"""How every output names a result whose attacker did not follow the exact gradient."""
