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
    }

``changes`` lists only what this call changed, in the order applied; ``before`` is the value
found, ``after`` the value set. Undo walks the list backwards and restores ``before`` where the
server still shows ``after``, so undoing twice, or undoing a fence that found the server already
fenced, changes nothing.
"""

from __future__ import annotations

import abc

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
    (``rolled_back``) unless ``rollback_failed`` lists what could not be restored."""

    def __init__(self, message, rolled_back=None, rollback_failed=None):
        super(FenceError, self).__init__(message)
        self.rolled_back = rolled_back or []
        self.rollback_failed = rollback_failed or []


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
    driver_package = None   # pip package for missing_required_lib(), e.g. 'PyMySQL'
    default_port = None

    def __init__(self, params, check_mode=False):
        self.params = dict(params)
        if not self.params.get('login_port'):
            self.params['login_port'] = self.default_port
        self.check_mode = check_mode
        self.statements = []
        self.conn = None

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

    # -- statements ---------------------------------------------------------------------------
    def record(self, statement):
        """Log a statement or command (already rendered, secrets masked) for the module result."""
        self.statements.append(statement)

    # -- sessions -----------------------------------------------------------------------------
    @abc.abstractmethod
    def sessions(self):
        """All client sessions, normalised with make_session(); our own connection has own=True."""

    @abc.abstractmethod
    def end_sessions(self, sessions):
        """End the given sessions (kill / terminate); check mode only records. Returns the ids
        that were ended (or would be)."""

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
