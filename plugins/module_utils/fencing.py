# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write fences as the db_write_lock module sees them: fence records (engines/base.py), the
engine-specific options, whether a record changed anything, the messages for failures, and the
module's logic (:func:`write_lock`, run by the module and in-process by the window action)."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.db import describe_exception
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import SCOPES, FenceError
from ansible_collections.dtsops.switchover.plugins.module_utils.sessions import account_user

# Module option -> the engines that understand it (passed to Engine.fence() as ``options``).
ENGINE_OPTIONS = {
    'lease': ('redis',),
    'queued_writes': ('redis',),
    'databases': ('sqlserver',),
}


def engine_options(params, engine):
    """The engine-specific options set in ``params``, as the ``options`` dict of Engine.fence().
    Raises ValueError naming an option that the engine does not understand."""
    options = {}
    for name, engines in ENGINE_OPTIONS.items():
        value = params.get(name)
        if value is None or value == []:
            continue
        if engine not in engines:
            raise ValueError('%s applies to the %s engine%s only, not to %s.' % (
                name, ', '.join(engines), '' if len(engines) == 1 else 's', engine))
        options[name] = value
    return options


def check_record(record, engine):
    """Raise ValueError when ``record`` is not a fence record of ``engine``."""
    if not isinstance(record, dict):
        raise ValueError('fence must be the fence record (a dict) returned by dtsops.switchover.db_write_lock.')
    missing = [key for key in ('engine', 'scope', 'changes') if key not in record]
    if missing:
        raise ValueError('fence is not a fence record returned by dtsops.switchover.db_write_lock: it has no %s.'
                         % ', '.join(missing))
    if record['engine'] != engine:
        raise ValueError('fence is a record of the %s engine, but engine is %s.' % (record['engine'], engine))
    if record['scope'] not in SCOPES:
        raise ValueError('fence has scope %r; a fence record has scope %s.' % (record['scope'], ' or '.join(SCOPES)))
    if not isinstance(record['changes'], list) or not all(isinstance(c, dict) for c in record['changes']):
        raise ValueError('fence.changes must be the list of changes of the fence record.')


def record_accounts(record, accounts=()):
    """The accounts a record fenced: its ``accounts`` when the engine keeps them, else the given
    ``accounts``, else the targets of its changes (account names for scope accounts)."""
    if record.get('scope') != 'accounts':
        return []
    return list(record.get('accounts') or accounts or [c.get('target') for c in record.get('changes') or () if c.get('target')])


def effective_changes(changes):
    """The changes that change something (a fence that found the server fenced has before == after)."""
    return [c for c in changes or () if c.get('before') != c.get('after')]


def record_changed(record):
    """Whether applying the fence changed the server (or would, in check mode)."""
    return bool(effective_changes(record.get('changes')) or record.get('ended_sessions'))


def describe_change(change):
    """'global_variable read_only: OFF -> ON' for messages."""
    return '%s: %s -> %s' % (_label(change), _show(change.get('before')), _show(change.get('after')))


def _show(value):
    return 'unset' if value is None else str(value)


def _label(change):
    target = change.get('target') or change.get('kind') or 'change'
    kind = change.get('kind')
    return '%s %s' % (kind, target) if kind and kind != target else str(target)


def fence_error_message(exc, doing='apply the fence'):
    """The message of a FenceError: the reason, then whether anything is left changed, loudly when
    a change could not be rolled back."""
    message = 'Could not %s: %s.' % (doing, str(exc).rstrip('.'))
    rolled_back = [c for c in exc.rolled_back if isinstance(c, dict)]
    failed = [c for c in exc.rollback_failed if isinstance(c, dict)]
    if failed:
        message += (' MANUAL ACTION NEEDED: these changes could NOT be rolled back and are still in place: %s. '
                    'Restore them by hand or run this module with state=unlocked and force=true.'
                    % '; '.join('%s (is %s, was %s)' % (_label(c), _show(c.get('after')), _show(c.get('before'))) for c in failed))
        if rolled_back:
            message += ' Rolled back: %s.' % '; '.join('%s back to %s' % (_label(c), _show(c.get('before'))) for c in rolled_back)
    elif rolled_back:
        message += ' Nothing is left changed: %s rolled back (%s).' % (
            '1 change' if len(rolled_back) == 1 else '%d changes' % len(rolled_back),
            '; '.join('%s back to %s' % (_label(c), _show(c.get('before'))) for c in rolled_back))
    else:
        message += ' Nothing was changed.'
    return message


def predicted_state(state, changes, value='after'):
    """``state`` (Engine.fence_state()) as it will be once ``changes`` are applied (``value='after'``)
    or undone (``value='before'``): for check mode diffs, where the state cannot be read back.
    Engines name fence_state keys like the change targets; a change without such a key is ignored."""
    predicted = dict(state)
    for change in changes or ():
        target = change.get('target')
        if target in predicted:
            predicted[target] = change.get(value)
    return predicted


# -- the db_write_lock module ---------------------------------------------------------------------

# The options of db_write_lock besides the connection options (module_base.db_spec adds those).
WRITE_LOCK_SPEC = dict(
    state=dict(type='str', default='locked', choices=['locked', 'unlocked']),
    scope=dict(type='str', choices=['instance', 'accounts']),
    accounts=dict(type='list', elements='str', default=[]),
    end_sessions=dict(type='bool', default=True),
    exclude_users=dict(type='list', elements='str', default=[]),
    fence=dict(type='dict'),
    force=dict(type='bool', default=False),
    lease=dict(type='int'),
    queued_writes=dict(type='str', choices=['drop', 'execute']),
    databases=dict(type='list', elements='str'),
)


def check_write_lock_options(module):
    """One clear message for each option combination that cannot work. Returns the engine options."""
    params = module.params
    locked = params['state'] == 'locked'
    if locked and (params['fence'] is not None or params['force']):
        module.fail_json(msg='fence and force are for state=unlocked; state=locked takes scope (and accounts).')
    if not locked:
        if params['fence'] is None and not params['force']:
            module.fail_json(msg='state=unlocked needs fence (the record a lock returned) or force=true with scope '
                                 '(and accounts) to restore the unfenced values without a record.')
        if params['fence'] is not None and params['force']:
            module.fail_json(msg='fence and force=true exclude each other: with a record the module restores it, '
                                 'force is for when the record is lost.')
    if params['fence'] is not None:
        try:
            check_record(params['fence'], params['engine'])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        if params['scope'] and params['scope'] != params['fence']['scope']:
            module.fail_json(msg='scope is %s but the fence record has scope %s; leave scope out to use the record.'
                                 % (params['scope'], params['fence']['scope']))
    elif not params['scope']:
        module.fail_json(msg='scope is required with state=%s%s: instance or accounts.'
                             % (params['state'], '' if locked else ' and force=true'))
    scope = params['scope'] or params['fence']['scope']
    if params['fence'] is None:
        if scope == 'accounts' and not params['accounts']:
            module.fail_json(msg='scope=accounts needs accounts: the application accounts to fence.')
        if scope == 'instance' and params['accounts']:
            # Often set once for a whole play (module_defaults, a role variable): not an error.
            module.warn('accounts is not used with scope=instance, which fences the whole server.')
            params['accounts'] = []
    excluded = set(params['exclude_users'])
    clash = [a for a in params['accounts'] if a in excluded or account_user(a) in excluded]
    if clash:
        module.fail_json(msg='accounts %s are also in exclude_users: the migration account must not be fenced. '
                             'Remove them from one of the two lists.' % ', '.join(clash))
    try:
        return engine_options(params, params['engine'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def write_lock(module):
    """db_write_lock: apply (state=locked) or lift (state=unlocked) a fence. Returns the result."""
    options = check_write_lock_options(module)
    params = module.params

    engine = module.connect_engine()
    # The fence state before and after, only when a diff is asked for.
    diff = {} if module._diff else None

    def read_state(side, scope, accounts):
        """A diff must never stop a lock or an unlock: a state that cannot be read is a warning."""
        nonlocal diff
        if diff is not None:
            try:
                diff[side] = engine.fence_state(scope, accounts)
            except Exception as exc:
                module.warn('No diff: cannot read the %s state of the fence: %s' % (side, describe_exception(exc)))
                diff = None

    doing = 'reading the fence state'
    try:
        if params['state'] == 'locked':
            scope, accounts = params['scope'], params['accounts']
            read_state('before', scope, accounts)
            doing = 'applying the fence'
            record = engine.fence(scope, accounts, end_sessions=params['end_sessions'],
                                  exclude_users=params['exclude_users'], options=options)
            changed = record_changed(record)
            result = dict(changed=changed, fence=record, ended_sessions=record.get('ended_sessions') or [])
            changes, side = record.get('changes'), 'after'
        else:
            if params['force']:
                if not callable(getattr(engine, 'unfenced_record', None)):
                    module.fail_json(msg='force=true is not available for the %s engine: unlock with the fence record.' % params['engine'])
                doing = 'reading the values to restore'
                record = engine.unfenced_record(params['scope'], params['accounts'], options=options)
            else:
                record = params['fence']
                if options.get('queued_writes'):
                    # At the unlock the caller knows best: an aborted switchover lets the held-back writes run.
                    record = dict(record, extra=dict(record.get('extra') or {}, queued_writes=options['queued_writes']))
            scope, accounts = record['scope'], record_accounts(record, params['accounts'])
            read_state('before', scope, accounts)
            doing = 'lifting the fence'
            restored = engine.unfence(record) or []
            changed = bool(effective_changes(restored))
            result = dict(changed=changed, fence=record, restored=restored, ended_sessions=[])
            changes, side = restored, 'before'
        if diff is not None:
            doing = 'reading the fence state'
            if module.check_mode:
                # Nothing changed: predict the state from the record.
                diff['after'] = predicted_state(diff['before'], changes, side)
            elif changed:
                read_state('after', scope, accounts)
            else:
                diff['after'] = diff['before']
    except Exception as exc:
        hint = ('Unlocking again with the same record is safe: it restores only what still shows the fenced value.'
                if doing == 'lifting the fence' else None)
        fence_doing = 'apply the fence' if params['state'] == 'locked' else 'lift the fence'
        module.fail_from(exc, engine=engine, doing=fence_doing if isinstance(exc, FenceError) else doing, hint=hint)
    finally:
        engine.close()

    result['statements'] = list(engine.statements)
    if diff:
        server = '%s %s' % (params['engine'], engine.address)
        result['diff'] = dict(diff, before_header=server + ' before', after_header=server + ' after')
    return result
