"""``agdm-zoo scale-sweep``, run from a source checkout (all of it lives in :mod:`zoo.cli.scale_sweep`)."""
import sys

from zoo.cli import main

sys.exit(main(["scale-sweep", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
