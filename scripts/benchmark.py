"""``agdm-zoo benchmark``, run from a source checkout (all of it lives in :mod:`zoo.cli.benchmark`)."""
import sys

from zoo.cli import main

sys.exit(main(["benchmark", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
