"""``agdm-zoo diagnose``, run from a source checkout (all of it lives in :mod:`zoo.cli.diagnose`)."""
import sys

from zoo.cli import main

sys.exit(main(["diagnose", *sys.argv[1:]]))  # threads chosen first (zoo.common.threads)
