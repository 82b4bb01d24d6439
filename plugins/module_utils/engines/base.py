# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Engine interface: what the modules need from a database, one implementation per engine.

An engine wraps one admin connection. Every statement or command it runs is logged with
:meth:`Engine.record` (secrets masked); in check mode the ones that would change the server are
logged and not run, so every module can return the exact statements it ran (or would run).

Fence records are plain dicts (JSON-safe) so that the role can persist them and a fresh process
can undo a fence after a crash::

    {
      "engine": "mysql", "scope": "instance" | "accounts", "server": "127.0.0.1:3306",
      "flavour": "mariadb", "version": "10.11.6",
      "accounts": [ the accounts named by the request, scope "accounts" only ],
      "changes": [ {"kind": "...", "target": "...", "before": ..., "after": ...}, ... ],
      "ended_sessions": [ <session dict>, ... ],
      "extra": { engine-specific data needed to undo, e.g. a keeper process } ,
      "check_mode": true   (only in check mode: nothing was changed, the record says what would be)
    }

``changes`` lists what the fence found and set, in the order applied; ``before`` is the value
found, ``after`` the value set (equal when the server was fenced already). Undo walks the list
backwards and restores ``before`` where the server still shows ``after``, so undoing twice, or
undoing a fence that found the server already fenced, changes nothing.

The machinery around the changes is the same for every engine and lives here: the record
(:meth:`Engine.new_record`), the checks of a request and of a record (:meth:`Engine.check_scope`,
:meth:`Engine.check_record`), making planned changes all or nothing (:meth:`Engine.apply_changes`,
:meth:`Engine.undo_on_failure`, :meth:`Engine.rollback`) and the undo
(:meth:`Engine.unfence_changes`). An engine supplies what is its own through small hooks:
``_restore(change)``, ``_current(changes)``, ``_change_error(exc, change)``.
"""

from __future__ import annotations

import abc
import contextlib
import json
import re

SCOPES = ('instance', 'accounts')

# Session classes returned by classify_sessions().
OWN, EXCLUDED, WRITING, ACTIVE, IDLE = 'own', 'excluded', 'writing', 'active', 'idle'


class EngineError(Exception):
    """A failure the user can act on; the message says what to fix. Never contains a secret.

    Raised by :meth:`Engine.end_sessions` after some sessions were ended, it carries their ids in
    ``ended`` so that the caller can report them.
    """

    ended = ()


class MissingDriver(EngineError):
    """The engine's Python driver is not installed. ``package`` is the pip package to install."""

    def __init__(self, package, reason=None):
        super(MissingDriver, self).__init__('the Python package %s is required' % package)
        self.package = package
        self.reason = reason


class NotSupported(EngineError):
    """The server lacks a feature the request needs; the message names the alternative."""


class FenceError(EngineError):
    """A fence could not be applied completely. What was applied has been undone
    (``rolled_back``) unless ``rollback_failed`` lists what could not be restored.
    Raised by an undo too: ``rolled_back`` are the changes it restored, ``rollback_failed`` the
    ones it could not."""

    def __init__(self, message, rolled_back=None, rollback_failed=None):
        super(FenceError, self).__init__(message)
        self.rolled_back = rolled_back or []
        self.rollback_failed = rollback_failed or []


class PartlyApplied(Exception):
    """Raised by the ``run`` of :meth:`Engine.apply_changes` when a change failed half way and the
    server holds part of it (a setting written but not reloaded): the rollback undoes it too."""

    def __init__(self, cause):
        super(PartlyApplied, self).__init__(str(cause))
        self.cause = cause


def version_numbers(version):
    """[major, minor, patch] of a version text: '10.11.6-MariaDB' -> [10, 11, 6]; missing parts are 0."""
    numbers = [int(part) for part in re.findall(r'\d+', str(version or ''))[:3]]
    return numbers + [0] * (3 - len(numbers))


def encode_document(document):
    """A document (a JSON-safe dict) as the JSON text the engines store."""
    return json.dumps(document, sort_keys=True, separators=(',', ':'), default=str)


def decode_document(text, where):
    """The dict stored as JSON ``text``; EngineError naming ``where`` when it is not one."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EngineError('%s does not hold a JSON document: %s' % (where, exc))
    if not isinstance(document, dict):
        raise EngineError('%s does not hold a JSON object' % where)
    return document


def document_placeholder(text):
    """How a stored document shows in the statements: its size, not its content."""
    return '<document: %d bytes>' % len(text.encode('utf-8'))


def make_session(id, user=None, client=None, database=None, state=None, command=None,
                 writing=False, idle=False, own=False, age=None, **extra):
    """A normalised session. ``writing``: it has an open write transaction or runs a write now.
    ``idle``: connected, doing nothing and holding no transaction. ``own``: our admin connection."""
    session = {
        'id': id,
        'user': user,
        'client': client,
        'database': database,
        'state': state,
        'command': command,
        'writing': bool(writing),
        'idle': bool(idle),
        'own': bool(own),
        'age': age,
    }
    session.update(extra)
    return session


def client_host(client):
    """'10.0.0.5:51234' -> '10.0.0.5'; '[::1]:5432' -> '::1'; None -> ''."""
    if not client:
        return ''
    client = str(client)
    if client.startswith('['):
        return client[1:client.find(']')] if ']' in client else client
    if client.count(':') == 1:
        return client.rsplit(':', 1)[0]
    return client


def _client_excluded(client, clients):
    return bool(clients) and (client in clients or client_host(client) in clients)


def classify_sessions(sessions, exclude_users=(), exclude_clients=()):
    """Split normalised sessions into own / excluded / writing / active / idle.

    A session is excluded when its user is in ``exclude_users`` (the migration account, e.g. DTS)
    or its client host or host:port is in ``exclude_clients``. Returns a dict of lists and adds a
    ``class`` key to each session. Linear in the number of sessions.
    """
    users = set(u for u in exclude_users or () if u)
    clients = set(c for c in exclude_clients or () if c)
    groups = {OWN: [], EXCLUDED: [], WRITING: [], ACTIVE: [], IDLE: []}
    for session in sessions:
        if session.get('own'):
            kind = OWN
        elif session.get('user') in users or _client_excluded(session.get('client'), clients):
            kind = EXCLUDED
        elif session.get('writing'):
            kind = WRITING
        elif session.get('idle'):
            kind = IDLE
        else:
            kind = ACTIVE
        session['class'] = kind
        groups[kind].append(session)
    return groups


class Engine(abc.ABC):
    """One admin connection to one database server. Subclasses implement the abstract methods.

    ``params`` holds the connection options of the ``dtsops.switchover.db`` doc fragment
    (``login_host``, ``login_port``, ``login_user``, ``login_password``, ``login_db``,
    ``ssl_mode``, ``ca_cert``, ``client_cert``, ``client_key``, ``connect_timeout``).
    """

    name = None             # engine option value, e.g. 'mysql'
    display_name = None     # for messages, e.g. 'SQL Server'
    driver_package = None   # pip package for missing_required_lib(), e.g. 'PyMySQL'
    default_port = None
    default_user = None     # login_user when none is given, e.g. 'root'
    change_kinds = ()       # the ``kind`` values of this engine's fence changes
    principal = 'account'   # what scope accounts fences, in messages: account, role, user, login
    principals = 'application accounts'     # the same in the plural, with a hint at the format

    def __init__(self, params, check_mode=False):
        self.params = dict(params)
        if not self.params.get('login_port'):
            self.params['login_port'] = self.default_port
        if not self.params.get('login_user') and self.default_user:
            self.params['login_user'] = self.default_user
        self.check_mode = check_mode
        self.statements = []
        self.conn = None
        self._reads = set()

    # -- connection ---------------------------------------------------------------------------
    @property
    def address(self):
        return '%s:%s' % (self.params.get('login_host'), self.params.get('login_port'))

    @abc.abstractmethod
    def connect(self):
        """Open the admin connection. Raises MissingDriver or EngineError (unreachable host,
        wrong password, TLS problem), with a message that names the server."""

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection must not hide the real error
                pass
            self.conn = None

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @abc.abstractmethod
    def server_info(self):
        """{'engine', 'flavour', 'version', 'version_info': [major, minor, patch], ...}."""

    # -- identity (unit_check) ------------------------------------------------------------------
    def server_identity(self):
        """What tells this server from any other, read from the server itself (not from the
        connection options, which may reach one server by several names), as made by
        :meth:`identity`. Engines override it."""
        raise NotSupported('the %s engine cannot read the identity of its server' % self.name)

    def identity(self, server, read_from, database=None):
        """An identity: ``server`` names the server (two connections to one server give the same
        text), ``read_from`` says where it comes from, ``database`` the database this connection
        uses (None where the engine has no such notion)."""
        return {'engine': self.name, 'flavour': self.server_info().get('flavour'), 'server': str(server),
                'read_from': read_from, 'database': None if database is None else str(database), 'address': self.address}

    def not_this_engine(self):
        """The error for a server that accepted the connection but did not answer in this engine's
        protocol (another engine's port): said within connect_timeout, not after a read timeout."""
        what = self.display_name if self.display_name.endswith('Server') else '%s server' % self.display_name
        return EngineError('%s did not answer as %s %s within %s s (connect_timeout): check engine and login_port'
                           % (self.address, 'an' if what[0] in 'AEIOU' else 'a', what, self.params.get('connect_timeout') or 10))

    # -- statements ---------------------------------------------------------------------------
    def record(self, statement):
        """Log a statement or command (already rendered, secrets masked) for the module result."""
        self.statements.append(statement)

    def log(self, rendered, write=False):
        """Record a statement about to run: a change always, a read once however often it runs
        (polls). Returns whether to run it: a change does not run in check mode."""
        if write:
            self.record(rendered)
            return not self.check_mode
        if rendered not in self._reads:
            self._reads.add(rendered)
            self.record(rendered)
        return True

    def scrub(self, text):
        """``text`` with login_password replaced by ********: driver messages may quote it."""
        password = self.params.get('login_password')
        text = '' if text is None else str(text)
        return text.replace(str(password), '********') if password else text

    # -- sessions -----------------------------------------------------------------------------
    @abc.abstractmethod
    def sessions(self):
        """All client sessions, normalised with make_session(); our own connection has own=True."""

    def end_sessions(self, sessions):
        """End the given sessions (kill / terminate), never our own; check mode only records.
        Returns the ids that were ended (or would be). A failure raises EngineError with the ids
        ended before it in ``ended``."""
        ended = []
        for session in sessions:
            if session.get('own'):
                continue
            try:
                if self._end_session(session):
                    ended.append(session['id'])
            except EngineError as exc:
                exc.ended = list(ended)
                raise
        if ended and not self.check_mode:
            self._wait_gone(ended)
        return ended

    def _end_session(self, session):
        """End one session; False when it was gone already (or is our own connection). Engines
        that use the end_sessions loop above define it."""
        raise NotSupported('the %s engine cannot end session %s' % (self.name, session.get('id')))

    def _wait_gone(self, ids):
        """Wait, bounded, until ended sessions are gone, where the server only flags them."""

    # -- fencing ------------------------------------------------------------------------------
    @abc.abstractmethod
    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        """Block writes (scope 'instance' or 'accounts') and return the fence record.

        All or nothing: if a change fails, the changes already made are undone and FenceError is
        raised. In check mode nothing changes and the record describes what would change.
        ``exclude_users``: sessions of these users are never ended (the migration account).
        ``options``: engine-specific knobs (e.g. Redis keeper lease), documented per module.
        """

    @abc.abstractmethod
    def unfence(self, record):
        """Undo exactly the changes of a fence record. Returns the list of changes restored
        (empty when there was nothing to restore)."""

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record whose undo sets the unfenced values, whatever they were before: the unlock of
        an operator whose real record is lost (db_write_lock ``force``). Engines override it."""
        raise NotSupported('the %s engine cannot unlock without the fence record; pass the record' % self.name)

    @abc.abstractmethod
    def fence_state(self, scope, accounts=()):
        """The current values the fence would change, as a dict (for diff and idempotence)."""

    # -- the fence machinery the engines share ------------------------------------------------
    def new_record(self, scope, accounts=(), changes=(), ended=(), extra=None):
        """A fence record (the format above) of this server."""
        info = self.server_info()
        record = {
            'engine': self.name,
            'scope': scope,
            'server': self.address,
            'flavour': info['flavour'],
            'version': info['version'],
            'accounts': list(accounts or ()) if scope == 'accounts' else [],
            'changes': list(changes),
            'ended_sessions': list(ended),
            'extra': dict(extra or {}, **self._record_extra()),
        }
        if self.check_mode:
            record['check_mode'] = True
        return record

    def check_scope(self, scope, accounts=(), exclude_users=(), fencing=False):
        """Validate a request; returns the accounts as a list (empty for scope instance).

        ``fencing``: the request fences, so it must not fence login_user (it would lock out the
        connection that lifts the fence) nor an account of ``exclude_users``."""
        if scope not in SCOPES:
            raise EngineError("scope must be 'instance' or 'accounts', not %r" % (scope,))
        if scope == 'instance':
            return []
        accounts = list(accounts or ())
        if not accounts:
            raise EngineError('scope accounts needs the list of %s to fence' % self.principals)
        for account in accounts:
            principal = self._principal(account)
            if not fencing:
                continue
            if self._is_login_user(account, principal):
                raise EngineError('%s %s is login_user: fencing it would lock out the connection that lifts the fence; '
                                  'connect with another admin %s' % (self.principal, account, self.principal))
            if self._is_excluded(account, principal, exclude_users or ()):
                raise EngineError('%s %s is both fenced (accounts) and excluded (exclude_users).' % (self.principal, account))
        return accounts

    def check_options(self, options, known=()):
        """The engine-specific options that are set; EngineError naming one this engine does not take."""
        options = dict((key, value) for key, value in (options or {}).items() if value is not None)
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ' (it takes %s)' % ', '.join(known) if known else ''
            raise EngineError('option %s does not apply to %s%s.' % (', '.join(unknown), self.display_name, takes))
        return options

    def check_record(self, record):
        """The changes of ``record``; EngineError when it is not a fence record of this engine."""
        if not isinstance(record, dict):
            raise EngineError('not a %s fence record: expected the dict that the fence returned, got %r' % (self.name, record))
        missing = [key for key in ('engine', 'scope', 'changes') if key not in record]
        if missing:
            raise EngineError('not a fence record of the %s engine: it has no %s' % (self.name, ', '.join(missing)))
        if record['engine'] != self.name:
            raise EngineError('not a %s fence record: it is a record of the %s engine' % (self.name, record['engine']))
        if record['scope'] not in SCOPES:
            raise EngineError('not a %s fence record: its scope %r is neither instance nor accounts' % (self.name, record['scope']))
        changes = record['changes']
        if not isinstance(changes, list) or not all(isinstance(c, dict) and {'kind', 'target', 'before', 'after'} <= set(c)
                                                    for c in changes):
            raise EngineError('the %s fence record has no valid changes list (kind, target, before, after).' % self.name)
        unknown = [change for change in changes if change['kind'] not in self.change_kinds]
        if unknown:
            raise EngineError('unknown change kind %r in the %s fence record (known: %s).'
                              % (unknown[0]['kind'], self.name, ', '.join(self.change_kinds)))
        return changes

    def apply_changes(self, plan, run):
        """Make the planned changes in order with ``run(change)``; a change whose ``before`` equals
        its ``after`` is kept (the record shows the server was fenced already) but not made. All or
        nothing: when one fails, the ones made are undone, newest first, and FenceError raised.
        In check mode ``run`` records its statements without running them. Returns the changes."""
        applied = []
        for change in plan:
            if change['before'] == change['after']:
                continue
            try:
                run(change)
            except PartlyApplied as exc:
                self.rollback(applied + [change], self._change_error(exc.cause, change))
            except Exception as exc:  # whatever stopped it, nothing may stay half fenced
                self.rollback(applied, self._change_error(exc, change))
            applied.append(change)
        return list(plan)

    @contextlib.contextmanager
    def undo_on_failure(self, changes):
        """Around the steps that follow the changes of a fence (listing and ending sessions): a
        failure undoes ``changes`` and raises FenceError, naming the sessions already ended."""
        try:
            yield
        except FenceError:
            raise
        except Exception as exc:  # whatever stopped it, nothing may stay half fenced
            error = self._change_error(exc)
            if getattr(exc, 'ended', None):
                error = EngineError('%s (sessions already ended: %s)' % (error, ', '.join(str(i) for i in exc.ended)))
            self.rollback(changes, error)

    def end_fence_sessions(self, changes, victims):
        """End the sessions ``victims()`` lists after the fence made ``changes``; a failure of
        either undoes the changes (FenceError). Returns the sessions ended."""
        with self.undo_on_failure(changes):
            victims = victims()
            ended = set(self.end_sessions(victims))
        return [session for session in victims if session['id'] in ended]

    def rollback(self, changes, error):
        """Undo ``changes`` newest first after ``error`` stopped a fence, and raise FenceError with
        the error, what was undone and, loudly, what could not be."""
        rolled_back, failed, errors = self._restore_each([c for c in reversed(changes) if c['before'] != c['after']])
        message = str(error)
        undone = [self._undo_statement(change) for change in rolled_back]
        if undone and all(undone):
            message += '; undone: %s' % ', '.join(undone)
        if failed:
            message += '; COULD NOT UNDO (restore by hand): %s' % '; '.join(errors)
        raise FenceError(message, rolled_back=rolled_back, rollback_failed=failed)

    def unfence_changes(self, changes):
        """Undo fence ``changes`` newest first, each only while the server still shows its fenced
        value: a later change by someone else wins, and undoing twice changes nothing. Every change
        is tried; FenceError lists those that could not be restored. Returns the changes restored."""
        effective = [change for change in changes if change['before'] != change['after']]
        if not effective:
            return []
        current = self._current(effective)
        restored, failed, errors = self._restore_each(
            [change for change in reversed(effective) if self._still_fenced(change, current)], current)
        if failed:
            raise FenceError('could not restore %d change(s): %s' % (len(failed), '; '.join(errors)),
                             rolled_back=restored, rollback_failed=failed)
        return restored

    def _restore_each(self, changes, current=None):
        """Restore ``changes`` in the order given, going on past a failure so that as little as
        possible stays fenced. Returns (restored, failed, the failures' messages)."""
        restored, failed, errors = [], [], []
        for change in changes:
            try:
                self._restore(change, current)
            except Exception as exc:  # report every change we could not restore, keep going
                failed.append(change)
                errors.append(str(self._change_error(exc, change, undo=True)))
                continue
            restored.append(change)
        return restored, failed, errors

    # -- hooks of the fence machinery ---------------------------------------------------------
    def _record_extra(self):
        """Engine-specific data every fence record of this engine carries in ``extra``."""
        return {}

    def _principal(self, account):
        """The identity ``account`` names, as compared with login_user and exclude_users;
        EngineError when it is not a valid name."""
        return account

    def _is_login_user(self, account, principal):
        return principal == self._principal(self.params.get('login_user') or '')

    def _is_excluded(self, account, principal, exclude_users):
        return principal in set(self._principal(user) for user in exclude_users)

    def _restore(self, change, current=None):
        """Set ``change`` back to its ``before`` value. ``current``: what :meth:`_current` read.
        Every engine that fences defines it."""
        raise NotSupported('the %s engine cannot restore a change of kind %s' % (self.name, change.get('kind')))

    def _current(self, changes):
        """The values the targets of ``changes`` show now, keyed by (kind, target). Every engine
        that fences defines it."""
        raise NotSupported('the %s engine cannot read the fenced values' % self.name)

    def _still_fenced(self, change, current):
        """Whether the server still shows the fenced value of ``change``."""
        return current.get((change['kind'], change['target'])) == change['after']

    def _change_error(self, exc, change=None, undo=False):
        """The EngineError to report for ``exc``, raised while making ``change`` (``undo``: while
        restoring it; no change: while listing or ending sessions)."""
        if isinstance(exc, EngineError):
            return exc
        text = str(exc).strip()
        return EngineError('%s: %s' % (type(exc).__name__, text) if text else type(exc).__name__)

    def _undo_statement(self, change):
        """How the undo of ``change`` reads in a rollback message; None leaves the undone changes
        to FenceError.rolled_back."""
        return None

    # -- catch-up proof -----------------------------------------------------------------------
    @abc.abstractmethod
    def ensure_token_object(self, name, create=False):
        """Check that the token object exists (a table, a collection; nothing for Redis).
        With ``create`` create it when missing. Returns True when it was created."""

    @abc.abstractmethod
    def write_token(self, name, token):
        """Write ``token`` into the token object through this admin connection, also while the
        server is fenced. Returns a description of where it was written."""

    @abc.abstractmethod
    def read_token(self, name, token):
        """True when ``token`` is visible in the token object on this server."""

    # -- documents (the journal kept in a database) ---------------------------------------------
    # The object ``name`` is a table (schema.table) for the SQL engines, a key prefix for Redis, a
    # collection (database.collection) for MongoDB. A document is a JSON-safe dict stored as JSON
    # text under ``key``; the statements show its size, not its content. Writes go through this
    # admin connection also while the server is fenced, as the catch-up token does.
    def ensure_document_object(self, name, create=False):
        """Check that the document object exists; with ``create`` create it when missing.
        Returns True when it was created."""
        raise NotSupported('the %s engine cannot store documents' % self.name)

    def save_document(self, name, key, document):
        """Insert or replace the document under ``key``. Returns where it was written."""
        raise NotSupported('the %s engine cannot store documents' % self.name)

    def load_document(self, name, key):
        """The document stored under ``key``, or None."""
        raise NotSupported('the %s engine cannot store documents' % self.name)

    def delete_document(self, name, key):
        """Remove the document under ``key`` (nothing to do when there is none)."""
        raise NotSupported('the %s engine cannot store documents' % self.name)
