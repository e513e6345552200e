"""``agdm-zoo reproduce``, run from a source checkout (all of it lives in :mod:`zoo.cli.reproduce`)."""
import sys

from zoo.cli import main

sys.exit(main(["reproduce", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
