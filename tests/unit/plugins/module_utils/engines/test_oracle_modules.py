"""The real db_* modules on the Oracle engine, in-process: oracledb.connect reaches the Oracle models
by host name, so a test can have a source and a destination."""

import threading

import oracledb
import pytest

from ansible_collections.dtsops.switchover.plugins.modules import db_caught_up, db_sessions_quiesced, db_write_lock
from unit.fakes.modules import run_module
from unit.fakes.oracle import FakeOracle

PASSWORD = 'Adm1n-pa55'


def changes(statements):
    return [statement for statement in statements if not statement.startswith('SELECT')]


@pytest.fixture
def servers(monkeypatch):
    models = {}
    for host in ('source.example.com', 'destination.example.com'):
        model = models[host] = FakeOracle(password=PASSWORD)
        model.add_user('APP')
        model.add_user('DTS')
        model.add_table('OPS', 'DTSOPS_TOKEN')
    monkeypatch.setattr(oracledb, 'connect', lambda **kwargs: models[kwargs['host']].connect(**kwargs))
    return models


def options(host='source.example.com', **extra):
    values = dict(engine='oracle', login_host=host, login_user='switchover_admin', login_password=PASSWORD,
                  login_db='ORCLPDB1')
    values.update(extra)
    return values


def test_db_write_lock_locks_accounts_and_lifts_the_fence_from_its_record(servers, capfd):
    source = servers['source.example.com']
    app = source.add_session('APP', transaction=True, undo_blocks=3)
    locked = run_module(capfd, db_write_lock, options(scope='accounts', accounts=['app'], exclude_users=['dts']), diff=True)
    assert locked['changed'] is True and 'failed' not in locked
    assert changes(locked['statements']) == ['ALTER USER "APP" ACCOUNT LOCK',
                                             "ALTER SYSTEM KILL SESSION '%d,%d' IMMEDIATE" % (app, app * 7 + 3)]
    assert locked['diff']['before'] == {'APP': 'OPEN'} and locked['diff']['after'] == {'APP': 'LOCKED'}
    assert run_module(capfd, db_write_lock, options(scope='accounts', accounts=['app']))['changed'] is False
    unlocked = run_module(capfd, db_write_lock, options(state='unlocked', fence=locked['fence']), diff=True)
    assert unlocked['changed'] is True and unlocked['diff']['after'] == {'APP': 'OPEN'}
    assert source.users['APP']['status'] == 'OPEN'
    assert PASSWORD not in locked['raw'] + unlocked['raw']


def test_db_write_lock_instance_in_check_mode(servers, capfd):
    result = run_module(capfd, db_write_lock, options(scope='instance'), check_mode=True, diff=True)
    assert result['changed'] is True and changes(result['statements']) == ['ALTER SYSTEM ENABLE RESTRICTED SESSION']
    assert result['diff']['after'] == {'restricted_session': 'RESTRICTED'}
    assert servers['source.example.com'].restricted is False


def test_db_write_lock_names_a_missing_privilege(servers, capfd):
    servers['source.example.com'].sys_privs.remove(('SWITCHOVER_ADMIN', 'ALTER USER'))
    result = run_module(capfd, db_write_lock, options(scope='accounts', accounts=['app']))
    assert result['failed'] is True
    assert 'login_user SWITCHOVER_ADMIN lacks the system privilege ALTER USER (GRANT ALTER USER TO SWITCHOVER_ADMIN).' in result['msg']


def test_db_sessions_quiesced_waits_for_the_writer_to_be_killed(servers, capfd):
    source = servers['source.example.com']
    writer = source.add_session('APP', transaction=True, undo_blocks=1)
    result = run_module(capfd, db_sessions_quiesced, options(kill=True, accounts=['APP'], timeout=5, poll_interval=0.05))
    assert 'failed' not in result, result.get('msg')
    assert [s['sid'] for s in result['ended_sessions']] == [writer] and writer not in source.sessions


def test_db_caught_up_with_a_committed_token(servers, capfd):
    source, destination = servers['source.example.com'], servers['destination.example.com']
    run_module(capfd, db_write_lock, options(scope='instance'))
    stop = threading.Event()

    def replicate():
        # Committed rows only: an uncommitted token would never reach the destination.
        while not stop.wait(0.02):
            for token in source.tables[('OPS', 'DTSOPS_TOKEN')]:
                if token not in destination.tables[('OPS', 'DTSOPS_TOKEN')]:
                    destination.tables[('OPS', 'DTSOPS_TOKEN')].append(token)

    replicator = threading.Thread(target=replicate, daemon=True)
    replicator.start()
    try:
        result = run_module(capfd, db_caught_up, dict(source=options(), destination=options('destination.example.com'),
                                                      token_object='ops.dtsops_token', token='tok-9', timeout=10,
                                                      poll_interval=0.05))
    finally:
        stop.set()
        replicator.join()
    assert 'failed' not in result, result.get('msg')
    assert changes(result['statements']) == ['INSERT INTO "OPS"."DTSOPS_TOKEN" (token) VALUES (\'tok-9\')']
    assert destination.tables[('OPS', 'DTSOPS_TOKEN')] == ['tok-9']
