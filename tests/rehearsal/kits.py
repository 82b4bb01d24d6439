"""What the rehearsal needs to know about each engine: the application's schema and account on
both servers, one application write, reading the writes back, how to tell a refused write from
one whose outcome is unknown, and the role's variables.

The application writes into a ledger that has no key on what it records (writer, n, side), so a
change applied twice by replication shows up as a duplicate, and into one row per writer holding
its last number (a change applied out of order leaves a wrong value).
"""

import collections
import secrets

import psycopg2
import pymysql
import redis as redis_py

from dts_emulator.replication.local import ENGINE_NAMES

DATABASE = 'shop'
APP_USER = 'shop_app'
WRITERS = ('app1', 'app2', 'stray')
TOKEN_TABLE = 'dtsops_switchover_token'

# Outcomes of an application write.
ACK, REFUSED, FAILED, UNKNOWN = 'ack', 'refused', 'failed', 'unknown'


class Kit(object):
    """``source``, ``destination``: the admin connection options of the servers (as the role's
    switchover_source/destination take them); ``migration_user``: the DTS task's account."""

    engine = None
    display = None

    def __init__(self, source, destination, migration_user, app_password=None):
        self.admin = {'source': dict(source), 'destination': dict(destination)}
        self.migration_user = migration_user
        self.app_user = APP_USER
        self.app_password = app_password or secrets.token_urlsafe(12)

    # -- description --------------------------------------------------------------------------

    def settings(self):
        """What rebuilds this kit in another process (verify): admin options and the app's password."""
        return {'engine': self.engine, 'source': self.admin['source'], 'destination': self.admin['destination'],
                'migration_user': self.migration_user, 'app_password': self.app_password}

    @classmethod
    def from_settings(cls, settings):
        return KITS[settings['engine']](settings['source'], settings['destination'], settings['migration_user'],
                                        app_password=settings['app_password'])

    def address(self, side):
        return '127.0.0.1:%s' % self.admin[side]['login_port']

    def endpoint(self, side, password):
        """The migration task's endpoint (add_job) for ``side``."""
        spec = {'engine': ENGINE_NAMES[self.engine], 'host': '127.0.0.1', 'port': self.admin[side]['login_port'],
                'user': self.migration_user, 'password': password}
        if self.engine != 'redis':
            spec['database'] = DATABASE
        return spec

    def role_variables(self):
        """The unit's switchover_* variables that depend on the engine."""
        return {
            'switchover_source': dict(self.admin['source']),
            'switchover_destination': dict(self.admin['destination']),
            'switchover_app_accounts': [self.app_user],
            'switchover_migration_account': self.migration_user,
            'switchover_token_object': self.token_object,
        }

    token_object = None

    # -- for subclasses -----------------------------------------------------------------------

    def prepare(self):
        """Application account on both servers, schema and first rows on the source."""
        raise NotImplementedError

    def connect(self, side):
        """An application connection to ``side``."""
        raise NotImplementedError

    def write(self, connection, writer, n, side, on_commit):
        """One application transaction: a ledger entry and the writer's last number. Calls
        ``on_commit()`` right before the commit is sent (what follows is ambiguous)."""
        raise NotImplementedError

    def classify(self, error, committing):
        """(outcome, message) of a failed write: REFUSED when the server answered with an error
        (nothing was written), FAILED when the connection broke before the commit was sent,
        UNKNOWN when it broke while the commit was on its way."""
        raise NotImplementedError

    def rows(self, side):
        """Counter of ledger entries (writer, n, side) on ``side``, read as the admin."""
        raise NotImplementedError

    def last(self, side):
        """{writer: last n} on ``side``."""
        raise NotImplementedError

    @staticmethod
    def close(connection):
        try:
            connection.close()
        except Exception:  # pylint: disable=broad-except
            pass


class SQLKit(Kit):
    """What MariaDB and PostgreSQL share: DB-API admin connections and the ledger's SQL."""

    def _admin(self, side, database=None):
        """An autocommit admin connection to ``side`` (the engine's default database when None)."""
        raise NotImplementedError

    def _run(self, side, statements, database=None):
        conn = self._admin(side, database)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    # A statement alone, or (statement, arguments).
                    cursor.execute(*(statement if isinstance(statement, tuple) else (statement,)))
        finally:
            conn.close()

    def _fetch(self, side, query):
        conn = self._admin(side, DATABASE)
        try:
            with conn.cursor() as cursor:
                cursor.execute(query)
                return cursor.fetchall()
        finally:
            conn.close()

    def rows(self, side):
        entries = self._fetch(side, 'SELECT writer, n, side, COUNT(*) FROM ledger GROUP BY writer, n, side')
        return collections.Counter({(writer, n, where): count for writer, n, where, count in entries})

    def last(self, side):
        return dict(self._fetch(side, 'SELECT writer, last_n FROM writers'))


class MySQLKit(SQLKit):
    engine = 'mysql'
    display = 'MariaDB'

    @property
    def token_object(self):
        return '%s.%s' % (DATABASE, TOKEN_TABLE)

    def _admin(self, side, database=None):
        options = self.admin[side]
        return pymysql.connect(host='127.0.0.1', port=options['login_port'], user=options['login_user'],
                               password=options['login_password'], database=database, autocommit=True, connect_timeout=5)

    def prepare(self):
        for side in ('source', 'destination'):
            self._run(side, [("CREATE USER %s@'%%' IDENTIFIED BY %s", (self.app_user, self.app_password)),
                             "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO `%s`@'%%'" % (DATABASE, self.app_user)])
        # The token table is part of the migrated objects from the start (structure copy).
        self._run('source', [
            'CREATE DATABASE `%s`' % DATABASE,
            'CREATE TABLE `%s`.ledger (writer VARCHAR(16) NOT NULL, n INT NOT NULL, side VARCHAR(12) NOT NULL, '
            'written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), KEY (writer, n)) ENGINE=InnoDB' % DATABASE,
            'CREATE TABLE `%s`.writers (writer VARCHAR(16) PRIMARY KEY, last_n INT NOT NULL) ENGINE=InnoDB' % DATABASE,
            'CREATE TABLE `%s`.`%s` (token VARCHAR(128) NOT NULL PRIMARY KEY, '
            'written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB' % (DATABASE, TOKEN_TABLE),
        ] + [("INSERT INTO `%s`.writers VALUES (%%s, 0)" % DATABASE, (writer,)) for writer in WRITERS])
        for side in ('source', 'destination'):
            self.admin[side]['login_db'] = DATABASE

    def connect(self, side):
        options = self.admin[side]
        return pymysql.connect(host='127.0.0.1', port=options['login_port'], user=self.app_user, password=self.app_password,
                               database=DATABASE, autocommit=False, connect_timeout=5, read_timeout=10, write_timeout=10)

    def write(self, connection, writer, n, side, on_commit):
        with connection.cursor() as cursor:
            cursor.execute('INSERT INTO ledger (writer, n, side) VALUES (%s, %s, %s)', (writer, n, side))
            cursor.execute('UPDATE writers SET last_n = %s WHERE writer = %s', (n, writer))
        on_commit()
        connection.commit()

    def classify(self, error, committing):
        code = error.args[0] if getattr(error, 'args', None) and isinstance(error.args[0], int) else None
        message = '(%s) %s' % (code, error.args[1]) if code is not None and len(error.args) > 1 else str(error)
        # 2000-2999: client errors (no answer from the server); 1927: the session was killed under us.
        if code is None or 2000 <= code < 3000 or code == 1927:
            return (UNKNOWN if committing else FAILED), message
        return REFUSED, message


class PostgreSQLKit(SQLKit):
    engine = 'postgresql'
    display = 'PostgreSQL'

    @property
    def token_object(self):
        return 'public.%s' % TOKEN_TABLE

    def _admin(self, side, database=None):
        options = self.admin[side]
        conn = psycopg2.connect(host='127.0.0.1', port=options['login_port'], user=options['login_user'],
                                password=options['login_password'], dbname=database or 'postgres', connect_timeout=5,
                                sslmode='disable')
        conn.autocommit = True
        return conn

    def prepare(self):
        # The role and the (empty) database exist on both sides; the tables come with the task.
        for side in ('source', 'destination'):
            self._run(side, [("CREATE ROLE %s LOGIN PASSWORD %%s" % self.app_user, (self.app_password,)),
                             'CREATE DATABASE %s OWNER %s' % (DATABASE, self.app_user)])
        self._run('source', [
            'CREATE TABLE ledger (writer text NOT NULL, n integer NOT NULL, side text NOT NULL, '
            'written_at timestamptz NOT NULL DEFAULT clock_timestamp())',
            'CREATE INDEX ON ledger (writer, n)',
            'CREATE TABLE writers (writer text PRIMARY KEY, last_n integer NOT NULL)',
            'CREATE TABLE %s (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())' % TOKEN_TABLE,
            'ALTER TABLE ledger OWNER TO %s' % self.app_user,
            'ALTER TABLE writers OWNER TO %s' % self.app_user,
        ] + [('INSERT INTO writers VALUES (%s, 0)', (writer,)) for writer in WRITERS], database=DATABASE)
        for side in ('source', 'destination'):
            self.admin[side]['login_db'] = DATABASE

    def connect(self, side):
        options = self.admin[side]
        return psycopg2.connect(host='127.0.0.1', port=options['login_port'], user=self.app_user, password=self.app_password,
                                dbname=DATABASE, connect_timeout=5, sslmode='disable')

    def write(self, connection, writer, n, side, on_commit):
        with connection.cursor() as cursor:
            cursor.execute('INSERT INTO ledger (writer, n, side) VALUES (%s, %s, %s)', (writer, n, side))
            cursor.execute('UPDATE writers SET last_n = %s WHERE writer = %s', (n, writer))
        on_commit()
        connection.commit()

    def classify(self, error, committing):
        message = ' '.join(str(error).split())
        # The server's own errors carry a SQLSTATE, or (at login) a FATAL line after libpq's prefix.
        answered = getattr(error, 'pgcode', None) is not None or 'FATAL:' in message or message.startswith('ERROR:')
        if answered and not (committing and isinstance(error, psycopg2.OperationalError)):
            return REFUSED, message[message.find('FATAL:'):] if 'FATAL:' in message else message
        return (UNKNOWN if committing else FAILED), message


class RedisKit(Kit):
    engine = 'redis'
    display = 'Redis'
    prefix = DATABASE + ':'

    @property
    def token_object(self):
        return self.prefix + TOKEN_TABLE

    def _admin(self, side):
        options = self.admin[side]
        return redis_py.Redis(host='127.0.0.1', port=options['login_port'], username=options['login_user'],
                              password=options['login_password'], socket_timeout=10, decode_responses=True, protocol=2)

    def prepare(self):
        for side in ('source', 'destination'):
            client = self._admin(side)
            try:
                client.execute_command('ACL', 'SETUSER', self.app_user, 'on', '>' + self.app_password, '~%s*' % self.prefix,
                                       '+@read', '+@write', '+@transaction', '+@connection')
            finally:
                client.close()
        client = self._admin('source')
        try:
            client.hset(self.prefix + 'writers', mapping={writer: 0 for writer in WRITERS})
        finally:
            client.close()

    def connect(self, side):
        options = self.admin[side]
        client = redis_py.Redis(host='127.0.0.1', port=options['login_port'], username=self.app_user, password=self.app_password,
                                socket_timeout=10, socket_connect_timeout=5, decode_responses=True, protocol=2,
                                single_connection_client=True)
        client.ping()
        return client

    def write(self, connection, writer, n, side, on_commit):
        pipe = connection.pipeline(transaction=True)
        pipe.rpush(self.prefix + 'ledger', '%s:%d:%s' % (writer, n, side))
        pipe.hset(self.prefix + 'writers', writer, n)
        on_commit()
        pipe.execute()

    def classify(self, error, committing):
        # redis-py wraps the server's reply to a pipeline: keep the reply.
        message = str(error).split('caused error: ', 1)[-1]
        if isinstance(error, (redis_py.ResponseError, redis_py.AuthenticationError)):
            return REFUSED, message
        return (UNKNOWN if committing else FAILED), message

    def rows(self, side):
        client = self._admin(side)
        try:
            entries = client.lrange(self.prefix + 'ledger', 0, -1)
        finally:
            client.close()
        counter = collections.Counter()
        for entry in entries:
            writer, n, where = entry.split(':')
            counter[(writer, int(n), where)] += 1
        return counter

    def last(self, side):
        client = self._admin(side)
        try:
            return {writer: int(n) for writer, n in client.hgetall(self.prefix + 'writers').items()}
        finally:
            client.close()


KITS = {'mysql': MySQLKit, 'postgresql': PostgreSQLKit, 'redis': RedisKit}
