"""``agdm-zoo site``, run from a source checkout (all of it lives in :mod:`zoo.cli.site`)."""
import sys

from zoo.cli.site import main

sys.exit(main())
