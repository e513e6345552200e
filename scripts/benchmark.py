"""``agdm-zoo benchmark``, run from a source checkout (all of it lives in :mod:`zoo.cli.benchmark`)."""
import sys

from zoo.cli.benchmark import main

sys.exit(main())
