"""An emulator of the Alibaba Cloud DTS 2020-01-01 API for tests and local rehearsals.

The real ``alibabacloud-dts20200101`` SDK talks to it unchanged with
``Config(endpoint=emu.endpoint, protocol='http', access_key_id=..., access_key_secret=...)``.
See docs/emulator.md.
"""

from .api import ACTIONS
from .client import EmulatorClient
from .clock import ManualClock, ScaledClock
from .delay import DelaySource, ProfileDelay
from .emulator import Emulator
from .faults import FAULT_KINDS
from .jobs import FAILED_STATUSES, Job

__all__ = ['ACTIONS', 'FAILED_STATUSES', 'FAULT_KINDS', 'DelaySource', 'Emulator', 'EmulatorClient', 'Job', 'ManualClock',
           'ProfileDelay', 'ScaledClock']
