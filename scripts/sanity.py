"""``agdm-zoo sanity``, run from a source checkout (all of it lives in :mod:`zoo.cli.sanity`)."""
import sys

from zoo.cli import main

sys.exit(main(["sanity", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
