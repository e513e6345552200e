"""``agdm-zoo evaluate``, run from a source checkout (all of it lives in :mod:`zoo.cli.evaluate`)."""
import sys

from zoo.cli import run

sys.exit(run("evaluate", prog="evaluate.py"))
