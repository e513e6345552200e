"""The leaderboard: metrics over journal records, the tables and RobustBench model_info, the files
in both directions (written and read back), the paper's metadata, and the benchmark run that
writes them (``zoo.run_benchmark``).

May import everything below it: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``,
``zoo.evaluation``, ``zoo.data``.
"""
