"""``agdm-zoo scale-sweep``, run from a source checkout (all of it lives in :mod:`zoo.cli.scale_sweep`)."""
import sys

from zoo.cli import run

sys.exit(run("scale-sweep", prog="scale_sweep.py"))
