"""Evaluating a model under attack: settings of a run, the attack loop, K re-draws, the journal,
shards and seeds, and the cost estimate.

``settings`` what defines a run (and its protocol, final or anytime); ``loop`` the attack loop
and one entry's run of it; ``draws`` the K re-classifications; ``verdicts`` what K draws say of an
example (vote with ties wrong, worst-of-K, mean); ``journal`` the per-example record on disk; ``shards`` batches, seeds and
torchrun ranks; ``estimate`` network evaluations and wall time before running; ``clean`` clean
accuracy on the demo (``agdm-zoo evaluate``).

May import: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``, ``zoo.data``.
"""
