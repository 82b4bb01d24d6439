"""The PostgreSQL engine against a real PostgreSQL server (tests/localdb): sessions, fences, undo, token."""

import json
import threading

import psycopg2
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    EngineError,
    FenceError,
    classify_sessions,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.postgresql import PostgreSQLEngine

from localdb import PostgreSQLServer, free_port
from polling import wait_for

READ_ONLY_TRANSACTION = '25006'


def write(app, value='x', conn=None):
    own = conn is None
    conn = conn or app.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute('INSERT INTO items (v) VALUES (%s)', (value,))
    finally:
        if own:
            conn.close()


def begin(conn):
    conn.autocommit = False
    return conn


def backend_alive(server, pid):
    return bool(server.execute('SELECT 1 FROM pg_stat_activity WHERE pid = %s', (pid,)))


def admin(server, app=None, **extra):
    """Admin connection options, in the application's database when ``app`` is given."""
    params = dict(server.params, **extra)
    if app is not None:
        params['login_db'] = app.database
    return params


@pytest.fixture(autouse=True)
def reset_server(postgresql):
    """A test that fails half-way must not leave the shared server fenced for the next one."""
    yield
    postgresql.reset_instance_state()


@pytest.fixture
def migration(postgresql):
    params = postgresql.create_account('dts_migration', 'dts-pass-1', options='LOGIN SUPERUSER')
    yield params
    postgresql.drop_account('dts_migration')


@pytest.fixture
def ops(postgresql):
    """A non-superuser administrator with the documented minimum for sessions and the accounts scope."""
    params = postgresql.create_account('ops_admin', 'ops-pass-1', options='LOGIN CREATEROLE')
    postgresql.execute('GRANT pg_read_all_stats, pg_signal_backend TO ops_admin')
    yield params
    postgresql.drop_account('ops_admin')


def test_server_info(postgresql, engines):
    info = engines(PostgreSQLEngine, postgresql.params).server_info()
    assert info['flavour'] == 'postgresql'
    assert info['version_info'][0] >= 10
    assert info['in_recovery'] is False


def test_sessions_tell_writers_from_idle_and_active(postgresql, postgresql_app, engines):
    writer = begin(postgresql_app.connect())
    write(postgresql_app, 'open', conn=writer)
    reader = begin(postgresql_app.connect())
    with reader.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM items')
    idle = postgresql_app.connect()
    engine = engines(PostgreSQLEngine, postgresql.params)

    by_id = dict((s['id'], s) for s in engine.sessions())

    assert by_id[writer.get_backend_pid()]['writing'] is True
    assert by_id[writer.get_backend_pid()]['transaction']['has_xid'] is True
    assert by_id[writer.get_backend_pid()]['state'] == 'idle in transaction'
    assert by_id[reader.get_backend_pid()]['writing'] is False
    assert by_id[reader.get_backend_pid()]['idle'] is False
    assert by_id[idle.get_backend_pid()]['idle'] is True
    own = [s for s in by_id.values() if s['own']]
    assert len(own) == 1 and own[0]['user'] == 'postgres'
    assert by_id[idle.get_backend_pid()]['user'] == postgresql_app.user
    assert by_id[idle.get_backend_pid()]['database'] == postgresql_app.database
    assert by_id[idle.get_backend_pid()]['client'].startswith('127.0.0.1:')
    # Only client backends: no checkpointer, walwriter, autovacuum launcher...
    assert all(s['user'] is not None for s in by_id.values())
    json.dumps(list(by_id.values()))

    groups = classify_sessions(list(by_id.values()), exclude_users=['nobody'])
    assert writer.get_backend_pid() in [s['id'] for s in groups['writing']]
    assert reader.get_backend_pid() in [s['id'] for s in groups['active']]
    for conn in (writer, reader, idle):
        conn.close()


def test_a_running_write_statement_counts_as_writing(postgresql, postgresql_app, engines):
    conn = postgresql_app.connect()
    statement = threading.Thread(target=lambda: conn.cursor().execute("INSERT INTO items (v) SELECT pg_sleep(1.5)::text"))
    statement.start()
    engine = engines(PostgreSQLEngine, postgresql.params)
    try:
        session = wait_for(lambda: [s for s in engine.sessions() if s['id'] == conn.get_backend_pid() and s['state'] == 'active'],
                           'the INSERT to run')[0]
    finally:
        statement.join()
        conn.close()
    assert session['writing'] is True
    assert session['command'].startswith('INSERT INTO items')


def test_passwords_in_running_statements_are_masked(postgresql, postgresql_app, engines):
    conn = postgresql_app.connect()
    statement = threading.Thread(target=lambda: conn.cursor().execute(
        "DO $$BEGIN PERFORM pg_sleep(1.5); END$$; -- ALTER ROLE x PASSWORD 'hunter2-secret'"))
    statement.start()
    engine = engines(PostgreSQLEngine, postgresql.params)
    try:
        session = wait_for(lambda: [s for s in engine.sessions() if s['id'] == conn.get_backend_pid() and s['state'] == 'active'],
                           'the statement to run')[0]
    finally:
        statement.join()
        conn.close()
    assert 'hunter2-secret' not in session['command']
    assert "PASSWORD '********'" in session['command']


def test_sessions_need_pg_read_all_stats(postgresql, postgresql_app, engines):
    other = postgresql_app.connect()
    params = postgresql.create_account('watcher', 'watch-pass-1')
    try:
        with pytest.raises(EngineError, match='grant it pg_read_all_stats'):
            engines(PostgreSQLEngine, params).sessions()
    finally:
        other.close()
        postgresql.drop_account('watcher')


def test_end_sessions_terminates_and_check_mode_only_records(postgresql, postgresql_app, engines):
    victim = postgresql_app.connect()
    pid = victim.get_backend_pid()
    session = [s for s in engines(PostgreSQLEngine, postgresql.params).sessions() if s['id'] == pid]

    dry = engines(PostgreSQLEngine, postgresql.params, check_mode=True)
    assert dry.end_sessions(session) == [pid]
    assert 'SELECT pg_terminate_backend(%d)' % pid in dry.statements
    assert backend_alive(postgresql, pid)

    assert engines(PostgreSQLEngine, postgresql.params).end_sessions(session) == [pid]
    assert not backend_alive(postgresql, pid)  # end_sessions waits until the backend is gone
    with pytest.raises(psycopg2.OperationalError):
        write(postgresql_app, conn=victim)
    assert engines(PostgreSQLEngine, postgresql.params).end_sessions(session) == []


def test_instance_fence_makes_new_transactions_read_only_and_ends_old_ones(postgresql, postgresql_app, migration, engines):
    engine = engines(PostgreSQLEngine, postgresql.params)
    before = engine.fence_state('instance')
    quiet = postgresql_app.connect()  # connected before the fence, no transaction
    writer = begin(postgresql_app.connect())
    write(postgresql_app, 'in flight', conn=writer)
    read_write = begin(postgresql_app.connect())  # a read-write transaction that has not written yet
    with read_write.cursor() as cursor:
        cursor.execute('SELECT 1')
    dts = begin(postgresql.connect('dts_migration', 'dts-pass-1', postgresql_app.database))
    write(postgresql_app, 'dts', conn=dts)

    record = engine.fence('instance', exclude_users=['dts_migration'])

    change = record['changes'][0]
    assert (change['target'], change['before'], change['after'], change['file_before']) == (
        'default_transaction_read_only', 'off', 'on', None)
    assert engine.fence_state('instance') == {'default_transaction_read_only': 'on', 'postgresql.auto.conf': 'on'}
    ended = sorted(s['id'] for s in record['ended_sessions'])
    assert ended == sorted([writer.get_backend_pid(), read_write.get_backend_pid()])
    assert backend_alive(postgresql, dts.get_backend_pid())
    assert backend_alive(postgresql, quiet.get_backend_pid())
    for conn in (quiet, None):
        with pytest.raises(psycopg2.Error) as excinfo:
            write(postgresql_app, 'after fence', conn=conn)
        assert excinfo.value.pgcode == READ_ONLY_TRANSACTION
    dts.commit()  # the migration account's transaction began before the fence and survives
    dts.close()

    fresh = engines(PostgreSQLEngine, postgresql.params)
    assert fresh.unfence(json.loads(json.dumps(record))) == record['changes']
    assert fresh.fence_state('instance') == before
    assert 'ALTER SYSTEM RESET default_transaction_read_only' in fresh.statements
    wait_for(lambda: postgresql.execute("SELECT reset_val FROM pg_settings WHERE name = 'default_transaction_read_only'")[0][0]
             == 'off', 'the reload')
    write(postgresql_app, 'after unfence', conn=quiet)
    quiet.close()
    assert fresh.unfence(record) == []


def test_unfence_restores_an_explicit_earlier_value_exactly(postgresql, engines):
    postgresql.execute('ALTER SYSTEM SET default_transaction_read_only = off')
    engine = engines(PostgreSQLEngine, postgresql.params)
    before = engine.fence_state('instance')
    assert before == {'default_transaction_read_only': 'off', 'postgresql.auto.conf': 'off'}
    record = engine.fence('instance', end_sessions=False)
    assert record['changes'][0]['file_before'] == 'off'
    engine.unfence(record)
    assert engine.fence_state('instance') == before


def test_instance_fence_on_a_read_only_server_changes_nothing(postgresql, engines):
    postgresql.execute('ALTER SYSTEM SET default_transaction_read_only = on')
    postgresql.execute('SELECT pg_reload_conf()')
    engine = engines(PostgreSQLEngine, postgresql.params)
    record = engine.fence('instance')
    assert [(c['before'], c['after']) for c in record['changes']] == [('on', 'on')]
    assert not [s for s in engine.statements if s.startswith('ALTER SYSTEM')]
    assert engine.unfence(record) == []
    assert engine.fence_state('instance')['postgresql.auto.conf'] == 'on'


def test_role_settings_that_defeat_the_fence_are_reported(postgresql, postgresql_app, engines):
    postgresql.execute('ALTER ROLE %s SET default_transaction_read_only = off' % postgresql_app.user)
    engine = engines(PostgreSQLEngine, postgresql.params)
    record = engine.fence('instance')
    try:
        assert {'role': postgresql_app.user, 'database': '*', 'setting': 'default_transaction_read_only=off'} in \
            record['extra']['bypasses']
        write(postgresql_app, 'the caveat: this role still writes')
    finally:
        engine.unfence(record)


def test_accounts_fence_nologin_terminates_and_unlocks_from_the_record(postgresql, postgresql_apps, migration, engines):
    app, other = postgresql_apps.make(2)
    engine = engines(PostgreSQLEngine, postgresql.params)
    before = engine.fence_state('accounts', [app.user, other.user])
    session = app.connect()

    record = engine.fence('accounts', [app.user], exclude_users=['dts_migration'])

    assert [(c['target'], c['before'], c['after']) for c in record['changes']] == [(app.user, 'LOGIN', 'NOLOGIN')]
    assert [s['id'] for s in record['ended_sessions']] == [session.get_backend_pid()]
    assert not backend_alive(postgresql, session.get_backend_pid())
    with pytest.raises(psycopg2.OperationalError, match='is not permitted to log in'):
        app.connect()
    write(other, 'other app still writes')
    dts = postgresql.connect('dts_migration', 'dts-pass-1', app.database)
    write(app, 'the migration account writes', conn=dts)
    dts.close()

    fresh = engines(PostgreSQLEngine, postgresql.params)
    assert [c['target'] for c in fresh.unfence(json.loads(json.dumps(record)))] == [app.user]
    assert fresh.fence_state('accounts', [app.user, other.user]) == before
    write(app, 'logs in again')
    assert fresh.unfence(record) == []


def test_force_unlock_without_the_record(postgresql, postgresql_app, engines):
    engine = engines(PostgreSQLEngine, postgresql.params)
    engine.fence('instance')
    engine.fence('accounts', [postgresql_app.user])  # both records are lost

    fresh = engines(PostgreSQLEngine, postgresql.params)
    instance = fresh.unfenced_record('instance')
    accounts = fresh.unfenced_record('accounts', [postgresql_app.user])
    assert instance['extra']['forced'] is True and accounts['accounts'] == [postgresql_app.user]
    assert fresh.unfence(instance) and fresh.unfence(accounts)
    assert fresh.fence_state('instance') == {'default_transaction_read_only': 'off', 'postgresql.auto.conf': None}
    assert fresh.fence_state('accounts', [postgresql_app.user]) == {postgresql_app.user: 'LOGIN'}
    wait_for(lambda: postgresql.execute("SELECT reset_val FROM pg_settings WHERE name = 'default_transaction_read_only'")[0][0]
             == 'off', 'the reload')
    write(postgresql_app, 'unlocked by force')
    assert fresh.unfence(fresh.unfenced_record('instance')) == []


def test_accounts_fence_twice_is_idempotent(postgresql, postgresql_app, engines):
    engine = engines(PostgreSQLEngine, postgresql.params)
    first = engine.fence('accounts', [postgresql_app.user])
    second = engine.fence('accounts', [postgresql_app.user])
    assert [(c['before'], c['after']) for c in second['changes']] == [('NOLOGIN', 'NOLOGIN')]
    assert second['ended_sessions'] == []
    assert engine.unfence(second) == []
    assert engine.fence_state('accounts', [postgresql_app.user]) == {postgresql_app.user: 'NOLOGIN'}
    engine.unfence(first)
    assert engine.fence_state('accounts', [postgresql_app.user]) == {postgresql_app.user: 'LOGIN'}


def test_all_or_nothing_when_the_third_of_five_roles_fails(postgresql, postgresql_apps, ops, engines):
    apps = postgresql_apps.make(5)
    users = [app.user for app in apps]
    # CREATEROLE may not touch a superuser role: the server refuses the third change.
    postgresql.execute('ALTER ROLE %s SUPERUSER' % users[2])
    sessions = [app.connect() for app in apps]
    engine = engines(PostgreSQLEngine, ops)

    with pytest.raises(FenceError, match=r'missing privilege CREATEROLE \(superuser for superuser roles\)') as excinfo:
        engine.fence('accounts', users)

    assert [c['target'] for c in excinfo.value.rolled_back] == [users[1], users[0]]
    assert excinfo.value.rollback_failed == []
    assert set(engine.fence_state('accounts', users).values()) == {'LOGIN'}
    assert not [s for s in engine.statements if 'pg_terminate_backend' in s]
    for app, conn in zip(apps, sessions):
        write(app, 'still here', conn=conn)
        conn.close()


def test_a_missing_role_stops_the_fence_before_anything_changes(postgresql, postgresql_app, engines):
    engine = engines(PostgreSQLEngine, postgresql.params)
    with pytest.raises(EngineError, match='role\\(s\\) not found .*: ghost_role'):
        engine.fence('accounts', [postgresql_app.user, 'ghost_role'])
    assert not [s for s in engine.statements if s.startswith('ALTER')]
    assert engine.fence_state('accounts', [postgresql_app.user]) == {postgresql_app.user: 'LOGIN'}


@pytest.mark.parametrize('bad, message', [
    ({'scope': 'cluster'}, "scope must be 'instance' or 'accounts'"),
    ({'scope': 'accounts', 'accounts': []}, 'needs the list of application roles'),
    ({'scope': 'accounts', 'accounts': ['postgres']}, 'is login_user'),
    ({'scope': 'accounts', 'accounts': ['app'], 'exclude_users': ['app']}, 'both fenced'),
])
def test_invalid_fence_requests(postgresql, engines, bad, message):
    with pytest.raises(EngineError, match=message):
        engines(PostgreSQLEngine, postgresql.params).fence(**bad)


def test_check_mode_changes_nothing(postgresql, postgresql_app, engines):
    session = begin(postgresql_app.connect())
    write(postgresql_app, 'pending', conn=session)
    dry = engines(PostgreSQLEngine, postgresql.params, check_mode=True)

    instance = dry.fence('instance')
    accounts = dry.fence('accounts', [postgresql_app.user])

    assert instance['check_mode'] is True
    assert "ALTER SYSTEM SET \"default_transaction_read_only\" = 'on'" in dry.statements
    assert 'SELECT pg_reload_conf()' in dry.statements
    assert 'ALTER ROLE "%s" NOLOGIN' % postgresql_app.user in dry.statements
    assert 'SELECT pg_terminate_backend(%d)' % session.get_backend_pid() in dry.statements
    assert [s['id'] for s in accounts['ended_sessions']] == [session.get_backend_pid()]
    real = engines(PostgreSQLEngine, postgresql.params)
    assert real.fence_state('instance') == {'default_transaction_read_only': 'off', 'postgresql.auto.conf': None}
    assert real.fence_state('accounts', [postgresql_app.user]) == {postgresql_app.user: 'LOGIN'}
    session.commit()
    session.close()


def test_missing_privileges_are_named(postgresql, postgresql_app, ops, engines):
    with pytest.raises(EngineError, match='missing privilege superuser'):
        engines(PostgreSQLEngine, ops).fence('instance')
    assert engines(PostgreSQLEngine, postgresql.params).fence_state('instance')['postgresql.auto.conf'] is None
    # ops may lock and end ordinary roles: the documented minimum for the accounts scope works.
    record = engines(PostgreSQLEngine, ops).fence('accounts', [postgresql_app.user])
    assert engines(PostgreSQLEngine, ops).unfence(record)


def test_the_documented_minimum_privileges_suffice(postgresql, postgresql_app, ops, engines):
    # PostgreSQL 15+: the instance fence without superuser.
    for grant in ('GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only TO ops_admin',
                  'GRANT SELECT ON pg_file_settings TO ops_admin',
                  'GRANT EXECUTE ON FUNCTION pg_show_all_file_settings() TO ops_admin',
                  'GRANT EXECUTE ON FUNCTION pg_reload_conf() TO ops_admin'):
        postgresql.execute(grant)
    session = begin(postgresql_app.connect())
    write(postgresql_app, 'pending', conn=session)
    engine = engines(PostgreSQLEngine, ops)
    record = engine.fence('instance')
    assert [s['id'] for s in record['ended_sessions']] == [session.get_backend_pid()]
    with pytest.raises(psycopg2.Error) as excinfo:
        write(postgresql_app, 'fenced')
    assert excinfo.value.pgcode == READ_ONLY_TRANSACTION
    assert engine.unfence(record)
    assert engine.fence_state('instance') == {'default_transaction_read_only': 'off', 'postgresql.auto.conf': None}


def test_unfence_rejects_a_foreign_record(postgresql, engines):
    with pytest.raises(EngineError, match='not a fence record of the postgresql engine'):
        engines(PostgreSQLEngine, postgresql.params).unfence({'engine': 'mysql', 'changes': []})


def test_documents_are_kept_also_while_fenced(postgresql, postgresql_app, engines):
    table = 'public.journal'
    journal = {'outcome': 'running', 'data': {'note': "it's \u00e9t\u00e9"}}
    engine = engines(PostgreSQLEngine, admin(postgresql, postgresql_app))
    assert engine.ensure_document_object(table, create=True) is True
    assert engine.ensure_document_object(table) is False
    record = engine.fence('instance')
    try:
        engine.save_document(table, 'orders/orders.json', journal)
        engine.save_document(table, 'orders/orders.json', dict(journal, outcome='completed'))
        assert engine.load_document(table, 'orders/orders.json') == dict(journal, outcome='completed')
    finally:
        engine.unfence(record)
    rows = postgresql.execute('SELECT doc_key, document::jsonb ->> %s FROM public.journal', ('outcome',), database=postgresql_app.database)
    assert rows == [('orders/orders.json', 'completed')]
    assert 'completed' not in ' '.join(engine.statements)
    # An account without rights on the table is told which privileges it lacks.
    with pytest.raises(EngineError, match=r'cannot write the document: missing privilege INSERT and UPDATE on public\.journal '
                                          r'for login_user'):
        engines(PostgreSQLEngine, postgresql_app.params).save_document(table, 'other', journal)
    engine.delete_document(table, 'orders/orders.json')
    assert engine.load_document(table, 'orders/orders.json') is None


def test_token_travels_between_two_servers_also_while_fenced(postgresql, postgresql_destination, postgresql_app, engines):
    table = 'public.dtsops_switchover_token'
    source = engines(PostgreSQLEngine, admin(postgresql, postgresql_app))
    assert source.ensure_token_object(table, create=True) is True
    assert source.ensure_token_object(table) is False

    record = source.fence('instance')
    try:
        where = source.write_token(table, 'token-1')
        assert where == '%s in database %s on %s' % (table, postgresql_app.database, source.address)
        source.write_token(table, 'token-1')
        with pytest.raises(psycopg2.Error) as excinfo:
            write(postgresql_app, 'still fenced')
        assert excinfo.value.pgcode == READ_ONLY_TRANSACTION
    finally:
        source.unfence(record)

    postgresql_destination.create_database(postgresql_app.database)
    try:
        destination = engines(PostgreSQLEngine, admin(postgresql_destination, postgresql_app))
        assert destination.read_token(table, 'token-1') is False  # no table yet: not an error
        with pytest.raises(EngineError, match='does not exist in database'):
            destination.ensure_token_object(table)
        postgresql_destination.execute('CREATE TABLE %s (token text PRIMARY KEY, written_at timestamptz)' % table,
                                       database=postgresql_app.database)
        for row in postgresql.execute('SELECT token, written_at FROM %s' % table, database=postgresql_app.database):
            postgresql_destination.execute('INSERT INTO %s VALUES (%%s, %%s)' % table, row, database=postgresql_app.database)
        assert destination.read_token(table, 'token-1') is True
        assert destination.read_token(table, 'token-2') is False
    finally:
        postgresql_destination.drop_database(postgresql_app.database)


def test_connection_errors_are_clear_and_never_show_the_password(postgresql):
    secret = 'Sup3r-Secret-Value'
    cases = [
        (dict(postgresql.params, login_password=secret), 'access denied: check login_user and login_password'),
        (dict(postgresql.params, login_port=free_port()), 'server unreachable'),
        (dict(postgresql.params, login_db='no_such_db'), 'unknown database'),
        (dict(postgresql.params, ssl_mode='require'), 'TLS problem'),
        (dict(postgresql.params, ssl_mode='verify-full'), 'needs ca_cert'),
    ]
    for params, message in cases:
        with pytest.raises(EngineError) as excinfo:
            PostgreSQLEngine(params).connect()
        assert message in str(excinfo.value)
        assert secret not in str(excinfo.value)
        assert postgresql.password not in str(excinfo.value)


@pytest.fixture(scope='module')
def postgresql_tls():
    with PostgreSQLServer(tls=True) as server:
        yield server


def test_tls_modes_against_a_tls_server(postgresql_tls):
    files = postgresql_tls.tls_files
    for options in ({'ssl_mode': 'require'}, {'ssl_mode': 'verify-ca', 'ca_cert': files['ca']},
                    {'ssl_mode': 'verify-full', 'ca_cert': files['ca']},
                    {'ssl_mode': 'verify-full', 'ca_cert': files['ca'], 'client_cert': files['client_cert'],
                     'client_key': files['client_key']}):
        engine = PostgreSQLEngine(dict(postgresql_tls.params, **options)).connect()
        try:
            assert engine.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')[0][0] is True, options
        finally:
            engine.close()
    with pytest.raises(EngineError, match='TLS problem') as excinfo:
        PostgreSQLEngine(dict(postgresql_tls.params, ssl_mode='verify-ca', ca_cert=files['other_ca'])).connect()
    assert 'certificate verify failed' in str(excinfo.value)
