"""dtsops.switchover.dts_task through ansible-playbook and the real SDK, against the emulator."""

import json
import re
import uuid

import pytest

from harness import run_playbook

MODULE = 'dtsops.switchover.dts_task'
CHANGING = {'SuspendDtsJob', 'StartDtsJob', 'StopDtsJob', 'DeleteDtsJob'}


def play(tasks, **kwargs):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def task(options, name, ignore_errors=False, **args):
    entry = {'name': name, MODULE: dict(options, poll_interval=0.25, **args)}
    if ignore_errors:
        entry['ignore_errors'] = True
    return entry


def running_job(emulator):
    return emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=0)


def changes(emulator):
    return [request['action'] for request in emulator.requests if request['action'] in CHANGING]


def test_pause_returns_the_checkpoint_and_a_second_run_changes_nothing(emulator, dts_options):
    job = running_job(emulator)
    run = play([task(dts_options, 'pause', job_id=job.job_id, state='paused'),
                task(dts_options, 'again', job_id=job.job_id, state='paused')], diff=True)
    assert run.rc == 0, run
    first, second = run.task('pause'), run.task('again')
    assert (first['changed'], first['action'], first['previous_state'], first['state'], first['status']) == (
        True, 'SuspendDtsJob', 'running', 'paused', 'Suspending')
    assert first['checkpoint'] == emulator.job(job.job_id).checkpoint
    assert first['job']['paused'] is True
    assert first['diff'] == {'before': {'state': 'running', 'status': 'Migrating'}, 'after': {'state': 'paused', 'status': 'Suspending'}}
    assert first['api_calls'] == ['DescribeDtsJobDetail', 'SuspendDtsJob']
    assert (second['changed'], second['action'], second['state']) == (False, None, 'paused')
    assert second['api_calls'] == ['DescribeDtsJobDetail']
    assert emulator.job(job.job_id).paused is True
    assert changes(emulator) == ['SuspendDtsJob']


@pytest.mark.parametrize('state, status, before', [
    ('paused', 'Migrating', 'running'),
    ('running', 'NotStarted', 'not_started'),
    ('stopped', 'Migrating', 'running'),
    ('absent', 'Migrating', 'running'),
])
def test_check_mode_reports_the_change_and_calls_nothing_that_changes(emulator, dts_options, state, status, before):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status=status, phase='incremental' if status == 'Migrating' else None)
    run = play([task(dts_options, 'check', job_id=job.job_id, state=state)], check=True, diff=True)
    assert run.rc == 0, run
    result = run.task('check')
    assert result['changed'] is True
    assert result['action'] == {'paused': 'SuspendDtsJob', 'running': 'StartDtsJob', 'stopped': 'StopDtsJob',
                                'absent': 'DeleteDtsJob'}[state]
    assert result['diff'] == {'before': {'state': before, 'status': status}, 'after': {'state': state, 'status': None}}
    assert result['api_calls'] == ['DescribeDtsJobDetail']
    assert changes(emulator) == []
    assert emulator.job(job.job_id).status == status


def test_resuming_a_paused_task_needs_force(emulator, dts_options):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='Suspending', phase='incremental', delay=0)
    run = play([task(dts_options, 'resume', ignore_errors=True, job_id=job.job_id, state='running'),
                task(dts_options, 'forced', job_id=job.job_id, state='running', force=True)])
    refused = run.task('resume')
    assert run.status('resume') == 'failed'
    assert refused['msg'] == ('DTS task %s is paused (Suspending). Resuming a paused task can corrupt data when applications already write '
                              'to the destination; set force: true to resume it.' % job.job_id)
    forced = run.task('forced')
    assert (forced['changed'], forced['action'], forced['state'], forced['status']) == (True, 'StartDtsJob', 'running', 'Migrating')
    assert changes(emulator) == ['StartDtsJob']
    assert emulator.job(job.job_id).paused is False


def test_start_waits_until_the_task_runs(emulator, dts_options):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='NotStarted', durations={'precheck': 0.5})
    run = play([task(dts_options, 'start', job_id=job.job_id, state='running')])
    assert run.rc == 0, run
    result = run.task('start')
    assert (result['previous_state'], result['state'], result['action']) == ('not_started', 'running', 'StartDtsJob')
    assert result['job']['phase'] in ('structure', 'full', 'incremental')
    assert result['samples'][-1]['ready'] is True and result['polls'] >= 1


@pytest.mark.parametrize('released_status', ['not_found', 'finished'])
def test_stop_then_release(emulator, dts_options, released_status):
    # DTS may forget a released task, or go on describing it as Finished (reference dts-reverse-flow.md).
    job = running_job(emulator)
    saved, emulator.api.released_status = emulator.api.released_status, released_status
    try:
        run = play([task(dts_options, 'stop', job_id=job.job_id, state='stopped'),
                    task(dts_options, 'stop again', job_id=job.job_id, state='stopped'),
                    task(dts_options, 'release', job_id=job.job_id, state='absent'),
                    task(dts_options, 'release again', job_id=job.job_id, state='absent')])
    finally:
        emulator.api.released_status = saved
    assert run.rc == 0, run
    assert (run.task('stop')['state'], run.task('stop')['status']) == ('stopped', 'Finished')
    assert run.task('stop again')['changed'] is False
    released = run.task('release')
    assert (released['changed'], released['state'], released['status'], released['previous_state']) == (True, 'absent', None, 'stopped')
    assert run.task('release again')['state'] == 'absent'
    assert emulator.job(job.job_id).released is True
    if released_status == 'not_found':
        assert run.task('release again')['changed'] is False
        assert changes(emulator) == ['StopDtsJob', 'DeleteDtsJob']
    else:
        # A task still described as Finished cannot be told from a stopped one: it is released again.
        assert changes(emulator) == ['StopDtsJob', 'DeleteDtsJob', 'DeleteDtsJob']
    delete = emulator.calls('DeleteDtsJob')[0]['params']
    assert (delete['DtsJobId'], delete['JobType']) == (job.job_id, 'MIGRATION')


@pytest.mark.parametrize('kind', ['drop_after', 'server_error', 'drop'])
def test_a_pause_whose_outcome_is_unknown_is_checked_before_it_is_sent_again(emulator, dts_options, kind):
    job = running_job(emulator)
    emulator.add_fault(action='SuspendDtsJob', kind=kind, job_id=job.job_id)
    run = play([task(dts_options, 'pause', job_id=job.job_id, state='paused')])
    assert run.rc == 0, run
    assert run.task('pause')['state'] == 'paused'
    sent = emulator.calls('SuspendDtsJob')
    # drop_after applied the pause: it is seen and not sent again. The others did not: sent again once.
    assert len(sent) == (1 if kind == 'drop_after' else 2)
    reads = [request['action'] for request in emulator.requests]
    assert reads[:3] == ['DescribeDtsJobDetail', 'SuspendDtsJob', 'DescribeDtsJobDetail']


def test_wait_false_returns_after_the_request(emulator, dts_options):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='NotStarted', durations={'precheck': 30})
    run = play([task(dts_options, 'start', job_id=job.job_id, state='running', wait=False)])
    result = run.task('start')
    assert (result['changed'], result['state'], result['status'], result['polls']) == (True, 'starting', 'Prechecking', 0)


def test_a_task_that_fails_while_starting_ends_the_wait(emulator, dts_options):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='Failed', phase='full',
                           error_message='DTS-070211: Connect Source DB failed.')
    run = play([task(dts_options, 'restart', job_id=job.job_id, state='running', ignore_errors=True),
                task(dts_options, 'forced', job_id=job.job_id, state='running', force=True)])
    assert run.task('restart')['msg'] == ('DTS task %s failed (Failed: DTS-070211: Connect Source DB failed.). Fix the cause, then set '
                                          'force: true to restart it.' % job.job_id)
    assert run.task('forced')['state'] == 'running'


def bad_cases(emulator):
    running = running_job(emulator)
    finished = emulator.add_job(name='done-%s' % uuid.uuid4().hex[:8], status='Finished')
    fresh = emulator.add_job(name='new-%s' % uuid.uuid4().hex[:8], status='NotStarted')
    return [
        ({'job_id': 'nosuchjob00001', 'state': 'paused'}, 'DTS task nosuchjob00001 not found in region cn-hangzhou.'),
        ({'job_id': finished.job_id, 'state': 'paused'}, 'DTS task %s has finished (Finished): a finished task cannot be paused; it can '
                                                         'only be released (state: absent).' % finished.job_id),
        ({'job_id': finished.job_id, 'state': 'running'}, 'DTS task %s has finished (Finished): a finished task cannot be started again; '
                                                          'it can only be released (state: absent).' % finished.job_id),
        ({'job_id': fresh.job_id, 'state': 'paused'}, 'DTS task %s is NotStarted: only a running task can be paused.' % fresh.job_id),
        ({'job_id': running.job_id, 'state': 'gone'}, 'value of state must be one of: paused, running, stopped, finished, absent, got: gone'),
        ({'job_id': running.job_id}, 'missing required arguments: state'),
        ({'job_id': running.job_id, 'state': 'paused', 'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
        ({'job_id': running.job_id, 'state': 'paused', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ]


def test_bad_input_gets_one_clear_message_and_changes_nothing(emulator, dts_options):
    cases = bad_cases(emulator)
    tasks = []
    for index, (args, dummy) in enumerate(cases):
        entry = {'name': 'case%d' % index, MODULE: dict(dts_options, **args), 'ignore_errors': True}
        tasks.append(entry)
    run = play(tasks)
    for index, (args, message) in enumerate(cases):
        result = run.task('case%d' % index)
        assert run.status('case%d' % index) == 'failed', args
        assert result['msg'] == message, args
        assert 'Traceback (most recent call last)' not in json.dumps(result)
    assert changes(emulator) == []


def test_finished_runs_a_full_only_task_to_its_end(emulator, dts_options):
    job = emulator.add_job(name='full-%s' % uuid.uuid4().hex[:8], status='NotStarted', incremental=False,
                           durations={'precheck': 0.3, 'structure': 0.3, 'full': 0.5})
    run = play([task(dts_options, 'finish', job_id=job.job_id, state='finished'),
                task(dts_options, 'again', job_id=job.job_id, state='finished')])
    assert run.rc == 0, run
    result = run.task('finish')
    assert (result['previous_state'], result['action'], result['state']) == ('not_started', 'StartDtsJob', 'stopped')
    assert emulator.job(job.job_id).status == 'Finished'
    assert run.task('again')['changed'] is False
    assert changes(emulator) == ['StartDtsJob']


def test_finished_is_refused_for_an_incremental_task(emulator, dts_options):
    job = running_job(emulator)
    run = play([task(dts_options, 'finish', job_id=job.job_id, state='finished', ignore_errors=True)])
    result = run.task('finish')
    assert run.status('finish') == 'failed'
    assert result['msg'] == 'DTS task %s migrates incrementally: it never finishes on its own. Use state: stopped to end it.' % job.job_id
    assert changes(emulator) == []


def test_a_long_run_to_the_end_prints_progress_and_reports_the_start(emulator, dts_options):
    job = emulator.add_job(name='full-%s' % uuid.uuid4().hex[:8], status='NotStarted', incremental=False,
                           durations={'precheck': 0.5, 'structure': 0.5, 'full': 2.5})
    entry = task(dts_options, 'finish', job_id=job.job_id, state='finished', timeout=60)
    entry['vars'] = {'dtsops_progress_interval': 1}
    run = play([entry])
    assert run.rc == 0, run
    assert len(re.findall(r'localhost: waiting for DTS task %s: last seen (\S+) \(waited \d+ s of 60 s\)' % job.job_id, run.stdout)) >= 2
    result = run.task('finish')
    assert (result['changed'], result['previous_state'], result['action'], result['state']) == (True, 'not_started', 'StartDtsJob', 'stopped')
    assert changes(emulator) == ['StartDtsJob']
