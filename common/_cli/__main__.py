"""``python -m common._cli``: the same as the ``eventsync`` command."""

import sys

from . import main

sys.exit(main())
