"""Is a defense's number trustworthy? Gradient-masking checks on a few test examples.

    agdm-zoo sanity agdm-tiny-mnist                      # -> leaderboard/sanity/agdm-tiny-mnist/
    agdm-zoo sanity --model mine.py:model --dataset mnist --eps 0.3 --n-examples 16 --out runs/sanity/mine

Checks (each a pass / flag line with its numbers): robust accuracy falls to about 0 as eps grows
to the whole image cube; the gradient-free Square attack and transfer from the undefended
classifier do not beat the gradient attack (PGD+EOT) beyond the 95% interval; doubling the
iterations neither raises robust accuracy nor lowers it (converged); for guided entries the
label-aware loss does not beat the plain loss; the input gradient matches finite differences in
every grad mode; recompute's replayed steps reproduce the forward's. Writes sanity_<threat>.json
(one record per check) and sanity_<threat>.md; model cards include them. The budget is small and REDUCED, and says so.
Exit status 1 when any check flags, 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli.module_file import is_module_file, load_module_file
from zoo.studies.sanity import SanityBudget, run_sanity, sanity_folder
from zoo.reporting.sanity_report import FLAG, sanity_markdown

BUDGET = SanityBudget()


def budget_options(p: argparse.ArgumentParser) -> None:
    """The sanity budget's options (shared with ``agdm-zoo gradient-ablation``)."""
    p.add_argument("--threat", choices=["Linf", "L2"], default="Linf")
    p.add_argument("--eps", type=float, default=None, help="default: the entry's (an own defense needs it)")
    p.add_argument("--n-examples", type=int, default=BUDGET.n_examples, help="test examples (the first N)")
    p.add_argument("--draws", type=int, default=BUDGET.draws, help="K purifications per example")
    p.add_argument("--pgd-steps", type=int, default=BUDGET.pgd_steps)
    p.add_argument("--pgd-eot", type=int, default=BUDGET.pgd_eot)
    p.add_argument("--step-fraction", type=float, default=BUDGET.pgd_step_fraction,
                   help="PGD step as a fraction of eps")
    p.add_argument("--batch-size", type=int, default=BUDGET.batch_size)
    p.add_argument("--seed", type=int, default=BUDGET.seed)
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default="./data")


def budget_of(args: argparse.Namespace, **extra) -> SanityBudget:
    return SanityBudget(n_examples=args.n_examples, draws=args.draws, pgd_steps=args.pgd_steps, pgd_eot=args.pgd_eot,
                        pgd_step_fraction=args.step_fraction, batch_size=args.batch_size, seed=args.seed, **extra)


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", default=None, help="zoo entry (or --model file.py:object)")
    p.add_argument("--model", default=None, help="your own defense: path/to/file.py:object (an nn.Module or a "
                                                 "zero-argument callable returning one); needs --eps and --dataset")
    p.add_argument("--dataset", default=None, help="own defense: the test set it is checked on (e.g. mnist)")
    budget_options(p)
    p.add_argument("--square-queries", type=int, default=BUDGET.square_queries)
    p.add_argument("--fd-inputs", type=int, default=BUDGET.fd_inputs, help="finite differences: inputs")
    p.add_argument("--fd-directions", type=int, default=BUDGET.fd_directions, help="finite differences: directions")
    p.add_argument("--transfer-from", default=None,
                   help="entry or file.py:object to transfer adversarial examples from (default: the entry's "
                        "classifier; own defense on mnist: standard-tiny-mnist)")
    p.add_argument("--out", type=Path, default=None, help="default: leaderboard/sanity/NAME")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    if (args.name is None) == (args.model is None):
        raise ValueError("name one defense: an entry (agdm-zoo sanity NAME) or --model file.py:object")
    if args.model is not None:
        if not is_module_file(args.model):
            raise ValueError(f"--model takes path/to/file.py:object, got {args.model!r} "
                             "(an entry is named without --model)")
        model, name = load_module_file(args.model), args.model.rpartition(":")[2]
    else:
        if args.dataset is not None:
            raise ValueError("--dataset is for an own defense (--model file.py:object); an entry has its own")
        model = name = args.name
    transfer = args.transfer_from
    if transfer is not None and is_module_file(transfer):
        transfer = load_module_file(transfer)
    budget = budget_of(args, square_queries=args.square_queries, fd_inputs=args.fd_inputs,
                       fd_directions=args.fd_directions)
    report = run_sanity(model, args.threat, budget=budget, eps=args.eps, name=name, dataset=args.dataset,
                        transfer_from=transfer, device=args.device, data_dir=args.data_dir,
                        out=args.out or sanity_folder(name))
    print(sanity_markdown(report))
    print(f"wrote {args.out or sanity_folder(name)}/sanity_{args.threat}.json and .md", file=sys.stderr)
    return 1 if any(check["status"] == FLAG for check in report["checks"]) else 0
