"""db_sessions_quiesced through ansible-playbook against real MariaDB, PostgreSQL and Redis servers,
with real application sessions: idle ones, open write transactions (Redis: a MULTI with a queued
write), and the migration account's."""

import contextlib
import threading

from test_db_apps import apps, kind, play, task  # noqa: F401  pylint: disable=unused-import
from polling import wait_for


def quiesce_args(server, **extra):
    args = dict(server.params, poll_interval=0.2, timeout=30)
    args.update(extra)
    return args


@contextlib.contextmanager
def listing_watch(kind, server):  # pylint: disable=redefined-outer-name
    """Yields a function telling whether another admin session has listed the sessions: the module
    has looked at least once. MariaDB shows it only in the general log, so that is on meanwhile."""
    if kind == 'mariadb':
        server.execute('TRUNCATE mysql.general_log')
        server.execute("SET GLOBAL log_output = 'TABLE', GLOBAL general_log = ON")

        def listed():
            # The pattern is built so that this query does not match itself in the log.
            return bool(server.execute("SELECT 1 FROM mysql.general_log WHERE command_type = 'Query' AND "
                                       "argument LIKE CONCAT('%%LEFT JOIN information_schema.', 'INNODB_', 'TRX%%')"))
    elif kind == 'postgresql':
        def listed():
            return bool(server.execute("SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND usename = 'postgres' "
                                       "AND query LIKE CONCAT('%%FROM pg_stat_activity WHERE backend_', 'type%%')"))
    else:
        # The module's own connection shows its last command: CLIENT LIST, then the ACL and
        # COMMAND look-ups that classify what it listed (before listing, only SETNAME/ID/INFO).
        after_listing = ('cmd=client|list', 'cmd=acl|getuser', 'cmd=command|info')

        def listed():
            return any('name=dtsops.switchover ' in line and any(cmd in line for cmd in after_listing)
                       for line in server.command('CLIENT', 'LIST').splitlines())
    try:
        yield listed
    finally:
        if kind == 'mariadb':
            server.execute('SET GLOBAL general_log = OFF')
            server.execute('TRUNCATE mysql.general_log')


class Background(threading.Thread):
    """Runs a playbook while the test acts on the server."""

    def __init__(self, tasks, **kwargs):
        super(Background, self).__init__(daemon=True)
        self.tasks = tasks
        self.kwargs = kwargs
        self.run_result = None

    def run(self):
        self.run_result = play(self.tasks, **self.kwargs)

    def result(self):
        self.join(300)
        return self.run_result


def test_waits_while_a_write_transaction_is_open_then_returns(apps):
    app, migration = apps(2)
    server = app.server
    idle = app.connect()
    writer = app.connect()
    app.begin_write(writer, 'uncommitted')
    migration_writer = migration.connect()
    migration.begin_write(migration_writer, 'migration-keeps-writing')
    writer_id, idle_id = app.session_id(writer), app.session_id(idle)

    with listing_watch(app.kind, server) as listed:
        background = Background([task('quiet', 'db_sessions_quiesced', quiesce_args(server, exclude_users=[migration.user]))])
        background.start()
        wait_for(listed, 'the module to list the sessions')
        app.commit(writer)
        run = background.result()
    assert run.rc == 0, run
    result = run.task('quiet')
    assert result['quiet'] is True and result['changed'] is False
    assert result['samples'][0]['writing'] == 1 and result['samples'][-1]['writing'] == 0
    assert result['polls'] >= 2
    classes = dict((s['id'], s['class']) for s in result['sessions'])
    assert classes[writer_id] == 'idle' and classes[idle_id] == 'idle'
    assert classes[migration.session_id(migration_writer)] == 'excluded'
    assert [s['class'] for s in result['sessions']].count('own') == 1
    assert result['ended_sessions'] == []
    # Nothing was ended: the migration account's transaction still commits.
    migration.commit(migration_writer)
    for conn in (idle, writer, migration_writer):
        conn.close()


def test_timeout_names_the_writer_and_ends_nothing(apps):
    app = apps()[0]
    idle = app.connect()
    writer = app.connect()
    app.begin_write(writer, 'uncommitted')
    writer_id = app.session_id(writer)

    run = play([task('quiet', 'db_sessions_quiesced', quiesce_args(app.server, timeout=0.5), ignore_errors=True)])
    result = run.task('quiet')
    assert run.status('quiet') == 'failed'
    assert result['msg'].startswith('Timed out after 0.5 seconds waiting for no session writing: 1 session still writing: %d (%s from '
                                    % (writer_id, app.user)), result['msg']
    assert result['quiet'] is False and result['counts']['writing'] == 1
    assert [s['id'] for s in result['sessions'] if s['class'] == 'writing'] == [writer_id]
    assert app.session_id(idle) in [s['id'] for s in result['sessions'] if s['class'] == 'idle']
    app.commit(writer)
    assert app.alive(writer) and app.alive(idle)
    idle.close()
    writer.close()


def test_kill_ends_the_named_accounts_sessions_only(apps):
    app, migration, bystander = apps(3)
    app_conns = [app.connect(), app.connect()]
    app.begin_write(app_conns[1], 'uncommitted')
    app_ids = sorted(app.session_id(conn) for conn in app_conns)
    migration_writer = migration.connect()
    migration.begin_write(migration_writer, 'migration-keeps-writing')
    other = bystander.connect()

    args = quiesce_args(app.server, exclude_users=[migration.user], kill=True, accounts=[app.user])
    run = play([
        task('would end', 'db_sessions_quiesced', args, check_mode=True),
    ])
    would = run.task('would end')
    assert run.rc == 0, run
    assert would['changed'] is True and sorted(s['id'] for s in would['ended_sessions']) == app_ids
    assert all(app.alive(conn) for conn in app_conns) and all(app.listed(i) for i in app_ids)

    run = play([task('end them', 'db_sessions_quiesced', dict(args, wait_for='sessions', exclude_users=[migration.user, bystander.user]))])
    assert run.rc == 0, run
    result = run.task('end them')
    assert result['changed'] is True and result['quiet'] is True
    assert sorted(s['id'] for s in result['ended_sessions']) == app_ids
    assert len([s for s in result['statements'] if s.startswith(('KILL', 'SELECT pg_terminate_backend', 'CLIENT KILL'))]) == 2
    for session_id, conn in zip(sorted(app_ids), sorted(app_conns, key=app.session_id)):
        assert not app.listed(session_id) and not app.alive(conn)
    # The migration account's open transaction and the bystander were left alone.
    migration.commit(migration_writer)
    assert bystander.alive(other)
    for conn in (migration_writer, other):
        conn.close()


def test_bad_input_and_missing_privilege(kind, apps):
    app, limited = apps(2)
    server = app.server
    if kind == 'mariadb':
        # Sees every session (PROCESS) but may not end other accounts' sessions.
        server.execute("GRANT PROCESS ON *.* TO %s@'%%'", (limited.user,))
    elif kind == 'redis':
        # May list clients but not end them.
        server.command('ACL', 'SETUSER', limited.user, 'reset', 'on', '>' + limited.password, '~*', '+@read', '+client|list',
                       '+client|id', '+client|setname', '+info', '+command|info', '+ping', '+hello', '+acl|getuser')
    idle = app.connect()
    run = play([
        task('kill without accounts', 'db_sessions_quiesced', quiesce_args(server, kill=True), ignore_errors=True),
        task('migration account in accounts', 'db_sessions_quiesced',
             quiesce_args(server, kill=True, accounts=[app.user], exclude_users=[app.user]), ignore_errors=True),
        task('cannot end', 'db_sessions_quiesced',
             dict(limited.account.params, kill=True, accounts=[app.user], timeout=5, poll_interval=0.2), ignore_errors=True),
    ])
    messages = dict((name, run.task(name)['msg']) for name in ('kill without accounts', 'migration account in accounts', 'cannot end'))
    assert messages['kill without accounts'] == 'kill=true needs accounts: the application accounts whose sessions may be ended.'
    assert messages['migration account in accounts'].startswith('accounts %s are also in exclude_users' % app.user)
    expected = {
        'mariadb': 'missing privilege CONNECTION ADMIN',
        'postgresql': 'pg_read_all_stats',
        'redis': "no permissions to run the 'client|kill' command",
    }[kind]
    assert run.status('cannot end') == 'failed' and expected in messages['cannot end'], messages['cannot end']
    assert 'Traceback' not in messages['cannot end']
    assert app.alive(idle)
    idle.close()
