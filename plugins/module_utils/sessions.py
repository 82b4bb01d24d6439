# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quiescing a database: list its sessions, classify them, end the sessions of named accounts,
and tell when no session that matters is left (one probe of a waiting.Waiter); and the logic of
db_sessions_quiesced (:func:`sessions_quiesced`, also run in-process by the window action)."""

from __future__ import annotations

import re

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    ACTIVE,
    EXCLUDED,
    IDLE,
    OWN,
    WRITING,
    classify_sessions,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitTimeout, Waiter

CLASSES = (OWN, EXCLUDED, WRITING, ACTIVE, IDLE)
# wait_for -> the session classes that keep the database from being quiet.
BLOCKING = {
    'writes': (WRITING,),
    'sessions': (WRITING, ACTIVE, IDLE),
}
GOALS = {
    'writes': 'no session writing',
    'sessions': 'no session left',
}
MAX_COMMAND = 1024
MAX_NAMED = 10

_QUOTED = r"""('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|\$\$.*?\$\$)"""
# Statements of other sessions are shown to the user: hide the literals that are passwords.
_SECRETS = [
    re.compile(r'(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)' + _QUOTED, re.I | re.S),
    re.compile(r'(\bPASSWORD\s*(?:=\s*|\(\s*)?)' + _QUOTED, re.I | re.S),
    re.compile(r'''(["']?\bpwd["']?\s*[:=]\s*)''' + _QUOTED, re.I | re.S),
    re.compile(r'(\bWITH\s+(?:ENCRYPTED\s+)?PASSWORD\s+)' + _QUOTED, re.I | re.S),
]
_REDIS_AUTH = re.compile(r'^(\s*(?:AUTH|HELLO\s+\S+\s+AUTH)\s+).*$', re.I | re.S)


def mask_secrets(text):
    """Replace password literals in a statement by '********' (best effort, for display)."""
    if not text or not isinstance(text, str):
        return text
    for pattern in _SECRETS:
        text = pattern.sub(lambda match: match.group(1) + "'********'", text)
    return _REDIS_AUTH.sub(lambda match: match.group(1) + '********', text)


def session_view(session):
    """A session as returned to the user: its fields, its class, the statement masked and cut."""
    view = dict(session)
    command = mask_secrets(view.get('command'))
    if isinstance(command, str) and len(command) > MAX_COMMAND:
        command = command[:MAX_COMMAND] + '...'
    view['command'] = command
    return view


def describe_session(session):
    """'12 (app from 10.0.0.5:5555, db shop: UPDATE t SET ...)' for messages."""
    details = []
    if session.get('user'):
        details.append(str(session['user']) + (' from %s' % session['client'] if session.get('client') else ''))
    elif session.get('client'):
        details.append('from %s' % session['client'])
    if session.get('database') not in (None, ''):
        details.append('db %s' % session['database'])
    command = session_view(session).get('command') or session.get('state')
    if command:
        command = ' '.join(str(command).split())
        details.append(command if len(command) <= 80 else command[:77] + '...')
    return '%s (%s)' % (session.get('id'), ', '.join(details)) if details else str(session.get('id'))


def describe_sessions(sessions, limit=MAX_NAMED):
    named = '; '.join(describe_session(s) for s in sessions[:limit])
    if len(sessions) > limit:
        named += '; and %d more' % (len(sessions) - limit)
    return named


def account_user(account):
    """The user name an account entry matches in a session list: MySQL's 'app'@'10.%' -> app."""
    name = account.strip()
    if '@' in name:
        name = name.rsplit('@', 1)[0]
    return name.strip('`\'"')


class Quiesce(object):
    """The probe of a quiesce wait. Each call lists the sessions, ends the sessions of the accounts
    in ``end_accounts`` (never our own, never excluded ones), and is ready when no session of a
    class that ``wait_for`` forbids is left."""

    def __init__(self, engine, wait_for='writes', exclude_users=(), exclude_clients=(), end_accounts=()):
        self.engine = engine
        self.wait_for = wait_for
        self.blocking_classes = BLOCKING[wait_for]
        self.exclude_users = list(exclude_users or ())
        self.exclude_clients = list(exclude_clients or ())
        self.end_accounts = list(end_accounts or ())
        self._end_users = set(account_user(a) for a in self.end_accounts) | set(self.end_accounts)
        self.groups = dict((kind, []) for kind in CLASSES)
        self.ended = []
        self._ended_keys = set()
        self.doing = 'reading the server version'

    def look(self):
        self.doing = 'listing sessions'
        self.groups = classify_sessions(self.engine.sessions(), self.exclude_users, self.exclude_clients)
        return self.groups

    def blocking(self, groups=None):
        groups = self.groups if groups is None else groups
        return [s for kind in self.blocking_classes for s in groups[kind]]

    def counts(self, groups=None):
        groups = self.groups if groups is None else groups
        return dict((kind, len(groups[kind])) for kind in CLASSES)

    @staticmethod
    def _key(session):
        return (str(session.get('id')), session.get('client'))

    def to_end(self, groups):
        """Sessions of the named accounts not ended yet. Own and excluded sessions are never
        candidates: classify_sessions put them in their own classes."""
        if not self._end_users:
            return []
        return [s for kind in (WRITING, ACTIVE, IDLE) for s in groups[kind]
                if s.get('user') in self._end_users and self._key(s) not in self._ended_keys]

    def end(self, sessions):
        self.doing = 'ending sessions'
        try:
            ended_ids = self.engine.end_sessions(sessions) or ()
        except Exception as exc:
            # Engines say which sessions they ended before the failure: report those too.
            self._ended(sessions, getattr(exc, 'ended', None) or ())
            raise
        self._ended(sessions, ended_ids)

    def _ended(self, sessions, ended_ids):
        ended_ids = set(str(i) for i in ended_ids)
        for session in sessions:
            if str(session.get('id')) in ended_ids:
                self._ended_keys.add(self._key(session))
                self.ended.append(session)

    def probe(self):
        groups = self.look()
        targets = self.to_end(groups)
        if targets:
            self.end(targets)
            if not self.engine.check_mode:
                # Ending is usually immediate: look again so a single poll can finish the wait.
                groups = self.look()
        values = self.counts(groups)
        values['ended'] = len(self.ended)
        return Observation(not self.blocking(groups), values=values)

    def sessions(self):
        """Every session of the last listing, as shown to the user, in class order."""
        return [session_view(s) for kind in CLASSES for s in self.groups[kind]]

    def ended_sessions(self):
        return [session_view(s) for s in self.ended]

    def timeout_message(self, timeout):
        blocking = self.blocking()
        what = 'writing' if self.wait_for == 'writes' else 'left'
        return ('Timed out after %s seconds waiting for %s: %d session%s still %s: %s. End them with kill=true and '
                'accounts, fence the writers first with dtsops.switchover.db_write_lock, or raise timeout.'
                % (_seconds(timeout), GOALS[self.wait_for], len(blocking), '' if len(blocking) == 1 else 's', what,
                   describe_sessions(blocking)))


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')


# -- the db_sessions_quiesced module --------------------------------------------------------------

# The options of db_sessions_quiesced besides the connection options (module_base.db_spec adds those).
SESSIONS_QUIESCED_SPEC = dict(
    wait_for=dict(type='str', default='writes', choices=['writes', 'sessions']),
    exclude_users=dict(type='list', elements='str', default=[]),
    exclude_clients=dict(type='list', elements='str', default=[]),
    kill=dict(type='bool', default=False),
    accounts=dict(type='list', elements='str', default=[]),
    timeout=dict(type='float', default=60),
    poll_interval=dict(type='float', default=1),
    stable_for=dict(type='float', default=0),
)


def check_quiesce_options(module):
    """timeout and poll_interval are checked by the module base; the rest here."""
    params = module.params
    if params['stable_for'] < 0:
        module.fail_json(msg='stable_for must be 0 or more seconds, got %g.' % params['stable_for'])
    if params['kill'] and not params['accounts']:
        module.fail_json(msg='kill=true needs accounts: the application accounts whose sessions may be ended.')
    if params['accounts'] and not params['kill']:
        module.fail_json(msg='accounts only says whose sessions kill=true ends; set kill=true or leave accounts out.')
    excluded = set(params['exclude_users'])
    clash = [a for a in params['accounts'] if a in excluded or account_user(a) in excluded]
    if clash:
        module.fail_json(msg='accounts %s are also in exclude_users: excluded sessions are never ended. '
                             'Remove them from one of the two lists.' % ', '.join(clash))


def sessions_quiesced(module):
    """db_sessions_quiesced: wait until no session that matters is left. Returns the result."""
    check_quiesce_options(module)
    params = module.params

    engine = module.connect_engine()
    try:
        quiesce = Quiesce(engine, wait_for=params['wait_for'], exclude_users=params['exclude_users'],
                          exclude_clients=params['exclude_clients'], end_accounts=params['accounts'] if params['kill'] else ())
        server = {}

        def result(outcome=None):
            return dict(
                changed=bool(quiesce.ended),
                quiet=not quiesce.blocking(),
                sessions=quiesce.sessions(),
                counts=quiesce.counts(),
                ended_sessions=quiesce.ended_sessions(),
                statements=list(engine.statements),
                server=server,
                waited=round(outcome.elapsed, 3) if outcome else 0.0,
                polls=outcome.polls if outcome else 0,
                samples=outcome.samples if outcome else [],
            )

        try:
            server = engine.server_info()
            if module.check_mode:
                waiter = Waiter(0, poll_interval=params['poll_interval'])
            else:
                # A quiesce is watched closely: no backoff, so a writer that stops is seen within one interval.
                waiter = Waiter(params['timeout'], poll_interval=params['poll_interval'], stable_for=params['stable_for'],
                                max_interval=params['poll_interval'])
            outcome = waiter.wait(quiesce.probe)
        except WaitTimeout as exc:
            if not module.check_mode:
                module.fail_json(msg=quiesce.timeout_message(params['timeout']), **result(exc.result))
            outcome = exc.result
        except Exception as exc:
            module.fail_from(exc, engine=engine, doing=quiesce.doing, **result())
        return result(outcome)
    finally:
        engine.close()
