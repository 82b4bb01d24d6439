"""Injected faults and the exception each one produces in the real SDK (documented in docs/emulator.md)."""

import time

import pytest

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import UnretryableException
from Tea.exceptions import TeaException

from emulator_sdk import sdk


def describe(client, job_id):
    return client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job_id)).body


def suspend(client, job_id):
    return client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=job_id)).body


@pytest.fixture
def job(emu):
    return emu.add_job(status='Migrating', phase='incremental')


def test_throttle_with_retry_after_raises_throttling_exception(emu, client, job):
    emu.add_fault('DescribeDtsJobDetail', 'throttle', retry_after=3)
    with pytest.raises(ThrottlingException) as raised:
        describe(client, job.job_id)
    error = raised.value
    assert (error.status_code, error.code, error.retry_after) == (400, 'Throttling.User', 3)
    assert error.data['Message'] == 'Request was denied due to user flow control.'
    assert describe(client, job.job_id).success is True  # count=1: consumed


def test_throttle_without_retry_after_is_a_plain_client_exception(emu, client, job):
    emu.add_fault('DescribeDtsJobDetail', 'throttle')
    with pytest.raises(ClientException) as raised:
        describe(client, job.job_id)
    assert not isinstance(raised.value, ThrottlingException)
    assert raised.value.code == 'Throttling.User' and raised.value.status_code == 400


@pytest.mark.parametrize('status', [500, 503])
def test_server_error_raises_server_exception(emu, client, job, status):
    emu.add_fault('DescribeDtsJobDetail', 'server_error', status=status)
    with pytest.raises(ServerException) as raised:
        describe(client, job.job_id)
    assert (raised.value.status_code, raised.value.code) == (status, 'ServiceUnavailable')


def test_slow_answers_late_and_trips_the_read_timeout(emu, job):
    emu.add_fault('DescribeDtsJobDetail', 'slow', seconds=0.3)
    assert describe(sdk(emu), job.job_id).status == 'Migrating'
    emu.add_fault('DescribeDtsJobDetail', 'slow', seconds=5)
    with pytest.raises(UnretryableException) as raised:
        describe(sdk(emu, read_timeout=200), job.job_id)
    assert 'Read timed out' in str(raised.value)


def test_slow_past_the_read_timeout_is_still_applied(emu, job):
    emu.add_fault('SuspendDtsJob', 'slow', seconds=0.5)
    with pytest.raises(UnretryableException):
        suspend(sdk(emu, read_timeout=100), job.job_id)
    deadline = time.monotonic() + 10
    while emu.calls('SuspendDtsJob')[-1]['http_status'] is None:   # answered after the client gave up
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert emu.job(job.job_id).status == 'Suspending'


def test_drop_closes_the_connection_before_applying(emu, client, job):
    emu.add_fault('SuspendDtsJob', 'drop')
    with pytest.raises(UnretryableException) as raised:
        suspend(client, job.job_id)
    assert 'Remote end closed connection without response' in str(raised.value)
    assert emu.job(job.job_id).status == 'Migrating'
    entry = emu.calls('SuspendDtsJob')[-1]
    assert entry['fault'] == 'drop' and entry['http_status'] is None
    assert len(emu.calls('SuspendDtsJob')) == 1  # the SDK did not retry


def test_drop_after_applies_then_closes(emu, client, job):
    emu.add_fault('SuspendDtsJob', 'drop_after')
    with pytest.raises(UnretryableException):
        suspend(client, job.job_id)
    assert emu.job(job.job_id).status == 'Suspending'  # it happened; the client cannot know
    assert emu.calls('SuspendDtsJob')[-1]['fault'] == 'drop_after'


def test_drop_after_on_create_reverse_creates_the_task(emu, client):
    forward = emu.add_job(status='Migrating', phase='incremental')
    emu.add_fault('CreateReverseDtsJob', 'drop_after')
    with pytest.raises(UnretryableException):
        client.create_reverse_dts_job(dts_models.CreateReverseDtsJobRequest(dts_job_id=forward.job_id))
    reverse = [other for other in emu.jobs() if other.reverse_of == forward.job_id]
    assert len(reverse) == 1 and reverse[0].status == 'Prechecking'


def test_business_error_is_success_false_without_exception(emu, client, job):
    emu.add_fault('SuspendDtsJob', 'business_error', err_code='DTS.Msg.OperationDenied.JobStatusModifying',
                  err_message='The job is being modified.')
    body = suspend(client, job.job_id)
    assert body.success is False and body.err_code == 'DTS.Msg.OperationDenied.JobStatusModifying'
    assert body.err_message == 'The job is being modified.'
    assert emu.job(job.job_id).status == 'Migrating'  # not applied


def test_business_error_on_a_string_action(emu, client):
    forward = emu.add_job(status='Migrating', phase='incremental')
    emu.add_fault('CreateReverseDtsJob', 'business_error')
    body = client.create_reverse_dts_job(dts_models.CreateReverseDtsJobRequest(dts_job_id=forward.job_id)).body
    assert body.success == 'false' and body.err_code == 'InternalError'
    assert not forward.reverse_job_ids


def test_bad_json_raises_unretryable_parse_error(emu, client, job):
    emu.add_fault('DescribeDtsJobDetail', 'bad_json')
    with pytest.raises(UnretryableException) as raised:
        describe(client, job.job_id)
    assert 'Failed to parse the value as json format' in str(raised.value)


def test_every_sdk_error_is_a_tea_exception(emu, client, job):
    for kind in ('throttle', 'server_error', 'drop', 'bad_json'):
        emu.add_fault('DescribeDtsJobDetail', kind)
        with pytest.raises(TeaException):
            describe(client, job.job_id)


def test_count_fifo_and_wildcard(emu, client, job):
    emu.add_fault('*', 'server_error', count=2)
    emu.add_fault('DescribeDtsJobDetail', 'throttle', retry_after=1)
    with pytest.raises(ServerException):
        suspend(client, job.job_id)
    with pytest.raises(ServerException):
        describe(client, job.job_id)
    with pytest.raises(ThrottlingException):  # the older fault was used up first
        describe(client, job.job_id)
    assert describe(client, job.job_id).success is True
    assert emu.faults.pending() == []


def test_fault_until_cleared(emu, client, job):
    emu.add_fault('DescribeDtsJobDetail', 'server_error', count=None)
    for attempt in range(4):
        with pytest.raises(ServerException):
            describe(client, job.job_id)
        assert len(emu.calls('DescribeDtsJobDetail')) == attempt + 1
    assert emu.clear_faults() == 1
    assert describe(client, job.job_id).success is True


def test_fault_for_one_job(emu, client, job):
    other = emu.add_job(status='Migrating')
    emu.add_fault('DescribeDtsJobDetail', 'server_error', job_id=job.job_id)
    assert describe(client, other.job_id).success is True
    with pytest.raises(ServerException):
        describe(client, job.job_id)


def test_faults_do_not_hit_unauthenticated_requests(emu, job):
    emu.add_fault('DescribeDtsJobDetail', 'server_error')
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, secret='wrong'), job.job_id)
    assert raised.value.code == 'SignatureDoesNotMatch'
    assert len(emu.faults.pending()) == 1


@pytest.mark.parametrize('kwargs, message', [
    ({'kind': 'explode'}, "unknown fault kind 'explode'"),
    ({'action': 'DescribeDtsJob', 'kind': 'drop'}, "unknown action 'DescribeDtsJob'"),
    ({'kind': 'drop', 'count': 0}, 'count must be a positive integer'),
    ({'kind': 'slow'}, None),
    ({'kind': 'slow', 'seconds': 0}, 'a slow fault needs seconds > 0'),
    ({'kind': 'throttle', 'retry_after': 'soon'}, 'retry_after must be a positive integer'),
    ({'kind': 'server_error', 'status': 404}, 'a server_error needs a 5xx status'),
    ({'kind': 'drop', 'seconds': 1}, "fault kind 'drop' does not take seconds"),
])
def test_add_fault_validation(emu, kwargs, message):
    if message is None:
        assert emu.add_fault(**kwargs).details['seconds'] == 1.0
        return
    with pytest.raises(ValueError) as raised:
        emu.add_fault(**kwargs)
    assert message in str(raised.value)
