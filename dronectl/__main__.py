"""``python -m dronectl`` = the ``dronectl`` command."""

import sys

from dronectl.cli import main

sys.exit(main())
