"""dtsops.switchover.dts_wait_undelayed through ansible-playbook and the real SDK, against the emulator."""

import json
import re
import uuid

import pytest

from dts_emulator import DelaySource
from harness import run_playbook

MODULE = 'dtsops.switchover.dts_wait_undelayed'


def play(tasks, **kwargs):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def wait_task(options, name='wait', ignore_errors=False, **args):
    task = {'name': name, MODULE: dict(options, **args)}
    if ignore_errors:
        task['ignore_errors'] = True
    return task


def unique(prefix='orders'):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


class DelayByReads(DelaySource):
    """The n-th read of the task sees the n-th delay (then the last one): a lag curve that does not
    depend on how fast ansible-playbook starts."""

    def __init__(self, emulator, values):
        self.emulator = emulator
        self.values = list(values)

    def delay_ms(self, job, elapsed):
        reads = len([request for request in self.emulator.calls('DescribeDtsJobDetail') if request['job_id'] == job.job_id])
        return self.values[min(max(reads, 1), len(self.values)) - 1]


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check_mode'])
def test_waits_until_the_delay_drains_and_holds(emulator, dts_options, check_mode):
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=DelayByReads(emulator, [9000, 6000, 3000, 800, 0]))
    run = play([wait_task(dts_options, job_id=job.job_id, max_delay=1, stable_for=1, poll_interval=0.25)], check=check_mode)
    assert run.rc == 0, run
    result = run.task('wait')
    assert result['changed'] is False
    assert (result['status'], result['phase']) == ('Migrating', 'incremental')
    assert result['delay_ms'] <= 1000
    assert result['held_for'] >= 1
    assert result['caught_up'] is (result['delay_ms'] == 0)
    assert isinstance(result['checkpoint'], int)
    assert result['job']['job_id'] == job.job_id
    # The lag curve: it starts delayed and ends within max_delay; every poll was one API read.
    samples = result['samples']
    assert [sample['delay_ms'] for sample in samples[:5]] == [9000, 6000, 3000, 800, 0]
    assert [sample['ready'] for sample in samples[:4]] == [False, False, False, True]
    assert all(sample['ready'] for sample in samples[3:]) and samples[-1]['phase'] == 'incremental'
    assert result['polls'] == len(emulator.calls('DescribeDtsJobDetail'))
    assert result['api_calls'] == ['DescribeDtsJobDetail']
    assert set(request['action'] for request in emulator.requests) == {'DescribeDtsJobDetail'}


def test_keeps_waiting_through_the_initial_load(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Migrating', phase='full', durations={'full': 3600})
    run = play([wait_task(dts_options, job_id=job.job_id, timeout=1, poll_interval=0.25)])
    result = run.task('wait')
    assert result['msg'] == ('DTS task %s did not reach incremental migration with a delay of at most 5 s within 1 s: last seen '
                             'Migrating, phase full, delay 0 s (%d polls).' % (job.job_id, result['polls']))
    assert result['polls'] >= 2
    assert set(sample['phase'] for sample in result['samples']) == {'full'}


@pytest.mark.parametrize('status, phase, error, message', [
    ('MigrationFailed', 'incremental', 'DTS-070211: Connect Source DB failed.',
     'DTS task {id} failed (MigrationFailed: DTS-070211: Connect Source DB failed.).'),
    ('PrecheckFailed', None, 'DTS-1020042: The source database account lacks the REPLICATION CLIENT privilege.',
     'DTS task {id} failed (PrecheckFailed: DTS-1020042: The source database account lacks the REPLICATION CLIENT privilege.).'),
    ('Finished', None, None, 'DTS task {id} has finished (Finished): it no longer migrates changes.'),
    ('Suspending', 'incremental', None, 'DTS task {id} is paused (Suspending). Resume it, or set accept_paused to accept a paused task '
                                        'whose delay is within max_delay.'),
])
def test_fails_at_once_on_a_state_that_never_gets_there(emulator, dts_options, status, phase, error, message):
    job = emulator.add_job(name=unique(), status=status, phase=phase, error_message=error, delay=0)
    run = play([wait_task(dts_options, job_id=job.job_id, timeout=600, poll_interval=0.25)])
    assert run.rc != 0
    result = run.task('wait')
    assert run.status('wait') == 'failed'
    assert result['msg'] == message.format(id=job.job_id)
    assert result['polls'] == 1
    assert result['job']['status'] == status


def test_a_task_without_incremental_migration_never_gets_there(emulator, dts_options):
    job = emulator.add_job(name=unique(), incremental=False, status='Migrating', phase='full', durations={'full': 60})
    run = play([wait_task(dts_options, job_id=job.job_id, timeout=600, poll_interval=0.25)])
    assert run.task('wait')['msg'] == ('DTS task %s has no incremental migration (MigrationMode.DataSynchronization is false): it never '
                                       'reaches an undelayed state.' % job.job_id)


def test_accept_paused_accepts_a_task_paused_in_step(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Suspending', phase='incremental', delay=0)
    run = play([wait_task(dts_options, job_id=job.job_id, max_delay=60, accept_paused=True, poll_interval=0.25)])
    assert run.rc == 0, run
    result = run.task('wait')
    assert (result['status'], result['phase'], result['polls']) == ('Suspending', 'paused', 1)


def test_timeout_says_where_the_task_was(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=60000)
    run = play([wait_task(dts_options, job_id=job.job_id, max_delay=5, timeout=1.5, poll_interval=0.25)])
    result = run.task('wait')
    assert run.status('wait') == 'failed'
    match = re.match(r'^DTS task (\w+) did not reach incremental migration with a delay of at most 5 s within 1.5 s: '
                     r'last seen Migrating, phase incremental, delay 60 s \((\d+) polls\)\.$', result['msg'])
    assert match, result['msg']
    assert match.group(1) == job.job_id
    assert int(match.group(2)) == result['polls'] == len(result['samples']) >= 2
    assert result['samples'][-1]['delay_ms'] == 60000


def test_far_from_the_goal_polling_backs_off(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=3600000)
    run = play([wait_task(dts_options, job_id=job.job_id, timeout=4, poll_interval=0.25)])
    result = run.task('wait')
    # 0.25 s apart at first, then 1.5 times longer each time: 7 polls in 4 s instead of 17.
    assert 2 <= result['polls'] <= 8


BAD_INPUT = [
    ({'stable_for': 60, 'timeout': 30}, 'stable_for (60 s) is longer than timeout (30 s): the wait could never succeed.'),
    ({'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
    ({'max_delay': -1}, 'max_delay must be 0 or more seconds, got -1.'),
    ({'job_id': ' '}, 'job_id must not be empty.'),
    ({'job_id': 'nosuchjob00001'}, 'DTS task nosuchjob00001 not found in region cn-hangzhou.'),
    ({'max_delay': 'soon'}, "argument 'max_delay' is of type str and we were unable to convert to float: "),
]


def test_bad_input_gets_one_clear_message(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=0)
    tasks = [wait_task(dts_options, name='case%d' % index, ignore_errors=True, **dict({'job_id': job.job_id}, **args))
             for index, (args, dummy) in enumerate(BAD_INPUT)]
    run = play(tasks)
    for index, (args, message) in enumerate(BAD_INPUT):
        result = run.task('case%d' % index)
        assert run.status('case%d' % index) == 'failed', args
        assert result['msg'].startswith(message), (args, result['msg'])
        assert 'Traceback (most recent call last)' not in json.dumps(result)


def test_a_long_wait_prints_progress_between_slices_and_keeps_its_stability_window(emulator, dts_options):
    # The action plugin waits in slices of dtsops_progress_interval seconds; the 2 s stability
    # window spans slices of 1 s, so it only succeeds if the time held carries over.
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=DelayByReads(emulator, [4000, 3000, 2000, 0]))
    task = wait_task(dts_options, job_id=job.job_id, max_delay=1, stable_for=2, poll_interval=0.25, timeout=30)
    task['vars'] = {'dtsops_progress_interval': 1}
    run = play([task])
    assert run.rc == 0, run
    progress = re.findall(r'localhost: waiting for DTS task %s: (.*) \(waited (\d+) s of 30 s\)' % job.job_id, run.stdout)
    assert len(progress) >= 2, run.stdout
    result = run.task('wait')
    assert result['held_for'] >= 2
    assert result['polls'] == len(emulator.calls('DescribeDtsJobDetail'))
    assert [sample['delay_ms'] for sample in result['samples'][:4]] == [4000, 3000, 2000, 0]
    assert result['samples'][-1]['ready']


def test_a_sliced_wait_that_times_out_reports_the_whole_timeout(emulator, dts_options):
    job = emulator.add_job(name=unique(), status='Migrating', phase='incremental', delay=60000)
    task = wait_task(dts_options, job_id=job.job_id, max_delay=1, poll_interval=0.5, timeout=2.5, ignore_errors=True)
    task['vars'] = {'dtsops_progress_interval': 1}
    run = play([task])
    result = run.task('wait')
    assert run.status('wait') == 'failed' and result['timed_out']
    assert re.match(r'DTS task %s did not reach incremental migration with a delay of at most 1 s within 2.5 s: ' % job.job_id, result['msg'])
    assert result['waited'] >= 2.5
