"""Words every output uses the same way, wherever it is written (attacks label records with them,
tables repeat them)."""

ABLATION_LABEL = "weaker, ablation-only attack"
"""How every output names a result whose attacker did not follow the exact gradient."""

FIXED_NOISE_LABEL = "weaker, reference-only protocol"
"""How every output names a result of the fixed-noise protocol (the attack and the verdict share
the purification noise, so the defense is judged as a deterministic function, as some papers do)."""
