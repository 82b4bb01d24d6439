# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write fences as the db_write_lock module sees them: fence records (engines/base.py), the
engine-specific options, whether a record changed anything, and the messages for failures."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import SCOPES

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
