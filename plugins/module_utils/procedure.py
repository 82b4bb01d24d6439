# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switchover, its rollback and its finalize, described once.

Each phase says what it is called, where it runs and what it leaves behind:

- ``task``: an Ansible task file of the role (phases/<name>.yml); it talks to other hosts or waits
  long (the preflight, the wait for an undelayed task, traffic on the application hosts);
- ``step``: a step of the write-unavailable window, run in-process by the ``switchover_window``
  action, back to back with the steps next to it (:func:`segments`).

A rollback is the switchover run the other way: the same phases, with the destination as the side
that is fenced and the reverse task as the one that is paused, recorded under ``rollback_<name>``
(:func:`journal_name`). The report, the fault tests and the role all read this module.
"""

from __future__ import annotations

TASK, STEP = 'task', 'step'


class Phase(object):
    """One phase: ``title`` (for the report; ``{from}``/``{to}`` name the sides), ``kind`` (how the
    report colours it), ``runs`` (TASK or STEP), ``window`` (whether it runs while writes are fenced),
    ``records`` (journal data it writes: an abort reads them), ``undo`` (how an abort undoes it)."""

    def __init__(self, name, title, kind, runs, window=False, records=(), undo='', back_title=None):
        self.name = name
        self.title = title
        self.back_title = back_title
        self.kind = kind
        self.runs = runs
        self.window = window
        self.records = tuple(records)
        self.undo = undo

    def titled(self, direction):
        if direction == 'back' and self.back_title:
            return self.back_title
        return self.title.format(**SIDES[direction])


SIDES = {
    'forward': {'from': 'source', 'to': 'destination', 'task': 'forward task', 'other_task': 'reverse task'},
    'back': {'from': 'destination', 'to': 'source', 'task': 'reverse task', 'other_task': 'forward task'},
}

PHASES = dict((phase.name, phase) for phase in (
    Phase('preflight', 'Preflight checks', 'check', STEP, back_title='Preflight checks of the rollback',
          records=('job_id', 'incremental', 'fence_planned')),
    Phase('wait_undelayed', 'Wait until the task is undelayed', 'dts', STEP, records=('lag_samples',)),
    Phase('arm_reverse', 'Arm the reverse task', 'dts', STEP, records=('reverse_requested', 'reverse_job_id', 'reverse_method'),
          undo='release the reverse task'),
    Phase('stop_traffic', 'Stop application traffic on the {from}', 'traffic', TASK, records=('traffic_stopped',),
          undo='start traffic on the {from} again'),
    Phase('fence', 'Fence writes on the {from}', 'database', STEP, window=True, records=('window_start', 'fence'),
          undo='lift the fence from its record'),
    Phase('verify_sessions', 'Verify no session writes', 'database', STEP, window=True, records=('sessions_ended',),
          back_title='Verify no session writes on the destination'),
    Phase('catch_up', 'Prove catch-up', 'database', STEP, window=True, records=('caught_up', 'lag_samples'),
          back_title='Prove the reverse task caught up'),
    Phase('run_full_migration', 'Run the full migration to its end', 'dts', TASK, window=True),
    Phase('verify_data', 'Verify the data', 'database', TASK, window=True),
    Phase('pause_forward', 'Pause the {task}', 'dts', STEP, window=True, records=('forward_pause_requested', 'pause_checkpoint'),
          undo='resume the {task} from its checkpoint, unless the writer of its reverse instance started'),
    Phase('reopen_source', 'Re-enable writes for the reverse task', 'database', STEP, window=True, records=('source_reopened',),
          back_title='Re-enable writes on the source'),
    Phase('start_reverse', 'Start the reverse task', 'dts', STEP, window=True,
          records=('reverse_start_requested', 'forward_resumable'), undo='release the reverse task'),
    Phase('switch_traffic', 'Start traffic on the {to} (point of no return)', 'traffic', TASK, window=True),
    Phase('release_forward', 'Release the forward task', 'dts', TASK, records=('forward_released',)),
    Phase('finalize_release_reverse', 'Release the reverse task', 'dts', TASK),
    Phase('finalize_release_forward', 'Release the forward task', 'dts', TASK),
    Phase('finalize_revoke', 'Fence the migration account', 'database', TASK, records=('migration_account_fence',)),
))

# The phases a rollback runs: the switchover's own, the other way. Its journal names them
# rollback_<name> (the pause of the reverse task: rollback_pause_reverse).
ROLLBACK_PHASES = ('preflight', 'stop_traffic', 'fence', 'verify_sessions', 'catch_up', 'pause_forward', 'reopen_source',
                   'switch_traffic')
FINALIZE_PHASES = ('finalize_release_reverse', 'finalize_release_forward', 'finalize_revoke')
_ROLLBACK_NAMES = {'pause_forward': 'rollback_pause_reverse'}


def journal_name(phase, direction='forward'):
    """The name a phase has in its run's journal (and in hook names)."""
    if direction == 'back':
        return _ROLLBACK_NAMES.get(phase, 'rollback_' + phase)
    return phase


def base_name(name):
    """The phase of a journal name: rollback_fence -> (fence, back)."""
    for phase, rollback_name in _ROLLBACK_NAMES.items():
        if name == rollback_name:
            return phase, 'back'
    if name.startswith('rollback_') and name[len('rollback_'):] in ROLLBACK_PHASES:
        return name[len('rollback_'):], 'back'
    return name, 'forward'


def titles():
    """Journal name -> (title, kind) for every phase of every run (the report's table)."""
    table = {}
    for phase in PHASES.values():
        table[phase.name] = (phase.titled('forward'), phase.kind)
    for name in ROLLBACK_PHASES:
        table[journal_name(name, 'back')] = (PHASES[name].titled('back'), PHASES[name].kind)
    return table


def switchover_order(reverse_arm='before_fence', cutover='armed', verify_when='before_switch'):
    """The order of the switchover's phases. The reverse task is armed before the fence (or inside
    the window, before the pause); a fast cut-over moves the applications right after the proof."""
    order = ['preflight', 'wait_undelayed']
    if reverse_arm == 'before_fence':
        order.append('arm_reverse')
    order += ['stop_traffic', 'fence', 'verify_sessions', 'catch_up', 'run_full_migration']
    if verify_when == 'before_switch':
        order.append('verify_data')
    if reverse_arm == 'in_window':
        order.append('arm_reverse')
    if cutover == 'fast':
        order += ['switch_traffic', 'pause_forward', 'reopen_source', 'start_reverse']
    else:
        order += ['pause_forward', 'reopen_source', 'start_reverse', 'switch_traffic']
    if verify_when == 'after_switch':
        order.append('verify_data')
    order.append('release_forward')
    return order


def order(procedure, settings=None):
    """The journal names of the phases of ``procedure`` (switchover, rollback, finalize), in order."""
    settings = settings or {}
    if procedure == 'rollback':
        return [journal_name(name, 'back') for name in ROLLBACK_PHASES]
    if procedure == 'finalize':
        return list(FINALIZE_PHASES)
    return switchover_order(settings.get('reverse_arm', 'before_fence'), settings.get('cutover', 'armed'),
                            settings.get('verify_when', 'before_switch'))


def skip_reason(name, settings):
    """Why phase ``name`` (a journal name) does not apply to this unit, or '' when it does.
    ``settings``: incremental (found by the preflight), scope, verify, release_forward,
    revoke_migration_writes, migration_account."""
    phase, direction = base_name(name)
    incremental = settings.get('incremental', True) in (True, 'true', 'True', 1)
    if direction == 'back':
        return ''
    if phase == 'wait_undelayed' and not incremental:
        return 'the task has no incremental migration'
    if phase == 'catch_up' and not incremental:
        return 'a finished full migration is its own proof'
    if phase == 'run_full_migration' and incremental:
        return 'the task migrates incrementally'
    if phase == 'pause_forward' and not incremental:
        return 'a finished task needs no pause'
    if phase == 'reopen_source' and settings.get('scope') != 'instance':
        return 'the accounts fence never blocked the migration account; application accounts stay fenced on the source'
    if phase == 'verify_data' and settings.get('verify', 'none') == 'none':
        return 'switchover_verify is none'
    if phase == 'release_forward' and not settings.get('release_forward'):
        return 'switchover_release_forward is false: finalize.yml releases the task'
    if phase == 'finalize_revoke' and not (settings.get('revoke_migration_writes', True) and settings.get('migration_account')):
        return 'no migration account to fence'
    return ''


def skips(phases, settings):
    """{journal name: reason} of the phases (after the first, the preflight) that do not apply."""
    found = {}
    for name in phases[1:]:
        reason = skip_reason(name, settings)
        if reason:
            found[name] = reason
    return found


def done(journal, name):
    return ((journal or {}).get('phases') or {}).get(name, {}).get('status') in ('done', 'skipped')


def segments(phases, journal, hooks=()):
    """What the role runs for the phases not done yet, in order: ``{'kind': 'task', 'phases': [name]}``
    for a task file, ``{'kind': 'window', 'phases': [...]}`` for steps the window action runs back to
    back. ``before``/``after`` name the user's hooks around a segment: a hook cuts a run of steps.
    ``point_of_no_return`` marks steps that the switch of the traffic follows directly."""
    hooks = set(hooks or ())
    result = []
    for name in phases:
        if done(journal, name):
            continue
        kind = 'window' if PHASES[base_name(name)[0]].runs == STEP else 'task'
        last = result[-1] if result else None
        if (kind == 'window' and last is not None and last['kind'] == 'window' and not last['after']
                and 'before_' + name not in hooks):
            last['phases'].append(name)
        else:
            last = {'kind': kind, 'phases': [name], 'before': None, 'after': None}
            result.append(last)
            if 'before_' + name in hooks:
                last['before'] = 'before_' + name
        if 'after_' + name in hooks:
            last['after'] = 'after_' + name
    # Steps right before the switch of the traffic also check the way back and record the point of
    # no return, so that the applications start as soon as the steps end.
    for segment, following in zip(result, result[1:]):
        if (segment['kind'] == 'window' and not segment['after'] and not following['before']
                and base_name(following['phases'][0])[0] == 'switch_traffic'):
            segment['point_of_no_return'] = True
    return result


def hook_names(procedure_names=('switchover', 'rollback', 'finalize')):
    """Every hook a user may set: before_<phase> and after_<phase> of every phase of every run."""
    names = set()
    for procedure in procedure_names:
        for name in order(procedure, {'reverse_arm': 'before_fence'}) + order(procedure, {'reverse_arm': 'in_window'}):
            names.update(('before_' + name, 'after_' + name))
    return sorted(names)


def hook_problems(hooks):
    """One sentence per hook name that names no phase."""
    known = hook_names()
    phases = sorted(set(name.split('_', 1)[1] for name in known))
    return ['switchover_hooks has %s, which names no phase: use before_<phase> or after_<phase>, for example before_fence '
            '(phases: %s).' % (name, ', '.join(phases)) for name in hooks if name not in known]


TIMEOUTS = ('max_delay', 'stable_window', 'undelayed_timeout', 'quiesce_timeout', 'catch_up_timeout', 'full_migration_timeout')
UNIT_RULES = ("check the unit's variables. switchover_job_id, switchover_source.engine and switchover_destination.engine are "
              'required; switchover_fence_scope=accounts needs switchover_app_accounts; switchover_catch_up=token needs '
              'switchover_token_object; switchover_traffic.method is none, service (with hosts and service) or tasks (with hosts, '
              'stop_tasks and start_tasks); switchover_write_budget must be positive.')


def _number(value, default=0.0):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _task_file(value, isfile):
    """A task file the role can include: a non-empty string, an existing file when absolute
    (a relative name is searched by include_tasks)."""
    return isinstance(value, str) and bool(value) and (not value.startswith('/') or isfile(value))


def check_settings(settings, isfile=None):
    """The first thing wrong with a unit's settings, as one message (without the unit's name), or
    '' when they can work. What would otherwise fail only when its phase comes, after the fence,
    fails here, before anything changes. ``settings``: the role's ``switchover_check_settings``."""
    import os
    isfile = isfile or os.path.isfile
    s = settings
    traffic = s.get('traffic') or {}
    method = traffic.get('method') or 'none'
    if not (s.get('job_id') and s.get('source_engine') and s.get('destination_engine')
            and (s.get('scope') == 'instance' or s.get('app_accounts'))
            and (s.get('catch_up_mode') == 'stable_window' or s.get('token_object'))
            and method in ('none', 'service', 'tasks')
            and (method == 'none' or traffic.get('hosts'))
            and (method != 'service' or traffic.get('service'))
            and (method != 'tasks' or (traffic.get('stop_tasks') and traffic.get('start_tasks')))
            and _number(s.get('write_budget')) > 0):
        return UNIT_RULES
    if s.get('catch_up_mode') == 'stable_window' and _number(s.get('write_budget')) <= _number(s.get('stable_window')):
        return ('switchover_write_budget (%s s) must be longer than switchover_stable_window (%s s): the stable window runs while '
                'writes are fenced.' % (s.get('write_budget'), s.get('stable_window')))
    problems = ['switchover_%s must be 0 or more seconds, got %s.' % (name, s.get(name)) for name in TIMEOUTS if _number(s.get(name)) < 0]
    if _number(s.get('poll_interval')) <= 0:
        problems.append('switchover_poll_interval must be more than 0 seconds, got %s.' % s.get('poll_interval'))
    hooks = s.get('hooks') or {}
    known = hook_names()
    for name, path in hooks.items():
        if name not in known:
            problems.extend(hook_problems([name]))
        elif not _task_file(path, isfile):
            problems.append('switchover_hooks.%s is %s, which is not a task file: give the path of one.' % (name, path))
    if method == 'tasks':
        for key in ('stop_tasks', 'start_tasks'):
            path = traffic.get(key)
            if isinstance(path, str) and path.startswith('/') and not isfile(path):
                problems.append('switchover_traffic.%s is %s, which is not a task file: give the path of one.' % (key, path))
    hosts = traffic.get('hosts') or ''
    hosts = hosts if isinstance(hosts, str) else ','.join(hosts)
    if method in ('service', 'tasks') and hosts and not s.get('traffic_hosts'):
        problems.append('switchover_traffic.hosts (%s) matches no host of the inventory.' % hosts)
    if problems:
        return ' '.join(problems)
    choices = [('reverse_method', ('auto', 'reverse_api', 'configure')), ('reverse_arm', ('before_fence', 'in_window')),
               ('cutover', ('armed', 'fast')), ('verify', ('none', 'count', 'checksum')), ('verify_when', ('before_switch', 'after_switch'))]
    if any(s.get(key) not in allowed for key, allowed in choices):
        return ('switchover_reverse.method is auto, reverse_api or configure (got %s); switchover_reverse.arm is before_fence or in_window '
                '(got %s); switchover_cutover is armed or fast (got %s); switchover_verify is none, count or checksum (got %s); '
                'switchover_verify_when is before_switch or after_switch (got %s).'
                % tuple(s.get(key) for key, dummy in choices))
    api_engines = s.get('reverse_api_engines') or ('mysql', 'sqlserver', 'mongodb')
    if s.get('reverse_method') == 'reverse_api' and (s.get('reverse_planned') != 'reverse_api' or s.get('source_engine') not in api_engines
                                                     or s.get('destination_engine') != s.get('source_engine')):
        return ('switchover_reverse.method=reverse_api, but DTS creates reverse instances (CreateReverseDtsJob) only between two MySQL, '
                'two SQL Server or two MongoDB databases, and this unit goes from %s to %s. Set switchover_reverse.method to auto or '
                'configure (with source_password and destination_password).' % (s.get('source_engine'), s.get('destination_engine')))
    if s.get('reverse_planned') == 'configure' and not (s.get('reverse_source_password') and s.get('reverse_destination_password')):
        return ("the reverse task of this unit is a configured incremental-only migration task (switchover_reverse.method=%s%s), and "
                "DTS does not return the databases' passwords: set switchover_reverse.source_password and "
                'switchover_reverse.destination_password.'
                % (s.get('reverse_method'), ', which picks configure for %s' % s.get('source_engine') if s.get('reverse_method') == 'auto' else ''))
    if s.get('cutover') == 'fast' and not (s.get('reverse_arm') == 'before_fence' and s.get('reverse_planned') == 'reverse_api'):
        return ('switchover_cutover=fast starts the applications on the destination before the reverse task runs, so it needs a reverse '
                'task created and prechecked before the fence (switchover_reverse.arm=before_fence), which only a reverse instance gives '
                "(CreateReverseDtsJob: MySQL, SQL Server, MongoDB). This unit's reverse task is %s. Use switchover_cutover=armed."
                % ('armed inside the window' if s.get('reverse_arm') != 'before_fence' else
                   'a configured migration task (%s), whose precheck runs only when it starts' % s.get('source_engine')))
    return ''
