"""``agdm-zoo download``, run from a source checkout (all of it lives in :mod:`zoo.cli.download`)."""
import sys

from zoo.cli import run

sys.exit(run("download", prog="download.py"))
