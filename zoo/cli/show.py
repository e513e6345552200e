"""Save a PNG grid of clean, adversarial and purified images of a zoo entry (the paper's Fig. 4).

    agdm-zoo show agdm-tiny-mnist                  # = scripts/show.py
    agdm-zoo show agdm-tiny-mnist --threat L2 --n 6 --out leaderboard/figures/agdm-l2.png

Rows: clean test images, their PGD+EOT adversarial examples (the entry's budget and eps), the
adversarial examples after purification, and the clean images after purification; each image is
titled with the defended model's prediction (one seeded draw). A JSON file beside the PNG records
the command, commit, seed and attack settings.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.studies.figures import panels, save_figure


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo entry (with a purifier)")
    p.add_argument("--threat", choices=["Linf", "L2"], default="Linf")
    p.add_argument("--eps", type=float, default=None, help="default: the entry's")
    p.add_argument("--n", type=int, default=8, help="test images shown")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=None, help="PNG (default: leaderboard/figures/NAME_THREAT.png)")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    out = args.out or Path("leaderboard/figures") / f"{args.name}_{args.threat}.png"
    result = panels(args.name, args.threat, args.eps, args.n, args.seed, args.data_dir, args.device)
    print(f"wrote {save_figure(result, args.name, args.threat, args.seed, out)}")
    return 0
