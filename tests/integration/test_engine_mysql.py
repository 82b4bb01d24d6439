"""The MySQL engine against a real MariaDB server (tests/localdb): sessions, fences, undo, token.

The MySQL-only paths (super_read_only, mysql.user.account_locked) are covered by
tests/unit/plugins/module_utils/engines/test_mysql_flavours.py.
"""

import json
import shutil
import socket
import tempfile
import threading

import pymysql
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    EngineError,
    FenceError,
    classify_sessions,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import MySQLEngine

from localdb import LocalServerError, MariaDBServer, free_port
from polling import wait_for

ER_ACCOUNT_LOCKED = 4151
ER_READ_ONLY = 1290


def write(app, value='x', conn=None):
    """Insert one row as the application account (a new connection unless ``conn`` is given)."""
    own = conn is None
    conn = conn or app.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute('INSERT INTO items (v) VALUES (%s)', (value,))
    finally:
        if own:
            conn.close()


def error_code(excinfo):
    return excinfo.value.args[0]


@pytest.fixture(autouse=True)
def reset_server(mariadb):
    """A test that fails half-way must not leave the shared server fenced for the next one."""
    yield
    mariadb.reset_instance_state()


@pytest.fixture
def migration(mariadb):
    """The migration account (the DTS user): reads and writes everything, never fenced."""
    params = mariadb.create_account('dts_migration', 'dts-pass-1', grants=['ALL ON *.*'])
    yield params
    mariadb.drop_account('dts_migration')


def thread_alive(server, thread_id):
    return any(row[0] == thread_id for row in server.execute('SELECT ID FROM information_schema.PROCESSLIST'))


def test_server_info_detects_mariadb(mariadb, engines):
    info = engines(MySQLEngine, mariadb.params).server_info()
    assert info['flavour'] == 'mariadb'
    assert info['version_info'][0] >= 10
    assert info['super_read_only'] is False
    assert info['account_lock'] is True


def test_sessions_tell_writers_from_idle_and_active(mariadb, mariadb_app, engines):
    writer = mariadb_app.connect()
    writer.begin()
    write(mariadb_app, 'open', conn=writer)
    reader = mariadb_app.connect()
    reader.begin()
    with reader.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM items')
    idle = mariadb_app.connect()
    engine = engines(MySQLEngine, mariadb.params)

    by_id = dict((s['id'], s) for s in engine.sessions())

    assert by_id[writer.thread_id()]['writing'] is True
    assert by_id[writer.thread_id()]['state'] == 'idle in transaction'
    assert by_id[writer.thread_id()]['transaction']['rows_modified'] == 1
    assert by_id[reader.thread_id()]['writing'] is False
    assert by_id[reader.thread_id()]['idle'] is False
    assert by_id[idle.thread_id()]['idle'] is True
    assert by_id[idle.thread_id()]['writing'] is False
    own = [s for s in by_id.values() if s['own']]
    assert len(own) == 1 and own[0]['user'] == 'root'
    assert by_id[writer.thread_id()]['user'] == mariadb_app.user
    assert by_id[writer.thread_id()]['client'].startswith('127.0.0.1:')
    assert by_id[writer.thread_id()]['database'] == mariadb_app.database
    json.dumps(list(by_id.values()))  # sessions are JSON-safe (they end up in fence records)

    groups = classify_sessions(list(by_id.values()))
    assert writer.thread_id() in [s['id'] for s in groups['writing']]
    assert idle.thread_id() in [s['id'] for s in groups['idle']]
    assert reader.thread_id() in [s['id'] for s in groups['active']]
    for conn in (writer, reader, idle):
        conn.close()


def test_a_running_write_statement_counts_as_writing(mariadb, mariadb_app, engines):
    conn = mariadb_app.connect()
    statement = threading.Thread(target=lambda: conn.cursor().execute('INSERT INTO items (v) SELECT SLEEP(1.5)'))
    statement.start()
    engine = engines(MySQLEngine, mariadb.params)
    try:
        session = wait_for(lambda: [s for s in engine.sessions() if s['id'] == conn.thread_id() and s['state'] == 'active'],
                           'the INSERT to run')[0]
    finally:
        statement.join()
        conn.close()
    assert session['writing'] is True
    assert session['transaction'] is None or session['transaction']['rows_modified'] == 0
    assert session['command'].startswith('INSERT INTO items')


def test_sessions_need_the_process_privilege(mariadb, engines):
    params = mariadb.create_account('no_process', 'np-pass-1', grants=['SELECT ON *.*'])
    try:
        with pytest.raises(EngineError, match='missing privilege PROCESS'):
            engines(MySQLEngine, params).sessions()
    finally:
        mariadb.drop_account('no_process')


def test_end_sessions_kills_them_and_check_mode_only_records(mariadb, mariadb_app, engines):
    victim = mariadb_app.connect()
    session = [s for s in engines(MySQLEngine, mariadb.params).sessions() if s['id'] == victim.thread_id()]

    dry = engines(MySQLEngine, mariadb.params, check_mode=True)
    assert dry.end_sessions(session) == [victim.thread_id()]
    assert 'KILL CONNECTION %d' % victim.thread_id() in dry.statements
    assert thread_alive(mariadb, victim.thread_id())

    assert engines(MySQLEngine, mariadb.params).end_sessions(session) == [victim.thread_id()]
    wait_for(lambda: not thread_alive(mariadb, victim.thread_id()), 'the killed thread to go')
    with pytest.raises(pymysql.err.OperationalError):
        write(mariadb_app, conn=victim)
    # Ending a session that is already gone is not an error.
    assert engines(MySQLEngine, mariadb.params).end_sessions(session) == []


def test_instance_fence_blocks_writes_with_the_servers_error_and_unfence_restores(mariadb, mariadb_app, migration, engines):
    engine = engines(MySQLEngine, mariadb.params)
    before = engine.fence_state('instance')
    writer = mariadb_app.connect()
    writer.begin()
    write(mariadb_app, 'in flight', conn=writer)
    dts = mariadb.connect('dts_migration', 'dts-pass-1', mariadb_app.database)
    dts.begin()
    with dts.cursor() as cursor:
        cursor.execute('INSERT INTO items (v) VALUES (%s)', ('dts',))

    record = engine.fence('instance', exclude_users=['dts_migration'])

    assert [(c['target'], c['before'], c['after']) for c in record['changes']] == [('read_only', 'OFF', 'ON')]
    assert engine.fence_state('instance') == {'read_only': 'ON'}
    assert 'SET GLOBAL read_only = ON' in engine.statements
    # The application's open write transaction was ended; the migration account's was not.
    assert [s['id'] for s in record['ended_sessions']] == [writer.thread_id()]
    wait_for(lambda: not thread_alive(mariadb, writer.thread_id()), 'the writer to be killed')
    assert thread_alive(mariadb, dts.thread_id())
    with pytest.raises(pymysql.err.OperationalError) as excinfo:
        write(mariadb_app, 'after fence')
    assert error_code(excinfo) == ER_READ_ONLY
    with dts.cursor() as cursor:  # the migration account still reads
        cursor.execute('SELECT COUNT(*) FROM items')
        assert cursor.fetchone()[0] >= 0
    dts.rollback()
    dts.close()

    fresh = engines(MySQLEngine, mariadb.params)
    assert fresh.unfence(json.loads(json.dumps(record))) == record['changes']
    assert fresh.fence_state('instance') == before
    write(mariadb_app, 'after unfence')
    assert fresh.unfence(record) == []  # idempotent


def test_sessions_see_a_write_transaction_that_began_right_after_the_last_listing(mariadb, mariadb_app, engines):
    # InnoDB serves INNODB_TRX from a cache that it refreshes only 0.1 s after the last read.
    engine = engines(MySQLEngine, mariadb.params)
    engine.sessions()
    writer = mariadb_app.connect()
    writer.begin()
    write(mariadb_app, 'just begun', conn=writer)
    writing = [s for s in engine.sessions() if s['writing']]
    assert [s['id'] for s in writing] == [writer.thread_id()]
    writer.rollback()
    writer.close()


def test_instance_fence_on_a_read_only_server_changes_nothing_and_undo_leaves_it(mariadb, mariadb_app, engines):
    mariadb.execute('SET GLOBAL read_only = ON')
    engine = engines(MySQLEngine, mariadb.params)
    record = engine.fence('instance')
    assert [(c['before'], c['after']) for c in record['changes']] == [('ON', 'ON')]
    assert not [s for s in engine.statements if s.startswith('SET GLOBAL')]
    assert engine.unfence(record) == []
    assert engine.fence_state('instance') == {'read_only': 'ON'}


def test_unfence_leaves_a_value_someone_else_changed(mariadb, engines):
    engine = engines(MySQLEngine, mariadb.params)
    record = engine.fence('instance')
    mariadb.execute('SET GLOBAL read_only = OFF')  # an operator lifted it by hand
    assert engine.unfence(record) == []
    assert engine.fence_state('instance') == {'read_only': 'OFF'}


def test_accounts_fence_locks_kills_and_unlocks_from_the_record(mariadb, mariadb_apps, migration, engines):
    app, other = mariadb_apps.make(2)
    engine = engines(MySQLEngine, mariadb.params)
    before = engine.fence_state('accounts', [app.user, other.user])
    session = app.connect()

    record = engine.fence('accounts', [app.user], exclude_users=['dts_migration'])

    assert [(c['target'], c['before'], c['after']) for c in record['changes']] == [
        ("'%s'@'%%'" % app.user, 'unlocked', 'locked')]
    assert [s['id'] for s in record['ended_sessions']] == [session.thread_id()]
    assert [s for s in engine.statements if s.startswith('KILL')] == ['KILL CONNECTION %d' % session.thread_id()]
    wait_for(lambda: not thread_alive(mariadb, session.thread_id()), 'the session to be killed')
    with pytest.raises(pymysql.err.OperationalError) as excinfo:
        app.connect()
    assert error_code(excinfo) == ER_ACCOUNT_LOCKED
    write(other, 'other app still writes')
    dts = mariadb.connect('dts_migration', 'dts-pass-1', app.database)
    write(app, 'the migration account writes', conn=dts)
    dts.close()

    fresh = engines(MySQLEngine, mariadb.params)
    restored = fresh.unfence(json.loads(json.dumps(record)))
    assert [c['target'] for c in restored] == ["'%s'@'%%'" % app.user]
    assert fresh.fence_state('accounts', [app.user, other.user]) == before
    write(app, 'unlocked')
    assert fresh.unfence(record) == []


def test_accounts_by_user_cover_every_host_and_keep_earlier_locks(mariadb, mariadb_app, engines):
    mariadb.execute("CREATE USER %s@'10.%%' IDENTIFIED BY 'x'", (mariadb_app.user,))
    mariadb.execute("ALTER USER %s@'10.%%' ACCOUNT LOCK", (mariadb_app.user,))
    engine = engines(MySQLEngine, mariadb.params)

    only_one = engine.fence('accounts', ['%s@%%' % mariadb_app.user], end_sessions=False)
    assert [c['host'] for c in only_one['changes']] == ['%']
    engine.unfence(only_one)

    record = engine.fence('accounts', [mariadb_app.user], end_sessions=False)
    states = dict((c['host'], (c['before'], c['after'])) for c in record['changes'])
    assert states == {'%': ('unlocked', 'locked'), '10.%': ('locked', 'locked')}

    engine.unfence(record)
    state = engine.fence_state('accounts', [mariadb_app.user])
    assert state == {"'%s'@'%%'" % mariadb_app.user: 'unlocked', "'%s'@'10.%%'" % mariadb_app.user: 'locked'}


def test_force_unlock_without_the_record(mariadb, mariadb_app, engines):
    engine = engines(MySQLEngine, mariadb.params)
    engine.fence('instance')
    engine.fence('accounts', [mariadb_app.user])  # both records are lost

    fresh = engines(MySQLEngine, mariadb.params)
    instance = fresh.unfenced_record('instance')
    accounts = fresh.unfenced_record('accounts', [mariadb_app.user])
    assert instance['extra']['forced'] is True and accounts['accounts'] == [mariadb_app.user]
    assert [c['target'] for c in fresh.unfence(instance)] == ['read_only']
    assert [c['target'] for c in fresh.unfence(accounts)] == ["'%s'@'%%'" % mariadb_app.user]
    assert fresh.fence_state('instance') == {'read_only': 'OFF'}
    write(mariadb_app, 'unlocked by force')
    assert fresh.unfence(fresh.unfenced_record('instance')) == []


def test_accounts_fence_twice_is_idempotent(mariadb, mariadb_app, engines):
    engine = engines(MySQLEngine, mariadb.params)
    first = engine.fence('accounts', [mariadb_app.user])
    second = engines(MySQLEngine, mariadb.params).fence('accounts', [mariadb_app.user])
    assert [(c['before'], c['after']) for c in second['changes']] == [('locked', 'locked')]
    assert second['ended_sessions'] == []
    assert engine.unfence(second) == []
    assert engine.fence_state('accounts', [mariadb_app.user]) == {"'%s'@'%%'" % mariadb_app.user: 'locked'}
    engine.unfence(first)
    assert engine.fence_state('accounts', [mariadb_app.user]) == {"'%s'@'%%'" % mariadb_app.user: 'unlocked'}


def test_all_or_nothing_when_the_third_of_five_accounts_fails(mariadb, mariadb_apps, engines):
    apps = mariadb_apps.make(5)
    users = [app.user for app in apps]
    sessions = [app.connect() for app in apps]
    engine = engines(MySQLEngine, mariadb.params)
    before = engine.fence_state('accounts', users)
    execute = engine.execute

    def drop_third_just_before(statement, args=None, write=False):
        # Another administrator drops the account between our check and our ALTER USER: the
        # server's own error hits the third change.
        if write and args and args[0] == users[2]:
            mariadb.drop_account(users[2])
        return execute(statement, args, write)

    engine.execute = drop_third_just_before
    with pytest.raises(FenceError) as excinfo:
        engine.fence('accounts', users)
    engine.execute = execute

    assert 'ALTER USER' in str(excinfo.value) and '1396' in str(excinfo.value)
    assert [c['user'] for c in excinfo.value.rolled_back] == [users[1], users[0]]
    assert excinfo.value.rollback_failed == []
    after = engine.fence_state('accounts', [u for u in users if u != users[2]])
    assert after == dict((k, v) for k, v in before.items() if users[2] not in k)
    assert set(after.values()) == {'unlocked'}
    # Nothing was killed: the sessions of the first two accounts still work.
    for index in (0, 1, 3, 4):
        write(apps[index], 'still here', conn=sessions[index])
        sessions[index].close()


def test_a_missing_account_stops_the_fence_before_anything_changes(mariadb, mariadb_app, engines):
    engine = engines(MySQLEngine, mariadb.params)
    with pytest.raises(EngineError, match=r'not found .*ghost_user \(any host\), nobody@10\.1\.1\.1'):
        engine.fence('accounts', [mariadb_app.user, 'ghost_user', 'nobody@10.1.1.1'])
    assert not [s for s in engine.statements if s.startswith(('ALTER', 'KILL'))]
    assert engine.fence_state('accounts', [mariadb_app.user]) == {"'%s'@'%%'" % mariadb_app.user: 'unlocked'}


@pytest.mark.parametrize('bad, message', [
    ({'scope': 'everything'}, "scope must be 'instance' or 'accounts'"),
    ({'scope': 'accounts', 'accounts': []}, 'needs the list of application accounts'),
    ({'scope': 'accounts', 'accounts': ['root']}, 'is login_user'),
    ({'scope': 'accounts', 'accounts': ['app'], 'exclude_users': ['app']}, 'both fenced'),
])
def test_invalid_fence_requests(mariadb, engines, bad, message):
    with pytest.raises(EngineError, match=message):
        engines(MySQLEngine, mariadb.params).fence(**bad)


def test_check_mode_changes_nothing(mariadb, mariadb_app, engines):
    session = mariadb_app.connect()
    session.begin()
    write(mariadb_app, 'pending', conn=session)
    dry = engines(MySQLEngine, mariadb.params, check_mode=True)

    instance = dry.fence('instance')
    accounts = dry.fence('accounts', [mariadb_app.user])

    assert instance['check_mode'] is True
    assert 'SET GLOBAL read_only = ON' in dry.statements
    assert "ALTER USER '%s'@'%%' ACCOUNT LOCK" % mariadb_app.user in dry.statements
    assert 'KILL CONNECTION %d' % session.thread_id() in dry.statements
    assert [s['id'] for s in accounts['ended_sessions']] == [session.thread_id()]
    real = engines(MySQLEngine, mariadb.params)
    assert real.fence_state('instance') == {'read_only': 'OFF'}
    assert real.fence_state('accounts', [mariadb_app.user]) == {"'%s'@'%%'" % mariadb_app.user: 'unlocked'}
    session.commit()  # the session was not killed
    session.close()
    assert dry.unfence(real.fence('instance')) != []  # check-mode undo reports what it would restore
    assert real.fence_state('instance') == {'read_only': 'ON'}


def test_missing_privileges_are_named_and_nothing_stays_changed(mariadb, mariadb_app, engines):
    weak = mariadb.create_account('ops_weak', 'ops-pass-1', grants=['PROCESS, SELECT ON *.*'])
    no_kill = mariadb.create_account('ops_nokill', 'ops-pass-2', grants=['PROCESS, SELECT, CREATE USER ON *.*'])
    try:
        with pytest.raises(FenceError, match='missing privilege READ_ONLY ADMIN'):
            engines(MySQLEngine, weak).fence('instance')
        with pytest.raises(FenceError, match='missing privilege CREATE USER'):
            engines(MySQLEngine, weak).fence('accounts', [mariadb_app.user])
        # The lock works, ending the sessions does not: the lock is undone.
        session = mariadb_app.connect()
        with pytest.raises(FenceError, match='CONNECTION ADMIN') as excinfo:
            engines(MySQLEngine, no_kill).fence('accounts', [mariadb_app.user])
        assert [c['user'] for c in excinfo.value.rolled_back] == [mariadb_app.user]
        state = engines(MySQLEngine, mariadb.params).fence_state('accounts', [mariadb_app.user])
        assert state == {"'%s'@'%%'" % mariadb_app.user: 'unlocked'}
        assert engines(MySQLEngine, mariadb.params).fence_state('instance') == {'read_only': 'OFF'}
        write(mariadb_app, 'still writable', conn=session)
        session.close()
    finally:
        mariadb.drop_account('ops_weak')
        mariadb.drop_account('ops_nokill')


def test_the_documented_minimum_privileges_suffice(mariadb, mariadb_app, engines):
    params = mariadb.create_account('ops_minimum', 'ops-pass-3',
                                    grants=['PROCESS, CONNECTION ADMIN, READ_ONLY ADMIN, CREATE USER ON *.*',
                                            'SELECT ON mysql.global_priv'])
    try:
        session = mariadb_app.connect()
        session.begin()
        write(mariadb_app, 'pending', conn=session)
        engine = engines(MySQLEngine, params)
        instance = engine.fence('instance')
        assert [s['id'] for s in instance['ended_sessions']] == [session.thread_id()]
        assert engine.unfence(instance)
        accounts = engine.fence('accounts', [mariadb_app.user])
        assert engine.fence_state('accounts', [mariadb_app.user]) == {"'%s'@'%%'" % mariadb_app.user: 'locked'}
        assert engine.unfence(accounts)
        assert engine.fence_state('instance') == {'read_only': 'OFF'}
    finally:
        mariadb.drop_account('ops_minimum')


def test_unfence_rejects_a_foreign_record(mariadb, engines):
    with pytest.raises(EngineError, match='not a fence record of the mysql engine'):
        engines(MySQLEngine, mariadb.params).unfence({'engine': 'postgresql', 'changes': []})


def test_token_travels_between_two_servers_also_while_fenced(mariadb, mariadb_destination, mariadb_app, engines):
    table = '%s.dtsops_switchover_token' % mariadb_app.database
    source = engines(MySQLEngine, mariadb.params)
    destination = engines(MySQLEngine, mariadb_destination.params)
    assert source.ensure_token_object(table, create=True) is True
    assert source.ensure_token_object(table, create=True) is False
    with pytest.raises(EngineError, match='does not exist'):
        destination.ensure_token_object(table)
    assert destination.read_token(table, 'nothing-yet') is False  # no table there yet: not an error

    record = source.fence('instance')
    try:
        where = source.write_token(table, 'token-1')
        assert where == '%s on %s' % (table, source.address)
        source.write_token(table, 'token-1')  # writing the same token again is harmless
        with pytest.raises(pymysql.err.OperationalError) as excinfo:
            write(mariadb_app, 'still fenced')
        assert error_code(excinfo) == ER_READ_ONLY
    finally:
        source.unfence(record)

    # What the migration does: copy the table's rows to the destination.
    mariadb_destination.create_database(mariadb_app.database)
    try:
        mariadb_destination.execute(mariadb.execute('SHOW CREATE TABLE %s' % table)[0][1].replace(
            'CREATE TABLE `', 'CREATE TABLE `%s`.`' % mariadb_app.database, 1))
        for token, written_at in mariadb.execute('SELECT token, written_at FROM %s' % table):
            mariadb_destination.execute('INSERT INTO %s VALUES (%%s, %%s)' % table, (token, written_at))
        assert destination.read_token(table, 'token-1') is True
        assert destination.read_token(table, 'token-2') is False
    finally:
        mariadb_destination.drop_database(mariadb_app.database)


def test_token_write_while_read_only_needs_read_only_admin(mariadb, mariadb_app, engines):
    table = '%s.dtsops_switchover_token' % mariadb_app.database
    engines(MySQLEngine, mariadb.params).ensure_token_object(table, create=True)
    params = mariadb.create_account('token_writer', 'tw-pass-1', grants=['ALL ON `%s`.*' % mariadb_app.database])
    try:
        mariadb.execute('SET GLOBAL read_only = ON')
        with pytest.raises(EngineError, match='grant it READ_ONLY ADMIN'):
            engines(MySQLEngine, params).write_token(table, 'blocked')
    finally:
        mariadb.execute('SET GLOBAL read_only = OFF')
        mariadb.drop_account('token_writer')


def test_documents_are_kept_also_while_fenced(mariadb, mariadb_app, engines):
    table = '%s.journal' % mariadb_app.database
    journal = {'outcome': 'running', 'data': {'note': "it's \u00e9t\u00e9"}}
    engine = engines(MySQLEngine, mariadb.params)
    assert engine.ensure_document_object(table, create=True) is True
    assert engine.ensure_document_object(table) is False
    params = mariadb.create_account('journal_writer', 'jw-pass-1', grants=['ALL ON `%s`.*' % mariadb_app.database])
    record = engine.fence('instance')
    try:
        engine.save_document(table, 'orders/orders.json', journal)
        engine.save_document(table, 'orders/orders.json', dict(journal, outcome='completed'))
        assert engine.load_document(table, 'orders/orders.json') == dict(journal, outcome='completed')
        # Without READ_ONLY ADMIN, read_only refuses the write: the message says what to grant.
        with pytest.raises(EngineError, match='the server is read-only and login_user cannot write the document into '
                                              '`%s`.`journal`: grant it READ_ONLY ADMIN' % mariadb_app.database):
            engines(MySQLEngine, params).save_document(table, 'other', journal)
    finally:
        engine.unfence(record)
        mariadb.drop_account('journal_writer')
    assert mariadb.execute('SELECT doc_key FROM %s' % table) == (('orders/orders.json',),)
    assert "VALUES ('orders/orders.json', '<document: " in ' '.join(engine.statements) and 'completed' not in ' '.join(engine.statements)
    engine.delete_document(table, 'orders/orders.json')
    assert engine.load_document(table, 'orders/orders.json') is None


def test_token_names_need_a_database(mariadb, engines):
    with pytest.raises(EngineError, match='database.table'):
        engines(MySQLEngine, mariadb.params).write_token('just_a_table', 't')


def test_connection_errors_are_clear_and_never_show_the_password(mariadb):
    secret = 'Sup3r-Secret-Value'
    cases = [
        (dict(mariadb.params, login_password=secret), 'access denied: check login_user and login_password'),
        (dict(mariadb.params, login_port=free_port()), 'server unreachable'),
        (dict(mariadb.params, login_db='no_such_db'), 'unknown database'),
        (dict(mariadb.params, ssl_mode='require'), 'TLS problem'),
        (dict(mariadb.params, ssl_mode='verify-ca'), 'needs ca_cert'),
    ]
    for params, message in cases:
        with pytest.raises(EngineError) as excinfo:
            MySQLEngine(params).connect()
        assert message in str(excinfo.value)
        assert secret not in str(excinfo.value)
        assert mariadb.password not in str(excinfo.value)


def test_a_server_that_never_answers_is_given_up(mariadb):
    """A server that accepts connections and never sends its greeting (a stopped process, a host
    cut off behind a proxy): the kernel completes the TCP handshake, so only a read timeout ends
    the wait. Without one the connect would never return."""
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(1)
    errors = []

    def connect():
        try:
            MySQLEngine(dict(mariadb.params, login_port=silent.getsockname()[1], connect_timeout=1)).connect()
        except EngineError as exc:
            errors.append(str(exc))

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(120)  # connect_timeout + lock wait + 5 s is 16 s
    silent.close()
    assert not attempt.is_alive(), 'the connect still waits for the greeting'
    # Silence after the TCP handshake is what a port of another engine shows too: both are named alike.
    assert len(errors) == 1 and 'did not answer as a MySQL server within 1 s (connect_timeout): check engine and login_port' in errors[0], errors


@pytest.fixture(scope='module')
def mariadb_tls():
    with MariaDBServer(tls=True) as server:
        yield server


def test_tls_modes_against_a_tls_server(mariadb_tls):
    files = mariadb_tls.tls_files
    good = [
        {'ssl_mode': 'require'},
        {'ssl_mode': 'verify-ca', 'ca_cert': files['ca']},
        {'ssl_mode': 'verify-full', 'ca_cert': files['ca']},
        {'ssl_mode': 'require', 'ca_cert': files['ca'], 'client_cert': files['client_cert'], 'client_key': files['client_key']},
    ]
    for options in good:
        engine = MySQLEngine(dict(mariadb_tls.params, **options)).connect()
        try:
            cipher = engine.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1]
            assert cipher, options
        finally:
            engine.close()
    with pytest.raises(EngineError, match='TLS problem') as excinfo:
        MySQLEngine(dict(mariadb_tls.params, ssl_mode='verify-ca', ca_cert=files['other_ca'])).connect()
    assert 'CERTIFICATE_VERIFY_FAILED' in str(excinfo.value)
    with pytest.raises(EngineError, match='cannot load the TLS files'):
        MySQLEngine(dict(mariadb_tls.params, ssl_mode='require', client_cert='/nonexistent.pem')).connect()


# -- the throwaway MariaDB servers every MySQL test relies on (tests/localdb) -----------------------
def test_localdb_mariadb_servers_start_at_the_same_time():
    # mariadb-install-db keeps temporary tables in the tmpdir: with a shared /tmp, runs at the same
    # time deleted each other's files and some failed ("Unknown table 'mysql.tmp_user_sys'").
    servers = [MariaDBServer() for dummy in range(6)]
    errors = []

    def start(server):
        try:
            server.start()
        except Exception as exc:  # collected, so that one failure does not hide the others
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(set(server.port for server in servers)) == len(servers)
        for server in servers:
            assert server.execute('SELECT @@tmpdir')[0][0].rstrip('/') == server.path('tmp')
    finally:
        for server in servers:
            server.stop()


def test_localdb_tool_failure_shows_the_error_before_the_advice():
    server = MariaDBServer()
    server.basedir = tempfile.mkdtemp(prefix='localdb-test-')
    advice = ''.join('echo "advice line %d";' % number for number in range(40))
    try:
        with pytest.raises(LocalServerError) as excinfo:
            server.run_tool(['sh', '-c', 'echo "ERROR: 1017  Can\'t find file: x.MAI"; %s exit 1' % advice], 'mariadb-install-db')
    finally:
        shutil.rmtree(server.basedir)
    message = str(excinfo.value)
    assert message.startswith('MariaDB: mariadb-install-db failed (exit 1):')
    assert "ERROR: 1017  Can't find file: x.MAI" in message
    assert 'advice line 39' in message and 'advice line 10' not in message
