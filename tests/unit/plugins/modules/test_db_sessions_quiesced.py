"""db_sessions_quiesced with a fake engine: options, waiting, ending sessions, check mode, errors."""

import json

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.sessions import account_user, mask_secrets
from ansible_collections.dtsops.switchover.plugins.modules import db_sessions_quiesced

from test_db_fake_engine import PASSWORD, add_server, connection, fake_engines  # noqa: F401  pylint: disable=unused-import


def args(**extra):
    values = connection(3306)
    values.update(poll_interval=0.01, timeout=5)
    values.update(extra)
    return values


@pytest.fixture
def server(fake_engines):  # noqa: F811  pylint: disable=redefined-outer-name
    return add_server(3306)


def stop_writing_after(listings):
    """on_list hook: the writing sessions commit after ``listings`` listings."""
    state = {'listings': 0}

    def hook(server):  # pylint: disable=redefined-outer-name
        state['listings'] += 1
        if state['listings'] > listings:
            for session in server.sessions:
                session.update(writing=False, idle=True, command=None, state='Sleep')
    return hook


# -- option validation ----------------------------------------------------------------------

@pytest.mark.parametrize('extra, message', [
    (dict(kill=True), 'kill=true needs accounts'),
    (dict(accounts=['shop_app']), 'set kill=true or leave accounts out'),
    (dict(kill=True, accounts=['dts@%'], exclude_users=['dts']), 'accounts dts@% are also in exclude_users'),
    (dict(poll_interval=0), 'poll_interval must be more than 0 seconds, got 0'),
    (dict(timeout=-1), 'timeout must be 0 or more seconds, got -1'),
    (dict(stable_for=-2), 'stable_for must be 0 or more seconds, got -2'),
    (dict(wait_for='nothing'), 'value of wait_for must be one of: writes, sessions, got: nothing'),
    (dict(engine='db2'), 'value of engine must be one of: mongodb, mysql, oracle, postgresql, redis, sqlserver, got: db2'),
])
def test_bad_options_fail_with_one_clear_message(run_module, server, extra, message):
    result = run_module(db_sessions_quiesced, args(**extra))
    assert result['failed']
    assert message in result['msg']
    assert server.log == []


# -- waiting --------------------------------------------------------------------------------

def test_quiet_at_once_leaves_out_own_and_excluded_sessions(run_module, server):
    server.add_session('shop_app')
    server.add_session('dts', writing=True, command='INSERT INTO orders VALUES (1)')
    server.add_session('replica', writing=True, client='100.104.5.6:40001', command='UPDATE t SET x = 1')
    result = run_module(db_sessions_quiesced, args(exclude_users=['dts'], exclude_clients=['100.104.5.6']))
    assert not result.get('failed'), result
    assert result['quiet'] is True and result['changed'] is False
    assert result['counts'] == {'own': 1, 'excluded': 2, 'writing': 0, 'active': 0, 'idle': 1}
    assert [(s['user'], s['class']) for s in result['sessions']] == [
        ('switchover_admin', 'own'), ('dts', 'excluded'), ('replica', 'excluded'), ('shop_app', 'idle')]
    assert result['polls'] == 1 and result['ended_sessions'] == [] and result['statements'] == []
    assert result['server'] == {'engine': 'mysql', 'flavour': 'mariadb', 'version': '10.11.6'}


def test_waits_until_the_writers_commit(run_module, server):
    server.add_session('shop_app', writing=True, command='UPDATE orders SET paid = 1')
    server.on_list = stop_writing_after(3)
    result = run_module(db_sessions_quiesced, args())
    assert result['quiet'] is True and not result.get('failed')
    assert result['polls'] == 4
    assert [s['writing'] for s in result['samples']] == [1, 1, 1, 0]
    assert result['counts']['writing'] == 0 and result['counts']['idle'] == 1


def test_stable_for_needs_quiet_to_hold(run_module, server):
    result = run_module(db_sessions_quiesced, args(stable_for=0.05))
    assert result['quiet'] is True
    assert result['polls'] >= 2


def test_wait_for_sessions_waits_for_idle_sessions_too(run_module, server):
    server.add_session('shop_app')
    result = run_module(db_sessions_quiesced, args(wait_for='sessions', timeout=0.05))
    assert result['failed']
    assert result['msg'].startswith('Timed out after 0.05 seconds waiting for no session left: 1 session still left: ')
    assert 'shop_app from 10.0.0.' in result['msg']


def test_timeout_names_the_writers_and_masks_their_passwords(run_module, server):
    server.add_session('shop_app', writing=True, command="UPDATE orders SET paid = 1 WHERE id = 7")
    server.add_session('shop_admin', writing=True, command="ALTER USER 'shop_app'@'%' IDENTIFIED BY 'hunter2-secret'")
    result = run_module(db_sessions_quiesced, args(timeout=0.05))
    assert result['failed'] and result['quiet'] is False
    assert 'waiting for no session writing: 2 sessions still writing: 101 (shop_app from 10.0.0.101:50101, db shop, ' \
           'UPDATE orders SET paid = 1 WHERE id = 7); 102 (shop_admin' in result['msg']
    assert 'hunter2-secret' not in json.dumps(result)
    assert "IDENTIFIED BY '********'" in result['sessions'][-1]['command']
    assert result['polls'] >= 2 and result['counts']['writing'] == 2


def test_timeout_zero_looks_once(run_module, server):
    server.add_session('shop_app', writing=True)
    result = run_module(db_sessions_quiesced, args(timeout=0))
    assert result['failed'] and result['polls'] == 1


# -- ending sessions ------------------------------------------------------------------------

def test_kill_ends_the_named_accounts_only(run_module, server):
    app = server.add_session('shop_app', writing=True, command='UPDATE orders SET paid = 1')
    server.add_session('shop_app')
    server.add_session('dts', writing=True, command='INSERT INTO orders VALUES (2)')
    other = server.add_session('reporting')
    result = run_module(db_sessions_quiesced, args(kill=True, accounts=['shop_app@%'], exclude_users=['dts']))
    assert result['changed'] is True and result['quiet'] is True
    assert sorted(s['id'] for s in result['ended_sessions']) == [app['id'], app['id'] + 1]
    assert result['statements'] == ['KILL CONNECTION %d' % app['id'], 'KILL CONNECTION %d' % (app['id'] + 1)]
    assert sorted(s['user'] for s in server.sessions) == ['dts', 'reporting']
    assert other in server.sessions
    assert result['polls'] == 1


def test_kill_ends_sessions_that_reconnect_while_waiting(run_module, server):
    server.add_session('shop_app', writing=True, command='UPDATE orders SET paid = 1')
    state = {'listings': 0}

    def reconnect(srv):
        state['listings'] += 1
        if state['listings'] == 3:
            srv.add_session('shop_app', writing=True, command='INSERT INTO orders VALUES (3)')
    server.on_list = reconnect
    result = run_module(db_sessions_quiesced, args(kill=True, accounts=['shop_app'], stable_for=0.05))
    assert result['quiet'] is True
    assert len(result['ended_sessions']) == 2
    assert server.sessions == []


def test_check_mode_ends_nothing_does_not_wait_and_does_not_fail(run_module, server):
    server.add_session('shop_app', writing=True, command='UPDATE orders SET paid = 1')
    server.add_session('dts', writing=True)
    before = [dict(s) for s in server.sessions]
    result = run_module(db_sessions_quiesced, args(kill=True, accounts=['shop_app'], exclude_users=['dts']), check_mode=True)
    assert not result.get('failed')
    assert result['changed'] is True and result['quiet'] is False and result['polls'] == 1
    assert [s['user'] for s in result['ended_sessions']] == ['shop_app']
    assert result['statements'] == ['KILL CONNECTION 101']
    assert server.sessions == before and server.log == []


def test_check_mode_without_kill_reports_no_change(run_module, server):
    server.add_session('shop_app', writing=True)
    result = run_module(db_sessions_quiesced, args(), check_mode=True)
    assert result['changed'] is False and result['quiet'] is False and result['statements'] == []


def test_sessions_ended_before_a_kill_failure_are_reported(run_module, server, monkeypatch):
    first = server.add_session('shop_app', writing=True)
    second = server.add_session('shop_app', writing=True)
    from test_db_fake_engine import FakeEngine

    def end_one_then_fail(self, sessions):
        self.execute('KILL CONNECTION %d' % sessions[0]['id'], write=True)
        error = EngineError('cannot end session %d of shop_app: missing privilege CONNECTION ADMIN' % sessions[1]['id'])
        error.ended = [sessions[0]['id']]
        raise error
    monkeypatch.setattr(FakeEngine, 'end_sessions', end_one_then_fail)
    result = run_module(db_sessions_quiesced, args(kill=True, accounts=['shop_app']))
    assert result['failed']
    assert result['msg'] == ('Error while ending sessions on the mysql server at 127.0.0.1:3306: cannot end session %d of '
                             'shop_app: missing privilege CONNECTION ADMIN' % second['id'])
    assert [s['id'] for s in result['ended_sessions']] == [first['id']]
    assert result['statements'] == ['KILL CONNECTION %d' % first['id']]


# -- errors ---------------------------------------------------------------------------------

def test_wrong_password_fails_without_showing_it(run_module, server):
    result = run_module(db_sessions_quiesced, args(login_password='not-' + PASSWORD))
    assert result['failed']
    assert result['msg'] == ("Cannot connect to the database mysql at 127.0.0.1:3306: access denied for user "
                             "'switchover_admin': wrong login_password?")
    assert PASSWORD not in json.dumps(result)


def test_unreachable_server(run_module, server):
    result = run_module(db_sessions_quiesced, args(login_port=3999))
    assert result['failed']
    assert 'Cannot connect to the database mysql at 127.0.0.1:3999: cannot reach 127.0.0.1:3999: connection refused' in result['msg']


def test_engine_error_while_listing(run_module, server):
    server.fail_listing = EngineError('the PROCESS privilege is needed to see the sessions of other users')
    result = run_module(db_sessions_quiesced, args())
    assert result['failed']
    assert result['msg'] == ('Error while listing sessions on the mysql server at 127.0.0.1:3306: '
                             'the PROCESS privilege is needed to see the sessions of other users')
    assert 'exception' not in result


def test_unexpected_driver_error_is_one_line_with_its_type(run_module, server):
    server.fail_listing = ConnectionResetError('Connection reset by peer')
    result = run_module(db_sessions_quiesced, args())
    assert result['failed']
    assert result['msg'] == ('Error while listing sessions on the mysql server at 127.0.0.1:3306: '
                             'ConnectionResetError: Connection reset by peer')
    assert 'Traceback' not in json.dumps(result)  # ansible-core 2.19 adds it only when tracebacks are enabled


def test_password_never_in_output(run_module, server):
    server.add_session('shop_app', writing=True)
    for result in (run_module(db_sessions_quiesced, args(timeout=0.05)), run_module(db_sessions_quiesced, args(kill=True, accounts=['shop_app']))):
        assert PASSWORD not in json.dumps(result)


# -- helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize('statement, masked', [
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x1'", "CREATE USER 'a'@'%' IDENTIFIED BY '********'"),
    ("ALTER USER a IDENTIFIED WITH mysql_native_password BY \"x'2\"", "ALTER USER a IDENTIFIED WITH mysql_native_password BY '********'"),
    ("SET PASSWORD FOR a = PASSWORD('x3')", "SET PASSWORD FOR a = PASSWORD('********')"),
    ("ALTER ROLE app WITH PASSWORD 'x4' LOGIN", "ALTER ROLE app WITH PASSWORD '********' LOGIN"),
    ("ALTER ROLE app WITH ENCRYPTED PASSWORD 'x5'", "ALTER ROLE app WITH ENCRYPTED PASSWORD '********'"),
    ('{"createUser": "a", "pwd": "x6"}', '{"createUser": "a", "pwd": \'********\'}'),
    ('AUTH default x7', 'AUTH ********'),
    ('SELECT 1', 'SELECT 1'),
])
def test_mask_secrets(statement, masked):
    assert mask_secrets(statement) == masked


@pytest.mark.parametrize('account, user', [('app', 'app'), ("'app'@'10.%'", 'app'), ('app@%', 'app'), ('`app`', 'app')])
def test_account_user(account, user):
    assert account_user(account) == user
