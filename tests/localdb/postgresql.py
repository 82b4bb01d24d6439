"""A throwaway PostgreSQL server: initdb into a temporary directory, then postgres on 127.0.0.1.

initdb and postgres refuse to run as root, so as root both run as the ``postgres`` user (the
directory is handed to it); as any other user they run as that user."""

import glob
import os
import pwd
import secrets
import signal

import psycopg2
from psycopg2 import sql

from localdb.server import LocalServer, LocalServerError


def _bindir():
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/postgres'), key=lambda p: int(p.split('/')[4]))
    if not candidates:
        raise LocalServerError('no PostgreSQL server binaries under /usr/lib/postgresql: install postgresql')
    return os.path.dirname(candidates[-1])


class PostgreSQLServer(LocalServer):
    """``wal_level``: e.g. ``logical`` for a DTS source. Password (SCRAM) authentication over TCP."""

    engine = 'postgresql'
    display_name = 'PostgreSQL'
    # Fast shutdown: SIGTERM would wait for every client to disconnect.
    stop_signal = signal.SIGINT

    def __init__(self, extra_config=(), max_connections=None, tls=False, wal_level=None):
        super(PostgreSQLServer, self).__init__(extra_config=extra_config, max_connections=max_connections, tls=tls)
        self.wal_level = wal_level
        self.password = secrets.token_urlsafe(12)
        self.bindir = _bindir()

    @property
    def params(self):
        return {'engine': 'postgresql', 'login_host': '127.0.0.1', 'login_port': self.port, 'login_user': 'postgres',
                'login_password': self.password, 'login_db': 'postgres'}

    def _run_as(self):
        if os.geteuid() != 0:
            return None
        entry = pwd.getpwnam('postgres')
        return entry.pw_uid, entry.pw_gid

    def _prepare(self):
        pwfile = self.path('pwfile')
        with open(pwfile, 'w') as stream:
            stream.write(self.password)
        owner = self._run_as()
        if owner:
            os.chown(pwfile, *owner)
        self.run_tool([os.path.join(self.bindir, 'initdb'), '-D', self.path('data'), '-U', 'postgres', '--pwfile', pwfile,
                       '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions',
                       '-E', 'UTF8', '--locale=C.UTF-8'], 'initdb')
        os.unlink(pwfile)

    def _config(self):
        lines = [
            "listen_addresses = '127.0.0.1'",
            'port = %d' % self.port,
            "unix_socket_directories = '%s'" % self.basedir,
            'fsync = off',
            'synchronous_commit = off',
            'full_page_writes = off',
            'shared_buffers = 32MB',
            'max_connections = %d' % (self.max_connections or 100),
        ]
        if self.wal_level:
            lines += ["wal_level = '%s'" % self.wal_level, 'max_wal_senders = 10', 'max_replication_slots = 10']
        if self.tls_files:
            lines += ['ssl = on', "ssl_cert_file = '%s'" % self.tls_files['server_cert'],
                      "ssl_key_file = '%s'" % self.tls_files['server_key'], "ssl_ca_file = '%s'" % self.tls_files['ca']]
        lines += list(self.extra_config)
        return '\n'.join(lines) + '\n'

    def _command(self):
        # Our settings go last in postgresql.conf so they win over initdb's defaults; a restart on
        # another port rewrites them.
        conf = self.path('data', 'postgresql.conf')
        with open(conf) as stream:
            base = stream.read().split('# -- localdb --\n')[0]
        with open(conf, 'w') as stream:
            stream.write(base + '# -- localdb --\n' + self._config())
        return [os.path.join(self.bindir, 'postgres'), '-D', self.path('data')]

    def _ready(self):
        self.connect().close()
        return True

    # -- helpers for tests --------------------------------------------------------------------
    def connect(self, user='postgres', password=None, database='postgres', **kwargs):
        """A psycopg2 connection (autocommit) over TCP; postgres with the admin password by default."""
        if password is None and user == 'postgres':
            password = self.password
        kwargs.setdefault('connect_timeout', 5)
        kwargs.setdefault('sslmode', 'disable')
        if user == 'postgres':
            # The admin helpers must work while a test has fenced the server, and a lock left by a
            # test must end in an error, never in a hang.
            kwargs.setdefault('options', '-c default_transaction_read_only=off -c lock_timeout=60s')
        conn = psycopg2.connect(host='127.0.0.1', port=self.port, user=user, password=password, dbname=database, **kwargs)
        conn.autocommit = True
        return conn

    def execute(self, statement, args=None, database='postgres'):
        """Run one statement as postgres; returns all rows (or None for statements without rows)."""
        conn = self.connect(database=database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, args)
                return cursor.fetchall() if cursor.description else None
        finally:
            conn.close()

    def create_account(self, user, password=None, options='LOGIN'):
        """Create role ``user`` (``options`` as in CREATE ROLE); returns its connection options."""
        password = password or secrets.token_urlsafe(10)
        self.execute(sql.SQL('CREATE ROLE {} %s PASSWORD %%s' % options).format(sql.Identifier(user)), (password,))
        return self.account_params(user, password)

    def drop_account(self, user):
        """Drop role ``user`` after ending its sessions and dropping what it owns in the postgres database."""
        exists = self.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (user,))
        if not exists:
            return
        self.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s', (user,))
        self.execute(sql.SQL('DROP OWNED BY {} CASCADE').format(sql.Identifier(user)))
        self.execute(sql.SQL('DROP ROLE {}').format(sql.Identifier(user)))

    def account_params(self, user, password, database='postgres'):
        return dict(self.params, login_user=user, login_password=password, login_db=database)

    def create_database(self, name, owner=None):
        statement = sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name))
        if owner:
            statement = sql.SQL('{} OWNER {}').format(statement, sql.Identifier(owner))
        self.execute(statement)

    def drop_database(self, name):
        self.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))

    def reset_instance_state(self):
        """Undo server-wide fences a failed test may have left (default_transaction_read_only)."""
        self.execute('ALTER SYSTEM RESET default_transaction_read_only')
        self.execute('SELECT pg_reload_conf()')
