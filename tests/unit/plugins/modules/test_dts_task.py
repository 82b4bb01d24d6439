"""dts_task: what it does from each state (plan), and its option checks (run in-process, no API call)."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import Job, looks_released
from ansible_collections.dtsops.switchover.plugins.module_utils.reverse_task import ReverseTask
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import WaitResult
from ansible_collections.dtsops.switchover.plugins.module_utils import task_state
from ansible_collections.dtsops.switchover.plugins.modules import dts_task

STATUSES = {
    'running': {'Status': 'Migrating', 'DataSynchronizationStatus': {'Status': 'Migrating'}},
    'starting': {'Status': 'Prechecking'},
    'not_started': {'Status': 'NotStarted'},
    'paused': {'Status': 'Suspending', 'DataSynchronizationStatus': {'Status': 'Suspending'}},
    'stopped': {'Status': 'Finished'},
    'failed': {'Status': 'MigrationFailed', 'ErrorMessage': 'DTS-070211: Connect Source DB failed.'},
}


def job(state):
    return Job.from_detail(dict(STATUSES[state], DtsJobId='j1', MigrationMode={'DataSynchronization': True}))


@pytest.mark.parametrize('current, target, force, action', [
    ('running', 'paused', False, 'SuspendDtsJob'),
    ('paused', 'paused', False, None),
    ('running', 'running', False, None),
    ('starting', 'running', False, None),
    ('not_started', 'running', False, 'StartDtsJob'),
    ('paused', 'running', True, 'StartDtsJob'),
    ('failed', 'running', True, 'StartDtsJob'),
    ('running', 'stopped', False, 'StopDtsJob'),
    ('paused', 'stopped', False, 'StopDtsJob'),
    ('failed', 'stopped', False, 'StopDtsJob'),
    ('stopped', 'stopped', False, None),
    ('running', 'absent', False, 'DeleteDtsJob'),
    ('stopped', 'absent', False, 'DeleteDtsJob'),
])
def test_plan(current, target, force, action):
    assert task_state.plan(job(current), target, force) == (action, None)


@pytest.mark.parametrize('current, target, message', [
    ('paused', 'running', 'DTS task j1 is paused (Suspending). Resuming a paused task can corrupt data when applications already write to the '
                          'destination; set force: true to resume it.'),
    ('failed', 'running', 'DTS task j1 failed (MigrationFailed: DTS-070211: Connect Source DB failed.). Fix the cause, then set force: true '
                          'to restart it.'),
    ('stopped', 'running', 'DTS task j1 has finished (Finished): a finished task cannot be started again; it can only be released '
                           '(state: absent).'),
    ('stopped', 'paused', 'DTS task j1 has finished (Finished): a finished task cannot be paused; it can only be released (state: absent).'),
    ('not_started', 'paused', 'DTS task j1 is NotStarted: only a running task can be paused.'),
    ('starting', 'paused', 'DTS task j1 is Prechecking: only a running task can be paused.'),
    ('failed', 'paused', 'DTS task j1 is MigrationFailed: DTS-070211: Connect Source DB failed: only a running task can be paused.'),
])
def test_refusals(current, target, message):
    assert task_state.plan(job(current), target, False) == (None, message)


@pytest.mark.parametrize('current, target, ready, terminal', [
    ('paused', 'paused', True, None),
    ('running', 'paused', False, None),
    ('failed', 'paused', False, 'DTS task j1 is not paused: it is MigrationFailed: DTS-070211: Connect Source DB failed.'),
    ('starting', 'running', False, None),
    ('stopped', 'running', False, 'DTS task j1 is not running: it is Finished.'),
    ('running', 'stopped', False, None),
])
def test_wait_goal(current, target, ready, terminal):
    observation = task_state.goal(target)(job(current))
    assert (observation.ready, observation.terminal) == (ready, terminal)


@pytest.mark.parametrize('args, message', [
    ({'job_id': 'j1', 'state': 'paused', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ({'job_id': 'j1', 'state': 'paused', 'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
    ({'job_id': '  ', 'state': 'paused'}, 'job_id must not be empty.'),
    ({'job_id': 'j1', 'state': 'paused'}, 'DTS needs an AccessKey ID (the access_key_id option, or ALIBABA_CLOUD_ACCESS_KEY_ID, '
                                          'ALICLOUD_ACCESS_KEY or ALICLOUD_ACCESS_KEY_ID); an AccessKey secret (the access_key_secret '
                                          'option, or ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALICLOUD_SECRET_KEY or ALICLOUD_SECRET_ACCESS_KEY); '
                                          'a region (the region option, or ALIBABA_CLOUD_REGION_ID, ALICLOUD_REGION or ALICLOUD_REGION_ID).'),
])
def test_bad_options_fail_before_any_call(run_module, monkeypatch, args, message):
    for name in ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
                 'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY', 'ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID'):
        monkeypatch.delenv(name, raising=False)
    result = run_module(dts_task, args)
    assert result['failed'] is True
    assert result['msg'] == message


@pytest.mark.parametrize('current, released', [
    (None, True),
    ('stopped', True),
    ('running', False),
    ('paused', False),
    ('failed', False),
    ('not_started', False),
])
def test_a_task_described_as_finished_after_its_release_counts_as_released(current, released):
    found = job(current) if current else None
    assert looks_released(found) is released
    # Both release waits read it the same way: dts_task state=absent and dts_reverse_task's release.
    assert task_state.goal('absent')(found).ready is released


def test_the_reverse_task_release_wait_uses_the_same_helper():
    seen = []

    class Client(object):
        last_job = None

        def watch(self, job_id, check, timeout, poll_interval, gone):
            seen.extend(check(job(state)).ready for state in ('stopped', 'running'))
            return job('stopped'), WaitResult()

    task = ReverseTask.__new__(ReverseTask)
    task.client, task.params, task.deadline = Client(), {'poll_interval': 1, 'timeout': 5}, 1e12
    task.result = {'waited': 0.0, 'polls': 0, 'samples': []}
    task.wait_for('r1', ('absent',), 'released')
    assert seen == [True, False]
