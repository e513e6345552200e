"""Which gradient broke what: an entry's robust accuracy under PGD+EOT with each attacker gradient.

    agdm-zoo gradient-ablation agdm-tiny-mnist          # -> leaderboard/sanity/agdm-tiny-mnist/
    agdm-zoo gradient-ablation diffpure-tiny-mnist --surrogate steps=2 --surrogate t_star=50

Rows: exact (the whole chain and the guidance, double backward), bpda (identity through the
purifier), blind (the classifier alone), surrogate (another chain from the same networks: by default
a quarter of the reverse steps, and no guidance for guided entries). Vote and worst-of-K robust
accuracy with 95% Wilson intervals, at one budget (the sanity budget, REDUCED and stated). Every
row but exact is a weaker, ablation-only attack. Writes gradient_ablation_<threat>.csv and .md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from zoo.cli.sanity import budget_of, budget_options
from zoo.studies.sanity import run_gradient_ablation, sanity_folder


def surrogate_setting(text: str) -> dict:
    """``key=value`` (the value read as YAML: ``steps=2``, ``pattern=none``) as a one-item dict."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--surrogate takes key=value (e.g. steps=2), got {text!r}")
    return {key: yaml.safe_load(value)}


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo entry with a purifier")
    budget_options(p)
    p.add_argument("--surrogate", type=surrogate_setting, action="append", default=None,
                   help="a surrogate row's chain setting, key=value (repeat for more rows; default: steps = a quarter, "
                        "and pattern=none for guided entries)")
    p.add_argument("--out", type=Path, default=None, help="default: leaderboard/sanity/NAME")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    out = args.out or sanity_folder(args.name)
    run_gradient_ablation(args.name, args.threat, budget=budget_of(args), eps=args.eps, surrogates=args.surrogate,
                          device=args.device, data_dir=args.data_dir, out=out)
    print((out / f"gradient_ablation_{args.threat}.md").read_text())
    return 0
