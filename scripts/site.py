"""``agdm-zoo site``, run from a source checkout (all of it lives in :mod:`zoo.cli.site`)."""
import sys

from zoo.cli import main

sys.exit(main(["site", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
