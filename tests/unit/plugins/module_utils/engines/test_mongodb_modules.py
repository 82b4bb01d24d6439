"""The real db_* modules on the MongoDB engine, in-process, against wire-protocol servers: what a
playbook task gets, from the options down to the commands the server received."""

import threading

import pytest

from ansible_collections.dtsops.switchover.plugins.modules import db_caught_up, db_sessions_quiesced, db_write_lock
from unit.fakes.modules import run_module
from unit.fakes.mongo import FakeMongo

from test_mongodb import PASSWORD, add_sessions, changes, populate


@pytest.fixture
def server():
    with FakeMongo() as fake:
        yield populate(fake)


def options(server, **extra):
    values = dict(engine='mongodb', login_host='127.0.0.1', login_port=server.port, login_user='switchover_admin',
                  login_password=PASSWORD, connect_timeout=5)
    values.update(extra)
    return values


def test_db_write_lock_fences_accounts_and_lifts_the_fence_from_its_record(server, capfd):
    add_sessions(server)
    lock = options(server, scope='accounts', accounts=['app@shop', 'batch'], exclude_users=['dts'])
    locked = run_module(capfd, db_write_lock, lock, diff=True)
    assert locked['changed'] is True and 'failed' not in locked
    assert locked['diff']['before'] == {'app@shop': ['read@reports', 'readWrite@shop'], 'batch@admin': ['readWriteAnyDatabase@admin']}
    assert locked['diff']['after'] == {'app@shop': ['read@reports'], 'batch@admin': []}
    assert changes(locked['statements'])[:2] == [
        'shop.runCommand({"revokeRolesFromUser": "app", "roles": [{"role": "readWrite", "db": "shop"}]})',
        'admin.runCommand({"revokeRolesFromUser": "batch", "roles": [{"role": "readWriteAnyDatabase", "db": "admin"}]})']
    assert server.users[('shop', 'app')]['roles'] == [{'role': 'read', 'db': 'reports'}]
    assert PASSWORD not in locked['raw']

    again = run_module(capfd, db_write_lock, lock)
    assert again['changed'] is False

    unlock = options(server, state='unlocked', fence=locked['fence'])
    unlocked = run_module(capfd, db_write_lock, unlock, diff=True)
    assert unlocked['changed'] is True and unlocked['diff']['after'] == locked['diff']['before']
    assert server.users[('shop', 'app')]['roles'] == [{'role': 'read', 'db': 'reports'}, {'role': 'readWrite', 'db': 'shop'}]
    assert run_module(capfd, db_write_lock, unlock)['changed'] is False


def test_db_write_lock_check_mode_shows_the_plan_and_changes_nothing(server, capfd):
    result = run_module(capfd, db_write_lock, options(server, scope='instance'), check_mode=True, diff=True)
    assert result['changed'] is True
    assert changes(result['statements']) == ['admin.runCommand({"setUserWriteBlockMode": 1, "global": true})']
    assert result['diff'] == dict(before={'user_write_block': 'disabled'}, after={'user_write_block': 'enabled'},
                                  before_header='mongodb 127.0.0.1:%d before' % server.port,
                                  after_header='mongodb 127.0.0.1:%d after' % server.port)
    assert server.write_block is False


def test_db_write_lock_on_mongodb_5_names_the_alternative(server, capfd):
    server.version = '5.0.24'
    result = run_module(capfd, db_write_lock, options(server, scope='instance'))
    assert result['failed'] is True
    assert 'setUserWriteBlockMode needs MongoDB 6.0 or later (the server runs 5.0.24): use scope accounts' in result['msg']


def test_db_write_lock_force_lifts_a_write_block_whose_record_is_lost(server, capfd):
    server.write_block = True
    result = run_module(capfd, db_write_lock, options(server, state='unlocked', force=True, scope='instance'))
    assert result['changed'] is True and server.write_block is False


def test_db_sessions_quiesced_ends_the_application_sessions_and_reports_quiet(server, capfd):
    add_sessions(server)
    result = run_module(capfd, db_sessions_quiesced, options(server, kill=True, accounts=['app@shop'], exclude_users=['dts'],
                                                             timeout=5, poll_interval=0.05))
    assert 'failed' not in result, result.get('msg')
    assert sorted(str(s['id']) for s in result['ended_sessions']) == ['101', '102', '103', 'lsid:66666666-7777-4888-8999-000000000000']
    assert [op['opid'] for op in server.ops if 'opid' in op] == [104, 105]


def test_db_caught_up_sees_the_token_the_replication_brought(server, capfd):
    with FakeMongo() as destination:
        populate(destination)
        stop = threading.Event()

        def replicate():
            # What DTS does, at a small scale: copy the source's collections to the destination.
            while not stop.wait(0.02):
                for key, documents in list(server.collections.items()):
                    destination.collections.setdefault(key, {}).update(documents)

        replicator = threading.Thread(target=replicate, daemon=True)
        replicator.start()
        try:
            result = run_module(capfd, db_caught_up, dict(
                source=options(server), destination=options(destination), token_object='shop.dtsops_token', create=True,
                token='tok-42', timeout=10, poll_interval=0.05))
        finally:
            stop.set()
            replicator.join()
    assert 'failed' not in result, result.get('msg')
    assert result['written'] is True and result['created'] is True and result['token'] == 'tok-42'
    assert changes(result['statements'])[0] == 'shop.runCommand({"create": "dtsops_token"})'
    assert destination.collections[('shop', 'dtsops_token')]['tok-42']['_id'] == 'tok-42'
    assert PASSWORD not in result['raw']
