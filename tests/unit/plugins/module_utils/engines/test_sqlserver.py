"""SQL Server engine through the real pymssql API: pymssql.connect patched to a SQL Server model
(tests/unit/fakes/sqlserver.py) that logs every statement, and the real pymssql/FreeTDS for what
runs without a server (connection refused, the TLS section FreeTDS reads)."""

import importlib.util
import json
import os
import socket
import sys
import tempfile

import pymssql
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import sqlserver
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    EngineError,
    FenceError,
    MissingDriver,
    NotSupported,
    classify_sessions,
)
from unit.fakes.sqlserver import FakeSQLServer, server_error

PASSWORD = 'Adm1n-pa55'
PARAMS = dict(engine='sqlserver', login_host='sql.example.com', login_port=None, login_user='switchover_admin',
              login_password=PASSWORD, login_db=None, ssl_mode='prefer', ca_cert=None, client_cert=None,
              client_key=None, connect_timeout=7)


@pytest.fixture
def server(monkeypatch):
    fake = FakeSQLServer()
    for name in ('crm', 'shop'):
        fake.add_database(name)
    for name in ('app', 'batch', 'dts'):
        fake.add_login(name)
    fake.privileged.add('dts')
    monkeypatch.setattr(pymssql, 'connect', fake.connect)
    return fake


def connected(check_mode=False, **params):
    engine = sqlserver.SQLServerEngine(dict(PARAMS, **params), check_mode=check_mode)
    engine.connect()
    return engine


@pytest.fixture
def engine(server):
    engine = connected()
    server.reset_log()
    yield engine
    engine.close()


def changes(statements):
    """The statements that change something (reads are recorded too, once each)."""
    return [statement for statement in statements if not statement.startswith('SELECT')]


def once_each(log):
    """A server log with repeated statements dropped: what an engine records."""
    seen = []
    for statement in log:
        if statement not in seen:
            seen.append(statement)
    return seen


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# -- connection -----------------------------------------------------------------------------------
def test_connect_passes_options_to_pymssql_and_reads_server_info(server):
    engine = connected()
    call = server.connect_calls[-1]
    assert call == dict(server='sql.example.com', port='1433', user='switchover_admin', password=PASSWORD,
                        database='master', login_timeout=7, appname='dtsops.switchover', autocommit=True,
                        encryption='request')
    info = engine.server_info()
    assert info == dict(engine='sqlserver', flavour='sqlserver', version='16.0.4135.4', version_info=[16, 0, 4135],
                        edition='Enterprise Edition: Core-based Licensing (64-bit)', login='switchover_admin',
                        session_id=engine._info['spid'])
    assert engine.statements == [sqlserver.INFO_SQL] and server.log == [sqlserver.INFO_SQL]
    engine.close()
    assert engine.conn is None


@pytest.mark.parametrize('engine_edition, flavour', [(5, 'azure-sql-database'), (8, 'azure-sql-managed-instance')])
def test_server_info_names_azure_flavours(server, engine_edition, flavour):
    server.engine_edition = engine_edition
    assert connected().server_info()['flavour'] == flavour


@pytest.mark.parametrize('ssl_mode, encryption', [('disable', 'off'), ('prefer', 'request'), ('require', 'require')])
def test_ssl_modes_without_certificate_checks_map_to_the_encryption_level(server, ssl_mode, encryption):
    connected(ssl_mode=ssl_mode)
    assert server.connect_calls[-1]['encryption'] == encryption
    assert server.connect_calls[-1]['server'] == 'sql.example.com'
    assert server.freetds_conf is None


@pytest.mark.parametrize('ssl_mode, check_hostname', [('verify-ca', 'no'), ('verify-full', 'yes'), ('require', 'no')])
def test_certificate_checks_go_through_a_private_freetds_section(server, tmp_path, monkeypatch, ssl_mode, check_hostname):
    ca = tmp_path / 'ca.pem'
    ca.write_text('-----BEGIN CERTIFICATE-----\n')
    monkeypatch.setenv('FREETDSCONF', '/etc/freetds/user.conf')
    connected(ssl_mode=ssl_mode, ca_cert=str(ca))
    call = server.connect_calls[-1]
    section = call['server']
    assert section.startswith('dtsops_') and call['port'] == '1433' and call['encryption'] == 'require'
    assert server.freetds_conf == ('[%s]\n\thost = sql.example.com\n\tencryption = require\n\tca file = %s\n'
                                   '\tcheck certificate hostname = %s\n' % (section, ca, check_hostname))
    # The user's own setting is back and the private file is gone.
    assert os.environ['FREETDSCONF'] == '/etc/freetds/user.conf'
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), 'dtsops-freetds-' + section[len('dtsops_'):]))


def test_verify_full_without_ca_uses_the_system_store(server, monkeypatch):
    monkeypatch.delenv('FREETDSCONF', raising=False)
    connected(ssl_mode='verify-full')
    assert '\tca file = system\n\tcheck certificate hostname = yes\n' in server.freetds_conf
    assert 'FREETDSCONF' not in os.environ


@pytest.mark.parametrize('params, message', [
    (dict(client_cert='/c.pem'), 'SQL Server does not authenticate clients by certificate: remove client_cert and client_key.'),
    (dict(ssl_mode='verify-ca', ca_cert='/nonexistent/ca.pem'), 'ca_cert /nonexistent/ca.pem is not a readable file.'),
])
def test_tls_options_that_cannot_work_fail_before_connecting(server, params, message):
    with pytest.raises(EngineError, match='^%s$' % message.replace('.', r'\.')):
        connected(**params)
    assert server.connect_calls == []


def test_real_freetds_reads_the_private_section_and_reports_a_refused_connection(tmp_path, monkeypatch):
    """No fake: the bundled FreeTDS logs (TDSDUMP) the section it found, then cannot connect."""
    ca = tmp_path / 'ca.pem'
    ca.write_text('unused: the connection is refused before TLS\n')
    dump = tmp_path / 'tds.log'
    monkeypatch.setenv('TDSDUMP', str(dump))
    monkeypatch.delenv('FREETDSCONF', raising=False)
    engine = sqlserver.SQLServerEngine(dict(PARAMS, login_host='127.0.0.1', login_port=free_port(), ssl_mode='verify-full',
                                            ca_cert=str(ca), connect_timeout=3))
    with pytest.raises(EngineError) as error:
        engine.connect()
    message = str(error.value)
    assert message.startswith('cannot reach the server: Unable to connect: TDS server is unavailable or does not exist')
    assert 'Connection refused' in message and PASSWORD not in message and 'DB-Lib' not in message
    log = dump.read_text()
    assert "host = '127.0.0.1'" in log and "encryption = 'require'" in log
    assert "ca file = '%s'" % ca in log and "check certificate hostname = 'yes'" in log
    assert PASSWORD not in log
    assert 'FREETDSCONF' not in os.environ


def test_real_driver_unreachable_host_without_tls():
    engine = sqlserver.SQLServerEngine(dict(PARAMS, login_host='127.0.0.1', login_port=free_port(), ssl_mode='disable'))
    with pytest.raises(EngineError, match=r'^cannot reach the server: Unable to connect: .*\(127\.0\.0\.1\) '
                                          r'Net-Lib error during Connection refused \(111\)$'):
        engine.connect()


def test_wrong_password_says_what_to_check_without_the_password(server):
    with pytest.raises(EngineError) as error:
        connected(login_password='wrong-' + PASSWORD)
    assert str(error.value) == ("Login failed for user 'switchover_admin'. Check login_user and login_password "
                                "(SQL Server error 18456).")


def test_missing_driver_is_reported_with_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pymssql', None)
    spec = importlib.util.spec_from_file_location('sqlserver_without_driver', sqlserver.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(MissingDriver) as error:
        module.SQLServerEngine(PARAMS).connect()
    assert error.value.package == 'pymssql'
    assert 'No module named' in error.value.reason or 'import of pymssql halted' in error.value.reason


# -- sessions -------------------------------------------------------------------------------------
def test_sessions_are_normalised_and_classified(server, engine):
    idle = server.add_session('app', database='shop')
    writer = server.add_session('app', database='shop', open_transactions=1, log_bytes=2048, max_state=4)
    running_update = server.add_session('batch', database='crm', address='fe80::1', port=50123, status='running',
                                        command='UPDATE', request_status='running', statement='UPDATE t SET x = 1')
    reader = server.add_session('app', database='shop', status='running', command='SELECT', request_status='suspended',
                                statement='SELECT * FROM orders')
    open_read_tran = server.add_session('app', database='shop', open_transactions=1, max_state=3)
    dts = server.add_session('dts', database='shop', open_transactions=1, log_bytes=512, max_state=4)
    sessions = engine.sessions()
    assert server.log == [sqlserver.SESSIONS_SQL] and changes(engine.statements) == []
    by_id = dict((s['id'], s) for s in sessions)
    assert by_id[writer] == dict(id=writer, user='app', client='10.0.0.5:50001', database='shop', state='sleeping',
                                 command=None, writing=True, idle=False, own=False, age=3, program='app',
                                 host_name='apphost', open_transactions=1, log_bytes=2048)
    assert by_id[running_update]['client'] == '[fe80::1]:50123'
    assert by_id[running_update]['command'] == 'UPDATE t SET x = 1'
    assert by_id[running_update]['state'] == 'running'
    groups = classify_sessions(sessions, exclude_users=['dts'])
    assert [s['id'] for s in groups['own']] == [engine._info['spid']]
    assert [s['id'] for s in groups['excluded']] == [dts]
    assert sorted(s['id'] for s in groups['writing']) == [writer, running_update]
    assert sorted(s['id'] for s in groups['active']) == [reader, open_read_tran]
    assert [s['id'] for s in groups['idle']] == [idle]


def test_other_sessions_statements_are_shown_without_their_secrets(server, engine):
    server.add_session('dba', status='running', command='CREATE LOGIN', request_status='running',
                       statement="CREATE LOGIN [x] WITH PASSWORD = N'S3cr''et', CHECK_POLICY = OFF; "
                                 "ALTER LOGIN [y] WITH PASSWORD='n3w' OLD_PASSWORD = 'old'")
    statement = [s for s in engine.sessions() if s['user'] == 'dba'][0]['command']
    assert statement == ("CREATE LOGIN [x] WITH PASSWORD = N'********', CHECK_POLICY = OFF; "
                         "ALTER LOGIN [y] WITH PASSWORD='********' OLD_PASSWORD = '********'")


def test_sessions_refuse_to_answer_without_view_server_state(server, engine):
    server.permissions.discard('VIEW SERVER STATE')
    server.add_session('app', database='shop', log_bytes=10, max_state=4)
    with pytest.raises(EngineError, match=r'^login_user switchover_admin lacks the server permission VIEW SERVER STATE '
                                          r'\(GRANT VIEW SERVER STATE TO \[switchover_admin\]\)\.$'):
        connected().sessions()


def test_sessions_need_sql_server_2012(server):
    server.version = '10.50.6000.34'
    with pytest.raises(NotSupported, match='SQL Server 2012 or later'):
        connected().sessions()


def test_end_sessions_kills_by_spid_and_skips_our_own_and_gone_ones(server, engine):
    first = server.add_session('app', database='shop')
    second = server.add_session('app', database='shop')
    sessions = [s for s in engine.sessions() if s['user'] in ('app', 'switchover_admin')]
    del server.sessions[second]
    server.reset_log()
    assert engine.end_sessions(sessions) == [first]
    assert server.log == ['KILL %d' % first, 'KILL %d' % second]
    assert changes(engine.statements) == server.log
    assert first not in server.sessions and engine._info['spid'] in server.sessions


def test_end_sessions_in_check_mode_kills_nothing(server):
    victim = server.add_session('app', database='shop')
    engine = connected(check_mode=True)
    server.reset_log()
    assert engine.end_sessions([{'id': victim, 'own': False}]) == [victim]
    assert changes(engine.statements) == ['KILL %d' % victim] and server.writes == []
    assert victim in server.sessions


def test_end_sessions_names_the_missing_permission(server, engine):
    victim = server.add_session('app', database='shop')
    server.permissions.discard('ALTER ANY CONNECTION')
    with pytest.raises(EngineError, match=r'^missing privilege ALTER ANY CONNECTION for KILL %d: User does not have '
                                          r'permission to use the KILL statement\. \(SQL Server error 6102\)$' % victim):
        engine.end_sessions([{'id': victim}])


def test_end_sessions_rejects_ids_that_are_not_spids(engine):
    with pytest.raises(EngineError, match=r"'1; DROP TABLE x' is not a SQL Server session id"):
        engine.end_sessions([{'id': '1; DROP TABLE x'}])


def test_statements_are_what_the_server_received_with_reads_once_each(server):
    server.add_session('app', database='shop')
    engine = connected()
    for dummy in range(3):
        engine.sessions()
    engine.fence('accounts', ['app'])
    assert engine.statements == once_each(server.log)
    assert engine.statements.count(sqlserver.SESSIONS_SQL) == 1 and server.log.count(sqlserver.SESSIONS_SQL) == 4


# -- instance fence -------------------------------------------------------------------------------
def test_instance_fence_sets_each_user_database_read_only_and_lists_who_was_disconnected(server, engine):
    app = server.add_session('app', database='shop')
    dts = server.add_session('dts', database='crm')
    elsewhere = server.add_session('batch', database='master')
    record = engine.fence('instance', exclude_users=['dts'])
    assert server.writes == ['ALTER DATABASE [crm] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
                             'ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE']
    assert changes(engine.statements) == server.writes
    assert record['changes'] == [
        {'kind': 'database', 'target': 'crm', 'before': 'READ_WRITE', 'after': 'READ_ONLY'},
        {'kind': 'database', 'target': 'shop', 'before': 'READ_WRITE', 'after': 'READ_ONLY'},
    ]
    assert [s['id'] for s in record['ended_sessions']] == [app]
    assert [s['id'] for s in record['extra']['excluded_sessions_disconnected']] == [dts]
    assert dict((k, record[k]) for k in ('engine', 'scope', 'server', 'flavour', 'version', 'accounts')) == dict(
        engine='sqlserver', scope='instance', server='sql.example.com:1433', flavour='sqlserver', version='16.0.4135.4',
        accounts=[])
    assert record['extra']['termination'] == 'ROLLBACK IMMEDIATE' and record['extra']['check_mode'] is False
    assert app not in server.sessions and dts not in server.sessions and elsewhere in server.sessions
    assert engine.fence_state('instance') == {'crm': 'READ_ONLY', 'shop': 'READ_ONLY'}
    json.dumps(record)


def test_instance_fence_restricted_to_named_databases(server, engine):
    server.add_database('Billing')
    record = engine.fence('instance', options={'databases': ['billing'], 'lease': None})
    assert server.writes == ['ALTER DATABASE [Billing] SET READ_ONLY WITH ROLLBACK IMMEDIATE']
    assert [c['target'] for c in record['changes']] == ['Billing']


@pytest.mark.parametrize('options, message', [
    ({'databases': ['shop', 'nope']}, 'database nope not found among the user databases of sql.example.com:1433'),
    ({'databases': ['master']}, 'database master not found among the user databases'),
    ({'databases': ['shop'], 'lease': 30}, 'option lease does not apply to SQL Server'),
])
def test_instance_fence_bad_options_change_nothing(server, engine, options, message):
    with pytest.raises(EngineError, match=message):
        engine.fence('instance', options=options)
    assert server.writes == []


def test_instance_fence_refuses_an_offline_database_it_was_asked_for(server, engine):
    server.add_database('archive', state='OFFLINE')
    with pytest.raises(EngineError, match='^database archive is not ONLINE: it cannot be made read-only.$'):
        engine.fence('instance', options={'databases': ['archive']})
    record = engine.fence('instance')
    assert [c['target'] for c in record['changes']] == ['crm', 'shop']


def test_instance_fence_checks_alter_permission_before_changing_anything(server, engine):
    server.databases['shop']['can_alter'] = False
    with pytest.raises(EngineError, match=r'^login_user switchover_admin lacks the permission ALTER on database shop '
                                          r'\(needed for ALTER DATABASE \.\.\. SET READ_ONLY; db_owner has it\)\.$'):
        engine.fence('instance')
    assert server.writes == []


def test_instance_fence_of_a_read_only_database_records_no_change_and_undo_keeps_it(server, engine):
    server.databases['crm']['read_only'] = True
    record = engine.fence('instance')
    assert record['changes'][0] == {'kind': 'database', 'target': 'crm', 'before': 'READ_ONLY', 'after': 'READ_ONLY'}
    assert server.writes == ['ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE']
    server.reset_log()
    assert engine.unfence(record) == [record['changes'][1]]
    assert server.writes == ['ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE']
    assert server.databases['crm']['read_only'] is True and server.databases['shop']['read_only'] is False


def test_instance_fence_without_ending_sessions_fails_at_once_and_rolls_back(server, engine):
    server.add_session('app', database='shop')
    with pytest.raises(FenceError) as error:
        engine.fence('instance', end_sessions=False)
    assert server.writes == ['ALTER DATABASE [crm] SET READ_ONLY WITH NO_WAIT',
                             'ALTER DATABASE [shop] SET READ_ONLY WITH NO_WAIT',
                             'ALTER DATABASE [crm] SET READ_WRITE WITH ROLLBACK IMMEDIATE']
    assert str(error.value) == (
        "ALTER DATABASE [shop] SET READ_ONLY WITH NO_WAIT failed: Database state cannot be changed while other users "
        "are using the database 'shop' (SQL Server error 5070). Sessions are using the database or hold locks on it: "
        "end them (end_sessions: true uses WITH ROLLBACK IMMEDIATE) and try again")
    assert [c['target'] for c in error.value.rolled_back] == ['crm'] and error.value.rollback_failed == []
    assert not any(db['read_only'] for db in server.databases.values())


def test_third_of_five_changes_failing_undoes_the_first_two_in_reverse_order(server, engine):
    server.databases.clear()
    for name in ('a1', 'a2', 'a3', 'a4', 'a5'):
        server.add_database(name)
    server.fail(r'ALTER DATABASE \[a3\] SET READ_ONLY', lambda: server_error(5069, 'ALTER DATABASE statement failed.'))
    with pytest.raises(FenceError) as error:
        engine.fence('instance')
    assert server.writes == [
        'ALTER DATABASE [a1] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [a2] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [a3] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [a2] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [a1] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
    ]
    assert [c['target'] for c in error.value.rolled_back] == ['a2', 'a1']
    assert 'SQL Server hides the reason behind this message: login_user lacks ALTER on the database' in str(error.value)
    assert not any(db['read_only'] for db in server.databases.values())


def test_a_rollback_that_fails_is_reported_as_still_in_place(server, engine):
    server.fail(r'ALTER DATABASE \[shop\] SET READ_ONLY', lambda: server_error(5061, 'lock timeout.'))
    server.fail(r'ALTER DATABASE \[crm\] SET READ_WRITE', lambda: server_error(5061, 'lock timeout.'))
    with pytest.raises(FenceError) as error:
        engine.fence('instance')
    assert error.value.rolled_back == []
    assert error.value.rollback_failed == [{'kind': 'database', 'target': 'crm', 'before': 'READ_WRITE', 'after': 'READ_ONLY'}]
    assert server.databases['crm']['read_only'] is True


# -- accounts fence -------------------------------------------------------------------------------
def test_accounts_fence_disables_the_logins_and_kills_their_sessions(server, engine):
    app = server.add_session('app', database='shop')
    batch = server.add_session('BATCH', database='crm')
    dts = server.add_session('dts', database='shop')
    record = engine.fence('accounts', ['app', 'batch'], exclude_users=['dts'])
    assert server.writes == ['ALTER LOGIN [app] DISABLE', 'ALTER LOGIN [batch] DISABLE', 'KILL %d' % app, 'KILL %d' % batch]
    assert changes(engine.statements) == server.writes
    assert record['changes'] == [{'kind': 'login', 'target': 'app', 'before': 'enabled', 'after': 'disabled'},
                                 {'kind': 'login', 'target': 'batch', 'before': 'enabled', 'after': 'disabled'}]
    assert record['accounts'] == ['app', 'batch'] and [s['id'] for s in record['ended_sessions']] == [app, batch]
    assert dts in server.sessions
    # The server's own effect: the login cannot connect any more, the migration account can.
    with pytest.raises(pymssql.OperationalError) as refused:
        server.connect(server='x', user='app', password='app-pa55')
    assert refused.value.args[0][0] == 18470
    server.connect(server='x', user='dts', password='app-pa55')
    assert engine.fence_state('accounts', ['app', 'BATCH', 'dts']) == {'app': 'disabled', 'batch': 'disabled', 'dts': 'enabled'}


def test_accounts_fence_without_ending_sessions_only_disables(server, engine):
    app = server.add_session('app', database='shop')
    record = engine.fence('accounts', ['app'], end_sessions=False)
    assert server.writes == ['ALTER LOGIN [app] DISABLE'] and record['ended_sessions'] == []
    assert app in server.sessions


def test_accounts_fence_of_a_missing_login_changes_nothing(server, engine):
    with pytest.raises(EngineError, match=r'^login ghost does not exist on sql\.example\.com:1433'):
        engine.fence('accounts', ['app', 'ghost'])
    assert server.writes == []


@pytest.mark.parametrize('accounts, exclude, message', [
    (['app', 'Switchover_Admin'], [], 'login Switchover_Admin is login_user: fencing it would lock out the connection'),
    (['app'], ['APP'], 'login app is both fenced (accounts) and excluded (exclude_users).'),
])
def test_accounts_fence_refuses_to_lock_out_the_admin_or_the_migration_account(server, engine, accounts, exclude, message):
    with pytest.raises(EngineError) as error:
        engine.fence('accounts', accounts, exclude_users=exclude)
    assert str(error.value).startswith(message) and server.writes == []


@pytest.mark.parametrize('permission', ['ALTER ANY LOGIN', 'ALTER ANY CONNECTION', 'VIEW SERVER STATE'])
def test_accounts_fence_names_a_missing_permission_before_changing_anything(server, permission):
    server.permissions.discard(permission)
    engine = connected()
    with pytest.raises(EngineError, match='lacks the server permission %s' % permission):
        engine.fence('accounts', ['app'])
    assert server.writes == []


def test_accounts_fence_is_all_or_nothing(server, engine):
    for name in ('u3', 'u4', 'u5'):
        server.add_login(name)
    server.fail(r'ALTER LOGIN \[u3\] DISABLE', lambda: server_error(
        15151, "Cannot alter the login 'u3', because it does not exist or you do not have permission."))
    with pytest.raises(FenceError) as error:
        engine.fence('accounts', ['app', 'batch', 'u3', 'u4', 'u5'])
    assert server.writes == ['ALTER LOGIN [app] DISABLE', 'ALTER LOGIN [batch] DISABLE', 'ALTER LOGIN [u3] DISABLE',
                             'ALTER LOGIN [batch] ENABLE', 'ALTER LOGIN [app] ENABLE']
    assert str(error.value) == ("missing privilege ALTER ANY LOGIN for ALTER LOGIN [u3] DISABLE: Cannot alter the login 'u3', "
                                "because it does not exist or you do not have permission. (SQL Server error 15151)")
    assert not any(login['disabled'] for login in server.logins.values())


def test_a_failed_kill_rolls_the_logins_back(server, engine):
    app = server.add_session('app', database='shop')
    server.fail(r'KILL', lambda: server_error(6102, 'User does not have permission to use the KILL statement.', 14))
    with pytest.raises(FenceError, match='missing privilege ALTER ANY CONNECTION'):
        engine.fence('accounts', ['app'])
    assert server.writes == ['ALTER LOGIN [app] DISABLE', 'KILL %d' % app, 'ALTER LOGIN [app] ENABLE']
    assert server.logins['app']['disabled'] is False


def test_a_failed_session_listing_after_the_change_rolls_the_logins_back(server, engine):
    server.add_session('app', database='shop')
    server.fail(r'FROM sys\.dm_exec_sessions', lambda: server_error(1222, 'Lock request time out period exceeded.'))
    with pytest.raises(FenceError, match='Lock request time out period exceeded') as error:
        engine.fence('accounts', ['app'])
    assert server.writes == ['ALTER LOGIN [app] DISABLE', 'ALTER LOGIN [app] ENABLE']
    assert [c['target'] for c in error.value.rolled_back] == ['app'] and server.logins['app']['disabled'] is False


def test_a_kill_that_fails_after_others_names_the_sessions_already_ended(server, engine):
    first, second = server.add_session('app', database='shop'), server.add_session('app', database='shop')
    server.fail(r'KILL %d' % second, lambda: server_error(6102, 'User does not have permission to use the KILL statement.', 14))
    with pytest.raises(FenceError) as error:
        engine.fence('accounts', ['app'])
    assert '(sessions already ended: %d)' % first in str(error.value)
    assert server.logins['app']['disabled'] is False


def test_accounts_fence_of_a_disabled_login_records_no_change_and_undo_keeps_it(server, engine):
    server.logins['batch']['disabled'] = True
    record = engine.fence('accounts', ['app', 'batch'], end_sessions=False)
    assert record['changes'][1] == {'kind': 'login', 'target': 'batch', 'before': 'disabled', 'after': 'disabled'}
    assert server.writes == ['ALTER LOGIN [app] DISABLE']
    server.reset_log()
    engine.unfence(record)
    assert server.writes == ['ALTER LOGIN [app] ENABLE']
    assert server.logins['batch']['disabled'] is True


# -- undo -----------------------------------------------------------------------------------------
def test_unfence_from_a_fresh_engine_with_only_the_json_record(server, engine):
    record = json.loads(json.dumps(engine.fence('accounts', ['app', 'batch'])))
    engine.close()
    fresh = connected()
    server.reset_log()
    restored = fresh.unfence(record)
    assert server.writes == ['ALTER LOGIN [batch] ENABLE', 'ALTER LOGIN [app] ENABLE']
    assert [c['target'] for c in restored] == ['batch', 'app']
    server.reset_log()
    assert fresh.unfence(record) == [] and server.writes == []


def test_unfence_restores_only_what_still_shows_the_fenced_value(server, engine):
    record = engine.fence('instance')
    server.databases['crm']['read_only'] = False      # an operator lifted it already
    server.reset_log()
    assert [c['target'] for c in engine.unfence(record)] == ['shop']
    assert server.writes == ['ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE']


def test_unfence_reports_what_it_could_not_restore(server, engine):
    record = engine.fence('accounts', ['app', 'batch'], end_sessions=False)
    server.fail(r'ALTER LOGIN \[batch\] ENABLE', lambda: server_error(15151, "Cannot alter the login 'batch'."))
    with pytest.raises(FenceError) as error:
        engine.unfence(record)
    assert [c['target'] for c in error.value.rolled_back] == ['app']
    assert [c['target'] for c in error.value.rollback_failed] == ['batch']
    assert str(error.value).startswith('could not restore 1 change(s): missing privilege ALTER ANY LOGIN')


@pytest.mark.parametrize('record', [None, {'engine': 'mysql', 'scope': 'instance', 'changes': []},
                                    {'engine': 'sqlserver', 'scope': 'instance', 'changes': [{'kind': 'database'}]}])
def test_unfence_rejects_what_is_not_a_sqlserver_record(engine, record):
    with pytest.raises(EngineError, match='sqlserver fence record'):
        engine.unfence(record)


def test_unfenced_record_lets_an_operator_lift_a_fence_whose_record_is_lost(server, engine):
    engine.fence('instance')
    engine.fence('accounts', ['app'])
    server.reset_log()
    forced = engine.unfenced_record('instance')
    assert forced['extra']['forced'] is True
    engine.unfence(forced)
    engine.unfence(engine.unfenced_record('accounts', ['app']))
    assert server.writes == ['ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
                             'ALTER DATABASE [crm] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
                             'ALTER LOGIN [app] ENABLE']


# -- check mode -----------------------------------------------------------------------------------
def test_check_mode_fences_nothing_and_returns_what_would_run(server):
    app = server.add_session('app', database='shop')
    engine = connected(check_mode=True)
    server.reset_log()
    instance = engine.fence('instance')
    accounts = engine.fence('accounts', ['app'])
    assert server.writes == []
    assert changes(engine.statements) == ['ALTER DATABASE [crm] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
                                          'ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
                                          'ALTER LOGIN [app] DISABLE', 'KILL %d' % app]
    assert [c['after'] for c in instance['changes']] == ['READ_ONLY', 'READ_ONLY'] and instance['extra']['check_mode']
    assert [s['id'] for s in accounts['ended_sessions']] == [app]
    assert app in server.sessions and not server.logins['app']['disabled']
    assert not any(db['read_only'] for db in server.databases.values())


def test_check_mode_unfence_changes_nothing(server, engine):
    record = engine.fence('accounts', ['app'], end_sessions=False)
    checker = connected(check_mode=True)
    server.reset_log()
    assert [c['target'] for c in checker.unfence(record)] == ['app']
    assert server.writes == [] and changes(checker.statements) == ['ALTER LOGIN [app] ENABLE']
    assert server.logins['app']['disabled'] is True


# -- catch-up token -------------------------------------------------------------------------------
def test_token_table_is_checked_created_written_and_read(server, engine):
    with pytest.raises(EngineError, match=r'^token table \[shop\]\.\[dbo\]\.\[switchover_token\] does not exist on '
                                          r'sql\.example\.com:1433: create it \(create: true\)'):
        engine.ensure_token_object('shop.dbo.switchover_token')
    assert engine.ensure_token_object('shop.dbo.switchover_token', create=True) is True
    assert engine.ensure_token_object('shop.dbo.switchover_token', create=True) is False
    assert engine.write_token('shop.dbo.switchover_token', "tok'1") == '[shop].[dbo].[switchover_token]'
    assert engine.write_token('shop.dbo.switchover_token', "tok'1") == '[shop].[dbo].[switchover_token]'  # a retry
    assert engine.read_token('shop.dbo.switchover_token', "tok'1") is True
    assert engine.read_token('shop.dbo.switchover_token', 'other') is False
    assert server.writes == [
        'CREATE TABLE [shop].[dbo].[switchover_token] (token NVARCHAR(200) NOT NULL PRIMARY KEY, written_at DATETIME2 '
        'NOT NULL DEFAULT SYSUTCDATETIME())',
        "INSERT INTO [shop].[dbo].[switchover_token] (token) VALUES (N'tok''1')",
        "INSERT INTO [shop].[dbo].[switchover_token] (token) VALUES (N'tok''1')",
    ]
    assert server.tables[('shop', 'dbo', 'switchover_token')] == ["tok'1"]


def test_two_part_token_names_use_login_db(server):
    server.add_table('crm', 'ops', 'token')
    engine = connected(login_db='crm')
    assert engine.ensure_token_object('ops.token') is False
    engine.write_token('ops.token', 't1')
    assert server.tables[('crm', 'ops', 'token')] == ['t1']


@pytest.mark.parametrize('name', ['token', 'a.b.c.d', 'shop..t', None])
def test_bad_token_names_are_refused(engine, name):
    with pytest.raises(EngineError, match='must be schema.table or database.schema.table'):
        engine.ensure_token_object(name)


def test_reading_a_token_table_that_is_not_there_yet_is_an_error_the_caller_can_tolerate(engine):
    with pytest.raises(EngineError, match=r'^token table \[crm\]\.\[dbo\]\.\[t\] does not exist on sql\.example\.com:1433 \(yet\)\.$'):
        engine.read_token('crm.dbo.t', 'x')


def test_token_write_into_a_database_the_instance_fence_made_read_only(server, engine):
    server.add_table('shop', 'dbo', 'switchover_token')
    app = server.add_session('app', database='shop')
    dts = server.add_session('dts', database='shop')
    engine.fence('instance', exclude_users=['dts'])
    server.reset_log()
    late_app = server.add_session('app', database='shop')
    where = engine.write_token('shop.dbo.switchover_token', 'tok-1')
    assert where == '[shop].[dbo].[switchover_token] (read-only database opened to privileged users for the write)'
    assert server.writes == [
        'ALTER DATABASE [shop] SET RESTRICTED_USER WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
        "INSERT INTO [shop].[dbo].[switchover_token] (token) VALUES (N'tok-1')",
        'ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [shop] SET MULTI_USER',
    ]
    assert server.tables[('shop', 'dbo', 'switchover_token')] == ['tok-1']
    assert server.databases['shop'] == dict(read_only=True, state='ONLINE', user_access='MULTI_USER', can_alter=True)
    assert app not in server.sessions and late_app not in server.sessions and dts not in server.sessions
    assert engine.read_token('shop.dbo.switchover_token', 'tok-1') is True


def test_a_failed_token_write_leaves_the_read_only_database_as_it_was(server, engine):
    server.add_table('shop', 'dbo', 'switchover_token')
    engine.fence('instance')
    server.fail(r'INSERT INTO', lambda: server_error(229, "The INSERT permission was denied on the object 'switchover_token'."))
    server.reset_log()
    with pytest.raises(EngineError, match='missing privilege INSERT on the token table'):
        engine.write_token('shop.dbo.switchover_token', 'tok-1')
    assert server.writes[-2:] == ['ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE', 'ALTER DATABASE [shop] SET MULTI_USER']
    assert server.databases['shop']['read_only'] is True and server.databases['shop']['user_access'] == 'MULTI_USER'


def test_token_write_in_check_mode_writes_nothing(server):
    server.add_table('shop', 'dbo', 'switchover_token')
    engine = connected(check_mode=True)
    server.reset_log()
    engine.write_token('shop.dbo.switchover_token', 'tok-1')
    assert changes(engine.statements) == ["INSERT INTO [shop].[dbo].[switchover_token] (token) VALUES (N'tok-1')"]
    assert server.writes == [] and server.tables[('shop', 'dbo', 'switchover_token')] == []


# -- documents (the journal kept in the database) -------------------------------------------------
JOURNAL = {'unit': 'orders', 'outcome': 'running', 'data': {'note': "it's"}}


def test_document_table_is_checked_created_upserted_read_and_deleted(server, engine):
    with pytest.raises(EngineError, match=r'^document table \[shop\]\.\[dbo\]\.\[journal\] does not exist on '
                                          r'sql\.example\.com:1433: create it \(create: true\)\.$'):
        engine.ensure_document_object('shop.dbo.journal')
    assert engine.ensure_document_object('shop.dbo.journal', create=True) is True
    assert engine.ensure_document_object('shop.dbo.journal') is False
    assert engine.load_document('shop.dbo.journal', 'orders/orders.json') is None
    assert engine.save_document('shop.dbo.journal', 'orders/orders.json', JOURNAL) == '[shop].[dbo].[journal]'
    assert engine.load_document('shop.dbo.journal', 'orders/orders.json') == JOURNAL
    engine.save_document('shop.dbo.journal', 'orders/orders.json', dict(JOURNAL, outcome='completed'))
    assert engine.load_document('shop.dbo.journal', 'orders/orders.json')['outcome'] == 'completed'
    engine.delete_document('shop.dbo.journal', 'orders/orders.json')
    assert engine.load_document('shop.dbo.journal', 'orders/orders.json') is None
    stored = json.dumps(JOURNAL, sort_keys=True, separators=(',', ':')).replace("'", "''")
    assert server.writes[:2] == [
        'CREATE TABLE [shop].[dbo].[journal] (doc_key NVARCHAR(255) NOT NULL PRIMARY KEY, document NVARCHAR(MAX) NOT NULL, '
        'updated_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())',
        "UPDATE [shop].[dbo].[journal] WITH (UPDLOCK, SERIALIZABLE) SET document = N'%s', updated_at = SYSUTCDATETIME() "
        "WHERE doc_key = N'orders/orders.json'; IF @@ROWCOUNT = 0 INSERT INTO [shop].[dbo].[journal] (doc_key, document) "
        "VALUES (N'orders/orders.json', N'%s')" % (stored, stored),
    ]
    assert server.writes[-1] == "DELETE FROM [shop].[dbo].[journal] WHERE doc_key = N'orders/orders.json'"
    # The statements a module returns show the document's size, not the document.
    upsert = [s for s in engine.statements if s.startswith('UPDATE')][0]
    assert "document = N'<document: %d bytes>'" % len(stored.replace("''", "'")) in upsert and 'orders' in upsert
    assert 'outcome' not in ' '.join(engine.statements)


def test_document_save_into_a_database_the_instance_fence_made_read_only(server, engine):
    server.add_database('ops')
    engine.ensure_document_object('ops.dbo.journal', create=True)
    engine.fence('instance')
    server.reset_log()
    engine.save_document('ops.dbo.journal', 'orders/orders.json', JOURNAL)
    assert server.writes[:2] == ['ALTER DATABASE [ops] SET RESTRICTED_USER WITH ROLLBACK IMMEDIATE',
                                 'ALTER DATABASE [ops] SET READ_WRITE WITH ROLLBACK IMMEDIATE']
    assert server.writes[-2:] == ['ALTER DATABASE [ops] SET READ_ONLY WITH ROLLBACK IMMEDIATE', 'ALTER DATABASE [ops] SET MULTI_USER']
    assert server.databases['ops']['read_only'] is True
    assert engine.load_document('ops.dbo.journal', 'orders/orders.json') == JOURNAL


def test_reading_a_missing_document_table_says_to_create_it(engine):
    with pytest.raises(EngineError, match=r'^document table \[crm\]\.\[dbo\]\.\[j\] does not exist on sql\.example\.com:1433: '
                                          r'create it \(create: true\)\.$'):
        engine.load_document('crm.dbo.j', 'orders')


def test_document_save_in_check_mode_writes_nothing(server):
    server.add_table('shop', 'dbo', 'journal')
    server.tables[('shop', 'dbo', 'journal')] = {}
    dry = connected(check_mode=True)
    server.reset_log()
    dry.save_document('shop.dbo.journal', 'orders', JOURNAL)
    assert server.writes == [] and server.tables[('shop', 'dbo', 'journal')] == {}
    assert [s for s in dry.statements if s.startswith('UPDATE')]
