"""The pytest fixtures that integration tests use (tests/integration/fixtures_dts.py)."""

import importlib.util
import os

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_dts20200101.client import Client
from alibabacloud_tea_openapi import models as open_api_models

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'integration', 'fixtures_dts.py')
_SPEC = importlib.util.spec_from_file_location('fixtures_dts_checked', _PATH)
fixtures_dts = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fixtures_dts)

# The fixtures, as `from fixtures_dts import *` provides them to integration tests.
dts_emulator = fixtures_dts.dts_emulator
emulator = fixtures_dts.emulator
dts_options = fixtures_dts.dts_options


def test_exports():
    assert sorted(fixtures_dts.__all__) == ['DTS_ACCESS_KEY_ID', 'DTS_ACCESS_KEY_SECRET', 'DTS_REGION', 'dts_emulator', 'dts_options', 'emulator']


def test_dts_options_reach_the_emulator_with_the_real_sdk(emulator, dts_options):  # pylint: disable=redefined-outer-name
    assert dts_options == {'access_key_id': fixtures_dts.DTS_ACCESS_KEY_ID, 'access_key_secret': fixtures_dts.DTS_ACCESS_KEY_SECRET,
                           'region': 'cn-hangzhou', 'endpoint': emulator.endpoint, 'protocol': 'http'}
    job = emulator.add_job(status='Migrating')
    client = Client(open_api_models.Config(access_key_id=dts_options['access_key_id'], access_key_secret=dts_options['access_key_secret'],
                                           region_id=dts_options['region'], endpoint=dts_options['endpoint'], protocol=dts_options['protocol']))
    body = client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job.job_id)).body
    assert body.status == 'Migrating'
    # Left behind on purpose: the next test must not see them.
    emulator.add_fault('DescribeDtsJobDetail', 'server_error', count=None)


def test_emulator_is_shared_but_clean_for_each_test(dts_emulator, emulator):  # pylint: disable=redefined-outer-name
    assert emulator is dts_emulator
    assert emulator.requests == [] and emulator.faults.pending() == []
