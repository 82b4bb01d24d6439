"""An emulator on a manual clock per test, and the real SDK pointed at it."""

import pytest

from dts_emulator import Emulator, ManualClock
from emulator_sdk import AK, REGION, SECRET, sdk


@pytest.fixture
def clock():
    return ManualClock(start=1700000000.0)


@pytest.fixture
def emu(clock):  # pylint: disable=redefined-outer-name
    emulator = Emulator(accounts={AK: SECRET}, region=REGION, clock=clock,
                        durations={'precheck': 2, 'structure': 3, 'full': 5, 'reverse_precheck': 4})
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def client(emu):  # pylint: disable=redefined-outer-name
    return sdk(emu)
