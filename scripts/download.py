"""``agdm-zoo download``, run from a source checkout (all of it lives in :mod:`zoo.cli.download`)."""
import sys

from zoo.cli.download import main

sys.exit(main())
