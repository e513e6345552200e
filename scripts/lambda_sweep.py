"""``agdm-zoo lambda-sweep``, run from a source checkout (all of it lives in :mod:`zoo.cli.lambda_sweep`)."""
import sys

from zoo.cli import main

sys.exit(main(["lambda-sweep", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
