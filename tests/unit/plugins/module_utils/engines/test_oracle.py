"""Oracle engine through the real python-oracledb API: oracledb.connect patched to an Oracle model
(tests/unit/fakes/oracle.py) that logs every statement, and the real thin driver for what runs
without a server (connection refused, the TLS handshake against a local TLS listener)."""

import importlib.util
import json
import socket
import ssl
import sys

import oracledb
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import oracle
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    EngineError,
    FenceError,
    MissingDriver,
    classify_sessions,
)
from unit.fakes.oracle import FakeOracle, oracle_error
from unit.fakes.tls import Certificates, TLSListener

PASSWORD = 'Adm1n-pa55'
PARAMS = dict(engine='oracle', login_host='ora.example.com', login_port=None, login_user='switchover_admin',
              login_password=PASSWORD, login_db='ORCLPDB1', ssl_mode='prefer', ca_cert=None, client_cert=None,
              client_key=None, connect_timeout=7)
SESSIONS_QUERY = oracle.SESSIONS_SQL


@pytest.fixture
def server(monkeypatch):
    fake = FakeOracle()
    fake.add_user('APP')
    fake.add_user('BATCH')
    fake.add_user('DTS', privileges=('CREATE SESSION', 'SELECT ANY TRANSACTION'))
    fake.add_user('DBA_JOE', roles=('DBA',))
    fake.sys_privs.append(('DBA', 'RESTRICTED SESSION'))
    monkeypatch.setattr(oracledb, 'connect', fake.connect)
    return fake


def connected(check_mode=False, **params):
    engine = oracle.OracleEngine(dict(PARAMS, **params), check_mode=check_mode)
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


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# -- connection -----------------------------------------------------------------------------------
def test_connect_passes_options_to_oracledb_and_reads_server_info(server):
    engine = connected()
    assert server.connect_calls[-1] == dict(user='switchover_admin', password=PASSWORD, host='ora.example.com',
                                            port=1521, service_name='ORCLPDB1', tcp_connect_timeout=7.0,
                                            program='dtsops.switchover', protocol='tcp')
    assert engine.conn.autocommit is False
    sid = str(engine.conn.session)
    assert engine.server_info() == dict(
        engine='oracle', flavour='oracle', version='19.21.0.0.0', version_info=[19, 21, 0], edition='Enterprise',
        banner='Oracle Database 19c Enterprise Edition Release 19.0.0.0.0 - Production', container='ORCLPDB1',
        login='SWITCHOVER_ADMIN', session_id=sid)
    # The reads of the connection are recorded too, as the server received them.
    assert engine.statements == server.log == [oracle.CONTEXT_SQL, oracle.PRIVILEGES_SQL, oracle.BANNER_SQL]


def test_server_info_without_catalog_access_leaves_the_edition_unknown(server):
    server.catalog = False
    info = connected().server_info()
    assert info['edition'] is None and info['banner'] is None and info['version'] == '19.21.0.0.0'


def test_oracle_11g_has_no_containers(server):
    server.version, server.con_id = '11.2.0.4.0', 0
    engine = connected()
    assert server.log[0].startswith(oracle.CONTEXT_SQL_11G)
    assert engine.server_info()['container'] is None and engine.fence_state('instance') == {'restricted_session': 'ALLOWED'}


def test_login_db_is_required(server):
    with pytest.raises(EngineError, match=r'^login_db must name the Oracle service to connect to \(for example ORCLPDB1\)\.$'):
        connected(login_db=None)
    assert server.connect_calls == []


@pytest.mark.parametrize('params, message', [
    (dict(login_password='wrong'), 'ORA-01017: invalid credential or not authorized; logon denied '
                                   '(check login_user and login_password)'),
    (dict(login_db='NOPE'), 'DPY-6001: Service "NOPE" is not registered with the listener at host "ora.example.com" '
                            'port 1521. (Similar to ORA-12514) (check login_db: it must be a service name the listener knows)'),
])
def test_refused_logins_say_what_to_check(server, params, message):
    with pytest.raises(EngineError) as error:
        connected(**params)
    assert str(error.value) == message


def test_a_locked_admin_account_is_named(server):
    server.users['SWITCHOVER_ADMIN']['status'] = 'LOCKED'
    with pytest.raises(EngineError, match=r'^ORA-28000: The account is locked\. \(the account of login_user is locked\)$'):
        connected()


def test_real_driver_unreachable_host():
    engine = oracle.OracleEngine(dict(PARAMS, login_host='127.0.0.1', login_port=free_port()))
    with pytest.raises(EngineError) as error:
        engine.connect()
    assert str(error.value) == 'cannot reach the server: DPY-6005: cannot connect to database. [Errno 111] Connection refused'


def test_missing_driver_is_reported_with_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, 'oracledb', None)
    spec = importlib.util.spec_from_file_location('oracle_without_driver', oracle.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(MissingDriver) as error:
        module.OracleEngine(PARAMS).connect()
    assert error.value.package == 'oracledb'


# -- TLS ------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp('certs')))


@pytest.mark.parametrize('ssl_mode, verify_mode, dn_match', [
    ('require', ssl.CERT_NONE, False), ('verify-ca', ssl.CERT_REQUIRED, False), ('verify-full', ssl.CERT_REQUIRED, True)])
def test_ssl_modes_map_to_tcps_with_a_context(server, certs, ssl_mode, verify_mode, dn_match):
    connected(ssl_mode=ssl_mode, ca_cert=None if ssl_mode == 'require' else certs.ca)
    call = server.connect_calls[-1]
    assert call['protocol'] == 'tcps' and call['ssl_server_dn_match'] is dn_match
    assert call['ssl_context'].verify_mode == verify_mode and call['ssl_context'].check_hostname is False


@pytest.mark.parametrize('params, message', [
    (dict(ssl_mode='disable', client_cert='/c.pem'), 'client_cert needs TLS: set ssl_mode to require, verify-ca or verify-full.'),
    (dict(ssl_mode='require', client_key='/k.pem'), 'client_key needs client_cert.'),
    (dict(ssl_mode='verify-ca', ca_cert='/nonexistent/ca.pem'), 'cannot use the TLS files (ca_cert, client_cert, client_key): '),
])
def test_tls_options_that_cannot_work_fail_before_connecting(server, params, message):
    with pytest.raises(EngineError) as error:
        connected(**params)
    assert str(error.value).startswith(message)
    assert server.connect_calls == []


def real_tls_connect(listener, certs, **params):
    """The real thin driver against the TLS listener: the handshake happens, then the listener hangs up."""
    engine = oracle.OracleEngine(dict(PARAMS, login_port=listener.port, connect_timeout=5, **params))
    with pytest.raises(EngineError) as error:
        engine.connect()
    return str(error.value)


def test_real_driver_verify_full_completes_the_handshake_with_the_right_name(certs):
    with TLSListener(certs.server_context(), read_bytes=300) as listener:
        message = real_tls_connect(listener, certs, login_host='localhost', ssl_mode='verify-full', ca_cert=certs.ca)
    assert message == 'DPY-6005: cannot connect to database. DPY-4011: the database or network closed the connection'
    assert listener.failures == [] and len(listener.handshakes) == 1
    # What went through the tunnel is the TNS connect packet (type 1) for our service and program.
    sent = listener.handshakes[0]['first_bytes']
    assert sent[4:5] == b'\x01'
    assert b'(SERVICE_NAME=ORCLPDB1)' in sent and b'(PROTOCOL=tcps)' in sent and b'(PROGRAM=dtsops.switchover)' in sent


def test_real_driver_verify_full_refuses_a_certificate_for_another_name(certs):
    with TLSListener(certs.server_context()) as listener:
        message = real_tls_connect(listener, certs, login_host='127.0.0.1', ssl_mode='verify-full', ca_cert=certs.ca)
    assert message.startswith('TLS: the server certificate was not accepted: DPY-6005: cannot connect to database. '
                              'DPY-6006: The name on the server certificate does not match the expected value: "127.0.0.1"')
    assert message.endswith('(check ca_cert and ssl_mode)')


def test_real_driver_verify_ca_accepts_the_certificate_whatever_the_name(certs):
    with TLSListener(certs.server_context()) as listener:
        message = real_tls_connect(listener, certs, login_host='127.0.0.1', ssl_mode='verify-ca', ca_cert=certs.ca)
    assert 'DPY-4011' in message and len(listener.handshakes) == 1


def test_real_driver_refuses_a_server_signed_by_another_ca(certs):
    with TLSListener(certs.server_context()) as listener:
        message = real_tls_connect(listener, certs, login_host='127.0.0.1', ssl_mode='verify-ca', ca_cert=certs.other_ca)
    assert message.startswith('TLS: the server certificate was not accepted:') and 'CERTIFICATE_VERIFY_FAILED' in message
    assert listener.handshakes == []


def test_real_driver_presents_the_client_certificate_from_separate_files(certs):
    with TLSListener(certs.server_context(require_client_cert=True)) as listener:
        real_tls_connect(listener, certs, login_host='127.0.0.1', ssl_mode='require', client_cert=certs.client_cert,
                         client_key=certs.client_key)
        message = real_tls_connect(listener, certs, login_host='127.0.0.1', ssl_mode='require')
    assert listener.handshakes[0]['client_cn'] == 'switchover_admin'
    # Without client_cert the server refuses the handshake (TLS 1.3 tells the client late).
    assert len(listener.handshakes) == 1 and 'PEER_DID_NOT_RETURN_A_CERTIFICATE' in listener.failures[0]
    assert message.startswith('DPY-6005: cannot connect to database.') or message.startswith('TLS: ')


# -- sessions -------------------------------------------------------------------------------------
def test_sessions_are_normalised_and_classified(server, engine):
    idle = server.add_session('APP')
    writer = server.add_session('APP', transaction=True, undo_blocks=2, undo_records=14)
    inserting = server.add_session('BATCH', status='ACTIVE', command='INSERT', sql='INSERT INTO t VALUES (1)')
    reading = server.add_session('APP', status='ACTIVE', command='SELECT', sql='SELECT * FROM orders')
    open_tran = server.add_session('APP', transaction=True)
    dts = server.add_session('DTS', status='ACTIVE', command='SELECT', sql='SELECT ... FROM v$logmnr_contents')
    sessions = engine.sessions()
    assert server.log == [SESSIONS_QUERY] and changes(engine.statements) == []
    by_sid = dict((s['sid'], s) for s in sessions)
    serial = server.sessions[writer]['serial']
    assert by_sid[writer] == dict(id='%d,%d' % (writer, serial), user='APP', client='apphost:40001', database='ORCLPDB1',
                                  state='INACTIVE', command=None, writing=True, idle=False, own=False, age=5, sid=writer,
                                  serial=serial, program='JDBC Thin Client', osuser='app', transaction=True)
    groups = classify_sessions(sessions, exclude_users=['DTS'])
    assert [s['sid'] for s in groups['own']] == [engine.conn.session]
    assert [s['sid'] for s in groups['excluded']] == [dts]
    assert sorted(s['sid'] for s in groups['writing']) == [writer, inserting]
    assert sorted(s['sid'] for s in groups['active']) == [reading, open_tran]
    assert [s['sid'] for s in groups['idle']] == [idle]


def test_other_sessions_statements_are_shown_without_their_secrets(server, engine):
    server.add_session('SYSTEM', status='ACTIVE', command='PL/SQL EXECUTE',
                       sql='ALTER USER app IDENTIFIED BY "N3w pass" REPLACE old_pass; CREATE USER b IDENTIFIED BY s3cret')
    statement = [s for s in engine.sessions() if s['user'] == 'SYSTEM'][0]['command']
    assert statement == 'ALTER USER app IDENTIFIED BY ******** REPLACE ********; CREATE USER b IDENTIFIED BY ********'


def test_sessions_without_catalog_access_say_what_to_grant(server, engine):
    server.catalog = False
    with pytest.raises(EngineError, match=r'^login_user cannot read the data dictionary view in SELECT s\.sid.*: ORA-00942: '
                                          r'table or view does not exist \(grant SELECT_CATALOG_ROLE or SELECT ANY DICTIONARY\)$'):
        engine.sessions()


def test_end_sessions_kills_by_sid_and_serial_and_skips_gone_ones(server, engine):
    first = server.add_session('APP')
    second = server.add_session('APP')
    targets = [s for s in engine.sessions() if s['user'] == 'APP']
    del server.sessions[second]
    server.reset_log()
    assert engine.end_sessions(targets + [{'id': 'x', 'own': True}]) == [targets[0]['id']]
    assert server.log == ["ALTER SYSTEM KILL SESSION '%s' IMMEDIATE" % t['id'] for t in targets]
    assert changes(engine.statements) == server.log and first not in server.sessions


def test_end_sessions_in_check_mode_kills_nothing(server):
    victim = server.add_session('APP')
    engine = connected(check_mode=True)
    session_id = '%d,%d' % (victim, server.sessions[victim]['serial'])
    server.reset_log()
    assert engine.end_sessions([{'id': session_id}]) == [session_id]
    assert server.writes == [] and changes(engine.statements) == ["ALTER SYSTEM KILL SESSION '%s' IMMEDIATE" % session_id]


def test_end_sessions_names_the_missing_privilege(server, engine):
    victim = server.add_session('APP')
    server.sys_privs.remove(('SWITCHOVER_ADMIN', 'ALTER SYSTEM'))
    session_id = '%d,%d' % (victim, server.sessions[victim]['serial'])
    with pytest.raises(EngineError, match=r"^missing privilege ALTER SYSTEM for ALTER SYSTEM KILL SESSION '%s' IMMEDIATE: "
                                          r"ORA-01031: insufficient privileges$" % session_id):
        engine.end_sessions([{'id': session_id}])


def test_end_sessions_rejects_ids_that_are_not_sid_serial(engine):
    with pytest.raises(EngineError, match=r"IMMEDIATE; DROP\" is not an Oracle session id \('sid,serial#'\)\.$"):
        engine.end_sessions([{'id': "1' IMMEDIATE; DROP"}])


# -- instance fence -------------------------------------------------------------------------------
def test_instance_fence_restricts_the_pdb_and_ends_the_sessions_it_cannot_stop(server, engine):
    app = server.add_session('APP', transaction=True, undo_blocks=1)
    batch = server.add_session('BATCH')
    dba = server.add_session('DBA_JOE')
    dts = server.add_session('DTS')
    record = engine.fence('instance', exclude_users=['dts'])
    app_id, batch_id = ['%d,%d' % (sid, sid * 7 + 3) for sid in (app, batch)]
    assert server.log == ['SELECT restricted FROM v$pdbs WHERE con_id = SYS_CONTEXT(\'USERENV\', \'CON_ID\')',
                          oracle.RESTRICTED_SESSION_USERS_SQL, 'ALTER SYSTEM ENABLE RESTRICTED SESSION', SESSIONS_QUERY,
                          "ALTER SYSTEM KILL SESSION '%s' IMMEDIATE" % app_id,
                          "ALTER SYSTEM KILL SESSION '%s' IMMEDIATE" % batch_id]
    assert changes(engine.statements) == server.writes
    assert record['changes'] == [{'kind': 'restricted_session', 'target': 'restricted_session', 'before': 'ALLOWED',
                                  'after': 'RESTRICTED', 'container': 'ORCLPDB1'}]
    assert [s['id'] for s in record['ended_sessions']] == [app_id, batch_id]
    # A DBA may log in anyway: its session is left and named; DTS cannot reconnect: named too.
    assert [s['sid'] for s in record['extra']['sessions_with_restricted_session']] == [dba]
    assert record['extra']['excluded_users_without_restricted_session'] == ['DTS']
    assert dts in server.sessions and dba in server.sessions and app not in server.sessions
    with pytest.raises(oracledb.DatabaseError) as refused:
        server.connect(service_name='ORCLPDB1', user='app', password='app-pa55')
    assert refused.value.args[0].code == 1035
    assert engine.fence_state('instance') == {'restricted_session': 'RESTRICTED'}
    json.dumps(record)


def test_instance_fence_of_a_non_cdb_reads_v_instance(server):
    server.con_id, server.con_name = 0, None
    engine = connected()
    server.reset_log()
    record = engine.fence('instance', end_sessions=False)
    assert server.log == ['SELECT logins FROM v$instance', oracle.RESTRICTED_SESSION_USERS_SQL,
                          'ALTER SYSTEM ENABLE RESTRICTED SESSION']
    assert record['ended_sessions'] == [] and record['extra']['container'] is None


def test_instance_fence_when_already_restricted_changes_nothing(server, engine):
    server.restricted = True
    record = engine.fence('instance', end_sessions=False)
    assert record['changes'][0]['before'] == record['changes'][0]['after'] == 'RESTRICTED'
    assert server.writes == []
    assert engine.unfence(record) == [] and server.restricted is True


def test_instance_fence_needs_alter_system(server):
    server.sys_privs.remove(('SWITCHOVER_ADMIN', 'ALTER SYSTEM'))
    engine = connected()
    server.reset_log()
    with pytest.raises(EngineError, match=r'^login_user SWITCHOVER_ADMIN lacks the system privilege ALTER SYSTEM '
                                          r'\(GRANT ALTER SYSTEM TO SWITCHOVER_ADMIN\)\.$'):
        engine.fence('instance')
    assert server.writes == []


def test_a_kill_that_fails_lifts_restricted_mode_again(server, engine):
    server.add_session('APP')
    server.fail(r'KILL SESSION', lambda: oracle_error(1031, 'insufficient privileges'))
    with pytest.raises(FenceError) as error:
        engine.fence('instance')
    assert server.writes[-3:-1] == ['ALTER SYSTEM ENABLE RESTRICTED SESSION', server.writes[-2]]
    assert server.writes[-1] == 'ALTER SYSTEM DISABLE RESTRICTED SESSION'
    assert str(error.value).startswith("missing privilege ALTER SYSTEM for ALTER SYSTEM KILL SESSION")
    assert [c['kind'] for c in error.value.rolled_back] == ['restricted_session'] and server.restricted is False


def test_fence_refuses_options_oracle_does_not_have(engine):
    with pytest.raises(EngineError, match='^option databases does not apply to Oracle.$'):
        engine.fence('instance', options={'databases': ['x'], 'lease': None})


# -- accounts fence -------------------------------------------------------------------------------
def test_accounts_fence_locks_the_users_and_kills_their_sessions(server, engine):
    server.add_user('Mixed')
    app = server.add_session('APP')
    mixed = server.add_session('Mixed')
    dts = server.add_session('DTS')
    record = engine.fence('accounts', ['app', '"Mixed"'], exclude_users=['DTS'])
    assert server.writes == ['ALTER USER "APP" ACCOUNT LOCK', 'ALTER USER "Mixed" ACCOUNT LOCK',
                             "ALTER SYSTEM KILL SESSION '%d,%d' IMMEDIATE" % (app, app * 7 + 3),
                             "ALTER SYSTEM KILL SESSION '%d,%d' IMMEDIATE" % (mixed, mixed * 7 + 3)]
    assert server.log[0] == "SELECT username, account_status FROM dba_users WHERE username IN (:u0, :u1) {'u0': 'APP', 'u1': 'Mixed'}"
    assert record['changes'] == [
        {'kind': 'account', 'target': 'APP', 'before': 'OPEN', 'after': 'LOCKED', 'account_status': 'OPEN'},
        {'kind': 'account', 'target': '"Mixed"', 'before': 'OPEN', 'after': 'LOCKED', 'account_status': 'OPEN'}]
    assert record['accounts'] == ['APP', '"Mixed"'] and dts in server.sessions
    with pytest.raises(oracledb.DatabaseError, match='ORA-28000'):
        server.connect(service_name='ORCLPDB1', user='APP', password='app-pa55')
    # Targets and state keys are written so that they name the same users again (quoted when needed).
    assert engine.fence_state('accounts', record['accounts'] + ['dts']) == {'APP': 'LOCKED', '"Mixed"': 'LOCKED', 'DTS': 'OPEN'}
    server.reset_log()
    assert [c['target'] for c in engine.unfence(json.loads(json.dumps(record)))] == ['"Mixed"', 'APP']
    assert server.writes == ['ALTER USER "Mixed" ACCOUNT UNLOCK', 'ALTER USER "APP" ACCOUNT UNLOCK']


@pytest.mark.parametrize('accounts, exclude, message', [
    (['app', 'switchover_admin'], [], 'account switchover_admin is login_user: fencing it would lock out the connection'),
    (['app'], ['APP'], 'account app is both fenced (accounts) and excluded (exclude_users).'),
])
def test_accounts_fence_refuses_to_lock_out_the_admin_or_the_migration_account(server, engine, accounts, exclude, message):
    with pytest.raises(EngineError) as error:
        engine.fence('accounts', accounts, exclude_users=exclude)
    assert str(error.value).startswith(message) and server.writes == []


@pytest.mark.parametrize('status, before', [('LOCKED', 'LOCKED'), ('EXPIRED & LOCKED', 'LOCKED'), ('LOCKED(TIMED)', 'OPEN'),
                                            ('EXPIRED(GRACE)', 'OPEN')])
def test_accounts_fence_reads_the_lock_state_from_account_status(server, engine, status, before):
    server.users['APP']['status'] = status
    record = engine.fence('accounts', ['APP'], end_sessions=False)
    assert record['changes'][0]['before'] == before and record['changes'][0]['account_status'] == status
    assert server.writes == ([] if before == 'LOCKED' else ['ALTER USER "APP" ACCOUNT LOCK'])


def test_accounts_fence_of_a_missing_user_changes_nothing(server, engine):
    with pytest.raises(EngineError, match=r'^user GHOST does not exist on ora\.example\.com:1521 \(unquoted names are upper-cased'):
        engine.fence('accounts', ['app', 'ghost'])
    assert server.writes == []


def test_accounts_fence_is_all_or_nothing(server, engine):
    for name in ('U3', 'U4', 'U5'):
        server.add_user(name)
    server.fail(r'ALTER USER "U3"', lambda: oracle_error(1031, 'insufficient privileges'))
    with pytest.raises(FenceError) as error:
        engine.fence('accounts', ['app', 'batch', 'u3', 'u4', 'u5'])
    assert server.writes == ['ALTER USER "APP" ACCOUNT LOCK', 'ALTER USER "BATCH" ACCOUNT LOCK', 'ALTER USER "U3" ACCOUNT LOCK',
                             'ALTER USER "BATCH" ACCOUNT UNLOCK', 'ALTER USER "APP" ACCOUNT UNLOCK']
    assert str(error.value) == ('missing privilege ALTER USER for ALTER USER "U3" ACCOUNT LOCK: ORA-01031: insufficient '
                                'privileges')
    assert [c['target'] for c in error.value.rolled_back] == ['BATCH', 'APP']
    assert all(user['status'] == 'OPEN' for user in server.users.values())


def test_a_user_dropped_while_fencing_rolls_the_fence_back(server, engine):
    server.fail(r'ALTER USER "BATCH"', lambda: oracle_error(1918, "user 'BATCH' does not exist"))
    with pytest.raises(FenceError) as error:
        engine.fence('accounts', ['app', 'batch'])
    assert str(error.value) == 'ALTER USER "BATCH" ACCOUNT LOCK failed: ORA-01918: user \'BATCH\' does not exist'
    assert server.writes == ['ALTER USER "APP" ACCOUNT LOCK', 'ALTER USER "BATCH" ACCOUNT LOCK', 'ALTER USER "APP" ACCOUNT UNLOCK']


def test_accounts_fence_needs_alter_user(server):
    server.sys_privs.remove(('SWITCHOVER_ADMIN', 'ALTER USER'))
    with pytest.raises(EngineError, match='lacks the system privilege ALTER USER'):
        connected().fence('accounts', ['APP'])
    assert server.writes == []


# -- undo -----------------------------------------------------------------------------------------
def test_unfence_from_a_fresh_engine_with_only_the_json_record(server, engine):
    record = json.loads(json.dumps(engine.fence('accounts', ['APP', 'BATCH'])))
    instance = json.loads(json.dumps(engine.fence('instance')))
    engine.close()
    fresh = connected()          # the admin has RESTRICTED SESSION: it may connect while restricted
    server.reset_log()
    assert [c['kind'] for c in fresh.unfence(instance)] == ['restricted_session']
    assert [c['target'] for c in fresh.unfence(record)] == ['BATCH', 'APP']
    assert server.writes == ['ALTER SYSTEM DISABLE RESTRICTED SESSION', 'ALTER USER "BATCH" ACCOUNT UNLOCK',
                             'ALTER USER "APP" ACCOUNT UNLOCK']
    server.reset_log()
    assert fresh.unfence(record) == [] and fresh.unfence(instance) == [] and server.writes == []


def test_unfence_restores_only_what_still_shows_the_fenced_value(server, engine):
    record = engine.fence('accounts', ['APP', 'BATCH'], end_sessions=False)
    server.users['APP']['status'] = 'OPEN'
    server.reset_log()
    assert [c['target'] for c in engine.unfence(record)] == ['BATCH']
    assert server.writes == ['ALTER USER "BATCH" ACCOUNT UNLOCK']


def test_unfence_reports_what_it_could_not_restore(server, engine):
    record = engine.fence('accounts', ['APP', 'BATCH'], end_sessions=False)
    server.fail(r'ALTER USER "BATCH" ACCOUNT UNLOCK', lambda: oracle_error(1031, 'insufficient privileges'))
    with pytest.raises(FenceError) as error:
        engine.unfence(record)
    assert [c['target'] for c in error.value.rolled_back] == ['APP']
    assert [c['target'] for c in error.value.rollback_failed] == ['BATCH']


def test_unfence_rejects_what_is_not_an_oracle_record(engine):
    with pytest.raises(EngineError, match='not a oracle fence record'):
        engine.unfence({'engine': 'sqlserver', 'scope': 'instance', 'changes': []})


def test_unfenced_record_lets_an_operator_lift_a_fence_whose_record_is_lost(server, engine):
    engine.fence('instance', end_sessions=False)
    engine.fence('accounts', ['APP'], end_sessions=False)
    server.reset_log()
    engine.unfence(engine.unfenced_record('instance'))
    engine.unfence(engine.unfenced_record('accounts', ['app']))
    assert server.writes == ['ALTER SYSTEM DISABLE RESTRICTED SESSION', 'ALTER USER "APP" ACCOUNT UNLOCK']


# -- check mode -----------------------------------------------------------------------------------
def test_check_mode_fences_nothing_and_returns_what_would_run(server):
    app = server.add_session('APP')
    engine = connected(check_mode=True)
    server.reset_log()
    instance = engine.fence('instance')
    accounts = engine.fence('accounts', ['APP'])
    kill = "ALTER SYSTEM KILL SESSION '%d,%d' IMMEDIATE" % (app, app * 7 + 3)
    assert server.writes == []
    assert changes(engine.statements) == ['ALTER SYSTEM ENABLE RESTRICTED SESSION', kill, 'ALTER USER "APP" ACCOUNT LOCK', kill]
    assert instance['changes'][0]['after'] == 'RESTRICTED' and instance['extra']['check_mode'] is True
    assert len(accounts['ended_sessions']) == 1 and app in server.sessions
    assert server.restricted is False and server.users['APP']['status'] == 'OPEN'


def test_check_mode_unfence_changes_nothing(server, engine):
    record = engine.fence('accounts', ['APP'], end_sessions=False)
    checker = connected(check_mode=True)
    server.reset_log()
    assert [c['target'] for c in checker.unfence(record)] == ['APP']
    assert server.writes == [] and changes(checker.statements) == ['ALTER USER "APP" ACCOUNT UNLOCK']


# -- catch-up token -------------------------------------------------------------------------------
def test_token_table_is_checked_created_written_committed_and_read(server, engine):
    with pytest.raises(EngineError, match=r'^token table "OPS"\."SWITCHOVER_TOKEN" does not exist on ora\.example\.com:1521'):
        engine.ensure_token_object('ops.switchover_token')
    server.sys_privs.append(('SWITCHOVER_ADMIN', 'CREATE ANY TABLE'))
    assert engine.ensure_token_object('ops.switchover_token', create=True) is True
    assert engine.ensure_token_object('ops.switchover_token') is False
    assert engine.write_token('ops.switchover_token', "tok'1") == '"OPS"."SWITCHOVER_TOKEN"'
    assert engine.write_token('ops.switchover_token', "tok'1") == '"OPS"."SWITCHOVER_TOKEN"'   # a retry
    assert server.writes == [
        'CREATE TABLE "OPS"."SWITCHOVER_TOKEN" (token VARCHAR2(200) NOT NULL PRIMARY KEY, written_at TIMESTAMP WITH '
        'TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL)',
        'INSERT INTO "OPS"."SWITCHOVER_TOKEN" (token) VALUES (:token) {\'token\': "tok\'1"}',
        'INSERT INTO "OPS"."SWITCHOVER_TOKEN" (token) VALUES (:token) {\'token\': "tok\'1"}',
    ]
    assert changes(engine.statements)[1] == 'INSERT INTO "OPS"."SWITCHOVER_TOKEN" (token) VALUES (\'tok\'\'1\')'
    # Reads are recorded with their bind values, once each.
    assert ("SELECT COUNT(*) AS found FROM all_tables WHERE owner = 'OPS' AND table_name = 'SWITCHOVER_TOKEN'"
            in engine.statements)
    # Committed: another session sees it.
    other = connected()
    assert other.read_token('ops.switchover_token', "tok'1") is True
    assert other.read_token('OPS.SWITCHOVER_TOKEN', 'other') is False
    assert server.tables[('OPS', 'SWITCHOVER_TOKEN')] == ["tok'1"]


def test_one_part_token_names_use_the_current_schema(server, engine):
    server.add_table('SWITCHOVER_ADMIN', 'TOKEN')
    assert engine.ensure_token_object('token') is False
    engine.write_token('token', 't1')
    assert server.tables[('SWITCHOVER_ADMIN', 'TOKEN')] == ['t1']


@pytest.mark.parametrize('name', ['a.b.c', '.t', '', None])
def test_bad_token_names_are_refused(engine, name):
    with pytest.raises(EngineError, match='must be schema.table or table'):
        engine.ensure_token_object(name)


def test_reading_a_token_table_that_is_not_there_yet_is_an_error_the_caller_can_tolerate(engine):
    with pytest.raises(EngineError, match=r'^token table "OPS"\."T" does not exist on ora\.example\.com:1521 \(yet\)\.$'):
        engine.read_token('ops.t', 'x')


def test_token_write_while_restricted_goes_through_the_open_connection(server, engine):
    server.add_table('OPS', 'TOKEN')
    engine.fence('instance')
    engine.write_token('ops.token', 'tok-1')
    assert server.tables[('OPS', 'TOKEN')] == ['tok-1']


def test_a_new_connection_while_restricted_needs_restricted_session(server, engine):
    engine.fence('instance', end_sessions=False)
    server.add_user('WEAK_ADMIN', password=PASSWORD)
    with pytest.raises(EngineError, match=r'^ORA-01035: ORACLE only available to users with RESTRICTED SESSION privilege '
                                          r'\(the instance is in restricted mode \(a fence is on\) and login_user lacks'):
        connected(login_user='weak_admin')


def test_token_write_in_check_mode_writes_nothing(server):
    server.add_table('OPS', 'TOKEN')
    engine = connected(check_mode=True)
    server.reset_log()
    engine.write_token('ops.token', 'tok-1')
    assert changes(engine.statements) == ['INSERT INTO "OPS"."TOKEN" (token) VALUES (\'tok-1\')']
    assert server.writes == [] and server.tables[('OPS', 'TOKEN')] == []


# -- documents (the journal kept in the database) -------------------------------------------------
JOURNAL = {'unit': 'orders', 'outcome': 'running', 'data': {'note': "it's"}}


def test_document_table_is_checked_created_merged_as_a_clob_read_and_deleted(server, engine):
    with pytest.raises(EngineError, match=r'^document table "SWITCHOVER_ADMIN"\."JOURNAL" does not exist on ora\.example\.com:1521 '
                                          r'\(or login_user cannot see it\): create it \(create: true\)\.$'):
        engine.ensure_document_object('journal')
    assert engine.ensure_document_object('journal', create=True) is True
    assert engine.ensure_document_object('journal') is False
    assert engine.load_document('journal', 'orders/orders.json') is None
    assert engine.save_document('journal', 'orders/orders.json', JOURNAL) == '"SWITCHOVER_ADMIN"."JOURNAL"'
    other = connected()   # committed: another session reads it
    assert other.load_document('journal', 'orders/orders.json') == JOURNAL
    engine.save_document('journal', 'orders/orders.json', dict(JOURNAL, outcome='completed'))
    assert other.load_document('journal', 'orders/orders.json')['outcome'] == 'completed'
    engine.delete_document('journal', 'orders/orders.json')
    assert other.load_document('journal', 'orders/orders.json') is None
    merges = engine.conn.input_sizes
    assert len(merges) == 2 and all(sizes == {'document': oracledb.DB_TYPE_CLOB} for sizes in merges)
    assert server.writes[0].startswith('CREATE TABLE "SWITCHOVER_ADMIN"."JOURNAL" (doc_key VARCHAR2(255) NOT NULL PRIMARY KEY, '
                                       'document CLOB NOT NULL, ')
    shown = [s for s in engine.statements if s.startswith('MERGE')][0]
    assert shown.startswith('MERGE INTO "SWITCHOVER_ADMIN"."JOURNAL" t USING (SELECT \'orders/orders.json\' AS doc_key FROM dual)')
    assert "t.document = '<document: " in shown and 'outcome' not in shown
    assert engine.conn.commits == 3


def test_reading_a_missing_document_table_says_to_create_it(engine):
    with pytest.raises(EngineError, match=r'^document table "OPS"\."J" does not exist on ora\.example\.com:1521: create it'):
        engine.load_document('ops.j', 'orders')


def test_document_save_in_check_mode_writes_nothing(server):
    engine = connected()
    engine.ensure_document_object('journal', create=True)
    dry = connected(check_mode=True)
    server.reset_log()
    dry.save_document('journal', 'orders', JOURNAL)
    assert server.writes == [] and server.tables[('SWITCHOVER_ADMIN', 'JOURNAL')] == {}
