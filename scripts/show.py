"""``agdm-zoo show``, run from a source checkout (all of it lives in :mod:`zoo.cli.show`)."""
import sys

from zoo.cli import run

sys.exit(run("show", prog="show.py"))
