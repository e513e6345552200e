"""``agdm-zoo submit-kit``, run from a source checkout (all of it lives in :mod:`zoo.cli.submit_kit`)."""
import sys

from zoo.cli import run

sys.exit(run("submit-kit", prog="submit_kit.py"))
