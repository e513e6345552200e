"""Reporting: results in, tables out. Metrics over journal records (``metrics``), paired
comparisons of entries (``comparison``), robust accuracy per attack iteration (``curves``), the
markdown/CSV tables and RobustBench model_info (``tables``, ``model_info``), the leaderboard files
in both directions (``files``), the paper's metadata (``paper``), the sanity reports' files
(``sanity_report``) and the static website (``site``, Jinja2 ``templates/``; ``browser`` renders it
in headless Chromium).

Reporting never builds, loads or runs a model or an attack (``tests/test_architecture.py`` fails
if it imports ``zoo.models``, ``zoo.attacks`` or ``zoo.running``): what it needs to know of an
attack (its title, legend, plain twin) comes with the run's provenance or as an argument.

May import: ``zoo.common``, ``zoo.registry``, ``zoo.scoring``.
"""
