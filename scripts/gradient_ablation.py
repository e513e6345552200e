"""``agdm-zoo gradient-ablation``, run from a source checkout (all of it lives in :mod:`zoo.cli.gradient_ablation`)."""
import sys

from zoo.cli import main

sys.exit(main(["gradient-ablation", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
