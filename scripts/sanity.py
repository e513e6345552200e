"""``agdm-zoo sanity``, run from a source checkout (all of it lives in :mod:`zoo.cli.sanity`)."""
import sys

from zoo.cli import run

sys.exit(run("sanity", prog="sanity.py"))
