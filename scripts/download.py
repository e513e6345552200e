"""``agdm-zoo download``, run from a source checkout (all of it lives in :mod:`zoo.cli.download`)."""
import sys

from zoo.cli import main

sys.exit(main(["download", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
