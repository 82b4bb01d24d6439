"""``python -m rehearsal demo|up|verify|down|dts`` (see rehearsal/cli.py)."""

import sys

from rehearsal.cli import main

sys.exit(main())
