"""MySQL (not MariaDB) code paths of the mysql engine, which no real server here can exercise:
super_read_only, mysql.user.account_locked, the token write that lifts super_read_only.

``pymysql.connect`` is patched to return a connection to :class:`MySQLModel`, a small model of a
MySQL 8 server: it understands exactly the statements the engine sends (anything else fails the
test), keeps read_only/super_read_only and account locks with MySQL's semantics, raises PyMySQL's
own exception classes with MySQL's error numbers and texts, and logs every statement.
"""

import json
import re

import pymysql
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import mysql
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, FenceError, MissingDriver
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import MySQLEngine

PARAMS = {'login_host': 'db.example', 'login_port': 3306, 'login_user': 'admin', 'login_password': 'Adm1n-Secret'}
SESSIONS = re.compile(r'^SELECT p\.ID, .* FROM information_schema\.PROCESSLIST p LEFT JOIN information_schema\.INNODB_TRX t')


class MySQLModel(object):
    """State of one MySQL server and the statements it received."""

    def __init__(self, version='8.0.36', comment='MySQL Community Server - GPL', super_read_only=True):
        self.version = version
        self.comment = comment
        self.has_super_read_only = super_read_only
        self.globals = {'read_only': 0, 'super_read_only': 0}
        self.users = {('app', '%'): 'N', ('app', '10.%'): 'N', ('report', '%'): 'Y'}
        self.tables = {'shop.dtsops_switchover_token': []}
        self.documents = {}
        self.processlist = []
        self.log = []
        self.refuse = {}   # statement -> (errno, message)

    def connect(self, **kwargs):
        self.connect_kwargs = kwargs
        return FakeConnection(self)

    def _set_global(self, name, value):
        self.globals[name] = value
        # MySQL couples the two: super_read_only=ON implies read_only=ON, read_only=OFF implies super_read_only=OFF.
        if name == 'super_read_only' and value:
            self.globals['read_only'] = 1
        if name == 'read_only' and not value:
            self.globals['super_read_only'] = 0

    def handle(self, statement):
        self.log.append(statement)
        if statement in self.refuse:
            raise pymysql.err.OperationalError(*self.refuse[statement])
        if statement == 'SELECT VERSION(), @@version_comment':
            return [(self.version, self.comment)]
        if statement == "SHOW GLOBAL VARIABLES LIKE 'super_read_only'":
            return [('super_read_only', 'OFF')] if self.has_super_read_only else []
        match = re.match(r'^SELECT (@@GLOBAL\.\w+(?:, @@GLOBAL\.\w+)*)$', statement)
        if match:
            return [tuple(self.globals[name.split('.')[1]] for name in match.group(1).split(', '))]
        if re.match(r'^SET SESSION lock_wait_timeout = \d+$', statement):
            return []
        match = re.match(r'^SET GLOBAL (read_only|super_read_only) = (ON|OFF)$', statement)
        if match:
            self._set_global(match.group(1), 1 if match.group(2) == 'ON' else 0)
            return []
        match = re.match(r"^SELECT User, Host, account_locked FROM mysql\.user WHERE User IN \((.*)\)$", statement)
        if match:
            wanted = re.findall(r"'([^']*)'", match.group(1))
            return [(user, host, locked) for (user, host), locked in sorted(self.users.items()) if user in wanted]
        match = re.match(r"^SELECT account_locked FROM mysql\.user WHERE User = '(.*)' AND Host = '(.*)'$", statement)
        if match:
            locked = self.users.get((match.group(1), match.group(2)))
            return [(locked,)] if locked else []
        match = re.match(r"^ALTER USER '(.*)'@'(.*)' ACCOUNT (LOCK|UNLOCK)$", statement)
        if match:
            key = (match.group(1), match.group(2))
            if key not in self.users:
                raise pymysql.err.OperationalError(1396, "Operation ALTER USER failed for '%s'@'%s'" % key)
            self.users[key] = 'Y' if match.group(3) == 'LOCK' else 'N'
            return []
        if SESSIONS.match(statement):
            return list(self.processlist)
        match = re.match(r'^SELECT ID FROM information_schema\.PROCESSLIST WHERE ID IN \(([\d, ]+)\)$', statement)
        if match:
            wanted = [int(i) for i in match.group(1).split(', ')]
            return [(row[0],) for row in self.processlist if row[0] in wanted]
        match = re.match(r'^KILL CONNECTION (\d+)$', statement)
        if match:
            before = len(self.processlist)
            self.processlist = [row for row in self.processlist if row[0] != int(match.group(1))]
            if len(self.processlist) == before:
                raise pymysql.err.OperationalError(1094, 'Unknown thread id: %s' % match.group(1))
            return []
        match = re.match(r"^SELECT 1 FROM information_schema\.TABLES WHERE TABLE_SCHEMA = '(.*)' AND TABLE_NAME = '(.*)'$", statement)
        if match:
            return [(1,)] if '%s.%s' % match.groups() in self.tables else []
        match = re.match(r"^INSERT INTO `(\w+)`\.`(\w+)` \(token\) VALUES \('(.*)'\)$", statement)
        if match:
            if self.globals['super_read_only']:
                raise pymysql.err.OperationalError(
                    1290, 'The MySQL server is running with the --super-read-only option so it cannot execute this statement')
            table = '%s.%s' % match.group(1, 2)
            if table not in self.tables:
                raise pymysql.err.ProgrammingError(1146, "Table '%s' doesn't exist" % table)
            self.tables[table].append(match.group(3))
            return []
        match = re.match(r"^INSERT INTO `(\w+)`\.`(\w+)` \(doc_key, document\) VALUES \('(.*)', '(.*)'\) "
                         r"ON DUPLICATE KEY UPDATE document = VALUES\(document\)$", statement, re.S)
        if match:
            if self.globals['super_read_only']:
                raise pymysql.err.OperationalError(
                    1290, 'The MySQL server is running with the --super-read-only option so it cannot execute this statement')
            self.documents[match.group(3)] = match.group(4).replace("\\'", "'")
            return []
        raise AssertionError('the MySQL model does not expect: %s' % statement)


class FakeCursor(object):
    def __init__(self, model):
        self.model = model
        self.description = None
        self.rows = []

    def execute(self, statement, args=None):
        rendered = MySQLEngine.render(statement, args)
        self.rows = self.model.handle(rendered)
        self.description = [('c',)] if self.rows or rendered.startswith(('SELECT', 'SHOW')) else None

    def fetchall(self):
        return tuple(self.rows)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeConnection(object):
    THREAD_ID = 7

    def __init__(self, model):
        self.model = model

    def cursor(self):
        return FakeCursor(self.model)

    def thread_id(self):
        return self.THREAD_ID

    def connect(self):
        # pymysql.connect(defer_connect=True) returns the connection unconnected.
        self.server_version = self.model.version

    def close(self):
        pass


@pytest.fixture
def server(monkeypatch):
    model = MySQLModel()
    monkeypatch.setattr(mysql.pymysql, 'connect', model.connect)
    return model


def engine(check_mode=False):
    return MySQLEngine(PARAMS, check_mode=check_mode).connect()


def changes(record):
    return [(c['target'], c['before'], c['after']) for c in record['changes']]


def writes(model):
    return [s for s in model.log if s.startswith(('SET GLOBAL', 'ALTER USER', 'KILL', 'INSERT'))]


@pytest.mark.parametrize('version, comment, flavour, account_lock', [
    ('8.0.36', 'MySQL Community Server - GPL', 'mysql', True),
    ('5.7.44-log', 'MySQL Community Server (GPL)', 'mysql', True),
    ('5.7.5-m15', 'MySQL Community Server (GPL)', 'mysql', False),
    ('8.0.35-27', 'Percona Server (GPL), Release 27, Revision 2f8eeab2', 'mysql', True),
    ('10.11.6-MariaDB-0+deb12u1', 'Debian 12', 'mariadb', True),
    ('10.3.39-MariaDB', 'mariadb.org binary distribution', 'mariadb', False),
    ('10.6.16', 'MariaDB Server', 'mariadb', True),
])
def test_flavour_and_features_come_from_the_server(monkeypatch, version, comment, flavour, account_lock):
    model = MySQLModel(version=version, comment=comment, super_read_only=flavour == 'mysql')
    monkeypatch.setattr(mysql.pymysql, 'connect', model.connect)
    info = engine().server_info()
    assert info['flavour'] == flavour
    assert info['account_lock'] is account_lock
    assert info['super_read_only'] is (flavour == 'mysql')
    assert info['version_info'][:2] == [int(part) for part in version.split('.')[:2]]


def test_instance_fence_sets_read_only_then_super_read_only_and_undo_reverses(server):
    record = engine().fence('instance')

    assert changes(record) == [('read_only', 'OFF', 'ON'), ('super_read_only', 'OFF', 'ON')]
    assert writes(server) == ['SET GLOBAL read_only = ON', 'SET GLOBAL super_read_only = ON']
    assert server.globals == {'read_only': 1, 'super_read_only': 1}

    del server.log[:]
    restored = engine().unfence(json.loads(json.dumps(record)))
    assert [c['target'] for c in restored] == ['super_read_only', 'read_only']
    assert writes(server) == ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']
    assert server.globals == {'read_only': 0, 'super_read_only': 0}
    assert engine().unfence(record) == []


def test_instance_fence_on_a_read_only_server_adds_only_super_read_only(server):
    server.globals['read_only'] = 1
    record = engine().fence('instance')
    assert changes(record) == [('read_only', 'ON', 'ON'), ('super_read_only', 'OFF', 'ON')]
    engine().unfence(record)
    assert server.globals == {'read_only': 1, 'super_read_only': 0}  # left as it was found


def test_a_refused_super_read_only_undoes_read_only(server):
    server.refuse['SET GLOBAL super_read_only = ON'] = (
        1227, 'Access denied; you need (at least one of) the SUPER or SYSTEM_VARIABLES_ADMIN privilege(s) for this operation')
    with pytest.raises(FenceError, match='missing privilege SUPER or SYSTEM_VARIABLES_ADMIN') as excinfo:
        engine().fence('instance')
    assert [c['target'] for c in excinfo.value.rolled_back] == ['read_only']
    assert 'undone: SET GLOBAL read_only = OFF' in str(excinfo.value)
    assert server.globals == {'read_only': 0, 'super_read_only': 0}


def test_a_failed_rollback_is_reported_loudly(server):
    server.refuse['SET GLOBAL super_read_only = ON'] = (1227, 'Access denied; you need (at least one of) the SUPER privilege(s)')
    server.refuse['SET GLOBAL read_only = OFF'] = (2013, 'Lost connection to MySQL server during query')
    with pytest.raises(FenceError, match='COULD NOT UNDO .*SET GLOBAL read_only = OFF') as excinfo:
        engine().fence('instance')
    assert [c['target'] for c in excinfo.value.rollback_failed] == ['read_only']


def test_unfence_tries_every_change_and_lists_the_ones_it_could_not_restore(server):
    record = engine().fence('accounts', ['app'], end_sessions=False)
    assert changes(record) == [("'app'@'%'", 'unlocked', 'locked'), ("'app'@'10.%'", 'unlocked', 'locked')]
    server.refuse["ALTER USER 'app'@'10.%' ACCOUNT UNLOCK"] = (
        1227, 'Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation')
    with pytest.raises(FenceError) as excinfo:
        engine().unfence(record)
    assert str(excinfo.value).startswith("could not restore 1 change(s): missing privilege CREATE USER for login_user "
                                         "(ALTER USER 'app'@'10.%' ACCOUNT UNLOCK refused")
    assert [c['target'] for c in excinfo.value.rollback_failed] == ["'app'@'10.%'"]
    assert [c['target'] for c in excinfo.value.rolled_back] == ["'app'@'%'"]
    assert server.users[('app', '%')] == 'N' and server.users[('app', '10.%')] == 'Y'
    del server.refuse["ALTER USER 'app'@'10.%' ACCOUNT UNLOCK"]
    assert [c['target'] for c in engine().unfence(record)] == ["'app'@'10.%'"]


def test_document_save_lifts_super_read_only_only_around_the_write(server):
    engine().fence('instance')
    del server.log[:]
    engine().save_document('ops.journal', 'orders', {'outcome': 'running'})
    assert writes(server) == ['SET GLOBAL super_read_only = OFF',
                              "INSERT INTO `ops`.`journal` (doc_key, document) VALUES ('orders', '{\\\"outcome\\\":\\\"running\\\"}') "
                              'ON DUPLICATE KEY UPDATE document = VALUES(document)',
                              'SET GLOBAL super_read_only = ON']
    assert server.globals == {'read_only': 1, 'super_read_only': 1}


def test_check_mode_runs_no_change(server):
    dry = engine(check_mode=True)
    record = dry.fence('instance')
    assert record['check_mode'] is True
    assert changes(record) == [('read_only', 'OFF', 'ON'), ('super_read_only', 'OFF', 'ON')]
    assert 'SET GLOBAL super_read_only = ON' in dry.statements
    assert writes(server) == []
    assert server.globals == {'read_only': 0, 'super_read_only': 0}


def test_token_write_lifts_super_read_only_only_around_the_insert(server):
    engine().fence('instance')
    del server.log[:]
    where = engine().write_token('shop.dtsops_switchover_token', 'tok-1')
    assert where == 'shop.dtsops_switchover_token on db.example:3306'
    assert writes(server) == ['SET GLOBAL super_read_only = OFF', "INSERT INTO `shop`.`dtsops_switchover_token` (token) VALUES ('tok-1')",
                              'SET GLOBAL super_read_only = ON']
    assert server.tables['shop.dtsops_switchover_token'] == ['tok-1']
    assert server.globals == {'read_only': 1, 'super_read_only': 1}


def test_token_write_restores_super_read_only_when_the_insert_fails(server):
    engine().fence('instance')
    with pytest.raises(EngineError, match='token table `shop`.`missing` does not exist'):
        engine().write_token('shop.missing', 'tok-1')
    assert server.log[-1] == 'SET GLOBAL super_read_only = ON'
    assert server.globals == {'read_only': 1, 'super_read_only': 1}


def test_token_write_without_super_read_only_is_a_plain_insert(server):
    engine().write_token('shop.dtsops_switchover_token', 'tok-2')
    assert writes(server) == ["INSERT INTO `shop`.`dtsops_switchover_token` (token) VALUES ('tok-2')"]


def test_accounts_fence_reads_mysql_user_and_locks_every_host(server):
    server.processlist = [
        (21, 'app', '10.1.2.3:40000', 'shop', 'Sleep', 5, '', None, None, None, None, None, None),
        (22, 'app', '192.168.1.9:40001', 'shop', 'Query', 0, 'updating', 'UPDATE t SET v = 1', 't1', 'RUNNING', 1, 0, 0),
        (23, 'dts', '10.9.9.9:1', 'shop', 'Binlog Dump GTID', 50, '', None, None, None, None, None, None),
        (24, 'event_scheduler', 'localhost', None, 'Daemon', 100, '', None, None, None, None, None, None),
        (7, 'admin', '10.0.0.1:1', None, 'Query', 0, '', 'SELECT ...', None, None, None, None, None),
    ]
    record = engine().fence('accounts', ['app', 'report@%'], exclude_users=['dts'])

    assert changes(record) == [("'app'@'%'", 'unlocked', 'locked'), ("'app'@'10.%'", 'unlocked', 'locked'),
                               ("'report'@'%'", 'locked', 'locked')]
    assert writes(server) == ["ALTER USER 'app'@'%' ACCOUNT LOCK", "ALTER USER 'app'@'10.%' ACCOUNT LOCK",
                              'KILL CONNECTION 21', 'KILL CONNECTION 22']
    assert [s['id'] for s in record['ended_sessions']] == [21, 22]
    assert record['ended_sessions'][1]['writing'] is True

    del server.log[:]
    engine().unfence(record)
    assert writes(server) == ["ALTER USER 'app'@'10.%' ACCOUNT UNLOCK", "ALTER USER 'app'@'%' ACCOUNT UNLOCK"]
    assert server.users == {('app', '%'): 'N', ('app', '10.%'): 'N', ('report', '%'): 'Y'}


def test_sessions_skip_server_threads_and_mark_replication(server):
    server.processlist = [
        (23, 'dts', '10.9.9.9:1', None, 'Binlog Dump GTID', 50, '', None, None, None, None, None, None),
        (24, 'event_scheduler', 'localhost', None, 'Daemon', 100, '', None, None, None, None, None, None),
        (25, 'system user', '', None, 'Slave_SQL', 1, '', None, None, None, None, None, None),
        (26, 'app', '10.1.2.3:5', 'shop', 'Query', 0, '', "ALTER USER 'x'@'%' IDENTIFIED BY 'pw-in-flight'", None, None, None, None, None),
    ]
    sessions = dict((s['id'], s) for s in engine().sessions())
    assert sorted(sessions) == [23, 26]
    assert sessions[23]['replication'] is True and sessions[23]['writing'] is False
    assert sessions[26]['writing'] is True
    assert 'pw-in-flight' not in sessions[26]['command']


def test_missing_driver(monkeypatch):
    monkeypatch.setattr(mysql, 'HAS_PYMYSQL', False)
    with pytest.raises(MissingDriver) as excinfo:
        MySQLEngine(PARAMS).connect()
    assert excinfo.value.package == 'PyMySQL'
    assert 'PyMySQL' in str(excinfo.value)


def test_connect_options_map_tls_and_timeouts(server, tmp_path):
    engine()
    assert server.connect_kwargs['connect_timeout'] == 10
    assert server.connect_kwargs['user'] == 'admin'
    assert 'ssl' not in server.connect_kwargs and 'ssl_disabled' not in server.connect_kwargs  # prefer: the driver decides
    MySQLEngine(dict(PARAMS, ssl_mode='disable', connect_timeout=3)).connect()
    assert server.connect_kwargs['ssl_disabled'] is True and server.connect_kwargs['connect_timeout'] == 3
