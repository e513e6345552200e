"""``agdm-zoo submit-kit``, run from a source checkout (all of it lives in :mod:`zoo.cli.submit_kit`)."""
import sys

from zoo.cli.submit_kit import main

sys.exit(main())
