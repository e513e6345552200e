"""``agdm-zoo publish``, run from a source checkout (all of it lives in :mod:`zoo.cli.publish`)."""
import sys

from zoo.cli import main

sys.exit(main(["publish", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
