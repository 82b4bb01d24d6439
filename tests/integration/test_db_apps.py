"""What the db_* module tests need from real servers, per engine: how an application writes, which
error the server returns when a fence stops it, what the fence state looks like on the server
(read with plain SQL/commands, not through our engines), and a writer thread that keeps writing
during and after a fence. The tests at the end check these helpers against the real servers, so
the module tests built on them can trust what they see.
"""

import json
import secrets
import threading

import pymysql
import psycopg2
import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry
from psycopg2 import sql

import harness
from polling import wait_for

KINDS = ('mariadb', 'postgresql', 'redis')

# The server's own errors once a fence holds (code, as the driver reports it).
MARIADB_READ_ONLY = 1290          # ER_OPTION_PREVENTS_STATEMENT: running with --read-only
MARIADB_ACCOUNT_LOCKED = 4151     # ER_ACCOUNT_HAS_BEEN_LOCKED
MARIADB_CONNECTION_GONE = (2006, 2013)  # client side: our connection was killed
PG_READ_ONLY = '25006'            # read_only_sql_transaction
PG_CANNOT_LOGIN = '28000'         # invalid_authorization_specification: role is not permitted to log in
PG_CONNECTION_GONE = ('57P01', None)  # admin_shutdown (terminated) or a closed connection


def play(tasks, **kwargs):
    """Run ``tasks`` as one local play through the real ansible-playbook."""
    return harness.run_playbook([{'name': 'db modules', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def task(name, module, args, **extra):
    entry = {'name': name, 'dtsops.switchover.%s' % module: args}
    entry.update(extra)
    return entry


def error_code(kind, exc):
    """The server's (or driver's) error code of a failed application operation."""
    if kind == 'mariadb':
        return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if kind == 'postgresql':
        return getattr(exc, 'pgcode', None)
    return type(exc).__name__  # redis-py maps the server's error prefix (NOPERM, ...) to a class


class App(object):
    """Engine-specific operations of one application account (an AppAccount of fixtures_db)."""

    def __init__(self, kind, account):
        self.kind = kind
        self.account = account
        self.server = account.server
        self.cleanups = []

    @property
    def user(self):
        return self.account.user

    @property
    def password(self):
        return self.account.password

    def connect(self, **kwargs):
        if self.kind != 'redis':
            return self.account.connect(**kwargs)
        kwargs.setdefault('socket_timeout', 5)
        conn = self.account.connect(**kwargs)
        conn.dtsops_client_id = int(conn.execute_command('CLIENT', 'ID'))
        return conn

    def session_id(self, conn):
        if self.kind == 'mariadb':
            return conn.thread_id()
        if self.kind == 'postgresql':
            return conn.get_backend_pid()
        return conn.dtsops_client_id

    def write(self, conn, value):
        if self.kind == 'redis':
            conn.set('%s%s' % (self.account.prefix, value), value)
            return
        with conn.cursor() as cursor:
            cursor.execute('INSERT INTO %s (v) VALUES (%%s)' % self.account.table, (str(value),))

    def begin_write(self, conn, value):
        """Leave a write transaction open on ``conn`` (Redis: a MULTI with a queued write)."""
        if self.kind == 'mariadb':
            conn.begin()
            self.write(conn, value)
        elif self.kind == 'postgresql':
            conn.autocommit = False
            self.write(conn, value)
        else:
            conn.execute_command('MULTI')
            conn.execute_command('SET', '%s%s' % (self.account.prefix, value), value)

    def commit(self, conn):
        if self.kind == 'redis':
            conn.execute_command('EXEC')
        else:
            conn.commit()

    def count(self):
        """Rows (keys) the account has written, read as the admin."""
        if self.kind == 'mariadb':
            return self.server.execute('SELECT COUNT(*) FROM %s' % self.account.qualified_table)[0][0]
        if self.kind == 'postgresql':
            return self.server.execute('SELECT COUNT(*) FROM items', database=self.account.database)[0][0]
        client = self.server.connect()
        try:
            return len(list(client.scan_iter(match=self.account.prefix + '*')))
        finally:
            client.close()

    def alive(self, conn):
        """Whether the server still serves this connection (after a kill it does not)."""
        try:
            if self.kind == 'mariadb':
                conn.ping(reconnect=False)
            elif self.kind == 'postgresql':
                with conn.cursor() as cursor:
                    cursor.execute('SELECT 1')
            else:
                # redis-py reconnects by itself, and a client in MULTI only queues commands: ask the server
                # whether this client (its id) is still connected.
                return self.listed(conn.dtsops_client_id)
            return True
        except Exception:  # any driver error means the connection is gone
            return False

    def listed(self, session_id):
        """Whether the server still lists the session, read as the admin."""
        if self.kind == 'mariadb':
            return bool(self.server.execute('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s', (session_id,)))
        if self.kind == 'postgresql':
            return bool(self.server.execute('SELECT 1 FROM pg_stat_activity WHERE pid = %s', (session_id,)))
        return any(line.startswith('id=%d ' % session_id) for line in self.server.command('CLIENT', 'LIST').splitlines())

    def grant_to(self, other):
        """Let ``other`` (the migration account) read and write this account's table or keys."""
        if self.kind == 'mariadb':
            self.server.execute('GRANT ALL ON `%s`.* TO %%s@%%s' % self.account.database, (other.user, '%'))
        elif self.kind == 'postgresql':
            self.server.execute(sql.SQL('GRANT CONNECT ON DATABASE {} TO {}').format(
                sql.Identifier(self.account.database), sql.Identifier(other.user)))
            for statement in ('GRANT ALL ON items TO {}', 'GRANT ALL ON SEQUENCE items_id_seq TO {}'):
                self.server.execute(sql.SQL(statement).format(sql.Identifier(other.user)), database=self.account.database)
            # A role with privileges in another database cannot be dropped: take them back first.
            self.cleanups.append(lambda: self.server.execute(sql.SQL('REVOKE ALL ON items, items_id_seq FROM {}').format(
                sql.Identifier(other.user)), database=self.account.database))
            self.cleanups.append(lambda: self.server.execute(sql.SQL('REVOKE ALL ON DATABASE {} FROM {}').format(
                sql.Identifier(self.account.database), sql.Identifier(other.user))))
        else:
            self.server.command('ACL', 'SETUSER', other.user, '~%s*' % self.account.prefix)

    def connect_to_my_data(self, other):
        """A connection of ``other`` to this account's data (database / keys)."""
        if self.kind == 'mariadb':
            return self.server.connect(user=other.user, password=other.password, database=self.account.database)
        if self.kind == 'postgresql':
            return self.server.connect(user=other.user, password=other.password, database=self.account.database)
        return other.connect(socket_timeout=5)

    def read(self, conn):
        if self.kind == 'redis':
            return len(conn.keys(self.account.prefix + '*'))
        with conn.cursor() as cursor:
            cursor.execute('SELECT COUNT(*) FROM %s' % self.account.table)
            return cursor.fetchone()[0]

    # -- fence state as the server shows it --------------------------------------------------
    def account_state(self):
        """Everything the server keeps about the account's ability to connect and write."""
        if self.kind == 'mariadb':
            rows = self.server.execute('SELECT Host, Priv FROM mysql.global_priv WHERE User = %s ORDER BY Host', (self.user,))
            # MariaDB writes account_locked=false on ACCOUNT UNLOCK where the key was absent: the same state.
            return [(host, dict({'account_locked': False}, **json.loads(priv))) for host, priv in rows]
        if self.kind == 'postgresql':
            return self.server.execute('SELECT rolcanlogin, rolconfig, rolvaliduntil, rolconnlimit FROM pg_roles '
                                       'WHERE rolname = %s', (self.user,))
        return self.server.command('ACL', 'GETUSER', self.user)


def instance_state(kind, server):
    """The server-wide values an instance fence changes, read directly."""
    if kind == 'mariadb':
        return server.execute("SELECT @@GLOBAL.read_only")[0][0]
    if kind == 'postgresql':
        return (server.execute('SHOW default_transaction_read_only')[0][0],
                server.execute("SELECT setting FROM pg_file_settings WHERE name = 'default_transaction_read_only' "
                               "AND sourcefile LIKE '%%postgresql.auto.conf'"))
    return [line for line in server.command('CLIENT', 'LIST').splitlines() if 'dtsops-switchover-keeper' in line]


class Writer(threading.Thread):
    """Writes as an application account in a loop, reconnecting after each error, and records every
    attempt with the phase the test says it is in ('before', 'during', 'after' a fence)."""

    def __init__(self, app, timeout=1.0):
        super(Writer, self).__init__(daemon=True)
        self.app = app
        self.timeout = timeout
        self.phase = 'before'
        self.attempts = []
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def _connect(self):
        if self.app.kind == 'redis':
            # No retries: a write the pause holds back must show as one timeout, not several.
            return self.app.connect(socket_timeout=self.timeout, socket_connect_timeout=self.timeout, retry_on_timeout=False,
                                    retry=Retry(NoBackoff(), 0))
        if self.app.kind == 'mariadb':
            return self.app.connect(read_timeout=self.timeout, write_timeout=self.timeout)
        return self.app.connect(options='-c statement_timeout=%d' % int(self.timeout * 1000))

    def run(self):
        conn, sequence = None, 0
        while not self._halt.is_set():
            phase = self.phase
            sequence += 1
            try:
                if conn is None:
                    conn = self._connect()
                self.app.write(conn, 'w%d-%s' % (sequence, secrets.token_hex(2)))
                outcome = (phase, True, None, None)
            except Exception as exc:  # every failure is recorded; the test judges it
                outcome = (phase, False, error_code(self.app.kind, exc), str(exc).strip().splitlines()[0] if str(exc).strip() else '')
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # a dead connection may fail to close
                    pass
                conn = None
            with self._lock:
                self.attempts.append(outcome)
            self._halt.wait(0.02)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a dead connection may fail to close
                pass

    def seen(self, phase, ok=None):
        with self._lock:
            return [a for a in self.attempts if a[0] == phase and (ok is None or a[1] == ok)]

    def stop(self):
        self._halt.set()
        self.join(30)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def apps(kind, request):
    """A factory of App for the engine of ``kind``."""
    factory = request.getfixturevalue('%s_apps' % kind)
    made = []

    def make(count=1):
        made.extend(App(kind, account) for account in factory.make(count))
        return made[-count:]
    yield make
    for app in made:
        for cleanup in app.cleanups:
            cleanup()


# -- the helpers against the real servers ----------------------------------------------------------

def test_writer_and_helpers_see_the_server(apps):
    app, other = apps(2)
    conn = app.connect()
    session = app.session_id(conn)
    assert app.alive(conn) and app.listed(session)
    app.write(conn, 'x1')
    assert app.count() == 1
    app.grant_to(other)
    mine = app.connect_to_my_data(other)
    assert app.read(mine) == 1
    writer = Writer(app)
    writer.start()
    try:
        wait_for(lambda: len(writer.seen('before', ok=True)) >= 3, 'three writes')
    finally:
        writer.stop()
    assert not writer.seen('before', ok=False)
    conn.close()
    mine.close()
    wait_for(lambda: not app.listed(session), 'the closed session to leave the list')


def test_error_codes_are_the_servers(kind, apps):
    """The codes the module tests expect are what these servers really return."""
    app = apps()[0]
    if kind == 'mariadb':
        app.server.execute('ALTER USER %s@%s ACCOUNT LOCK', (app.user, '%'))
        with pytest.raises(pymysql.err.OperationalError) as caught:
            app.connect()
        assert error_code(kind, caught.value) == MARIADB_ACCOUNT_LOCKED
    elif kind == 'postgresql':
        app.server.execute(sql.SQL('ALTER ROLE {} NOLOGIN').format(sql.Identifier(app.user)))
        with pytest.raises(psycopg2.OperationalError, match='is not permitted to log in'):
            app.connect()
    else:
        app.server.command('ACL', 'SETUSER', app.user, '-@write')
        conn = app.connect()
        with pytest.raises(redis_py.exceptions.NoPermissionError) as caught:
            app.write(conn, 'x')
        assert error_code(kind, caught.value) == 'NoPermissionError'
        conn.close()
