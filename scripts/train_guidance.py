"""``agdm-zoo train-guidance``, run from a source checkout (all of it lives in :mod:`zoo.cli.train_guidance`)."""
import sys

from zoo.cli import main

sys.exit(main(["train-guidance", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
