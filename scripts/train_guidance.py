"""``agdm-zoo train-guidance``, run from a source checkout (all of it lives in :mod:`zoo.cli.train_guidance`)."""
import sys

from zoo.cli import run

sys.exit(run("train-guidance", prog="train_guidance.py"))
