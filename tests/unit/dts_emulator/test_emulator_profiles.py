"""Latency profiles and transitions that take time, injected statuses and stale reads."""

import pytest

from alibabacloud_dts20200101 import models as dts_models

from dts_emulator import Emulator
from dts_emulator.profiles import PROFILES, overlap, profile_settings, unscaled
from emulator_sdk import AK, SECRET, detail, raw, sdk


@pytest.fixture
def slow(clock):
    """The realistic profile at a tenth of its durations, on the manual clock."""
    with Emulator(accounts={AK: SECRET}, clock=clock, profile='realistic', latency_scale=0.1) as emulator:
        # Each answer really waits 15 ms (the manual clock does not move meanwhile).
        yield emulator


def suspend(client, job_id):
    return client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=job_id)).body


def start(client, job_id):
    return client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=job_id)).body


def test_profiles_and_scale():
    durations, latency = profile_settings('realistic')
    assert (durations['precheck'], durations['reverse_precheck'], durations['pause'], durations['resume'], durations['writer'], latency) == \
        (90, 90, 5, 15, 15, 0.15)
    # Explicit durations are seconds as given: only the profile's figures scale.
    durations, latency = profile_settings('realistic', scale=0.1, durations={'pause': 20})
    assert (durations['precheck'], durations['pause'], durations['full'], durations['writer']) == (9, 20, 0.2, 1.5)
    assert latency == pytest.approx(0.015)
    fast, latency = profile_settings('fast')
    assert (fast['pause'], fast['resume'], fast['writer'], fast['precheck'], latency) == (0, 0, 0, 1, 0)
    with pytest.raises(ValueError, match="unknown DTS latency profile 'slowish' \\(known: fast, realistic\\)"):
        profile_settings('slowish')
    with pytest.raises(ValueError, match='the latency scale must be a number > 0'):
        profile_settings('fast', scale=0)
    assert sorted(PROFILES) == ['fast', 'realistic']
    emulator = Emulator(profile='realistic', latency_scale=0.5)
    assert emulator.model.durations['precheck'] == 45 and emulator.api_latency == 0.075


def test_unscaled_window():
    # 3 s measured of which 2 s were scaled DTS waits at 0.1: the DTS part is 20 s at real scale.
    assert unscaled(3.0, 2.0, 0.1) == pytest.approx(21.0)
    assert unscaled(3.0, 2.0, 1.0) == 3.0
    # Overlapping waits count once, only inside the window.
    assert overlap([(0, 2), (1, 3), (5, 6), (9, 20)], 1.5, 10) == pytest.approx(1.5 + 1 + 1)
    assert overlap([], 0, 10) == 0
    assert overlap([(0, 1), (11, 12)], 2, 10) == 0


def test_dts_waits_record_what_took_emulated_time(slow, clock):
    client = sdk(slow)
    forward = slow.add_job(status='Migrating', phase='incremental')
    t0 = clock()
    reverse = raw(client, 'CreateReverseDtsJob', {'DtsJobId': forward.job_id})[1]['DtsJobId']
    clock.advance(9)
    suspend(client, forward.job_id)
    clock.advance(0.5)
    raw(client, 'StartReverseWriter', {'DtsJobId': reverse})
    waits = [(wait['job_id'], wait['what'], wait['start'] - t0, wait['end'] - t0) for wait in slow.dts_waits() if wait['what'] != 'api']
    assert waits == [(reverse, 'precheck', 0, 9), (forward.job_id, 'pause', 9, 9.5), (reverse, 'writer', 9.5, 11)]
    api = [wait for wait in slow.dts_waits() if wait['what'] == 'api']
    assert [wait['end'] - wait['start'] for wait in api] == [pytest.approx(0.015, abs=1e-4)] * 3


def test_pause_and_resume_take_their_time(slow, clock):
    client = sdk(slow)
    job = slow.add_job(status='Migrating', phase='incremental')
    assert suspend(client, job.job_id).success is True
    # SuspendDtsJob -> Suspending takes 0.5 s here: meanwhile the task still reports running.
    assert detail(client, job.job_id).status == 'Migrating' and job.to_dict()['pending'] == 'pause'
    assert suspend(client, job.job_id).success is True   # asked again: no change
    refused = start(client, job.job_id)
    assert refused.success is False and refused.err_message == 'The task %s is being paused; start it once it is Suspending.' % job.job_id
    clock.advance(0.5)
    assert detail(client, job.job_id).status == 'Suspending'
    paused_at = detail(client, job.job_id).checkpoint

    assert start(client, job.job_id).success is True
    # StartDtsJob -> running takes 1.5 s: still Suspending meanwhile.
    clock.advance(1.4)
    body = detail(client, job.job_id)
    assert body.status == 'Suspending' and body.checkpoint == paused_at
    assert suspend(client, job.job_id).err_message == 'The task %s is being started; pause it once it runs.' % job.job_id
    clock.advance(0.1)
    assert detail(client, job.job_id).status == 'Migrating'


def test_reverse_precheck_and_writer_start_take_their_time(slow, clock):
    client = sdk(slow)
    forward = slow.add_job(status='Migrating', phase='incremental')
    reverse = raw(client, 'CreateReverseDtsJob', {'DtsJobId': forward.job_id})[1]['DtsJobId']
    clock.advance(8.9)
    assert detail(client, reverse).status == 'Prechecking'
    clock.advance(0.1)
    assert detail(client, reverse).status == 'Suspending'
    suspend(client, forward.job_id)
    # The forward task is still being paused: the writer must wait.
    refused = raw(client, 'StartReverseWriter', {'DtsJobId': reverse})[1]
    assert refused['Success'] == 'false' and 'Migrating, being paused' in refused['ErrMessage']
    clock.advance(0.5)
    assert raw(client, 'StartReverseWriter', {'DtsJobId': reverse})[1]['Success'] == 'true'
    assert detail(client, reverse).status == 'Suspending'
    again = raw(client, 'StartReverseWriter', {'DtsJobId': reverse})[1]
    assert again['Success'] == 'false' and 'Suspending, its writer starting' in again['ErrMessage']
    # The forward task cannot be resumed from the moment the writer was asked to start.
    assert start(client, forward.job_id).err_code == 'OperationDenied.ReverseJobStarted'
    clock.advance(1.5)
    assert detail(client, reverse).status == 'synchronizing' and slow.job(reverse).writer_started


def test_transitions_complete_in_time_order_with_the_phases(clock):
    # A pause asked during the full phase lands after the phase ended: the task is paused in incremental.
    with Emulator(accounts={AK: SECRET}, clock=clock, durations={'precheck': 0, 'structure': 0, 'full': 1, 'pause': 3}) as emulator:
        client = sdk(emulator)
        job = emulator.add_job(status='Migrating', phase='full')
        suspend(client, job.job_id)
        clock.advance(5)
        assert (job.stage, job.paused, detail(client, job.job_id).status) == ('incremental', True, 'Suspending')
        assert detail(client, job.job_id).delay == 2000   # paused 2 s ago: the delay grows from then


@pytest.mark.parametrize('status', ['Retrying', 'Modifying', 'Locked', 'Upgrade', 'Downgrade', 'PreCheckPass'])
def test_injected_status_for_a_number_of_reads(emu, client, status):
    job = emu.add_job(status='Migrating', phase='incremental')
    emu.set_status(job.job_id, status, reads=2)
    listed = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=job.job_id)).body.dts_job_list[0]
    assert listed.status == status
    assert detail(client, job.job_id).status == status
    assert detail(client, job.job_id).status == 'Migrating'
    assert emu.job(job.job_id).status == 'Migrating'   # the task itself never changed


def test_locked_refuses_operations_until_cleared(emu, client):
    job = emu.add_job(status='Migrating', phase='incremental')
    emu.set_status(job.job_id, 'Locked')
    for dummy in range(3):
        assert detail(client, job.job_id).status == 'Locked'
    refused = suspend(client, job.job_id)
    assert refused.success is False and refused.err_code == 'OperationDenied.JobStatus'
    assert refused.err_message == 'The task %s is Locked; no operation is allowed until it is unlocked.' % job.job_id
    reverse = raw(client, 'CreateReverseDtsJob', {'DtsJobId': job.job_id})[1]
    assert reverse['Success'] == 'false' and 'Locked' in reverse['ErrMessage']
    emu.set_status(job.job_id, None)
    assert suspend(client, job.job_id).success is True and detail(client, job.job_id).status == 'Suspending'


def test_set_status_errors(emu):
    job = emu.add_job()
    with pytest.raises(ValueError, match="status must be one of Retrying, Modifying, Locked, Upgrade, Downgrade, PreCheckPass"):
        emu.set_status(job.job_id, 'Sleeping')
    with pytest.raises(ValueError, match='reads must be a number >= 1'):
        emu.set_status(job.job_id, 'Retrying', reads=0)


def test_stale_reads_answer_as_before_the_action(emu, client):
    job = emu.add_job(status='Migrating', phase='incremental')
    emu.set_stale_reads(2)
    suspend(client, job.job_id)
    assert detail(client, job.job_id).status == 'Migrating'
    listed = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=job.job_id, without_db_list=True)).body.dts_job_list[0]
    assert listed.status == 'Migrating' and listed.db_object is None
    assert detail(client, job.job_id).status == 'Suspending'
    # A refused action changes nothing, so nothing goes stale.
    client.configure_dts_job(dts_models.ConfigureDtsJobRequest(dts_job_id=job.job_id))
    assert detail(client, job.job_id).status == 'Suspending'
    # After a release the next reads still see the task as it was.
    client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id))
    assert [detail(client, job.job_id).status for dummy in range(3)] == ['Suspending', 'Suspending', 'Finished']
    emu.set_stale_reads(0)
    other = emu.add_job(status='Migrating', phase='incremental')
    suspend(client, other.job_id)
    assert detail(client, other.job_id).status == 'Suspending'


def test_stale_reads_after_a_release_in_the_not_found_style(clock):
    with Emulator(accounts={AK: SECRET}, clock=clock, released_status='not_found', stale_reads=1) as emulator:
        client = sdk(emulator)
        job = emulator.add_job(status='Finished')
        client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id))
        assert detail(client, job.job_id).status == 'Finished'
        assert detail(client, job.job_id).err_code == 'InvalidJobId'


def test_bad_settings(clock):
    with pytest.raises(ValueError, match="released_status must be one of finished, not_found, got 'gone'"):
        Emulator(released_status='gone')
    with pytest.raises(ValueError, match='stale_reads must be a number >= 0'):
        Emulator(stale_reads=-1)
    with pytest.raises(ValueError, match='count must be a number >= 0'):
        Emulator().set_stale_reads(-2)
