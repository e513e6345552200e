"""``agdm-zoo rejudge``, run from a source checkout (all of it lives in :mod:`zoo.cli.rejudge`)."""
import sys

from zoo.cli import run

sys.exit(run("rejudge", prog="rejudge.py"))
