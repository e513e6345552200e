"""``agdm-zoo train-dm``, run from a source checkout (all of it lives in :mod:`zoo.cli.train_dm`)."""
import sys

from zoo.cli.train_dm import main

sys.exit(main())
