"""Studies: runs of attacks that answer a question about a defense, each over the whole zoo.
The guidance scale sweep on validation digits (``scale_sweep``, its report ``scale_sweep_report``),
the lambda trade-off (``lambda_sweep``: the paper's Fig. 3c on the demo), gradient-masking checks
and the attacker-gradient ablation (``sanity/``), the per-step guidance diagnostic
(``diagnostics``), the paper's Fig. 4 grid (``figures``), and the paper's tables rerun as one
command each (``paper_tables``: what each table ran and printed; ``reproduce``: the runs;
``side_by_side``: our numbers beside the paper's).

May import everything below it.
"""
