"""``agdm-zoo publish``, run from a source checkout (all of it lives in :mod:`zoo.cli.publish`)."""
import sys

from zoo.cli import run

sys.exit(run("publish", prog="publish.py"))
