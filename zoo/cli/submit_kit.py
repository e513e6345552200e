"""Prepare a RobustBench submission for a zoo entry from its newest results.

    agdm-zoo submit-kit agdm-tiny-mnist                 # -> runs/submit-kit/agdm-tiny-mnist
    agdm-zoo submit-kit agdm-wrn28-cifar10 --out kit --code-url https://example.org/agdm-zoo

Writes ISSUE.md (RobustBench's "New Model(s)" issue, filled: architecture, threat model, eps,
clean and robust accuracy, extra data, evaluation method and budget, checkpoint and code links,
license), model_info/<dataset>/<threat>/<Name>.json in RobustBench's layout and naming
(<Name><Year><FirstWord>), and kit.json. It says which route applies: RobustBench's leaderboard
lists deterministic defenses only, so a purification defense goes in as an external evaluation /
paper entry.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.publishing.submit_kit import write_kit


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo entry")
    p.add_argument("--out", type=Path, default=None, help="kit folder (default: runs/submit-kit/NAME)")
    p.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="where the benchmark results are")
    p.add_argument("--code-url", default=None, help="public URL of the code, for the issue")
    p.add_argument("--checkpoint-url", default=None, help="public URL of the weights (e.g. a published bundle)")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    kit = write_kit(args.name, args.out or Path("runs/submit-kit") / args.name, args.leaderboard,
                    code_url=args.code_url, checkpoint_url=args.checkpoint_url)
    print(f"submit_kit.py: {kit.name} ({kit.route}): {kit.issue}, "
          + ", ".join(str(p) for p in kit.model_info))
    return 0

