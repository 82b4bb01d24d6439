"""The task state machine on a manual clock, observed through the real SDK.

The emulator fixture uses durations precheck 2 s, structure 3 s, full 5 s, reverse_precheck 4 s.
"""

import pytest

from alibabacloud_dts20200101 import models as dts_models

from dts_emulator import DelaySource, Emulator
from emulator_sdk import AK, REGION, SECRET, detail, raw, sdk

T0 = 1700000000


def start(client, job_id):
    return client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=job_id)).body


def suspend(client, job_id):
    return client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=job_id)).body


def listed(client, job_id, job_type=None):
    body = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=job_id, job_type=job_type)).body
    assert body.total_record_count == 1, body.to_map()
    return body.dts_job_list[0]


def test_precheck_structure_full_incremental_then_catched(emu, client, clock):
    job = emu.add_job(delay=[(0, 20000), (10, 0)])
    assert detail(client, job.job_id).status == 'NotStarted'
    assert start(client, job.job_id).success is True

    clock.advance(1)
    item = listed(client, job.job_id)
    assert item.status == 'Prechecking' and item.precheck_status.status == 'Checking' and item.precheck_status.percent == '50'

    clock.advance(1)   # t=2: precheck done, structure begins
    item = listed(client, job.job_id)
    assert item.status == 'Migrating' and item.precheck_status.status == 'Finished'
    assert item.structure_initialization_status.status == 'Migrating' and item.data_initialization_status.status == 'NotStarted'
    assert detail(client, job.job_id).data_synchronization_status.status == 'NotStarted'
    assert emu.job(job.job_id).phase == 'structure'

    clock.advance(3)   # t=5: full
    item = listed(client, job.job_id)
    assert item.structure_initialization_status.status == 'Finished' and item.data_initialization_status.status == 'Migrating'
    clock.advance(4)
    assert listed(client, job.job_id).data_initialization_status.percent == '80'

    clock.advance(1)   # t=10: incremental, the profile starts at 20 s of delay
    body = detail(client, job.job_id)
    assert (body.status, body.data_synchronization_status.status, body.delay) == ('Migrating', 'Migrating', 20000)
    assert body.checkpoint == T0   # the start offset: the task started at T0
    assert listed(client, job.job_id).data_initialization_status.status == 'Finished'

    clock.advance(5)
    body = detail(client, job.job_id)
    assert body.delay == 10000 and body.checkpoint == T0 + 15 - 10

    clock.advance(5)   # the profile reaches 0
    body = detail(client, job.job_id)
    assert (body.status, body.data_synchronization_status.status, body.delay, body.checkpoint) == ('Migrating', 'Catched', 0, T0 + 20)
    clock.advance(100)
    assert detail(client, job.job_id).checkpoint == T0 + 120


def test_transitions_do_not_depend_on_polling(emu, client, clock):
    job = emu.add_job()
    start(client, job.job_id)
    clock.advance(60)   # nobody looked in between
    assert emu.job(job.job_id).phase == 'incremental'
    assert detail(client, job.job_id).data_synchronization_status.status == 'Catched'


def test_task_without_incremental_finishes_after_full(emu, client, clock):
    job = emu.add_job(incremental=False)
    start(client, job.job_id)
    clock.advance(2 + 3 + 5)
    body = detail(client, job.job_id)
    assert body.status == 'Finished' and body.finish_time == '2023-11-14T22:13:30Z'
    assert body.data_synchronization_status.status == 'NotStarted'
    assert listed(client, job.job_id).data_initialization_status.status == 'Finished'


def test_incremental_only_task_skips_structure_and_full(emu, client, clock):
    job = emu.add_job(structure=False, full=False)
    start(client, job.job_id)
    clock.advance(2)
    assert emu.job(job.job_id).phase == 'incremental'
    item = listed(client, job.job_id)
    assert item.structure_initialization_status.status == 'NotStarted' and item.data_initialization_status.status == 'NotStarted'


def test_catched_threshold(clock):
    emulator = Emulator(accounts={AK: SECRET}, clock=clock, catched_threshold_ms=1000).start()
    try:
        client = sdk(emulator)
        job = emulator.add_job(status='Migrating', phase='incremental', delay=800)
        assert detail(client, job.job_id).data_synchronization_status.status == 'Catched'
        emulator.set_delay(job.job_id, 1001)
        assert detail(client, job.job_id).data_synchronization_status.status == 'Migrating'
    finally:
        emulator.stop()


def test_pause_freezes_checkpoint_and_profile_and_delay_grows(emu, client, clock):
    job = emu.add_job(status='Migrating', phase='incremental', delay=[(0, 10000), (10, 0)])
    clock.advance(4)
    before = detail(client, job.job_id)
    assert before.delay == 6000 and before.checkpoint == T0 + 4 - 6

    assert suspend(client, job.job_id).success is True
    clock.advance(30)
    paused = detail(client, job.job_id)
    assert paused.status == 'Suspending' and paused.data_synchronization_status.status == 'Suspending'
    assert paused.checkpoint == before.checkpoint
    assert paused.delay == 6000 + 30000   # nothing applied while the source moves on
    assert emu.job(job.job_id).paused is True

    assert start(client, job.job_id).success is True
    resumed = detail(client, job.job_id)
    assert resumed.status == 'Migrating' and resumed.delay == 6000   # the profile continues where it stopped
    clock.advance(6)
    assert detail(client, job.job_id).data_synchronization_status.status == 'Catched'


def test_paused_delay_freeze_mode(clock):
    emulator = Emulator(accounts={AK: SECRET}, clock=clock, paused_delay='freeze').start()
    try:
        job = emulator.add_job(status='Suspending', phase='incremental', delay=2500)
        clock.advance(60)
        assert detail(sdk(emulator), job.job_id).delay == 2500
    finally:
        emulator.stop()


def test_pause_during_full_phase_freezes_its_progress(emu, client, clock):
    job = emu.add_job(status='Migrating', phase='full')
    clock.advance(2)
    suspend(client, job.job_id)
    clock.advance(100)
    assert listed(client, job.job_id).data_initialization_status.percent == '40'
    start(client, job.job_id)
    clock.advance(2.9)
    assert emu.job(job.job_id).phase == 'full'
    clock.advance(0.1)
    assert emu.job(job.job_id).phase == 'incremental'


def test_suspend_is_idempotent_and_start_of_a_running_task_changes_nothing(emu, client):
    job = emu.add_job(status='Migrating')
    assert suspend(client, job.job_id).success is True
    assert suspend(client, job.job_id).success is True
    assert emu.job(job.job_id).status == 'Suspending'
    assert start(client, job.job_id).success is True
    assert start(client, job.job_id).success is True
    assert emu.job(job.job_id).status == 'Migrating'


@pytest.mark.parametrize('status, action, code, words', [
    ('NotStarted', 'SuspendDtsJob', 'OperationDenied.JobStatus', 'is NotStarted; only a running task'),
    ('Prechecking', 'SuspendDtsJob', 'OperationDenied.JobStatus', 'is Prechecking; only a running task'),
    ('Finished', 'SuspendDtsJob', 'OperationDenied.JobStatus', 'is Finished; only a running task'),
    ('Finished', 'StartDtsJob', 'OperationDenied.JobStatus', 'is Finished and cannot be started again'),
    ('NotConfigured', 'StartDtsJob', 'OperationDenied.JobStatus', 'call ConfigureDtsJob first'),
])
def test_operations_denied_by_state(emu, client, status, action, code, words):
    job = emu.add_job(status=status)
    body = raw(client, action, {'DtsJobId': job.job_id})[1]
    assert body['Success'] is False and body['HttpStatusCode'] == 403
    assert body['ErrCode'] == code and words in body['ErrMessage'] and job.job_id in body['ErrMessage']
    assert emu.job(job.job_id).status == status


def test_stop_finishes_and_delete_releases(emu, client):
    job = emu.add_job(status='Migrating')
    assert client.stop_dts_job(dts_models.StopDtsJobRequest(dts_job_id=job.job_id)).body.success is True
    assert detail(client, job.job_id).status == 'Finished'
    assert client.stop_dts_job(dts_models.StopDtsJobRequest(dts_job_id=job.job_id)).body.success is True

    assert client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id)).body.success is True
    # released_status='finished' (the default): still visible, as Finished, and deleting it again changes nothing.
    gone = detail(client, job.job_id)
    assert gone.success is True and gone.status == 'Finished' and gone.data_synchronization_status.status == 'Finished'
    listed = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=job.job_id)).body.dts_job_list
    assert [(item.dts_job_id, item.status) for item in listed] == [(job.job_id, 'Finished')]
    assert client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id)).body.success is True
    refused = client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=job.job_id)).body
    assert refused.success is False and refused.err_code == 'InvalidJobId'
    assert emu.job(job.job_id).released is True and emu.job(job.job_id).status == 'Released'
    assert job.job_id not in [other.job_id for other in emu.jobs()]
    assert job.job_id in [other.job_id for other in emu.jobs(released=True)]


def test_released_not_found_style(clock):
    from dts_emulator import Emulator
    from emulator_sdk import AK, SECRET, sdk

    with Emulator(accounts={AK: SECRET}, clock=clock, released_status='not_found') as emulator:
        client = sdk(emulator)
        job = emulator.add_job(status='Migrating')
        assert client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id)).body.success is True
        gone = detail(client, job.job_id)
        assert gone.success is False and gone.err_code == 'InvalidJobId'
        again = client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=job.job_id)).body
        assert again.success is False and again.err_code == 'InvalidJobId'
        assert client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=job.job_id)).body.total_record_count == 0


def test_delete_by_instance_id(emu, client):
    job = emu.add_job(status='Migrating')
    body = client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_instance_id=job.instance_id)).body
    assert body.success is True and emu.job(job.job_id).released


def test_failure_on_demand_and_restart(emu, client, clock):
    job = emu.add_job(status='Migrating', phase='incremental', delay=[(0, 5000), (10, 0)])
    clock.advance(4)
    message = 'DTS-070211: Connect Source DB failed. cause by [java.net.ConnectException: Connection refused]'
    emu.fail_job(job.job_id, message)
    body = detail(client, job.job_id)
    assert body.status == 'Failed' and body.error_message == message
    assert body.data_synchronization_status.status == 'Failed' and body.data_synchronization_status.error_message == message
    clock.advance(50)
    assert start(client, job.job_id).success is True
    body = detail(client, job.job_id)
    assert body.status == 'Migrating' and body.error_message == '' and body.delay == 3000   # resumes at profile time 4


def test_migration_failed_in_full_phase(emu, client):
    job = emu.add_job(status='Migrating', phase='full')
    emu.fail_job(job.job_id, 'DTS-1020042: Execute sql error', status='MigrationFailed')
    item = listed(client, job.job_id)
    assert item.status == 'MigrationFailed' and item.error_message == 'DTS-1020042: Execute sql error'
    assert item.data_initialization_status.status == 'Failed' and item.data_synchronization_status.status == 'NotStarted'


def test_precheck_failed_runs_again_on_start(emu, client, clock):
    job = emu.add_job(status='PrecheckFailed', error_message='DTS-1040: source database connectivity check failed')
    item = listed(client, job.job_id)
    assert item.status == 'PrecheckFailed' and item.precheck_status.status == 'Failed'
    assert item.precheck_status.error_message == 'DTS-1040: source database connectivity check failed'
    start(client, job.job_id)
    assert detail(client, job.job_id).status == 'Prechecking'
    clock.advance(2)
    assert emu.job(job.job_id).phase == 'structure'


@pytest.mark.parametrize('status, kwargs, message', [
    ('NotStarted', {}, 'only a started, unfinished task can fail'),
    ('Migrating', {'status': 'Broken'}, 'status must be one of Failed, MigrationFailed, PrecheckFailed, InitializeFailed'),
])
def test_fail_job_validation(emu, status, kwargs, message):
    job = emu.add_job(status=status)
    with pytest.raises(ValueError) as raised:
        emu.fail_job(job.job_id, 'x', **kwargs)
    assert message in str(raised.value)


@pytest.mark.parametrize('kwargs, message', [
    ({'status': 'Running'}, "cannot create a task in status 'Running'"),
    ({'status': 'Migrating', 'phase': 'warmup'}, 'phase must be one of precheck, structure, full, incremental'),
    ({'status': 'Migrating', 'phase': 'structure', 'structure': False}, "phase 'structure' is not enabled"),
    ({'status': 'Suspending', 'phase': 'precheck'}, "a Suspending task is past its precheck"),
    ({'structure': False, 'full': False, 'incremental': False}, 'needs at least one of structure, full or incremental'),
    ({'durations': {'warmup': 1}}, "unknown duration 'warmup'"),
    ({'delay': [(5, 10), (1, 0)]}, 'seconds must not decrease'),
    ({'delay': 'soon'}, 'a delay profile is a list of (seconds, delay_ms) pairs'),
    ({'job_type': 'BACKUP'}, 'job_type must be one of MIGRATION, SYNC'),
])
def test_add_job_validation(emu, kwargs, message):
    with pytest.raises(ValueError) as raised:
        emu.add_job(**kwargs)
    assert message in str(raised.value)


def test_set_delay_replaces_the_profile_at_runtime(emu, client, clock):
    job = emu.add_job(status='Migrating', phase='incremental', delay=0)
    clock.advance(100)
    emu.set_delay(job.job_id, [(0, 50000), (200, 0)])
    assert detail(client, job.job_id).delay == 25000   # profile time is the phase's running time (100 s)
    with pytest.raises(ValueError):
        emu.set_delay(job.job_id, [(0, -1)])


def test_checkpoint_never_goes_backwards(emu, client, clock):
    job = emu.add_job(status='Migrating', phase='incremental', delay=[(0, 0), (10, 30000)])
    seen = []
    for dummy in range(10):
        seen.append(detail(client, job.job_id).checkpoint)
        clock.advance(2)
    assert seen == sorted(seen) and seen[0] == T0


def test_sync_task_statuses(emu, client, clock):
    job = emu.add_job(job_type='SYNC', status='Synchronizing', phase='full')
    assert detail(client, job.job_id).status == 'Initializing'
    clock.advance(5)
    assert detail(client, job.job_id).status == 'synchronizing'   # lower case, as documented
    assert listed(client, job.job_id, job_type='SYNC').status == 'Synchronizing'
    assert detail(client, job.job_id).job_type == 'sync'


class RecordingSource(DelaySource):
    """A delay source that records its lifecycle, as a replication-backed one would use it."""

    kind = 'recording'

    def __init__(self):
        self.events = []

    def delay_ms(self, job, elapsed):
        return int(elapsed * 100)

    def checkpoint(self, job, now, delay_ms):
        return 1800000000

    def started(self, job, at):
        self.events.append(('started', at))

    def paused(self, job, at):
        self.events.append(('paused', at))

    def resumed(self, job, at):
        self.events.append(('resumed', at))

    def stopped(self, job, at):
        self.events.append(('stopped', at))


def test_pluggable_delay_source(emu, client, clock):
    source = RecordingSource()
    job = emu.add_job(structure=False, full=False, delay=source)
    start(client, job.job_id)
    clock.advance(7)   # the incremental phase began at T0 + 2, whenever it is observed
    body = detail(client, job.job_id)
    assert body.delay == 500 and body.checkpoint == 1800000000
    suspend(client, job.job_id)
    clock.advance(1)
    start(client, job.job_id)
    client.stop_dts_job(dts_models.StopDtsJobRequest(dts_job_id=job.job_id))
    assert source.events == [('started', T0 + 2), ('paused', T0 + 7), ('resumed', T0 + 8), ('stopped', T0 + 8)]
    assert emu.job(job.job_id).to_dict()['delay'] == {'kind': 'recording'}


def test_job_snapshot(emu, clock):
    job = emu.add_job(name='orders', status='Migrating', phase='incremental', delay=1000, source={'host': 'db1', 'port': 3306})
    snapshot = job.to_dict()
    assert snapshot['status'] == 'Migrating' and snapshot['phase'] == 'incremental' and snapshot['delay_ms'] == 1000
    assert snapshot['sync_status'] == 'Migrating' and snapshot['checkpoint'] == T0 - 1 and snapshot['paused'] is False
    assert snapshot['source']['Ip'] == 'db1' and snapshot['source']['Port'] == '3306' and snapshot['region'] == REGION
    assert snapshot['delay'] == {'kind': 'profile', 'points': [[0.0, 1000.0]]}
