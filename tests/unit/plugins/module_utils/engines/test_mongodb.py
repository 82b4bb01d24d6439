"""MongoDB engine with the real pymongo, unmodified, against a server that speaks the wire protocol
(tests/unit/fakes/mongo.py): SCRAM authentication, role privileges, write blocking, currentOp,
kills, user roles and collections, with every command logged."""

import importlib.util
import json
import os
import re
import socket
import sys
import tempfile
import uuid

import pymongo
import pytest
from bson.binary import Binary

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import mongodb
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    EngineError,
    FenceError,
    MissingDriver,
    NotSupported,
    classify_sessions,
)
from unit.fakes.mongo import FakeMongo, error
from unit.fakes.tls import Certificates

PASSWORD = 'Adm1n-pa55'
ADMIN_ROLES = [('clusterMonitor', 'admin'), ('hostManager', 'admin'), ('userAdminAnyDatabase', 'admin'),
               ('restore', 'admin'), ('readAnyDatabase', 'admin')]
SESSION_A, SESSION_B = uuid.UUID('11111111-2222-4333-8444-555555555555'), uuid.UUID('66666666-7777-4888-8999-000000000000')


def params(server, **extra):
    base = dict(engine='mongodb', login_host='127.0.0.1', login_port=server.port, login_user='switchover_admin',
                login_password=PASSWORD, login_db=None, ssl_mode='prefer', ca_cert=None, client_cert=None,
                client_key=None, connect_timeout=5)
    base.update(extra)
    return base


def populate(server):
    server.add_user('switchover_admin', PASSWORD, ADMIN_ROLES)
    server.add_role('orderWriter', 'shop', [{'resource': {'db': 'shop', 'collection': 'orders'}, 'actions': ['insert', 'find']}])
    server.add_user('app', 'app-pa55', [('readWrite', 'shop'), ('read', 'reports')], db='shop')
    server.add_user('ingest', 'app-pa55', [('orderWriter', 'shop')], db='shop')
    server.add_user('batch', 'app-pa55', [('readWriteAnyDatabase', 'admin')])
    server.add_user('reporter', 'app-pa55', [('read', 'shop')], db='shop')
    server.add_user('dts', 'app-pa55', [('readAnyDatabase', 'admin'), ('clusterMonitor', 'admin')])
    return server


# Engines a test connected: closed when its server stops, so no client threads outlive the test.
OPEN_ENGINES = []


@pytest.fixture
def server():
    with FakeMongo() as fake:
        yield populate(fake)
        while OPEN_ENGINES:
            OPEN_ENGINES.pop().close()


def connected(server, check_mode=False, **extra):
    engine = mongodb.MongoDBEngine(params(server, **extra), check_mode=check_mode)
    engine.connect()
    OPEN_ENGINES.append(engine)
    return engine


@pytest.fixture
def engine(server):
    engine = connected(server)
    server.reset_log()
    yield engine
    engine.close()


def app_client(server, user='app', db='shop'):
    return pymongo.MongoClient(host='127.0.0.1', port=server.port, username=user, password='app-pa55', authSource=db,
                               serverSelectionTimeoutMS=3000)


READS = ('ping', 'buildInfo', 'hello', 'serverStatus', 'currentOp', 'usersInfo', 'rolesInfo', 'listCollections', 'find')


def writes(server):
    """The commands received that change something."""
    return [(db, command) for db, command in server.commands if next(iter(command)) not in READS]


def changes(statements):
    """The recorded commands that change something (reads are recorded too, once each)."""
    return [s for s in statements if re.match(r'^\w+\.runCommand\(\{"(\w+)"', s).group(1) not in READS]


# -- connection -----------------------------------------------------------------------------------
def test_connect_authenticates_and_reads_server_info(server):
    engine = connected(server)
    assert server.commands == [('admin', {'ping': 1}), ('admin', {'buildInfo': 1})]
    assert engine.statements == ['admin.runCommand({"ping": 1})', 'admin.runCommand({"buildInfo": 1})',
                                 'admin.runCommand({"hello": 1})']
    assert engine.server_info() == dict(engine='mongodb', flavour='mongodb', version='7.0.14', version_info=[7, 0, 14],
                                        edition='community', topology='replica_set', replica_set='rs0',
                                        app_name=engine.app_name)
    assert engine.app_name.startswith('dtsops.switchover/')
    engine.close()
    assert engine.conn is None


def test_server_info_tells_sharded_clusters_and_enterprise(server):
    server.topology, server.modules = 'mongos', ['enterprise']
    info = connected(server).server_info()
    assert info['topology'] == 'sharded' and info['edition'] == 'enterprise' and info['replica_set'] is None


def test_wrong_password_says_what_to_check_without_the_password(server):
    with pytest.raises(EngineError) as error_info:
        connected(server, login_password='wrong-' + PASSWORD)
    assert str(error_info.value) == ('Authentication failed. (check login_user, login_password and login_db, the '
                                     'authentication database, admin by default)')


def test_login_db_is_the_authentication_database(server):
    server.add_user('shop_admin', PASSWORD, [('read', 'shop')], db='shop')
    engine = connected(server, login_user='shop_admin', login_db='shop')
    assert ('shop', 'shop_admin') in [client['user'] for client in server.clients.values()]
    engine.close()
    with pytest.raises(EngineError, match='^Authentication failed'):
        connected(server, login_user='shop_admin')


def test_real_driver_unreachable_host():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    engine = mongodb.MongoDBEngine(dict(engine='mongodb', login_host='127.0.0.1', login_port=port, login_user='u',
                                        login_password=PASSWORD, connect_timeout=1))
    with pytest.raises(EngineError) as error_info:
        engine.connect()
    assert str(error_info.value) == 'cannot reach the server: 127.0.0.1:%d: [Errno 111] Connection refused' % port


def test_missing_driver_is_reported_with_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pymongo', None)
    spec = importlib.util.spec_from_file_location('mongodb_without_driver', mongodb.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(MissingDriver) as error_info:
        module.MongoDBEngine({'login_port': 1}).connect()
    assert error_info.value.package == 'pymongo'


# -- TLS, with the real pymongo against the server over TLS -----------------------------------------
@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp('certs')))


def tls_server(certs, require_client_cert=False):
    fake = FakeMongo(topology='standalone', tls_context=certs.server_context(require_client_cert), advertised_host='localhost')
    return populate(fake.start())


@pytest.mark.parametrize('host, ssl_mode, ca', [('localhost', 'verify-full', True), ('127.0.0.1', 'verify-ca', True),
                                                ('127.0.0.1', 'require', False)])
def test_tls_modes_that_accept_the_server(certs, host, ssl_mode, ca):
    server = tls_server(certs)
    try:
        engine = connected(server, login_host=host, ssl_mode=ssl_mode, ca_cert=certs.ca if ca else None)
        assert engine.server_info()['version'] == '7.0.14' and server.tls_failures == []
        engine.close()
    finally:
        server.stop()


@pytest.mark.parametrize('host, ca_name, reason', [('127.0.0.1', 'ca', "IP address mismatch, certificate is not valid for '127.0.0.1'"),
                                                   ('localhost', 'other_ca', 'certificate verify failed')])
def test_tls_refusals_are_reported_as_tls_problems(certs, host, ca_name, reason):
    server = tls_server(certs)
    try:
        with pytest.raises(EngineError) as error_info:
            connected(server, login_host=host, ssl_mode='verify-full', ca_cert=getattr(certs, ca_name), connect_timeout=1)
    finally:
        server.stop()
    message = str(error_info.value)
    assert message.startswith('TLS: ') and reason in message and message.endswith('(check ssl_mode, ca_cert, client_cert)')


def test_client_certificate_with_a_separate_key_is_presented_and_the_combined_file_removed(certs):
    server = tls_server(certs, require_client_cert=True)
    before = set(os.listdir(tempfile.gettempdir()))
    try:
        engine = connected(server, login_host='localhost', ssl_mode='verify-full', ca_cert=certs.ca,
                           client_cert=certs.client_cert, client_key=certs.client_key)
        assert engine.server_info()['version'] == '7.0.14'
        engine.close()
    finally:
        server.stop()
    assert not [name for name in set(os.listdir(tempfile.gettempdir())) - before if name.startswith('dtsops-mongo-')]


@pytest.mark.parametrize('extra, message', [
    (dict(ssl_mode='disable', client_cert='/c.pem'), 'client_cert needs TLS: set ssl_mode to require, verify-ca or verify-full.'),
    (dict(ssl_mode='require', client_key='/k.pem'), 'client_key needs client_cert.'),
    (dict(ssl_mode='require', client_cert='/nonexistent/c.pem', client_key='/nonexistent/k.pem'),
     'cannot read client_cert or client_key: '),
    (dict(ssl_mode='verify-ca', ca_cert='/nonexistent/ca.pem'), 'cannot use the connection options: '),
])
def test_tls_options_that_cannot_work_fail_before_connecting(server, extra, message):
    with pytest.raises(EngineError) as error_info:
        connected(server, **extra)
    assert str(error_info.value).startswith(message)
    assert server.commands == []


# -- sessions -------------------------------------------------------------------------------------
def add_sessions(server):
    """Other clients' operations and sessions, as currentOp shows them; returns them by name."""
    app, dts = [{'user': 'app', 'db': 'shop'}], [{'user': 'dts', 'db': 'admin'}]
    return dict(
        updating=server.add_op(opid=101, op='update', ns='shop.orders', command={'update': 'orders', 'updates': []},
                               effectiveUsers=app, client='10.0.0.5:50001', appName='shop-api', secs_running=2,
                               lsid={'id': SESSION_A, 'uid': Binary(b'\x01' * 32)}),
        reading=server.add_op(opid=102, op='query', ns='shop.orders', command={'find': 'orders'}, effectiveUsers=app,
                              client='10.0.0.5:50002', secs_running=0),
        merging=server.add_op(opid=103, op='command', ns='shop.orders', effectiveUsers=app, client='10.0.0.5:50003',
                              command={'aggregate': 'orders', 'pipeline': [{'$match': {}}, {'$merge': 'totals'}]}),
        in_transaction=server.add_op(type='idleSession', active=False, desc='inactive transaction', effectiveUsers=app,
                                     lsid={'id': SESSION_B, 'uid': Binary(b'\x02' * 32)},
                                     transaction={'parameters': {'txnNumber': 3, 'autocommit': False}, 'timeOpenMicros': 7500000}),
        idle=server.add_op(type='idleConnection', active=False, desc='conn77', connectionId=77, client='10.0.0.6:41000',
                           effectiveUsers=[{'user': 'batch', 'db': 'admin'}]),
        dts=server.add_op(opid=104, op='getmore', ns='local.oplog.rs', command={'getMore': 1, 'collection': 'oplog.rs'},
                          effectiveUsers=dts, client='100.104.1.1:3000', secs_running=30),
        internal=server.add_op(opid=105, op='none', desc='TTLMonitor', ns=''),
    )


def test_sessions_are_normalised_and_classified(server, engine):
    add_sessions(server)
    sessions = engine.sessions()
    assert server.commands == [('admin', {'currentOp': 1, '$all': True})] and changes(engine.statements) == []
    engine.sessions()
    assert engine.statements.count('admin.runCommand({"currentOp": 1, "$all": true})') == 1
    by_id = dict((s['id'], s) for s in sessions)
    assert 105 not in by_id                     # the server's own thread
    assert by_id[101] == dict(id=101, user='app', client='10.0.0.5:50001', database='shop', state='active',
                              command='{"update": "orders", "updates": []}', writing=True, idle=False, own=False, age=2,
                              opid=101, lsid=str(SESSION_A), connection_id=None, app_name='shop-api', op_type='op',
                              user_db='shop', transaction=False)
    assert by_id['lsid:%s' % SESSION_B]['age'] == 7 and by_id['lsid:%s' % SESSION_B]['transaction'] is True
    groups = classify_sessions(sessions, exclude_users=['dts'])
    assert all(s['app_name'] == engine.app_name for s in groups['own']) and groups['own']
    assert [s['id'] for s in groups['excluded']] == [104]
    assert sorted(str(s['id']) for s in groups['writing']) == ['101', '103', 'lsid:%s' % SESSION_B]
    assert [s['id'] for s in groups['active']] == [102]
    assert [s['id'] for s in groups['idle']] == ['conn77']


def test_other_sessions_commands_are_shown_without_their_secrets(server, engine):
    server.add_op(opid=120, op='command', ns='admin.$cmd', effectiveUsers=[{'user': 'dba', 'db': 'admin'}],
                  client='10.0.0.9:1', command={'createUser': 'x', 'pwd': 'S3cret', 'roles': []})
    command = [s for s in engine.sessions() if s['id'] == 120][0]['command']
    assert command == '{"createUser": "x", "pwd": "********", "roles": []}'


def test_sessions_need_the_inprog_privilege(server):
    server.users[('admin', 'switchover_admin')]['roles'] = [{'role': 'readAnyDatabase', 'db': 'admin'}]
    engine = connected(server)
    with pytest.raises(EngineError, match=r'^missing privilege inprog \(role clusterMonitor\) for admin\.runCommand\('
                                          r'\{"currentOp": 1, "\$all": true\}\): not authorized on admin'):
        engine.sessions()


def test_end_sessions_kills_sessions_by_id_and_operations_by_opid(server, engine):
    add_sessions(server)
    sessions = [s for s in engine.sessions() if s['user'] == 'app' or s['id'] == 'conn77']
    server.reset_log()
    ended = engine.end_sessions(sessions)
    assert ended == [101, 'lsid:%s' % SESSION_B, 102, 103]
    assert server.commands == [('admin', {'killSessions': [{'id': SESSION_A}, {'id': SESSION_B}]}),
                               ('admin', {'killOp': 1, 'op': 102}), ('admin', {'killOp': 1, 'op': 103})]
    assert changes(engine.statements) == [
        'admin.runCommand({"killSessions": [{"id": "%s"}, {"id": "%s"}]})' % (SESSION_A, SESSION_B),
        'admin.runCommand({"killOp": 1, "op": 102})', 'admin.runCommand({"killOp": 1, "op": 103})']
    assert sorted(str(op.get('opid') or op['desc']) for op in server.ops) == ['104', '105', 'conn77']


def test_end_sessions_in_check_mode_kills_nothing(server):
    add_sessions(server)
    engine = connected(server, check_mode=True)
    targets = [s for s in engine.sessions() if s['id'] == 102]
    server.reset_log()
    assert engine.end_sessions(targets) == [102]
    assert server.commands == [] and changes(engine.statements) == ['admin.runCommand({"killOp": 1, "op": 102})']


# -- instance fence -------------------------------------------------------------------------------
def test_instance_fence_blocks_user_writes_and_ends_open_transactions(server, engine):
    add_sessions(server)
    record = engine.fence('instance', exclude_users=['dts'])
    assert writes(server) == [('admin', {'setUserWriteBlockMode': 1, 'global': True}),
                              ('admin', {'killSessions': [{'id': SESSION_A}, {'id': SESSION_B}]}),
                              ('admin', {'killOp': 1, 'op': 103})]
    assert server.commands[0] == ('admin', {'serverStatus': 1, 'repl': 1})
    assert changes(engine.statements)[0] == 'admin.runCommand({"setUserWriteBlockMode": 1, "global": true})'
    assert record['changes'] == [{'kind': 'user_write_block', 'target': 'user_write_block', 'before': 'disabled',
                                  'after': 'enabled'}]
    assert sorted(str(s['id']) for s in record['ended_sessions']) == ['101', '103', 'lsid:%s' % SESSION_B]
    assert record['extra']['topology'] == 'replica_set' and record['server'] == '127.0.0.1:%d' % server.port
    json.dumps(record)
    # The server's own effect: the application cannot write; the admin (restore) writes the token.
    client = app_client(server)
    with pytest.raises(pymongo.errors.WriteError) as blocked:
        client.shop.orders.insert_one({'_id': 1})
    assert blocked.value.code == 371
    client.close()
    engine.write_token('shop.switchover_token', 'tok-1')
    assert server.collections[('shop', 'switchover_token')]['tok-1']['_id'] == 'tok-1'
    assert engine.fence_state('instance') == {'user_write_block': 'enabled'}


def test_instance_fence_when_writes_are_already_blocked_changes_nothing(server, engine):
    server.write_block = True
    record = engine.fence('instance', end_sessions=False)
    assert record['changes'][0]['before'] == record['changes'][0]['after'] == 'enabled'
    assert writes(server) == []
    assert engine.unfence(record) == [] and server.write_block is True


@pytest.mark.parametrize('version, topology, message', [
    ('5.0.24', 'replica_set', r'^setUserWriteBlockMode needs MongoDB 6\.0 or later \(the server runs 5\.0\.24\): use scope accounts'),
    ('7.0.14', 'standalone', r'^setUserWriteBlockMode works on replica sets and sharded clusters, not on a standalone '
                             r'server: use scope accounts\.$'),
])
def test_instance_fence_where_write_blocking_does_not_exist(server, version, topology, message):
    server.version, server.topology = version, topology
    engine = connected(server)
    server.reset_log()
    with pytest.raises(NotSupported, match=message):
        engine.fence('instance')
    assert server.commands == []


def test_instance_fence_names_the_missing_privilege(server):
    server.users[('admin', 'switchover_admin')]['roles'] = [{'role': 'clusterMonitor', 'db': 'admin'}]
    engine = connected(server)
    with pytest.raises(EngineError, match=r'^missing privilege setUserWriteBlockMode \(role backup, restore or root\) for '
                                          r'admin\.runCommand\(\{"setUserWriteBlockMode": 1, "global": true\}\)'):
        engine.fence('instance')
    assert server.write_block is False


def test_a_kill_that_fails_lifts_the_write_block_again(server, engine):
    add_sessions(server)
    server.fail('killSessions', error(13, 'Unauthorized', 'not authorized on admin to execute command { killSessions: ... }'))
    with pytest.raises(FenceError) as error_info:
        engine.fence('instance')
    assert writes(server) == [('admin', {'setUserWriteBlockMode': 1, 'global': True}),
                              ('admin', {'killSessions': [{'id': SESSION_A}, {'id': SESSION_B}]}),
                              ('admin', {'setUserWriteBlockMode': 1, 'global': False})]
    assert str(error_info.value).startswith('missing privilege killAnySession (role hostManager) for admin.runCommand(')
    assert [c['kind'] for c in error_info.value.rolled_back] == ['user_write_block'] and server.write_block is False


def test_on_mongos_the_state_is_unknown_and_undo_lifts_the_block(server):
    server.topology = 'mongos'
    engine = connected(server)
    server.reset_log()
    record = engine.fence('instance', end_sessions=False)
    assert record['changes'][0]['before'] == 'unknown' and server.write_block is True
    engine.unfence(record)
    assert writes(server) == [('admin', {'setUserWriteBlockMode': 1, 'global': True}),
                              ('admin', {'setUserWriteBlockMode': 1, 'global': False})]
    assert server.write_block is False


# -- accounts fence -------------------------------------------------------------------------------
def test_accounts_fence_revokes_only_the_roles_that_write_and_ends_the_sessions(server, engine):
    add_sessions(server)
    server.add_op(opid=106, op='insert', ns='shop.orders', command={'insert': 'orders'}, client='10.0.0.7:1',
                  effectiveUsers=[{'user': 'ingest', 'db': 'shop'}])
    record = engine.fence('accounts', ['app@shop', 'ingest@shop', 'batch', 'reporter@shop'], exclude_users=['dts'])
    assert server.commands[:2] == [
        ('admin', {'usersInfo': [{'user': 'app', 'db': 'shop'}, {'user': 'ingest', 'db': 'shop'},
                                 {'user': 'batch', 'db': 'admin'}, {'user': 'reporter', 'db': 'shop'}]}),
        ('admin', {'rolesInfo': [{'role': 'orderWriter', 'db': 'shop'}, {'role': 'read', 'db': 'reports'},
                                 {'role': 'read', 'db': 'shop'}, {'role': 'readWrite', 'db': 'shop'},
                                 {'role': 'readWriteAnyDatabase', 'db': 'admin'}],
                   'showPrivileges': True, 'showBuiltinRoles': True})]
    assert writes(server) == [
        ('shop', {'revokeRolesFromUser': 'app', 'roles': [{'role': 'readWrite', 'db': 'shop'}]}),
        ('shop', {'revokeRolesFromUser': 'ingest', 'roles': [{'role': 'orderWriter', 'db': 'shop'}]}),
        ('admin', {'revokeRolesFromUser': 'batch', 'roles': [{'role': 'readWriteAnyDatabase', 'db': 'admin'}]}),
        ('admin', {'killAllSessionsByPattern': [{'users': [{'user': 'app', 'db': 'shop'}, {'user': 'batch', 'db': 'admin'},
                                                           {'user': 'ingest', 'db': 'shop'}, {'user': 'reporter', 'db': 'shop'}]}]}),
        ('admin', {'killOp': 1, 'op': 102}), ('admin', {'killOp': 1, 'op': 103}), ('admin', {'killOp': 1, 'op': 106}),
    ]
    assert record['changes'] == [
        {'kind': 'user_roles', 'target': 'app@shop', 'before': ['read@reports', 'readWrite@shop'], 'after': ['read@reports'],
         'revoked': [{'role': 'readWrite', 'db': 'shop'}]},
        {'kind': 'user_roles', 'target': 'ingest@shop', 'before': ['orderWriter@shop'], 'after': [],
         'revoked': [{'role': 'orderWriter', 'db': 'shop'}]},
        {'kind': 'user_roles', 'target': 'batch@admin', 'before': ['readWriteAnyDatabase@admin'], 'after': [],
         'revoked': [{'role': 'readWriteAnyDatabase', 'db': 'admin'}]},
        {'kind': 'user_roles', 'target': 'reporter@shop', 'before': ['read@shop'], 'after': ['read@shop'], 'revoked': []},
    ]
    assert record['accounts'] == ['app@shop', 'ingest@shop', 'batch@admin', 'reporter@shop']
    # The idle connection of batch cannot be closed, so it is not listed as ended.
    assert sorted(str(s['id']) for s in record['ended_sessions']) == ['101', '102', '103', '106', 'lsid:%s' % SESSION_B]
    assert sorted(str(op.get('opid') or op['desc']) for op in server.ops) == ['104', '105', 'conn77']
    # The server's own effect: app still reads, no longer writes.
    client = app_client(server)
    assert client.reports.daily.find_one() is None
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        client.shop.orders.insert_one({'_id': 1})
    assert refused.value.code == 13
    client.close()
    assert engine.fence_state('accounts', ['app@shop', 'batch']) == {'app@shop': ['read@reports'], 'batch@admin': []}


def test_accounts_fence_of_a_missing_user_changes_nothing(server, engine):
    with pytest.raises(EngineError, match=r'^user ghost@admin, app@admin does not exist on 127\.0\.0\.1:\d+ \(write '
                                          r'user@database; a name alone means the admin database\)\.$'):
        engine.fence('accounts', ['app@shop', 'ghost', 'app'])
    assert writes(server) == []


@pytest.mark.parametrize('accounts, exclude, message', [
    (['app@shop', 'switchover_admin'], [], 'user switchover_admin is login_user: fencing it would lock out the connection'),
    (['dts'], ['dts'], 'user dts is both fenced (accounts) and excluded (exclude_users).'),
])
def test_accounts_fence_refuses_to_lock_out_the_admin_or_the_migration_account(server, engine, accounts, exclude, message):
    with pytest.raises(EngineError) as error_info:
        engine.fence('accounts', accounts, exclude_users=exclude)
    assert str(error_info.value).startswith(message) and server.commands == []


def test_accounts_fence_is_all_or_nothing(server, engine):
    for name in ('u3', 'u4', 'u5'):
        server.add_user(name, 'x', [('readWrite', 'shop')], db='shop')
    server.fail('revokeRolesFromUser', error(13, 'Unauthorized', 'not authorized on shop to execute command'), skip=2)
    with pytest.raises(FenceError) as error_info:
        engine.fence('accounts', ['app@shop', 'ingest@shop', 'u3@shop', 'u4@shop', 'u5@shop'])
    assert writes(server) == [
        ('shop', {'revokeRolesFromUser': 'app', 'roles': [{'role': 'readWrite', 'db': 'shop'}]}),
        ('shop', {'revokeRolesFromUser': 'ingest', 'roles': [{'role': 'orderWriter', 'db': 'shop'}]}),
        ('shop', {'revokeRolesFromUser': 'u3', 'roles': [{'role': 'readWrite', 'db': 'shop'}]}),
        ('shop', {'grantRolesToUser': 'ingest', 'roles': [{'role': 'orderWriter', 'db': 'shop'}]}),
        ('shop', {'grantRolesToUser': 'app', 'roles': [{'role': 'readWrite', 'db': 'shop'}]}),
    ]
    assert str(error_info.value).startswith("missing privilege revokeRole on the roles' databases (role userAdminAnyDatabase)")
    assert [c['target'] for c in error_info.value.rolled_back] == ['ingest@shop', 'app@shop']
    assert server.users[('shop', 'app')]['roles'] == [{'role': 'read', 'db': 'reports'}, {'role': 'readWrite', 'db': 'shop'}]


def test_a_user_dropped_while_fencing_rolls_the_fence_back(server, engine):
    server.fail('revokeRolesFromUser', error(11, 'UserNotFound', 'Could not find user "batch" for db "admin"'), skip=1)
    with pytest.raises(FenceError) as error_info:
        engine.fence('accounts', ['app@shop', 'batch'])
    assert str(error_info.value) == ('admin.runCommand({"revokeRolesFromUser": "batch", "roles": [{"role": "readWriteAnyDatabase", '
                                     '"db": "admin"}]}) failed: Could not find user "batch" for db "admin" (code 11)')
    assert [c['target'] for c in error_info.value.rolled_back] == ['app@shop']


# -- undo -----------------------------------------------------------------------------------------
def test_unfence_from_a_fresh_engine_with_only_the_json_record(server, engine):
    accounts = json.loads(json.dumps(engine.fence('accounts', ['app@shop', 'batch'])))
    instance = json.loads(json.dumps(engine.fence('instance')))
    engine.close()
    fresh = connected(server)
    server.reset_log()
    assert [c['kind'] for c in fresh.unfence(instance)] == ['user_write_block']
    assert [c['target'] for c in fresh.unfence(accounts)] == ['batch@admin', 'app@shop']
    assert writes(server) == [('admin', {'setUserWriteBlockMode': 1, 'global': False}),
                              ('admin', {'grantRolesToUser': 'batch', 'roles': [{'role': 'readWriteAnyDatabase', 'db': 'admin'}]}),
                              ('shop', {'grantRolesToUser': 'app', 'roles': [{'role': 'readWrite', 'db': 'shop'}]})]
    server.reset_log()
    assert fresh.unfence(accounts) == [] and fresh.unfence(instance) == [] and writes(server) == []
    assert server.users[('shop', 'app')]['roles'] == [{'role': 'read', 'db': 'reports'}, {'role': 'readWrite', 'db': 'shop'}]


def test_unfence_grants_back_only_the_roles_still_missing(server, engine):
    server.users[('shop', 'app')]['roles'].append({'role': 'dbAdmin', 'db': 'shop'})
    record = engine.fence('accounts', ['app@shop'], end_sessions=False)
    assert record['changes'][0]['revoked'] == [{'role': 'readWrite', 'db': 'shop'}, {'role': 'dbAdmin', 'db': 'shop'}]
    server.users[('shop', 'app')]['roles'].append({'role': 'dbAdmin', 'db': 'shop'})   # an operator granted it back
    server.reset_log()
    engine.unfence(record)
    assert writes(server) == [('shop', {'grantRolesToUser': 'app', 'roles': [{'role': 'readWrite', 'db': 'shop'}]})]


def test_unfence_reports_what_it_could_not_restore(server, engine):
    record = engine.fence('accounts', ['app@shop', 'batch'], end_sessions=False)
    server.fail('grantRolesToUser', error(13, 'Unauthorized', 'not authorized on shop'), skip=1)
    with pytest.raises(FenceError) as error_info:
        engine.unfence(record)
    assert [c['target'] for c in error_info.value.rolled_back] == ['batch@admin']
    assert [c['target'] for c in error_info.value.rollback_failed] == ['app@shop']


def test_unfence_rejects_what_is_not_a_mongodb_record(engine):
    with pytest.raises(EngineError, match='not a mongodb fence record'):
        engine.unfence({'engine': 'redis', 'scope': 'instance', 'changes': []})


def test_unfenced_record_lifts_the_write_block_but_cannot_guess_revoked_roles(server, engine):
    server.write_block = True
    engine.unfence(engine.unfenced_record('instance'))
    assert server.write_block is False
    with pytest.raises(NotSupported, match='recorded only in its fence record'):
        engine.unfenced_record('accounts', ['app@shop'])


# -- check mode -----------------------------------------------------------------------------------
def test_check_mode_fences_nothing_and_returns_what_would_run(server):
    add_sessions(server)
    engine = connected(server, check_mode=True)
    server.reset_log()
    instance = engine.fence('instance', exclude_users=['dts'])
    accounts = engine.fence('accounts', ['app@shop'], end_sessions=False)
    assert writes(server) == []
    assert changes(engine.statements) == [
        'admin.runCommand({"setUserWriteBlockMode": 1, "global": true})',
        'admin.runCommand({"killSessions": [{"id": "%s"}, {"id": "%s"}]})' % (SESSION_A, SESSION_B),
        'admin.runCommand({"killOp": 1, "op": 103})',
        'shop.runCommand({"revokeRolesFromUser": "app", "roles": [{"role": "readWrite", "db": "shop"}]})',
    ]
    assert instance['extra']['check_mode'] is True and len(instance['ended_sessions']) == 3
    assert accounts['changes'][0]['after'] == ['read@reports']
    assert server.write_block is False and {'role': 'readWrite', 'db': 'shop'} in server.users[('shop', 'app')]['roles']


# -- catch-up token -------------------------------------------------------------------------------
def test_token_collection_is_checked_created_written_and_read(server, engine):
    with pytest.raises(EngineError, match=r'^token collection shop\.switchover\.token does not exist on 127\.0\.0\.1:\d+: '
                                          r'create it \(create: true\)'):
        engine.ensure_token_object('shop.switchover.token')
    assert engine.ensure_token_object('shop.switchover.token', create=True) is True
    assert engine.ensure_token_object('shop.switchover.token') is False
    assert engine.write_token('shop.switchover.token', 'tok-1') == 'shop.switchover.token'
    assert engine.write_token('shop.switchover.token', 'tok-1') == 'shop.switchover.token'     # a retry
    assert engine.read_token('shop.switchover.token', 'tok-1') is True
    assert engine.read_token('shop.switchover.token', 'other') is False
    inserted = [c for db, c in writes(server) if 'insert' in c]
    assert len(inserted) == 2 and inserted[0]['insert'] == 'switchover.token'
    assert inserted[0]['documents'][0]['_id'] == 'tok-1' and inserted[0]['documents'][0]['written_at'].tzinfo is not None
    assert writes(server)[0] == ('shop', {'create': 'switchover.token'})
    assert changes(engine.statements)[1].startswith(
        'shop.runCommand({"insert": "switchover.token", "documents": [{"_id": "tok-1", "written_at": "')


@pytest.mark.parametrize('name', ['token', 'shop.', '.token', 'sh op.token', None])
def test_bad_token_names_are_refused(engine, name):
    with pytest.raises(EngineError, match='must be database.collection'):
        engine.ensure_token_object(name)


def test_reading_a_token_collection_that_is_not_there_yet_is_an_error_the_caller_can_tolerate(engine):
    with pytest.raises(EngineError, match=r'^token collection shop\.t does not exist on 127\.0\.0\.1:\d+ \(yet\)\.$'):
        engine.read_token('shop.t', 'x')


def test_token_write_through_the_write_block_needs_bypass(server):
    server.add_user('weak_admin', PASSWORD, [('backup', 'admin'), ('readWriteAnyDatabase', 'admin'), ('clusterMonitor', 'admin')])
    engine = connected(server, login_user='weak_admin')
    engine.fence('instance', end_sessions=False)
    with pytest.raises(EngineError, match=r'^writes are blocked \(setUserWriteBlockMode\) and login_user lacks the '
                                          r'bypassWriteBlockingMode privilege \(role restore or root\)'):
        engine.write_token('shop.token', 'tok-1')


def test_token_write_in_check_mode_writes_nothing(server):
    engine = connected(server, check_mode=True)
    server.reset_log()
    engine.write_token('shop.token', 'tok-1')
    assert writes(server) == [] and len(changes(engine.statements)) == 1


# -- documents (the journal kept in the database) -------------------------------------------------
JOURNAL = {'unit': 'orders', 'outcome': 'running', 'data': {'a.b': 1, '$note': "it's"}}


def test_document_collection_is_checked_created_upserted_read_and_deleted(server, engine):
    # restore inserts but cannot update or remove: the journal's database needs readWrite.
    server.add_user('switchover_admin', PASSWORD, ADMIN_ROLES + [('readWrite', 'ops')])
    with pytest.raises(EngineError, match=r'^document collection ops\.journal does not exist on 127\.0\.0\.1:\d+: '
                                          r'create it \(create: true\)\.$'):
        engine.ensure_document_object('ops.journal')
    assert engine.ensure_document_object('ops.journal', create=True) is True
    assert engine.ensure_document_object('ops.journal') is False
    assert engine.load_document('ops.journal', 'orders/orders.json') is None
    assert engine.save_document('ops.journal', 'orders/orders.json', JOURNAL) == 'ops.journal'
    assert engine.load_document('ops.journal', 'orders/orders.json') == JOURNAL
    engine.save_document('ops.journal', 'orders/orders.json', dict(JOURNAL, outcome='completed'))
    assert engine.load_document('ops.journal', 'orders/orders.json')['outcome'] == 'completed'
    assert list(server.collections[('ops', 'journal')]) == ['orders/orders.json']
    engine.delete_document('ops.journal', 'orders/orders.json')
    assert engine.load_document('ops.journal', 'orders/orders.json') is None
    update = [c for db, c in writes(server) if 'update' in c][0]
    assert update['updates'][0]['q'] == {'_id': 'orders/orders.json'} and update['updates'][0]['upsert'] is True
    assert json.loads(update['updates'][0]['u']['document']) == JOURNAL
    # The statements show the document's size, not the document.
    shown = [s for s in changes(engine.statements) if '"update"' in s][0]
    assert '"document": "<document: ' in shown and 'outcome' not in shown
    assert changes(engine.statements)[-1] == ('ops.runCommand({"delete": "journal", "deletes": [{"q": {"_id": "orders/orders.json"}, '
                                              '"limit": 1}]})')


def test_document_save_through_the_write_block(server, engine):
    server.add_user('switchover_admin', PASSWORD, ADMIN_ROLES + [('readWrite', 'ops')])
    engine.ensure_document_object('ops.journal', create=True)
    engine.fence('instance', end_sessions=False)
    engine.save_document('ops.journal', 'orders', JOURNAL)
    assert engine.load_document('ops.journal', 'orders') == JOURNAL
    server.add_user('weak_admin', PASSWORD, [('backup', 'admin'), ('readWriteAnyDatabase', 'admin'), ('clusterMonitor', 'admin')])
    with pytest.raises(EngineError, match=r'^writes are blocked \(setUserWriteBlockMode\) and login_user lacks the '
                                          r'bypassWriteBlockingMode privilege \(role restore or root\) that writes the document'):
        connected(server, login_user='weak_admin').save_document('ops.journal', 'orders', JOURNAL)


def test_document_save_in_check_mode_writes_nothing(server):
    dry = connected(server, check_mode=True)
    server.reset_log()
    dry.save_document('ops.journal', 'orders', JOURNAL)
    assert writes(server) == [] and len(changes(dry.statements)) == 1
