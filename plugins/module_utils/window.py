# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps the ``switchover_window`` action runs: the preflight, the wait for an undelayed task, the
arming of the reverse task and the steps of the write-unavailable window (fence to writer start).
For each: what it asks of which module, what it writes to the journal before it acts (so that a
crash in the middle is undone correctly) and what it keeps.

A step is ``step(ctx, call) -> (phase_result, phase_data)``. ``call(module, args)`` runs one of the
collection's modules (in-process or shipped: the ``switchover_window`` action decides) and returns
its result or raises :class:`StepFailed`; ``ctx.record(data)`` writes to the journal at once.
The same steps run the rollback: ``ctx.side('from')`` is the destination there.
"""

from __future__ import annotations

import json
import time

# Inside the window every fraction of a second counts: a database is asked every 50 ms (a query
# on one connection), DTS every 200 ms (an API call each).
DB_POLL = 0.05
POLL = 0.2

# The options of the switchover_window action (its module file documents them).
ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    unit=dict(type='str', required=True),
    store=dict(type='dict'),
    journal=dict(type='dict'),
    phases=dict(type='list', elements='str', default=[]),
    point_of_no_return=dict(type='bool', default=False),
    note=dict(type='str', default=''),
    settings=dict(type='dict', required=True, no_log=True),
)


class StepFailed(Exception):
    """A module failed: ``result`` is its result (msg first). ``check`` names what was being
    checked, as the abort reason's first words ("Check the unit against its DTS task: ...")."""

    def __init__(self, module, result, check=None):
        super(StepFailed, self).__init__(result.get('msg') or '%s failed' % module)
        self.module = module
        self.result = result
        self.check = check


def checked(call, check, module, args, check_mode=None):
    """``call`` with the name of the check on a failure."""
    try:
        return call(module, args, check_mode=check_mode)
    except StepFailed as exc:
        raise StepFailed(exc.module, exc.result, check)


def answers(call, check, connection):
    """The sessions of a database, read once (db_sessions_quiesced, timeout 0, check mode). Sessions
    that still write are not a failure here: only a database that does not answer is."""
    try:
        return call('dtsops.switchover.db_sessions_quiesced', dict(connection, timeout=0), check_mode=True)
    except StepFailed as exc:
        if 'sessions' in exc.result:
            return exc.result
        raise StepFailed(exc.module, exc.result, check)


class Clock(object):
    """Wall time for the journal, monotonic time for the budget: the window's start is a wall time
    (a resumed run reads it from the journal), the time spent since is measured monotonically."""

    def __init__(self, budget, wall=time.time, monotonic=time.monotonic):
        self.budget = float(budget)
        self.wall = wall
        self.monotonic = monotonic
        self._anchor = None

    def now(self):
        return self.wall()

    def spent(self, journal):
        """Seconds since the window opened, or None outside it (not fenced yet, or past the point of no return)."""
        data = journal.get('data') or {}
        start = data.get('window_start')
        if start in (None, '') or journal.get('point_of_no_return'):
            return None
        if self._anchor is None or self._anchor[0] != start:
            self._anchor = (start, self.wall() - float(start), self.monotonic())
        dummy, spent_then, then = self._anchor
        return spent_then + (self.monotonic() - then)

    def budget_left(self, journal):
        spent = self.spent(journal)
        return None if spent is None else max(0.0, self.budget - spent)


class Context(object):
    """What the steps read: the role's ``settings``, the journal as it is now, the direction;
    ``say`` prints a line of progress."""

    def __init__(self, settings, journal, direction='forward', check_mode=False, clock=None, recorder=None, say=None):
        self.settings = settings
        self.journal = journal
        self.direction = direction
        self.check_mode = check_mode
        self.clock = clock
        self.recorder = recorder
        self.say = say or (lambda line: None)

    @property
    def data(self):
        return self.journal.setdefault('data', {})

    def side(self, which):
        """The connection options of the side the step fences ('from') or proves on ('to')."""
        forward = self.direction == 'forward'
        name = ('source' if forward else 'destination') if which == 'from' else ('destination' if forward else 'source')
        return dict(self.settings[name])

    @property
    def job_id(self):
        """The task this run pauses: the forward task, or the reverse task in a rollback."""
        if self.direction == 'forward':
            return self.settings['job_id']
        return self.settings['reverse_job_id']

    def timeout(self, own):
        """A step's timeout: its own, or less when the write budget has less left."""
        left = self.clock.budget_left(self.journal) if self.clock is not None else None
        return float(own) if left is None else max(0.0, min(float(own), left))

    def record(self, data):
        """Write ``data`` to the journal before the step acts (in memory in check mode)."""
        self.recorder(data)


def _statements(result):
    return '; '.join(result.get('statements') or [])


def fence(ctx, call):
    # The window opens before the fence is taken: a crash right after the fence still knows it.
    if ctx.data.get('window_start') is None:
        ctx.record({'window_start': ctx.clock.now()})
    settings = ctx.settings
    accounts = settings.get('accounts') or [] if settings['scope'] == 'accounts' else []
    args = dict(ctx.side('from'), **(settings.get('fence_options') or {}))
    args.update(state='locked', scope=settings['scope'], accounts=accounts, exclude_users=settings.get('exclude_users') or [],
                end_sessions=True)
    lock = call('dtsops.switchover.db_write_lock', args)
    # A lock that found the fence in place (a resumed run) returns before == after: keep the first
    # record, which knows the values to restore.
    kept = ctx.data.get('fence')
    record = kept if kept and not lock.get('changed') else lock.get('fence')
    return ({'changed': bool(lock.get('changed')), 'ended_sessions': len(lock.get('ended_sessions') or []), 'plan': _statements(lock)},
            {'fence': record})


def verify_sessions(ctx, call):
    settings = ctx.settings
    accounts = settings.get('accounts') or []
    args = dict(ctx.side('from'), exclude_users=settings.get('exclude_users') or [], accounts=accounts, kill=bool(accounts),
                wait_for='writes', timeout=ctx.timeout(settings.get('quiesce_timeout', 60)), poll_interval=DB_POLL)
    quiet = call('dtsops.switchover.db_sessions_quiesced', args)
    ended = quiet.get('ended_sessions') or []
    plan = 'sessions %s; would end %s' % (_json(quiet.get('counts') or {}), ', '.join(str(s.get('id')) for s in ended) or 'none')
    return ({'counts': quiet.get('counts') or {}, 'waited': quiet.get('waited') or 0, 'plan': plan},
            {'sessions_ended': (ctx.data.get('sessions_ended') or []) + ended})


def catch_up(ctx, call):
    settings = ctx.settings
    if settings['catch_up_mode'] == 'token':
        args = dict(source=ctx.side('from'), destination=ctx.side('to'), token_object=settings['token_object'],
                    create=bool(settings.get('token_create')) and ctx.direction == 'forward',
                    timeout=ctx.timeout(settings.get('catch_up_timeout', 300)), poll_interval=DB_POLL)
        token = call('dtsops.switchover.db_caught_up', args)
        proof = {'token': token.get('token', ''), 'latency': token.get('latency'), 'write_time': token.get('write_time'),
                 'seen_time': token.get('seen_time')}
        return ({'mode': 'token', 'token': proof['token'], 'latency': proof['latency'],
                 'plan': 'write a token into %s on the %s and wait for it on the %s'
                         % (settings['token_object'], _name(ctx, 'from'), _name(ctx, 'to'))},
                {'caught_up': proof})
    stable = float(settings.get('stable_window', 60))
    args = dict(job_id=ctx.job_id, max_delay=settings.get('max_delay', 5), stable_for=stable, timeout=ctx.timeout(stable * 3),
                poll_interval=settings.get('poll_interval', 2))
    window = call('dtsops.switchover.dts_wait_undelayed', args)
    return ({'mode': 'stable_window', 'waited': window.get('waited') or 0, 'held_for': window.get('held_for') or 0,
             'plan': 'wait until the task stays undelayed (<= %s s) for %s s' % (settings.get('max_delay', 5), settings.get('stable_window'))},
            {'lag_samples': (ctx.data.get('lag_samples') or []) + (window.get('samples') or [])})


def pause_forward(ctx, call):
    # Recorded first: if the run dies during the pause, an abort knows to resume the task.
    ctx.record({'forward_pause_requested' if ctx.direction == 'forward' else 'reverse_pause_requested': True})
    pause = call('dtsops.switchover.dts_task', dict(job_id=ctx.job_id, state='paused', timeout=ctx.timeout(120), poll_interval=POLL))
    result = {'checkpoint': pause.get('checkpoint'), 'plan': 'pause the task %s (%s)' % (ctx.job_id, pause.get('previous_state') or '')}
    if ctx.direction == 'forward':
        return result, {'pause_checkpoint': pause.get('checkpoint')}
    # The reverse task's state at the end of the rollback, for the report and what to do next.
    return result, {'reverse_status': pause.get('status') or ''}


def reopen_source(ctx, call):
    if ctx.direction == 'forward':
        # Instance scope only (the plan skips it otherwise): the reverse task must write into the source.
        record, side = ctx.data.get('fence') or ctx.data.get('fence_planned'), ctx.side('from')
    else:
        # The switchover left the application accounts fenced on the source: lift that fence.
        record, side = ctx.settings.get('switch_fence') or {}, ctx.side('to')
    if not record:
        return {'plan': 'nothing to lift'}, {}
    unlock = call('dtsops.switchover.db_write_lock', dict(side, state='unlocked', fence=record))
    return {'plan': _statements(unlock) or 'nothing to lift'}, ({'source_reopened': True} if ctx.direction == 'forward' else {})


def start_reverse(ctx, call):
    settings = ctx.settings
    method = ctx.data.get('reverse_method') or settings.get('reverse_planned') or 'configure'
    reverse = settings.get('reverse') or {}
    # After a reverse instance's writer starts, DTS no longer resumes the forward task: say so first.
    ctx.record({'reverse_start_requested': True, 'forward_resumable': method != 'reverse_api'})
    result = {'method': method, 'waited': 0, 'precheck_in_window': method == 'configure'}
    if method == 'reverse_api':
        result['plan'] = 'start the writer of the reverse instance %s (StartReverseWriter)' % ctx.data.get('reverse_job_id', '')
    else:
        result['plan'] = ('start the configured reverse task %s (StartDtsJob): its precheck runs now, %s'
                          % (ctx.data.get('reverse_job_id', ''), 'after the point of no return' if settings.get('cutover') == 'fast'
                             else 'inside the write-unavailable window'))
    if ctx.check_mode:
        return result, {}  # no reverse task was created in check mode: the plan says what would happen
    args = dict(job_id=settings['job_id'], state='present', start=True, method=method, reverse_job_id=ctx.data.get('reverse_job_id'),
                timeout=ctx.timeout(900), poll_interval=POLL)
    if reverse.get('checkpoint') is not None:
        args['checkpoint'] = reverse['checkpoint']
    elif settings.get('cutover') == 'fast' and method == 'reverse_api':
        # The applications already write to the destination: the writer starts from the point of
        # no return (UNIX seconds, rounded down), which the reverse instance collects since before the fence.
        args['checkpoint'] = int(float(ctx.journal.get('point_of_no_return') or 0)) or None
    if method == 'configure':
        args.update(source_password=reverse.get('source_password'), destination_password=reverse.get('destination_password'))
    started = call('dtsops.switchover.dts_reverse_task', dict((k, v) for k, v in args.items() if v is not None))
    result['waited'] = started.get('waited') or 0
    return result, {}


def way_back(ctx, call, reverse_seen=False):
    """The last look before the point of no return: the way back must still work. A reverse task
    that no longer runs, or a database that does not answer, fails here and the run aborts.
    ``reverse_seen``: the start step of this call saw the reverse task running a moment ago."""
    if ctx.direction == 'forward' and ctx.data.get('reverse_job_id') and not reverse_seen:
        info = call('dtsops.switchover.dts_task_info', dict(job_id=ctx.data['reverse_job_id']))
        job = (info.get('jobs') or [{}])[0]
        if job.get('failed') or job.get('phase') in ('failed', 'finished') or (ctx.settings.get('cutover') != 'fast' and job.get('paused')):
            raise StepFailed('dtsops.switchover.dts_task_info', {'msg': (
                'The reverse task %s is %s (phase %s%s). Without it there is no way back, so the applications stay on the source.'
                % (ctx.data['reverse_job_id'], job.get('status'), job.get('phase'),
                   '; ' + job['error_message'] if job.get('error_message') else ''))})
    for which in ('from', 'to'):
        answers(call, 'Check that the %s answers' % _name(ctx, which), ctx.side(which))


def _subset(connection):
    """What the journal keeps of a connection: never a secret."""
    return dict((key, connection.get(key)) for key in ('engine', 'login_host', 'login_port', 'login_db'))


def preflight(ctx, call):
    """Read-only checks before anything changes. The unit is the task's (its engines, addresses and
    two servers); the task can be switched over; the fence the source would take, its sessions, and
    the catch-up token on both databases (or the destination answers)."""
    if ctx.direction == 'back':
        return rollback_preflight(ctx, call)
    s = ctx.settings
    unit = checked(call, 'Check the unit against its DTS task', 'dtsops.switchover.switchover_unit_check',
                   dict(job_id=s['job_id'], source=s['source'], destination=s['destination'],
                        labels={'job_id': 'switchover_job_id', 'source': 'switchover_source', 'destination': 'switchover_destination'}),
                   check_mode=False)
    task = unit['job']
    incremental = bool(task['migration_mode']['incremental'])
    if (task['failed'] or task['paused'] or task['phase'] in ('failed', 'paused')
            or not (incremental or task['phase'] in ('not_started', 'finished'))):
        raise StepFailed('preflight', {'msg': 'The DTS task %s is %s (phase %s)%s. %s' % (
            s['job_id'], task['status'], task['phase'], ': ' + task['error_message'] if task.get('error_message') else '',
            'Resume a paused task deliberately (dtsops.switchover.dts_task state=running force=true) once you know why it is paused.'
            if task['paused'] else
            'A switchover needs a running task in incremental migration, or a full-only task that has not started or has finished.')},
            'Refuse a task that cannot be switched over')
    accounts = s.get('accounts') or [] if s['scope'] == 'accounts' else []
    fence_plan = checked(call, "Check the source's accounts and the fence it would take", 'dtsops.switchover.db_write_lock',
                         dict(ctx.side('from'), state='locked', scope=s['scope'], accounts=accounts, exclude_users=s.get('exclude_users') or [],
                              **(s.get('fence_options') or {})), check_mode=True)
    sessions = answers(call, 'List the sessions on the source', dict(ctx.side('from'), exclude_users=s.get('exclude_users') or []))
    if s['catch_up_mode'] == 'token':
        checked(call, 'Check the catch-up token on both databases', 'dtsops.switchover.db_caught_up',
                dict(source=ctx.side('from'), destination=ctx.side('to'), token_object=s['token_object'], create=bool(s.get('token_create'))),
                check_mode=True)
    else:
        answers(call, 'Check the destination', ctx.side('to'))
    counts = sessions.get('counts') or {}
    plan = ('%s; task %s %s/%s, delay %s ms; fence %s%s would run: %s; sessions on the source: %s; catch-up by %s'
            % (unit['summary'], s['job_id'], task['status'], task['phase'], task['delay_ms'], s['scope'],
               ' of ' + ', '.join(accounts) if s['scope'] == 'accounts' else '', '; '.join(fence_plan.get('statements') or []),
               _json(counts), s['catch_up_mode']))
    result = {'task_status': task['status'], 'task_phase': task['phase'], 'delay_ms': task['delay_ms'], 'sessions': counts,
              'unit_checks': unit['checks'], 'plan': plan}
    data = {'job_id': s['job_id'], 'incremental': incremental, 'scope': s['scope'], 'catch_up_mode': s['catch_up_mode'],
            'fenced_accounts': accounts, 'fence_planned': fence_plan.get('fence'), 'source': _subset(s['source']),
            'destination': _subset(s['destination']),
            'lag_samples': [{'time': ctx.clock.now(), 'delay_ms': task['delay_ms'], 'phase': 'preflight'}] if task['delay_ms'] is not None else []}
    return result, data


def rollback_preflight(ctx, call):
    """The rollback's checks: the reverse task runs in incremental synchronization; the fence the
    destination would take; the catch-up token on both databases."""
    s = ctx.settings
    info = call('dtsops.switchover.dts_task_info', dict(job_id=s['reverse_job_id']))
    job = (info.get('jobs') or [{}])[0]
    if job.get('failed') or job.get('phase') != 'incremental':
        raise StepFailed('preflight', {'msg': 'The reverse task %s is %s (phase %s): a rollback needs it running in incremental '
                                              'synchronization.' % (s['reverse_job_id'], job.get('status'), job.get('phase'))},
                         'Refuse a reverse task that cannot carry the workload back')
    accounts = s.get('accounts') or [] if s['scope'] == 'accounts' else []
    fence_plan = checked(call, "Check the destination's accounts and the fence it would take", 'dtsops.switchover.db_write_lock',
                         dict(ctx.side('from'), state='locked', scope=s['scope'], accounts=accounts, exclude_users=s.get('exclude_users') or [],
                              **(s.get('fence_options') or {})), check_mode=True)
    if s['catch_up_mode'] == 'token':
        checked(call, 'Check the catch-up token on both databases', 'dtsops.switchover.db_caught_up',
                dict(source=ctx.side('from'), destination=ctx.side('to'), token_object=s['token_object']), check_mode=True)
    result = {'reverse_status': job.get('status'), 'delay_ms': job.get('delay_ms'),
              'plan': 'reverse task %s %s, delay %s ms; fence on the destination would run: %s'
                      % (s['reverse_job_id'], job.get('status'), job.get('delay_ms'), '; '.join(fence_plan.get('statements') or []))}
    data = {'job_id': s['job_id'], 'reverse_job_id': s['reverse_job_id'], 'reverse_method': s.get('switch_reverse_method') or '',
            'scope': s['scope'], 'catch_up_mode': s['catch_up_mode'], 'fenced_accounts': accounts, 'fence_planned': fence_plan.get('fence')}
    return result, data


def sliced_wait(ctx, call, args, total, slice_seconds):
    """dts_wait_undelayed for ``total`` seconds in slices of ``slice_seconds``, a line of progress
    between them (a wait of an hour shows what DTS says meanwhile). A slice that ends while the task
    is undelayed hands the time held on to the next one."""
    started = ctx.clock.monotonic() if ctx.clock is not None else 0.0
    samples, polls, held = [], 0, 0.0
    while True:
        left = total - ((ctx.clock.monotonic() if ctx.clock is not None else 0.0) - started)
        this = max(0.0, min(slice_seconds, left)) if slice_seconds > 0 else max(0.0, left)
        try:
            outcome = call('dtsops.switchover.dts_wait_undelayed', dict(args, timeout=this, held_for=held))
        except StepFailed as exc:
            outcome = exc.result
            samples.extend(outcome.get('samples') or [])
            polls += outcome.get('polls') or 0
            if not outcome.get('timed_out') or left <= slice_seconds or slice_seconds <= 0:
                raise StepFailed(exc.module, dict(outcome, samples=samples, polls=polls, msg=(
                    'DTS task %s did not reach %s within %g s: %s (%d polls).' % (args['job_id'], outcome.get('goal'), total,
                                                                                  outcome.get('last_seen'), polls)
                    if outcome.get('timed_out') else outcome.get('msg'))))
            held = float(outcome.get('held_for') or 0)
            ctx.say('waiting for DTS task %s: %s (waited %d s of %g s)' % (args['job_id'], outcome.get('last_seen'), total - left + this, total))
            continue
        samples.extend(outcome.get('samples') or [])
        return dict(outcome, samples=samples, polls=polls + (outcome.get('polls') or 0))


def wait_undelayed(ctx, call):
    s = ctx.settings
    waited = sliced_wait(ctx, call, dict(job_id=s['job_id'], max_delay=s.get('max_delay', 5), poll_interval=s.get('poll_interval', 2)),
                         float(s.get('undelayed_timeout', 3600)), float(s.get('progress_interval', 30)))
    return ({'waited': waited.get('waited') or 0, 'polls': waited.get('polls') or 0, 'delay_ms': waited.get('delay_ms'),
             'plan': 'the task is %s with a delay of %s ms (at most %s s wanted)'
                     % (waited.get('status'), waited.get('delay_ms'), s.get('max_delay', 5))},
            {'lag_samples': (ctx.data.get('lag_samples') or []) + (waited.get('samples') or [])})


def arm_reverse(ctx, call):
    """The vendor's order: the reverse task is created while the forward task runs, so that its
    precheck (minutes on the real service) happens before writes are fenced. Its ID goes into the
    journal the moment DTS returns it; the precheck is waited for in a second call."""
    s = ctx.settings
    reverse = s.get('reverse') or {}
    ctx.record({'reverse_requested': True})
    args = dict(job_id=s['job_id'], state='present', start=False, wait=False,
                method=ctx.data.get('reverse_method') or reverse.get('method') or 'auto', reverse_job_id=ctx.data.get('reverse_job_id') or None,
                name=reverse.get('name'), source_password=reverse.get('source_password'),
                destination_password=reverse.get('destination_password'), timeout=ctx.timeout(120), poll_interval=POLL)
    created = call('dtsops.switchover.dts_reverse_task', dict((key, value) for key, value in args.items() if value is not None))
    ctx.record({'reverse_job_id': created.get('job_id'), 'reverse_instance_id': created.get('instance_id') or '',
                'reverse_method': created.get('method')})
    if s.get('cutover') == 'fast' and created.get('method') != 'reverse_api':
        raise StepFailed('arm_reverse', {'msg': (
            'switchover_cutover=fast needs a reverse instance prechecked before the fence, but the reverse task of %s is a configured '
            'migration task (%s), whose precheck runs only when it starts. Use switchover_cutover=armed.'
            % (s['job_id'], created.get('fallback') or 'the engines of the task'))}, 'Refuse the fast cut-over without a reverse instance')
    armed = {}
    if not ctx.check_mode and created.get('method') == 'reverse_api' and created.get('state') != 'paused':
        # A configured task (method configure) waits for StartDtsJob: its precheck runs when it starts.
        left = ctx.clock.budget_left(ctx.journal) if ctx.clock is not None else None
        armed = call('dtsops.switchover.dts_reverse_task', dict(
            job_id=s['job_id'], state='present', start=False, method='reverse_api', reverse_job_id=created.get('job_id'),
            timeout=ctx.timeout(float(reverse.get('precheck_timeout') or 900)), poll_interval=POLL if left is not None else s.get('poll_interval', 2)))
    if created.get('method') == 'reverse_api':
        plan = 'create the reverse instance of %s (CreateReverseDtsJob) and wait for its precheck' % s['job_id']
    else:
        plan = ('buy and configure an incremental-only migration task from the destination to the source, not started (its precheck '
                'runs when it starts, inside the window)')
    if created.get('job_id'):
        plan += ': %s' % created['job_id']
    return ({'created': created.get('created'), 'method': created.get('method'), 'state': armed.get('state') or created.get('state'),
             'precheck_waited': armed.get('waited') or 0, 'plan': plan}, {})


STEPS = {
    'preflight': preflight,
    'wait_undelayed': wait_undelayed,
    'arm_reverse': arm_reverse,
    'fence': fence,
    'verify_sessions': verify_sessions,
    'catch_up': catch_up,
    'pause_forward': pause_forward,
    'reopen_source': reopen_source,
    'start_reverse': start_reverse,
}


def _name(ctx, which):
    forward = ctx.direction == 'forward'
    return ('source' if forward else 'destination') if which == 'from' else ('destination' if forward else 'source')


def _json(value):
    return json.dumps(value, sort_keys=True)
