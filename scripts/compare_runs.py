"""``agdm-zoo compare-runs``, run from a source checkout (all of it lives in :mod:`zoo.cli.compare_runs`)."""
import sys

from zoo.cli import run

sys.exit(run("compare-runs", prog="compare_runs.py"))
