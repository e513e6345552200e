"""Running an evaluation: the benchmark orchestrator (``benchmark``: ``zoo.run_benchmark``), what
defines a run (``settings``), the attack loop (``loop``), K re-draws (``draws``), the per-example
journal (``journal``), shards and seeds (``shards``), the cost estimate (``estimate``), a user's own
defense (``own_defense``) and clean accuracy (``clean``, ``agdm-zoo evaluate``).

It hands its records to :mod:`zoo.reporting` for the tables; it never formats a table itself.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.data``, ``zoo.scoring``, ``zoo.reporting``,
``zoo.models``, ``zoo.attacks``.
"""
