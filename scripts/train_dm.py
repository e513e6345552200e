"""``agdm-zoo train-dm``, run from a source checkout (all of it lives in :mod:`zoo.cli.train_dm`)."""
import sys

from zoo.cli import main

sys.exit(main(["train-dm", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
