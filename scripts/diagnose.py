"""``agdm-zoo diagnose``, run from a source checkout (all of it lives in :mod:`zoo.cli.diagnose`)."""
import sys

from zoo.cli import run

sys.exit(run("diagnose", prog="diagnose.py"))
