"""The leaderboard: metrics over journal records (``metrics``; their 95% intervals, ``intervals``;
paired comparisons of entries, ``comparison``; robust accuracy per attack iteration, ``curves``), the tables and RobustBench model_info, the files
in both directions (written and read back), the paper's metadata, the benchmark run that
writes them (``zoo.run_benchmark``; a user's own module through it, ``own_defense``), the static website built from them (``site``, Jinja2
templates in ``templates/``; ``browser`` renders it in headless Chromium), the RobustBench
submission kit (``submit_kit``), the paper's Fig. 4 grid of an entry (``figures``), and the
gradient-masking checks and gradient ablation table (``sanity/``, ``agdm-zoo sanity``).

May import everything below it: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``,
``zoo.evaluation``, ``zoo.data``.
"""
