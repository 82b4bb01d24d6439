"""Fixtures for the DTS emulator (see tests/dts_emulator and docs/emulator.md).

``dts_emulator`` (session): one started emulator that knows the AccessKey pair below.
``emulator`` (per test): the same emulator with no pending faults and an empty request log.
``dts_options``: the module options that reach it.
"""

import pytest

from dts_emulator import Emulator

DTS_ACCESS_KEY_ID = 'LTAI5tEmulatorTestKey01'
DTS_ACCESS_KEY_SECRET = 'emulator-test-secret-7f3a9c1e'
DTS_REGION = 'cn-hangzhou'

__all__ = ['DTS_ACCESS_KEY_ID', 'DTS_ACCESS_KEY_SECRET', 'DTS_REGION', 'dts_emulator', 'emulator', 'dts_options']


@pytest.fixture(scope='session')
def dts_emulator():
    emu = Emulator(accounts={DTS_ACCESS_KEY_ID: DTS_ACCESS_KEY_SECRET}, region=DTS_REGION)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator(dts_emulator):  # pylint: disable=redefined-outer-name
    dts_emulator.clear_faults()
    dts_emulator.reset_requests()
    yield dts_emulator
    # A fault a test left unconsumed must not hit the next test.
    dts_emulator.clear_faults()


@pytest.fixture
def dts_options(emulator):  # pylint: disable=redefined-outer-name
    return {
        'access_key_id': DTS_ACCESS_KEY_ID,
        'access_key_secret': DTS_ACCESS_KEY_SECRET,
        'region': DTS_REGION,
        'endpoint': emulator.endpoint,
        'protocol': 'http',
    }
