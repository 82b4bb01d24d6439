"""db_caught_up through ansible-playbook, between two real servers of one engine joined by the
engine's own replication (MariaDB binlog replication, PostgreSQL logical replication, Redis
REPLICAOF): the token written on the primary must arrive on the replica, as with DTS. Between
MariaDB and PostgreSQL (a heterogeneous migration) the test itself copies the rows, the way DTS
would.
"""

import secrets
import threading

import pytest
from psycopg2 import sql

from localdb import MariaDBServer, PostgreSQLServer, RedisServer, free_port
from polling import wait_for
from test_db_apps import play, task

TOKEN_DB = 'tokens'
PG_TABLE = 'public.dtsops_token'
PG_DDL = 'CREATE TABLE dtsops_token (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())'


class Pair(object):
    """A primary and a replica of one engine, with replication running from the first to the second."""

    def __init__(self, kind):
        self.kind = kind
        self.primary = self.replica = None
        self.token_object = {'mariadb': '%s.dtsops_token' % TOKEN_DB, 'postgresql': PG_TABLE, 'redis': 'dtsops:token'}[kind]

    def start(self):
        if self.kind == 'mariadb':
            self.primary = MariaDBServer(log_bin=True).start()
            self.replica = MariaDBServer().start()
            password = secrets.token_urlsafe(10)
            self.primary.execute("CREATE USER 'repl'@'%%' IDENTIFIED BY %s", (password,))
            self.primary.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'")
            log_file, position = self.primary.execute('SHOW MASTER STATUS')[0][:2]
            self.replica.execute("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = 'repl', "
                                 "MASTER_PASSWORD = %s, MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s",
                                 (self.primary.port, password, log_file, position))
            self.replica.execute('START SLAVE')
            self.primary.execute('CREATE DATABASE %s' % TOKEN_DB)
            wait_for(lambda: self.replica.execute("SHOW DATABASES LIKE %s", (TOKEN_DB,)), 'the replica to create the database')
        elif self.kind == 'postgresql':
            self.primary = PostgreSQLServer(wal_level='logical').start()
            # The launcher restarts a re-enabled subscription's worker after this interval (default 5 s).
            self.replica = PostgreSQLServer(extra_config=["wal_retrieve_retry_interval = '200ms'"]).start()
            for server in (self.primary, self.replica):
                server.execute(PG_DDL)
            self.primary.execute('CREATE PUBLICATION dtsops_token FOR TABLE dtsops_token')
            self.replica.execute("CREATE SUBSCRIPTION dtsops_token CONNECTION 'host=127.0.0.1 port=%d user=postgres password=%s "
                                 "dbname=postgres' PUBLICATION dtsops_token" % (self.primary.port, self.primary.password))
            wait_for(lambda: self.replica.execute("SELECT 1 FROM pg_stat_subscription WHERE subname = 'dtsops_token' AND "
                                                  "pid IS NOT NULL"), 'the subscription to start')
        else:
            self.primary = RedisServer().start()
            self.replica = RedisServer().start()
            self.replica.command('CONFIG', 'SET', 'masterauth', self.primary.password)
            # A full sync waits 5 s by default for more replicas to join: there is only one.
            self.primary.command('CONFIG', 'SET', 'repl-diskless-sync-delay', '0')
            self.resume()
        return self

    def stop(self):
        for server in (self.replica, self.primary):
            if server is not None:
                server.stop()

    def pause(self):
        """Stop applying the primary's changes (the replica falls behind)."""
        if self.kind == 'mariadb':
            self.replica.execute('STOP SLAVE SQL_THREAD')
        elif self.kind == 'postgresql':
            self.replica.execute('ALTER SUBSCRIPTION dtsops_token DISABLE')
        else:
            self.replica.command('REPLICAOF', 'NO', 'ONE')

    def resume(self):
        if self.kind == 'mariadb':
            self.replica.execute('START SLAVE SQL_THREAD')
        elif self.kind == 'postgresql':
            self.replica.execute('ALTER SUBSCRIPTION dtsops_token ENABLE')
        else:
            self.replica.command('REPLICAOF', '127.0.0.1', str(self.primary.port))
            wait_for(lambda: self.replica.command('INFO', 'replication')['master_link_status'] == 'up', 'the replica link')

    def tokens(self, server):
        """The tokens a server holds, read directly."""
        if self.kind == 'mariadb':
            if not server.execute("SHOW TABLES IN %s LIKE 'dtsops_token'" % TOKEN_DB):
                return set()
            return set(row[0] for row in server.execute('SELECT token FROM %s' % self.token_object))
        if self.kind == 'postgresql':
            return set(row[0] for row in server.execute('SELECT token FROM %s' % PG_TABLE))
        client = server.connect()
        try:
            return set(key.split(':', 2)[2] for key in client.scan_iter(match=self.token_object + ':*'))
        finally:
            client.close()

    def args(self, **extra):
        args = dict(source=self.primary.params, destination=self.replica.params, token_object=self.token_object,
                    create=self.kind == 'mariadb', timeout=60, poll_interval=0.2)
        args.update(extra)
        return args


@pytest.fixture(scope='module', params=['mariadb', 'postgresql', 'redis'])
def pair(request):
    servers = Pair(request.param)
    try:
        yield servers.start()
    finally:
        servers.stop()


def test_token_arrives_through_real_replication(pair):  # pylint: disable=redefined-outer-name
    run = play([task('prove', 'db_caught_up', pair.args(), register='proof')])
    assert run.rc == 0, run
    result = run.task('prove')
    assert result['changed'] is True and result['written'] is True
    token = result['token']
    assert token in pair.tokens(pair.primary) and token in pair.tokens(pair.replica)
    assert result['latency'] >= 0 and result['polls'] >= 1 and result['samples'][-1]['ready'] is True
    assert result['seen_time'] >= result['write_time']
    assert str(pair.primary.port) in result['source_object']
    assert result['destination_object'] == pair.token_object
    # MariaDB: the module created the table on the primary; replication created it on the replica.
    assert result['created'] is (pair.kind == 'mariadb' and not getattr(pair, 'created', False))
    pair.created = True


def test_not_caught_up_fails_clearly_then_the_same_token_arrives(pair):  # pylint: disable=redefined-outer-name
    token = 'lagging-%s' % secrets.token_hex(4)
    pair.pause()
    try:
        run = play([task('prove', 'db_caught_up', pair.args(token=token, timeout=1), ignore_errors=True)])
        result = run.task('prove')
        assert run.status('prove') == 'failed'
        assert result['msg'].startswith('The token %s, written at ' % token)
        assert ('did not appear in %s on the destination %s 127.0.0.1:%d within 1 seconds'
                % (pair.token_object, pair.primary.params['engine'], pair.replica.port)) in result['msg']
        assert result['written'] is True and token in pair.tokens(pair.primary) and token not in pair.tokens(pair.replica)
    finally:
        pair.resume()
    run = play([task('prove again', 'db_caught_up', pair.args(token=token))])
    assert run.rc == 0, run
    assert token in pair.tokens(pair.replica)


def test_check_mode_writes_nothing(pair):  # pylint: disable=redefined-outer-name
    before = pair.tokens(pair.primary)
    run = play([task('would prove', 'db_caught_up', pair.args(token='never-written'), check_mode=True)])
    assert run.rc == 0, run
    result = run.task('would prove')
    assert result['changed'] is True and result['written'] is False and result['polls'] == 0
    assert any('never-written' in s for s in result['statements'])
    assert pair.tokens(pair.primary) == before


def test_token_is_written_while_the_source_is_fenced(pair):  # pylint: disable=redefined-outer-name
    run = play([
        task('fence the primary', 'db_write_lock', dict(pair.primary.params, scope='instance'), register='fence'),
        task('prove', 'db_caught_up', pair.args()),
        task('lift the fence', 'db_write_lock', dict(pair.primary.params, state='unlocked', fence='{{ fence.fence }}')),
    ])
    assert run.rc == 0, run
    assert run.task('prove')['token'] in pair.tokens(pair.replica)
    assert run.task('lift the fence')['changed'] is True


def test_missing_token_object_and_unreachable_destination(pair):  # pylint: disable=redefined-outer-name
    before = pair.tokens(pair.primary)
    tasks = [
        task('unreachable destination', 'db_caught_up',
             pair.args(destination=dict(pair.replica.params, login_port=free_port(), connect_timeout=3))),
    ]
    if pair.kind != 'redis':
        missing = 'nowhere.dtsops_token' if pair.kind == 'mariadb' else 'public.nowhere'
        tasks.append(task('missing table', 'db_caught_up', pair.args(token_object=missing, create=False)))
    for entry in tasks:
        entry['ignore_errors'] = True
    run = play(tasks)
    assert run.task('unreachable destination')['msg'].startswith('Cannot connect to the destination %s at 127.0.0.1:'
                                                                 % pair.primary.params['engine'])
    if pair.kind != 'redis':
        message = run.task('missing table')['msg']
        assert message.startswith('Error while checking the token object %s on the %s server at 127.0.0.1:%d: '
                                  % (missing, pair.primary.params['engine'], pair.primary.port)), message
        assert 'does not exist' in message
    assert pair.tokens(pair.primary) == before


class Copier(threading.Thread):
    """Copies the token rows from a MariaDB table to a PostgreSQL table, as DTS would."""

    def __init__(self, source, source_table, destination, destination_database):
        super(Copier, self).__init__(daemon=True)
        self.args = (source, source_table, destination, destination_database)
        self.copied = 0
        self._halt = threading.Event()

    def run(self):
        source, source_table, destination, database = self.args
        while not self._halt.wait(0.1):
            if not source.execute("SHOW TABLES IN %s LIKE 'dtsops_token'" % source_table.split('.')[0]):
                continue
            for (token,) in source.execute('SELECT token FROM %s' % source_table):
                destination.execute('INSERT INTO dtsops_token (token) VALUES (%s) ON CONFLICT DO NOTHING', (token,),
                                    database=database)
                self.copied += 1

    def stop(self):
        self._halt.set()
        self.join(30)


def test_heterogeneous_mariadb_to_postgresql(mariadb, postgresql):
    name = 'het_%s' % secrets.token_hex(4)
    mariadb.create_database(name)
    postgresql.create_database(name)
    try:
        postgresql.execute(PG_DDL, database=name)
        copier = Copier(mariadb, '%s.dtsops_token' % name, postgresql, name)
        copier.start()
        try:
            run = play([task('prove', 'db_caught_up', dict(
                source=mariadb.params, destination=dict(postgresql.params, login_db=name), token_object='%s.dtsops_token' % name,
                destination_token_object=PG_TABLE, create=True, timeout=60, poll_interval=0.2))])
        finally:
            copier.stop()
        assert run.rc == 0, run
        result = run.task('prove')
        assert result['created'] is True and result['destination_object'] == PG_TABLE
        assert postgresql.execute(sql.SQL('SELECT token FROM dtsops_token'), database=name) == [(result['token'],)]
    finally:
        mariadb.drop_database(name)
        postgresql.drop_database(name)
