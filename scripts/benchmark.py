"""``agdm-zoo benchmark``, run from a source checkout (all of it lives in :mod:`zoo.cli.benchmark`)."""
import sys

from zoo.cli import run

sys.exit(run("benchmark", prog="benchmark.py"))
