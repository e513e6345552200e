"""``agdm-zoo show``, run from a source checkout (all of it lives in :mod:`zoo.cli.show`)."""
import sys

from zoo.cli import main

sys.exit(main(["show", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
