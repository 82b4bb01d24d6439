"""``python -m rehearsal demo --engine mysql`` (see rehearsal/demo.py)."""

import sys

from rehearsal.demo import main

sys.exit(main())
