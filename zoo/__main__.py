"""``python -m zoo <command>``: the same command line as ``agdm-zoo`` (:mod:`zoo.cli`)."""
import sys

from zoo.cli import main

sys.exit(main())
