"""The control interface over HTTP (POST /_emulator/<operation>), driven by EmulatorClient."""

import pytest

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_tea_openapi.exceptions import ServerException

from dts_emulator import EmulatorClient
from dts_emulator.client import EmulatorError
from emulator_sdk import detail, sdk


@pytest.fixture
def control(emu):
    return EmulatorClient(emu.endpoint)


def test_jobs_over_http(emu, control, client, clock):
    added = control.add_job(name='orders', status='Migrating', phase='incremental', delay=[[0, 20000], [10, 0]], job_id='orders0001',
                            durations={'precheck': 1})
    assert added['job_id'] == 'orders0001' and added['instance_id'] == 'dtsorders0001' and added['delay_ms'] == 20000
    assert detail(client, 'orders0001').delay == 20000
    clock.advance(5)
    assert control.job('orders0001')['delay_ms'] == 10000
    assert [job['job_id'] for job in control.jobs()] == ['orders0001']

    assert control.set_delay('orders0001', 1234)['delay_ms'] == 1234
    failed = control.fail_job('orders0001', 'DTS-070211: Connect Source DB failed', status='MigrationFailed')
    assert failed['status'] == 'MigrationFailed' and failed['error_message'] == 'DTS-070211: Connect Source DB failed'
    assert detail(client, 'orders0001').status == 'MigrationFailed'


def test_faults_and_request_log_over_http(emu, control, client):
    emu.add_job(status='Migrating', job_id='faulty0001')
    fault = control.add_fault(action='DescribeDtsJobDetail', kind='server_error', count=None, status=503)
    assert fault['kind'] == 'server_error' and fault['details']['status'] == 503
    with pytest.raises(ServerException):
        detail(client, 'faulty0001')
    assert control.call('faults')[0]['count'] is None
    assert control.clear_faults() == 1
    assert detail(client, 'faulty0001').success is True

    entries = control.requests
    assert [entry['action'] for entry in entries] == ['DescribeDtsJobDetail', 'DescribeDtsJobDetail']
    assert entries[0]['http_status'] == 503 and entries[0]['fault'] == 'server_error' and entries[1]['http_status'] == 200
    assert control.calls('DescribeDtsJobDetail') == entries and control.calls('StopDtsJob') == []
    assert control.reset_requests() == 2 and control.requests == []


def test_sts_token_over_http(emu, control):
    job = emu.add_job(status='Migrating')
    control.issue_sts_token('STS.remote', 'remote-secret', 'remote-token')
    client = sdk(emu, 'STS.remote', 'remote-secret', token='remote-token')
    assert client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job.job_id)).body.success is True


def test_status(emu, control, clock):
    emu.add_job()
    status = control.status()
    assert status == {'endpoint': emu.endpoint, 'region': 'cn-hangzhou', 'time': clock(), 'jobs': 1, 'profile': 'fast', 'latency_scale': 1.0,
                      'durations': status['durations'], 'api_latency': 0.0}
    assert status['durations']['reverse_precheck'] == 4 and status['durations']['pause'] == 0


@pytest.mark.parametrize('operation, arguments, message', [
    ('explode', {}, "control operation 'explode'"),
    ('job', {'job_id': 'nosuchjob'}, 'not found: nosuchjob'),
    ('add_job', {'status': 'Running'}, "cannot create a task in status 'Running'"),
    ('add_job', {'colour': 'blue'}, "unexpected keyword argument 'colour'"),
    ('add_fault', {'kind': 'explode'}, "unknown fault kind 'explode'"),
    ('set_delay', {'job_id': 'nosuchjob', 'profile': 0}, 'not found: nosuchjob'),
])
def test_control_errors_are_clear(control, operation, arguments, message):
    with pytest.raises(EmulatorError) as raised:
        control.call(operation, **arguments)
    assert message in str(raised.value) and str(raised.value).startswith(operation + ': ')


def test_control_requests_are_not_logged(emu, control):
    control.jobs()
    control.status()
    assert emu.requests == []
