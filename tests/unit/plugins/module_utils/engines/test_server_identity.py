"""server_identity() of the engines without a server here (SQL Server, Oracle, MongoDB), through
their real drivers' APIs against the fakes in tests/unit/fakes, which check the exact statements
and commands. MySQL/MariaDB, PostgreSQL and Redis are tested on real servers
(tests/integration/test_unit_check.py)."""

import oracledb
import pymssql
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import mongodb, oracle, sqlserver
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from unit.fakes.mongo import FakeMongo
from unit.fakes.oracle import FakeOracle
from unit.fakes.sqlserver import FakeSQLServer

PASSWORD = 'Adm1n-pa55'
COMMON = dict(login_user=None, login_password=PASSWORD, ssl_mode='prefer', ca_cert=None, client_cert=None, client_key=None,
              connect_timeout=5)


def test_sqlserver_identity_is_the_server_name_and_the_database(monkeypatch):
    fake = FakeSQLServer()
    fake.add_database('shop')
    monkeypatch.setattr(pymssql, 'connect', fake.connect)
    engine = sqlserver.SQLServerEngine(dict(COMMON, engine='sqlserver', login_host='sql.example.com', login_port=None,
                                            login_user='switchover_admin', login_db='shop'))
    engine.connect()
    fake.reset_log()
    identity = engine.server_identity()
    assert identity == {'engine': 'sqlserver', 'flavour': 'sqlserver', 'server': 'SQLHOST01\\PROD', 'read_from': '@@SERVERNAME',
                        'database': 'shop', 'address': 'sql.example.com:1433'}
    assert fake.log == ['SELECT @@SERVERNAME AS server_name, DB_NAME() AS database_name']
    assert engine.statements[-1] == 'SELECT @@SERVERNAME AS server_name, DB_NAME() AS database_name'


@pytest.fixture
def oracle_server(monkeypatch):
    fake = FakeOracle()
    monkeypatch.setattr(oracledb, 'connect', fake.connect)
    return fake


def oracle_engine():
    engine = oracle.OracleEngine(dict(COMMON, engine='oracle', login_host='ora.example.com', login_port=None,
                                      login_user='switchover_admin', login_db='ORCLPDB1'))
    engine.connect()
    return engine


def test_oracle_identity_is_the_dbid_and_the_container(oracle_server):
    engine = oracle_engine()
    oracle_server.reset_log()
    identity = engine.server_identity()
    assert (identity['server'], identity['read_from'], identity['database']) == ('1234567890', 'v$database.dbid', 'ORCLPDB1')
    assert oracle_server.log == ['SELECT dbid, name FROM v$database']
    # Another PDB of the same CDB: same server, another database.
    oracle_server.con_name = 'SALESPDB'
    other = oracle_engine().server_identity()
    assert (other['server'], other['database']) == ('1234567890', 'SALESPDB')


def test_oracle_identity_without_catalog_access_names_the_view(oracle_server):
    engine = oracle_engine()
    oracle_server.catalog = False
    with pytest.raises(EngineError, match=r'SELECT dbid, name FROM v\$database'):
        engine.server_identity()


def mongo_engine(server, user='switchover_admin'):
    engine = mongodb.MongoDBEngine(dict(COMMON, engine='mongodb', login_host='127.0.0.1', login_port=server.port, login_user=user,
                                        login_db=None))
    engine.connect()
    return engine


@pytest.mark.parametrize('topology', ['replica_set', 'standalone'])
def test_mongodb_identity_tells_two_servers_apart(topology):
    identities = []
    for dummy in range(2):
        with FakeMongo(topology=topology) as server:
            server.add_user('switchover_admin', PASSWORD, [('clusterMonitor', 'admin')])
            engine = mongo_engine(server)
            try:
                del server.commands[:]
                first, again = engine.server_identity(), engine.server_identity()
                sent = [command for db, command in server.commands]
            finally:
                engine.close()
        assert first == again
        assert first['database'] is None
        identities.append(first)
        if topology == 'replica_set':
            assert first['server'] == 'rs0/%s' % server.replica_set_id
            assert sent == [{'replSetGetConfig': 1}] * 2
        else:
            assert first['server'] == 'db0:27017 pid %s' % server.pid
            assert sent == [{'serverStatus': 1}] * 2
    # Two replica sets of the same name (rs0) are still two servers.
    assert identities[0]['server'] != identities[1]['server']


def test_mongodb_identity_without_cluster_monitor_names_the_role():
    with FakeMongo() as server:
        server.add_user('switchover_admin', PASSWORD, [('readAnyDatabase', 'admin')])
        engine = mongo_engine(server)
        try:
            with pytest.raises(EngineError, match=r'missing privilege replSetGetConfig \(role clusterMonitor\)'):
                engine.server_identity()
        finally:
            engine.close()
