"""Training the networks the zoo ships, every run resumable bit-identically after a kill.

``guidance``     classifiers and robust guidance nets with Eq. 6 (TRADES), per-epoch checkpoints
``run``          one such run end to end (net for a data set, weights written, reference comparison)
``ddpm``         the demo's small DDPM (eps-prediction loss, EMA), checkpoints every N steps
``checkpoints``  the checkpoint files both use (weights, optimizer, scheduler, RNG, run spec)

A layer beside ``zoo.running``: neither imports the other.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``, ``zoo.data``.
"""
