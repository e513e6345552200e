"""Scoring: what K purifications say of an example, defined once for the whole zoo.

``verdicts`` per-example vote (ties wrong), worst-of-K and mean, and the worst case over attacks;
``intervals`` 95% intervals (Wilson) and paired tests (Newcombe, exact McNemar).

Pure numpy/scipy on predictions: no models, no attacks. Everything that scores (the benchmark's
tables, the anytime protocol, the sweeps, sanity checks, the progress bar, cards and the
submission kit) scores through here.

May import: ``zoo.common``.
"""
