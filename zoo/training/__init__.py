"""Training the networks the zoo ships: classifiers and robust guidance nets with Eq. 6 (TRADES),
resumable from per-epoch checkpoints, and comparisons of a retrained net with a reference.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``, ``zoo.data``.
"""
