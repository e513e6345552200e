"""``agdm-zoo submit-kit``, run from a source checkout (all of it lives in :mod:`zoo.cli.submit_kit`)."""
import sys

from zoo.cli import main

sys.exit(main(["submit-kit", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
