"""Scoring: what K purifications say of an example, defined once for the whole zoo.

- ``verdicts``: per example the vote (ties wrong), worst-of-K and mean (``correct``), robust =
  clean verdict AND adversarial verdict (``robust_correct``; mean: per-draw pairing), each
  metric's name in outputs (``NAMES``) and a run's headline from its provenance (``headline_of``);
- ``worst_case``: the worst case over attacks (``over_attacks``: robust under every attack, clean
  the average of the attacks' clean scores, over the examples present under all of them);
- ``intervals``: 95% Wilson intervals;
- ``paired``: paired tests of two sets of outcomes on the same examples (Newcombe's interval and
  the exact McNemar test; the paired t for the mean).

Pure numpy/scipy on predictions: no models, no attacks. Everything that scores (the benchmark's
tables, the anytime protocol, the sweeps, sanity checks, the progress bar, cards and the
submission kit) scores through here.

May import: ``zoo.common``.
"""
