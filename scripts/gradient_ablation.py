"""``agdm-zoo gradient-ablation``, run from a source checkout (all of it lives in :mod:`zoo.cli.gradient_ablation`)."""
import sys

from zoo.cli import run

sys.exit(run("gradient-ablation", prog="gradient_ablation.py"))
