"""The real db_* modules on the SQL Server engine, in-process: pymssql.connect reaches the SQL Server
models by host name, so a test can have a source and a destination."""

import threading

import pymssql
import pytest

from ansible_collections.dtsops.switchover.plugins.modules import db_caught_up, db_sessions_quiesced, db_write_lock
from unit.fakes.modules import run_module
from unit.fakes.sqlserver import FakeSQLServer

PASSWORD = 'Adm1n-pa55'


def changes(statements):
    return [statement for statement in statements if not statement.startswith('SELECT')]


@pytest.fixture
def servers(monkeypatch):
    models = {}
    for host in ('source.example.com', 'destination.example.com'):
        model = models[host] = FakeSQLServer(password=PASSWORD)
        for name in ('crm', 'shop'):
            model.add_database(name)
        for name in ('app', 'dts'):
            model.add_login(name)
        model.privileged.add('dts')
    monkeypatch.setattr(pymssql, 'connect', lambda **kwargs: models[kwargs['server']].connect(**kwargs))
    return models


def options(host='source.example.com', **extra):
    values = dict(engine='sqlserver', login_host=host, login_user='switchover_admin', login_password=PASSWORD)
    values.update(extra)
    return values


def test_db_write_lock_fences_the_named_databases_and_lifts_the_fence(servers, capfd):
    source = servers['source.example.com']
    app = source.add_session('app', database='shop')
    locked = run_module(capfd, db_write_lock, options(scope='instance', databases=['shop']), diff=True)
    assert locked['changed'] is True and 'failed' not in locked
    assert changes(locked['statements']) == ['ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE']
    assert locked['diff']['before'] == {'crm': 'READ_WRITE', 'shop': 'READ_WRITE'}
    assert locked['diff']['after'] == {'crm': 'READ_WRITE', 'shop': 'READ_ONLY'}
    assert [s['id'] for s in locked['ended_sessions']] == [app] and app not in source.sessions
    assert run_module(capfd, db_write_lock, options(scope='instance', databases=['shop']))['changed'] is False
    unlocked = run_module(capfd, db_write_lock, options(state='unlocked', fence=locked['fence']))
    assert unlocked['changed'] is True
    assert changes(unlocked['statements']) == ['ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE']
    assert source.databases['shop']['read_only'] is False
    assert PASSWORD not in locked['raw'] + unlocked['raw']


def test_db_write_lock_reports_a_rolled_back_fence(servers, capfd):
    source = servers['source.example.com']
    source.add_session('app', database='shop')
    result = run_module(capfd, db_write_lock, options(scope='instance', end_sessions=False))
    assert result['failed'] is True
    assert result['msg'].startswith('Could not apply the fence: ALTER DATABASE [shop] SET READ_ONLY WITH NO_WAIT failed: '
                                    "Database state cannot be changed while other users are using the database 'shop'")
    assert result['msg'].endswith('Nothing is left changed: 1 change rolled back (database crm back to READ_WRITE).')
    assert not any(db['read_only'] for db in source.databases.values())


def test_db_write_lock_of_a_missing_login_fails_cleanly(servers, capfd):
    result = run_module(capfd, db_write_lock, options(scope='accounts', accounts=['ghost']))
    assert result['failed'] is True and 'login ghost does not exist on source.example.com:1433' in result['msg']
    assert 'exception' not in result


def test_db_sessions_quiesced_kills_the_application_sessions(servers, capfd):
    source = servers['source.example.com']
    writer = source.add_session('app', database='shop', open_transactions=1, log_bytes=100, max_state=4)
    dts = source.add_session('dts', database='shop', open_transactions=1, log_bytes=100, max_state=4)
    result = run_module(capfd, db_sessions_quiesced, options(kill=True, accounts=['app'], exclude_users=['dts'], timeout=5,
                                                             poll_interval=0.05))
    assert 'failed' not in result, result.get('msg')
    assert [s['id'] for s in result['ended_sessions']] == [writer] and dts in source.sessions
    assert changes(result['statements']) == ['KILL %d' % writer]


def test_db_caught_up_through_a_read_only_source_database(servers, capfd):
    """The token goes into a database the instance fence made read-only, then replication brings it."""
    source, destination = servers['source.example.com'], servers['destination.example.com']
    source.add_table('shop', 'dbo', 'dtsops_token')
    destination.add_table('shop', 'dbo', 'dtsops_token')
    run_module(capfd, db_write_lock, options(scope='instance'))
    stop = threading.Event()

    def replicate():
        while not stop.wait(0.02):
            for token in source.tables[('shop', 'dbo', 'dtsops_token')]:
                if token not in destination.tables[('shop', 'dbo', 'dtsops_token')]:
                    destination.tables[('shop', 'dbo', 'dtsops_token')].append(token)

    replicator = threading.Thread(target=replicate, daemon=True)
    replicator.start()
    try:
        result = run_module(capfd, db_caught_up, dict(source=options(), destination=options('destination.example.com'),
                                                      token_object='shop.dbo.dtsops_token', token='tok-7', timeout=10,
                                                      poll_interval=0.05))
    finally:
        stop.set()
        replicator.join()
    assert 'failed' not in result, result.get('msg')
    assert result['source_object'] == '[shop].[dbo].[dtsops_token] (read-only database opened to privileged users for the write)'
    assert result['statements'][-5:] == [
        'ALTER DATABASE [shop] SET RESTRICTED_USER WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [shop] SET READ_WRITE WITH ROLLBACK IMMEDIATE',
        "INSERT INTO [shop].[dbo].[dtsops_token] (token) VALUES (N'tok-7')",
        'ALTER DATABASE [shop] SET READ_ONLY WITH ROLLBACK IMMEDIATE',
        'ALTER DATABASE [shop] SET MULTI_USER',
    ]
    assert source.databases['shop']['read_only'] is True and destination.tables[('shop', 'dbo', 'dtsops_token')] == ['tok-7']
