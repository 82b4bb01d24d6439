"""Integration fixtures: the DTS emulator (fixtures_dts.py) and throwaway database servers
(fixtures_db.py). Tests drive the collection through ansible-playbook (harness.py)."""

from fixtures_db import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
from fixtures_dts import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
