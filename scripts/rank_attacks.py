"""``agdm-zoo rank-attacks``, run from a source checkout (all of it lives in :mod:`zoo.cli.rank_attacks`)."""
import sys

from zoo.cli import run

sys.exit(run("rank-attacks", prog="rank_attacks.py"))
