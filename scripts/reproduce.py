"""``agdm-zoo reproduce``, run from a source checkout (all of it lives in :mod:`zoo.cli.reproduce`)."""
import sys

from zoo.cli import run

sys.exit(run("reproduce", prog="reproduce.py"))
