"""``agdm-zoo sanity``, run from a source checkout (all of it lives in :mod:`zoo.cli.sanity`)."""
import sys

from zoo.cli.sanity import main

sys.exit(main())
