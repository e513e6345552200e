"""Studies built on the whole zoo: experiments that train nets, swap them into entries and
benchmark the result (``lambda_sweep``: the paper's Fig. 3c on the demo), and the paper's tables
rerun as one command each (``paper_tables``: what each table ran and printed; ``reproduce``: the runs;
``side_by_side``: our numbers beside the paper's).

May import everything below it: ``zoo.common``, ``zoo.registry``, ``zoo.models``, ``zoo.attacks``,
``zoo.evaluation``, ``zoo.leaderboard``, ``zoo.hub``, ``zoo.training``, ``zoo.data``.
"""
