"""db_write_lock through ansible-playbook against real MariaDB, PostgreSQL and Redis servers.

Every test checks the servers themselves (plain SQL/commands as the admin or as the application),
not only what the module reports.
"""

import os
import secrets
import sys
import threading

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

from localdb import free_port
from polling import wait_for
from test_db_apps import KINDS, MARIADB_ACCOUNT_LOCKED, MARIADB_CONNECTION_GONE, MARIADB_READ_ONLY, PG_READ_ONLY
from test_db_apps import Writer, apps, instance_state, kind, play, task  # noqa: F401  pylint: disable=unused-import


def lock_args(server, **extra):
    args = dict(server.params)
    args.update(extra)
    return args


def fenced_error(kind, scope, attempt):
    """Whether a failed write is the server's own refusal because of the fence."""
    dummy, ok, code, message = attempt
    if ok:
        return False
    if kind == 'mariadb':
        return code == (MARIADB_ACCOUNT_LOCKED if scope == 'accounts' else MARIADB_READ_ONLY)
    if kind == 'postgresql':
        return 'is not permitted to log in' in message if scope == 'accounts' else code == PG_READ_ONLY
    # Redis: ACL refuses with NOPERM; CLIENT PAUSE WRITE queues the write, so the client times out.
    return code == ('NoPermissionError' if scope == 'accounts' else 'TimeoutError')


def connection_lost(kind, attempt):
    """A failure because the fence ended our connection (the next attempt reconnects)."""
    dummy, ok, code, message = attempt
    if kind == 'mariadb':
        return code in MARIADB_CONNECTION_GONE
    if kind == 'postgresql':
        return 'terminating connection' in message or 'server closed the connection' in message or 'connection already closed' in message
    return code == 'ConnectionError'


def prelock(app):
    """Fence an account by hand, before the module runs (its record must leave it so)."""
    if app.kind == 'mariadb':
        app.server.execute('ALTER USER %s@%s ACCOUNT LOCK', (app.user, '%'))
    elif app.kind == 'postgresql':
        app.server.execute('ALTER ROLE "%s" NOLOGIN' % app.user)
    else:
        app.server.command('ACL', 'SETUSER', app.user, '-@write')


def test_accounts_fence_stops_the_application_and_spares_the_migration_account(apps):
    app, batch, migration = apps(3)
    server = app.server
    app.grant_to(migration)
    prelock(batch)
    before = dict((a.user, a.account_state()) for a in (app, batch, migration))
    idle = app.connect()
    idle_id = app.session_id(idle)

    writer = Writer(app)
    writer.start()
    try:
        wait_for(lambda: len(writer.seen('before', ok=True)) >= 3, 'the application to write')
        writer.phase = 'during'
        run = play([task('fence the application', 'db_write_lock',
                         lock_args(server, scope='accounts', accounts=[app.user, batch.user], exclude_users=[migration.user]))])
        writer.phase = 'after'
        written_at_fence = app.count()
        wait_for(lambda: len(writer.seen('after')) >= 5, 'five writes after the fence')
    finally:
        writer.stop()
    assert run.rc == 0, run
    result = run.task('fence the application')
    assert result['changed'] is True

    after = writer.seen('after')
    assert not [a for a in after if a[1]], 'a write succeeded after the fence: %s' % after
    assert all(fenced_error(app.kind, 'accounts', a) or connection_lost(app.kind, a) for a in after), after
    assert any(fenced_error(app.kind, 'accounts', a) for a in after), after
    assert app.count() == written_at_fence

    # The session that was open before the fence is gone (its report is checked below).
    assert not app.alive(idle) and not app.listed(idle_id)

    # The migration account still reads and writes the application's data.
    migration_conn = app.connect_to_my_data(migration)
    count = app.read(migration_conn)
    app.write(migration_conn, 'written-by-migration')
    assert app.read(migration_conn) == count + 1
    migration_conn.close()

    changes = dict((c['target'], c) for c in result['fence']['changes'])
    assert len(changes) == 2
    assert [c['before'] == c['after'] for c in result['fence']['changes']] == [False, True], 'batch was fenced before'

    # A new playbook run lifts the fence from the record alone.
    run = play([task('lift the fence', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ record }}'))],
               extra_vars={'record': result['fence']})
    assert run.rc == 0, run
    assert run.task('lift the fence')['changed'] is True
    assert dict((a.user, a.account_state()) for a in (app, batch, migration)) == before
    conn = app.connect()
    app.write(conn, 'after-unlock')
    conn.close()


def test_instance_fence_makes_the_server_read_only(apps):
    app, migration = apps(2)
    server = app.server
    app.grant_to(migration)
    before = instance_state(app.kind, server)
    idle = app.connect()
    idle_id = app.session_id(idle)
    in_transaction = app.connect()
    in_transaction_id = app.session_id(in_transaction)
    app.begin_write(in_transaction, 'open-before-the-fence')

    writer = Writer(app)
    writer.start()
    try:
        wait_for(lambda: len(writer.seen('before', ok=True)) >= 3, 'the application to write')
        writer.phase = 'during'
        run = play([task('fence the server', 'db_write_lock',
                         lock_args(server, scope='instance', exclude_users=[migration.user], lease=120)
                         if app.kind == 'redis' else lock_args(server, scope='instance', exclude_users=[migration.user]))])
        writer.phase = 'after'
        written_at_fence = app.count()
        wait_for(lambda: len(writer.seen('after')) >= 3, 'three writes after the fence')
        assert app.count() == written_at_fence
    finally:
        writer.stop()
    assert run.rc == 0, run
    result = run.task('fence the server')
    assert result['changed'] is True
    after = writer.seen('after')
    assert not [a for a in after if a[1]], 'a write succeeded after the fence: %s' % after
    assert any(fenced_error(app.kind, 'instance', a) for a in after), after

    if app.kind != 'redis':
        # The open write transaction could still commit: it was ended. The idle session was not.
        assert in_transaction_id in [s['id'] for s in result['ended_sessions']]
        assert not app.listed(in_transaction_id)
        assert idle_id not in [s['id'] for s in result['ended_sessions']] and app.alive(idle)
    else:
        assert result['fence']['extra']['keeper']['lease'] == 120
    # The migration account still reads.
    migration_conn = app.connect_to_my_data(migration)
    assert app.read(migration_conn) >= written_at_fence - 1
    migration_conn.close()

    run = play([task('lift the fence', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ record }}'))],
               extra_vars={'record': result['fence']})
    assert run.rc == 0, run
    assert run.task('lift the fence')['changed'] is True
    assert instance_state(app.kind, server) == before
    conn = app.connect()
    app.write(conn, 'after-unlock')
    conn.close()
    idle.close()


def ended_statements(kind, statements, session_id):
    """The statements that ended ``session_id``."""
    text = {'mariadb': 'KILL CONNECTION %d' % session_id, 'postgresql': 'SELECT pg_terminate_backend(%d)' % session_id,
            'redis': 'CLIENT KILL USER'}[kind]
    return [s for s in statements if s == text or (kind == 'redis' and s.startswith(text))]


def test_every_ended_session_is_reported_and_ended_once(apps):
    app = apps()[0]
    connections = [app.connect() for dummy in range(3)]
    ids = sorted(app.session_id(conn) for conn in connections)
    run = play([task('fence', 'db_write_lock', lock_args(app.server, scope='accounts', accounts=[app.user]))])
    assert run.rc == 0, run
    result = run.task('fence')
    assert sorted(s['id'] for s in result['ended_sessions']) == ids
    assert sorted(s['id'] for s in result['fence']['ended_sessions']) == ids
    for session_id in ids:
        assert len(ended_statements(app.kind, result['statements'], session_id)) == 1, result['statements']
        assert not app.listed(session_id)
    for conn in connections:
        assert not app.alive(conn)
    run = play([task('lift', 'db_write_lock', lock_args(app.server, state='unlocked', fence='{{ record }}'))],
               extra_vars={'record': result['fence']})
    assert run.task('lift')['changed'] is True


@pytest.mark.parametrize('scope', ['accounts', 'instance'])
def test_force_unlock_without_the_record(apps, scope):
    app = apps()[0]
    server = app.server
    state = app.account_state if scope == 'accounts' else (lambda: instance_state(app.kind, server))
    unfenced = state()
    scoped = dict(scope=scope, accounts=[app.user] if scope == 'accounts' else [])
    run = play([task('fence', 'db_write_lock', lock_args(server, **scoped))])
    assert run.rc == 0 and state() != unfenced, run
    # The record is lost: a new run unlocks from the scope alone.
    run = play([
        task('would force', 'db_write_lock', lock_args(server, state='unlocked', force=True, **scoped), check_mode=True),
        task('force', 'db_write_lock', lock_args(server, state='unlocked', force=True, **scoped)),
        task('force again', 'db_write_lock', lock_args(server, state='unlocked', force=True, **scoped)),
    ])
    assert run.rc == 0, run
    assert run.task('would force')['changed'] is True
    assert run.task('force')['changed'] is True and run.task('force')['fence']['extra']['forced'] is True
    assert run.task('force again')['changed'] is False
    assert state() == unfenced
    conn = app.connect()
    app.write(conn, 'after-force')
    conn.close()


@pytest.mark.parametrize('scope', ['accounts', 'instance'])
def test_check_mode_and_idempotence_change_nothing_they_should_not(apps, scope):
    app = apps()[0]
    server = app.server
    fence_args = lock_args(server, scope=scope, accounts=[app.user] if scope == 'accounts' else [])
    state = app.account_state if scope == 'accounts' else (lambda: instance_state(app.kind, server))
    unfenced = state()
    idle = app.connect()

    run = play([task('would fence', 'db_write_lock', fence_args, check_mode=True)], diff=True)
    result = run.task('would fence')
    assert run.rc == 0 and result['changed'] is True, run
    assert result['statements'], 'check mode reports the statements it would run'
    assert result['diff']['before'] != result['diff']['after'] or app.kind == 'redis'
    assert state() == unfenced and app.alive(idle)
    app.write(idle, 'still-writable')

    run = play([
        task('fence', 'db_write_lock', fence_args, register='first'),
        task('fence again', 'db_write_lock', fence_args, register='second'),
        task('lift with the second record', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ second.fence }}')),
        task('would lift with the first record', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ first.fence }}'),
             check_mode=True),
    ], diff=True)
    assert run.rc == 0, run
    fenced = state()
    assert fenced != unfenced
    assert run.task('fence')['changed'] is True
    second = run.task('fence again')
    assert second['changed'] is False
    assert all(c['before'] == c['after'] for c in second['fence']['changes'])
    assert run.task('lift with the second record')['changed'] is False
    would = run.task('would lift with the first record')
    assert would['changed'] is True and would['restored']

    first = run.task('fence')['fence']
    run = play([
        task('lift', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ record }}')),
        task('lift again', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ record }}')),
    ], extra_vars={'record': first})
    assert run.rc == 0, run
    assert run.task('lift')['changed'] is True and run.task('lift again')['changed'] is False
    assert state() == unfenced
    idle.close()


EXPECTED = {
    'mariadb': {
        'unreachable': 'server unreachable: check login_host, login_port and that the server runs (MySQL error 2003: ',
        'password': 'access denied: check login_user and login_password (MySQL error 1045: ',
        'privilege': 'fence failed: missing privilege ',
        'nobody': 'account(s) not found on ',
    },
    'postgresql': {
        'unreachable': 'server unreachable',
        'password': 'password authentication failed',
        'privilege': 'superuser',
        'nobody': 'role(s) not found',
    },
    'redis': {
        'unreachable': 'unreachable',
        'password': 'password',
        'privilege': "has no permissions to run the 'acl|getuser' command",
        'nobody': 'ACL user(s) not found on ',
    },
}


def limited_admin(app):
    """Connection options of an account that may connect but lacks the fence privileges."""
    if app.kind == 'redis':
        app.server.command('ACL', 'SETUSER', app.user, 'reset', 'on', '>' + app.password, '~*', '+@read', '+@write',
                           '+client|list', '+client|id', '+client|setname', '+info', '+command|info', '+ping', '+hello')
    return app.account.params


def test_bad_input_fails_with_one_clear_message_and_changes_nothing(kind, apps):
    app, admin = apps(2)
    server = app.server
    state = app.account_state()
    expected = EXPECTED[kind]
    tasks = [
        task('unknown engine', 'db_write_lock', dict(lock_args(server, scope='instance'), engine='db2')),
        task('unreachable', 'db_write_lock', lock_args(server, scope='instance', login_port=free_port(), connect_timeout=3)),
        task('wrong password', 'db_write_lock', lock_args(server, scope='instance', login_password='not-the-password')),
        task('missing privilege', 'db_write_lock', dict(limited_admin(admin), scope='instance' if kind != 'redis' else 'accounts',
                                                        accounts=[] if kind != 'redis' else [app.user])),
        task('nonexistent account', 'db_write_lock', lock_args(server, scope='accounts', accounts=[app.user, 'nobody_here'])),
        task('accounts missing', 'db_write_lock', lock_args(server, scope='accounts')),
        task('fence and force', 'db_write_lock', lock_args(server, state='unlocked', force=True, fence={'engine': kind})),
        task('lease elsewhere', 'db_write_lock', lock_args(server, scope='instance', lease=30) if kind != 'redis'
             else lock_args(server, scope='instance', databases=['x'])),
    ]
    for entry in tasks:
        entry['ignore_errors'] = True
    run = play(tasks)
    messages = dict((entry['name'], run.task(entry['name']).get('msg', '')) for entry in tasks)
    for name in messages:
        assert run.status(name) == 'failed', (name, run.task(name))
        assert 'Traceback' not in messages[name]
    assert messages['unknown engine'].startswith('value of engine must be one of: mongodb, mysql, oracle, postgresql, redis, '
                                                 'sqlserver, got: db2')
    assert messages['unreachable'].startswith('Cannot connect to the database %s at 127.0.0.1:' % server.params['engine'])
    assert expected['unreachable'] in messages['unreachable']
    assert expected['password'] in messages['wrong password']
    assert expected['privilege'] in messages['missing privilege']
    assert 'nobody_here' in messages['nonexistent account'] and expected['nobody'] in messages['nonexistent account']
    assert messages['accounts missing'] == 'scope=accounts needs accounts: the application accounts to fence.'
    assert messages['fence and force'].startswith('fence and force=true exclude each other')
    assert messages['lease elsewhere'] in ('lease applies to the redis engine only, not to %s.' % server.params['engine'],
                                           'databases applies to the sqlserver engine only, not to redis.')
    assert app.account_state() == state


def test_missing_driver_is_named(tmp_path, mariadb):
    # A package that fails to import, ahead of the real PyMySQL on the module's sys.path.
    shadow = tmp_path / 'shadow' / 'pymysql'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text("raise ImportError('No module named pymysql')\n")
    run = play([task('lock', 'db_write_lock', lock_args(mariadb, scope='instance'), ignore_errors=True)],
               env={'PYTHONPATH': os.pathsep.join([str(tmp_path / 'shadow')] + sys.path)})
    message = run.task('lock')['msg']
    assert message.startswith('Failed to import the required Python library (PyMySQL) on ')
    assert mariadb.execute('SELECT @@GLOBAL.read_only')[0][0] == 0


@pytest.mark.parametrize('which', KINDS)
def test_password_never_in_verbose_output(request, which):
    server = request.getfixturevalue({'mariadb': 'mariadb', 'postgresql': 'postgresql', 'redis': 'redis_server'}[which])
    token_object = {'mariadb': 'verbose_%s.token', 'postgresql': 'public.verbose_%s', 'redis': 'verbose:%s'}[which] % secrets.token_hex(3)
    if which == 'mariadb':
        server.create_database(token_object.split('.')[0])
    run = play([
        task('fence', 'db_write_lock', lock_args(server, scope='instance'), register='fence'),
        task('quiet', 'db_sessions_quiesced', lock_args(server, timeout=5)),
        task('token', 'db_caught_up', dict(source=server.params, destination=server.params, token_object=token_object, create=True)),
        task('lift', 'db_write_lock', lock_args(server, state='unlocked', fence='{{ fence.fence }}')),
        task('wrong password', 'db_write_lock', lock_args(server, scope='instance', login_password=server.password + 'x'),
             ignore_errors=True),
    ], verbosity=3, diff=True)
    if which == 'mariadb':
        server.drop_database(token_object.split('.')[0])
    elif which == 'postgresql':
        server.execute('DROP TABLE %s' % token_object)
    assert run.rc == 0, run
    assert run.task('lift')['changed'] is True and run.task('token')['written'] is True
    output = run.stdout + run.stderr
    assert server.password not in output
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output


@pytest.mark.parametrize('queued_writes, at_unlock', [('drop', None), ('execute', None), ('drop', 'execute')],
                         ids=['drop', 'execute', 'execute-given-at-unlock'])
def test_redis_writes_held_back_by_the_pause_are_dropped_or_run(redis_apps, queued_writes, at_unlock):
    account = redis_apps.make()[0]
    server = account.server
    key = account.prefix + 'held-back'
    run = play([task('fence', 'db_write_lock', lock_args(server, scope='instance', queued_writes=queued_writes))])
    assert run.rc == 0, run
    record = run.task('fence')['fence']
    assert record['extra']['queued_writes'] == queued_writes

    outcome = {}
    # Without retries: redis-py would otherwise send a dropped write again on a new connection.
    client = account.connect(socket_timeout=60, retry=Retry(NoBackoff(), 0))

    def write():
        try:
            outcome['reply'] = client.set(key, 'written-during-the-fence')
        except Exception as exc:  # the client is ended when its write is dropped
            outcome['error'] = exc
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    wait_for(lambda: any('user=%s' % account.user in line and 'cmd=set' in line and 'flags=b' in line
                         for line in server.command('CLIENT', 'LIST').splitlines()), 'the write to be held back')
    unlock = lock_args(server, state='unlocked', fence='{{ record }}')
    if at_unlock:
        unlock['queued_writes'] = at_unlock
    run = play([task('lift', 'db_write_lock', unlock)], extra_vars={'record': record})
    writer.join(30)
    assert run.rc == 0, run
    restored = run.task('lift')['restored']
    if (at_unlock or queued_writes) == 'drop':
        assert 'error' in outcome and server.command('EXISTS', key) == 0
        assert len(restored[0]['dropped_sessions']) == 1
    else:
        assert outcome.get('reply') is True and server.command('GET', key) == 'written-during-the-fence'
        assert restored[0]['dropped_sessions'] == []
    client.close()


def test_a_refused_change_rolls_the_fence_back(postgresql_apps):
    """PostgreSQL refuses a CREATEROLE admin to fence a superuser role: the role fenced just before is
    restored, and the message says so."""
    app, boss, ops = postgresql_apps.make(3)
    server = app.server
    server.execute('ALTER ROLE "%s" SUPERUSER' % boss.user)
    server.execute('ALTER ROLE "%s" NOSUPERUSER CREATEROLE' % ops.user)
    server.execute('GRANT pg_read_all_stats, pg_signal_backend TO "%s"' % ops.user)
    try:
        run = play([task('fence', 'db_write_lock', dict(ops.params, scope='accounts', accounts=[app.user, boss.user]),
                         ignore_errors=True)])
        result = run.task('fence')
        assert run.status('fence') == 'failed'
        assert result['msg'].startswith('Could not apply the fence: ')
        assert 'must be superuser to alter superuser roles' in result['msg']
        assert result['msg'].endswith('Nothing is left changed: 1 change rolled back (role_login %s back to LOGIN).' % app.user)
        assert [c['target'] for c in result['rolled_back']] == [app.user] and result['rollback_failed'] == []
        assert server.execute('SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN (%s, %s) ORDER BY rolname',
                              (app.user, boss.user)) == sorted([(app.user, True), (boss.user, True)])
    finally:
        server.execute('ALTER ROLE "%s" NOSUPERUSER' % boss.user)
