"""``python -m batchstore``: the same as the ``batchstore`` command."""

import sys

from .cli import main

sys.exit(main())
