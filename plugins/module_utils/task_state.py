# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of dts_task (pause, resume, stop, finish or release a task, and wait for it), of
dts_task_info and of dts_wait_undelayed. :func:`task_state`, :func:`task_info` and
:func:`wait_undelayed` take a module object (module_base) and return the result, so the window
action runs them in-process too."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import (
    JOB_TYPES,
    DtsError,
    job_state,
    looks_released,
    transition,
    undelayed_check,
    wait_details,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitAborted, WaitTimeout

ACTIONS = {'paused': 'SuspendDtsJob', 'running': 'StartDtsJob', 'stopped': 'StopDtsJob', 'absent': 'DeleteDtsJob'}

# The options of dts_task besides the DTS options (module_base.dts_spec adds those).
TASK_STATE_SPEC = dict(
    job_id=dict(type='str', required=True),
    state=dict(type='str', required=True, choices=['paused', 'running', 'stopped', 'finished', 'absent']),
    force=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    timeout=dict(type='float', default=300),
    poll_interval=dict(type='float', default=2),
)

# The options of dts_task_info besides the DTS options, and its rules for the module object.
TASK_INFO_SPEC = dict(
    job_id=dict(type='str'),
    name=dict(type='str'),
    status=dict(type='str'),
    job_type=dict(type='str', choices=list(JOB_TYPES)),
)
TASK_INFO_RULES = dict(mutually_exclusive=[('job_id', 'name'), ('job_id', 'status'), ('job_id', 'job_type')])


def plan(job, state, force):
    """The action that brings ``job`` to ``state`` (None when it is there), or a refusal message."""
    current = job_state(job)
    if state == 'finished':
        if job.migration_mode.get('incremental'):
            return None, ('DTS task %s migrates incrementally: it never finishes on its own. Use state: stopped to end it.'
                          % job.job_id)
        if current in ('stopped', 'running', 'starting'):
            return None, None
        state = 'running'
    if current == state:
        return None, None
    if state == 'absent':
        return 'DeleteDtsJob', None
    if current == 'stopped':
        return None, 'DTS task %s has finished (%s): a finished task cannot be %s; it can only be released (state: absent).' % (
            job.job_id, job.status, 'paused' if state == 'paused' else 'started again')
    if state == 'stopped':
        return 'StopDtsJob', None
    if state == 'paused':
        if current == 'running':
            return 'SuspendDtsJob', None
        return None, 'DTS task %s is %s: only a running task can be paused.' % (job.job_id, job.describe_state().rstrip('.'))
    # running
    if current == 'starting':
        return None, None
    if current in ('paused', 'failed') and not force:
        if current == 'paused':
            return None, ('DTS task %s is paused (%s). Resuming a paused task can corrupt data when applications already write '
                          'to the destination; set force: true to resume it.' % (job.job_id, job.status))
        return None, 'DTS task %s failed (%s). Fix the cause, then set force: true to restart it.' % (job.job_id, job.describe_state())
    return 'StartDtsJob', None


def goal(state):
    """The wait's check for ``state``."""
    def check(job):
        current = job_state(job)
        if current == state or (state == 'finished' and current == 'stopped') or (state == 'absent' and looks_released(job)):
            return Observation(True)
        if state == 'finished' and current in ('failed', 'paused'):
            return Observation(False, terminal='DTS task %s will not finish: it is %s.' % (job.job_id, job.describe_state().rstrip('.')))
        if state in ('running', 'paused') and current in ('failed', 'stopped'):
            return Observation(False, terminal='DTS task %s is not %s: it is %s.' % (job.job_id, state, job.describe_state().rstrip('.')))
        return Observation(False)
    return check


def task_state(module):
    """dts_task: bring a task to ``state`` and wait for it. Returns the result."""
    params = module.params
    if not params['job_id'].strip():
        module.fail_json(msg='job_id must not be empty.')

    job_id = params['job_id'].strip()
    state = params['state']
    client = module.client()
    result = dict(changed=False, job_id=job_id, action=None, **wait_details(None))

    def describe(job, current=None):
        current = current or job_state(job)
        result.update(state=current, status=job.status if job is not None and current != 'absent' else None)
        if job is not None:
            result.update(job=job.as_dict(), checkpoint=job.checkpoint)
        return {'state': current, 'status': result['status']}

    try:
        job = client.find_job(job_id)
        if job is None and state != 'absent':
            raise DtsError('DTS task %s not found in region %s.' % (job_id, client.region), kind='not_found')
        before = describe(job)
        result['previous_state'] = before['state']
        action, refusal = plan(job, state, params['force']) if job is not None else (None, None)
        if refusal:
            module.fail_json(msg=refusal, api_calls=client.api_calls, **result)
        if action:
            result.update(changed=True, action=action)
            if not module.check_mode:
                transition(client, job, action)
        after = before
        if module.check_mode:
            after = {'state': state, 'status': None} if action else before
        elif params['wait'] and (action or before['state'] == 'starting' or (state == 'finished' and before['state'] != 'stopped')):
            gone = Observation(True) if state == 'absent' else None
            job, outcome = client.watch(job_id, goal(state), timeout=params['timeout'], poll_interval=params['poll_interval'], gone=gone)
            result.update(wait_details(outcome))
            after = describe(job, 'absent' if state == 'absent' else None)
        elif action:
            current = client.find_job(job_id)
            after = describe(current or job, None if current else 'absent')
        if module._diff:
            result['diff'] = {'before': before, 'after': after}
    except (WaitTimeout, WaitAborted) as exc:
        result.update(wait_details(exc.result))
        last = client.last_job
        if last is not None:
            describe(last)
        if isinstance(exc, WaitAborted):
            module.fail_from(exc, client=client, **result)
        last_seen = 'last seen %s' % (last.describe_state() if last else 'nothing')
        module.fail_json(msg='DTS task %s did not become %s within %g s after %s (%s).'
                         % (job_id, state, params['timeout'], result['action'], last_seen), timed_out=True, last_seen=last_seen,
                         api_calls=client.api_calls, **result)
    except DtsError as exc:
        module.fail_from(exc, client=client, **result)
    result['api_calls'] = client.api_calls
    return result


def task_info(module):
    """dts_task_info: one task by ID, or the tasks that match name/status/job_type. Returns the result."""
    params = module.params
    client = module.client()
    try:
        if params['job_id'] is not None:
            if not params['job_id'].strip():
                module.fail_json(msg='job_id must not be empty.')
            job = client.find_job(params['job_id'].strip())
            jobs = [job] if job is not None else []
        else:
            jobs = client.list_jobs(job_type=params['job_type'] or 'MIGRATION', name=params['name'], status=params['status'])
    except DtsError as exc:
        module.fail_from(exc, client=client, jobs=[])
    return dict(changed=False, jobs=[job.as_dict() for job in jobs], api_calls=client.api_calls)


# -- dts_wait_undelayed -----------------------------------------------------------------------

WAIT_UNDELAYED_SPEC = dict(
    job_id=dict(type='str', required=True),
    max_delay=dict(type='float', default=5),
    stable_for=dict(type='float', default=0),
    timeout=dict(type='float', default=1800),
    poll_interval=dict(type='float', default=5),
    accept_paused=dict(type='bool', default=False),
    held_for=dict(type='float'),
)


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')


def _last_seen(job):
    if job is None:
        return 'the task was never read'
    delay = 'unknown' if job.delay_ms is None else '%s s' % _seconds(job.delay_seconds)
    return 'last seen %s, phase %s, delay %s' % (job.status, job.phase, delay)


def wait_undelayed(module):
    """timeout and poll_interval are checked by the module base."""
    params = module.params
    for name in ('max_delay', 'stable_for'):
        if params[name] < 0:
            module.fail_json(msg='%s must be 0 or more seconds, got %s.' % (name, _seconds(params[name])))
    # A slice of a longer wait (held_for set) may be shorter than the stability window.
    if params['held_for'] is None and params['stable_for'] > params['timeout']:
        module.fail_json(msg='stable_for (%s s) is longer than timeout (%s s): the wait could never succeed.'
                         % (_seconds(params['stable_for']), _seconds(params['timeout'])))
    if not params['job_id'].strip():
        module.fail_json(msg='job_id must not be empty.')

    job_id = params['job_id'].strip()
    client = module.client()
    result = dict(changed=False, job_id=job_id, held_for=0.0, **wait_details(None))
    max_delay_ms = int(round(params['max_delay'] * 1000))
    check = undelayed_check(max_delay_ms, accept_paused=params['accept_paused'])
    goal = 'incremental migration with a delay of at most %s s' % _seconds(params['max_delay'])
    if params['stable_for']:
        goal += ' for %s s' % _seconds(params['stable_for'])
    try:
        job, outcome = client.watch(job_id, check, timeout=params['timeout'], poll_interval=params['poll_interval'],
                                    stable_for=params['stable_for'], held_for=params['held_for'] or 0)
    except (WaitTimeout, WaitAborted) as exc:
        job = client.last_job
        result.update(wait_details(exc.result), held_for=round(exc.result.held_for, 3))
        if job is not None:
            result['job'] = job.as_dict()
        if isinstance(exc, WaitAborted):
            module.fail_from(exc, client=client, **result)
        module.fail_json(msg='DTS task %s did not reach %s within %s s: %s (%d polls).'
                         % (job_id, goal, _seconds(params['timeout']), _last_seen(job), exc.result.polls),
                         timed_out=True, goal=goal, last_seen=_last_seen(job), api_calls=client.api_calls, **result)
    except DtsError as exc:
        if client.last_job is not None:
            result['job'] = client.last_job.as_dict()
        module.fail_from(exc, client=client, **result)

    result.update(wait_details(outcome), held_for=round(outcome.held_for, 3), api_calls=client.api_calls,
                  status=job.status, phase=job.phase, delay_ms=job.delay_ms, delay_seconds=job.delay_seconds,
                  checkpoint=job.checkpoint, caught_up=job.caught_up, job=job.as_dict())
    return result
