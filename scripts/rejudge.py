"""``agdm-zoo rejudge``, run from a source checkout (all of it lives in :mod:`zoo.cli.rejudge`)."""
import sys

from zoo.cli.rejudge import main

sys.exit(main())
