"""``agdm-zoo evaluate``, run from a source checkout (all of it lives in :mod:`zoo.cli.evaluate`)."""
import sys

from zoo.cli import main

sys.exit(main(["evaluate", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
