"""``agdm-zoo lambda-sweep``, run from a source checkout (all of it lives in :mod:`zoo.cli.lambda_sweep`)."""
import sys

from zoo.cli import run

sys.exit(run("lambda-sweep", prog="lambda_sweep.py"))
