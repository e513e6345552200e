"""``agdm-zoo train-dm``, run from a source checkout (all of it lives in :mod:`zoo.cli.train_dm`)."""
import sys

from zoo.cli import run

sys.exit(run("train-dm", prog="train_dm.py"))
