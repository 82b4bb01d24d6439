"""db_write_lock with a fake engine: options, lock/unlock, idempotence, check mode, diff, failures."""

import json

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.fencing import (
    describe_change,
    engine_options,
    fence_error_message,
    predicted_state,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import FenceError
from ansible_collections.dtsops.switchover.plugins.modules import db_write_lock

from test_db_fake_engine import PASSWORD, add_server, connection, fake_engines  # noqa: F401  pylint: disable=unused-import


def args(**extra):
    values = connection(3306)
    values.update(extra)
    return values


@pytest.fixture
def server(fake_engines):  # noqa: F811  pylint: disable=redefined-outer-name
    return add_server(3306)


RECORD = {'engine': 'mysql', 'scope': 'instance', 'changes': [{'kind': 'global_variable', 'target': 'read_only', 'before': 'OFF', 'after': 'ON'}]}


# -- option validation ----------------------------------------------------------------------

@pytest.mark.parametrize('extra, message', [
    (dict(), 'scope is required with state=locked: instance or accounts.'),
    (dict(scope='accounts'), 'scope=accounts needs accounts: the application accounts to fence.'),
    (dict(scope='instance', fence=RECORD), 'fence and force are for state=unlocked; state=locked takes scope (and accounts).'),
    (dict(scope='instance', force=True), 'fence and force are for state=unlocked'),
    (dict(state='unlocked'), 'state=unlocked needs fence (the record a lock returned) or force=true with scope'),
    (dict(state='unlocked', fence=RECORD, force=True), 'fence and force=true exclude each other'),
    (dict(state='unlocked', force=True), 'scope is required with state=unlocked and force=true: instance or accounts.'),
    (dict(state='unlocked', fence={'engine': 'mysql'}),
     'fence is not a fence record returned by dtsops.switchover.db_write_lock: it has no scope, changes.'),
    (dict(state='unlocked', fence=dict(RECORD, engine='redis')), 'fence is a record of the redis engine, but engine is mysql.'),
    (dict(state='unlocked', fence=dict(RECORD, scope='galaxy')), "fence has scope 'galaxy'; a fence record has scope instance or accounts."),
    (dict(state='unlocked', fence=dict(RECORD, changes='read_only')), 'fence.changes must be the list of changes of the fence record.'),
    (dict(state='unlocked', fence=RECORD, scope='accounts'),
     'scope is accounts but the fence record has scope instance; leave scope out to use the record.'),
    (dict(scope='accounts', accounts=['shop_app', 'dts@%'], exclude_users=['dts']),
     'accounts dts@% are also in exclude_users: the migration account must not be fenced.'),
    (dict(scope='instance', lease=60), 'lease applies to the redis engine only, not to mysql.'),
    (dict(scope='instance', databases=['shop']), 'databases applies to the sqlserver engine only, not to mysql.'),
    (dict(scope='instance', queued_writes='execute'), 'queued_writes applies to the redis engine only, not to mysql.'),
    (dict(scope='instance', queued_writes='later'), 'value of queued_writes must be one of: drop, execute, got: later'),
    (dict(scope='instance', state='open'), 'value of state must be one of: locked, unlocked, got: open'),
])
def test_bad_options_fail_with_one_clear_message(run_module, server, extra, message):
    result = run_module(db_write_lock, args(**extra))
    assert result['failed']
    assert message in result['msg']
    assert server.log == [] and server.read_only == 'OFF'


def test_accounts_with_scope_instance_are_ignored_with_a_warning(run_module, server):
    result = run_module(db_write_lock, args(scope='instance', accounts=['shop_app']))
    assert result['changed'] is True and server.read_only == 'ON' and server.locked['shop_app'] is False
    warnings = [w['event']['msg'] if isinstance(w, dict) else w for w in result['warnings']]
    assert warnings == ['accounts is not used with scope=instance, which fences the whole server.']


def test_engine_options_reach_the_engine(run_module, fake_engines):  # noqa: F811
    add_server(6379)
    result = run_module(db_write_lock, connection(6379, engine='redis', scope='instance', lease=90, queued_writes='execute'))
    assert result['fence']['extra'] == {'lease': 90, 'queued_writes': 'execute'}


# -- lock and unlock ------------------------------------------------------------------------

def test_lock_unlock_instance_round_trip_with_diff(run_module, server):
    locked = run_module(db_write_lock, args(scope='instance'), diff=True)
    assert not locked.get('failed'), locked
    assert locked['changed'] is True
    assert server.read_only == 'ON'
    assert locked['statements'] == ['SET GLOBAL read_only = ON']
    assert locked['fence']['changes'] == [{'kind': 'global_variable', 'target': 'read_only', 'before': 'OFF', 'after': 'ON'}]
    assert locked['diff']['before'] == {'read_only': 'OFF'} and locked['diff']['after'] == {'read_only': 'ON'}
    assert locked['diff']['before_header'] == 'mysql 127.0.0.1:3306 before'

    unlocked = run_module(db_write_lock, args(state='unlocked', fence=locked['fence']), diff=True)
    assert unlocked['changed'] is True
    assert server.read_only == 'OFF'
    assert unlocked['statements'] == ['SET GLOBAL read_only = OFF']
    assert unlocked['restored'] == locked['fence']['changes']
    assert unlocked['diff']['before'] == {'read_only': 'ON'} and unlocked['diff']['after'] == {'read_only': 'OFF'}

    again = run_module(db_write_lock, args(state='unlocked', fence=locked['fence']))
    assert again['changed'] is False and again['restored'] == [] and again['statements'] == []


def test_second_lock_changes_nothing_and_its_record_undoes_nothing(run_module, server):
    first = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app']))
    second = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app']))
    assert first['changed'] is True and second['changed'] is False
    assert second['statements'] == []
    assert [(c['before'], c['after']) for c in second['fence']['changes']] == [('locked', 'locked')]
    undo_second = run_module(db_write_lock, args(state='unlocked', fence=second['fence']))
    assert undo_second['changed'] is False and server.locked['shop_app'] is True
    undo_first = run_module(db_write_lock, args(state='unlocked', fence=first['fence']))
    assert undo_first['changed'] is True and server.locked['shop_app'] is False


def test_lock_accounts_ends_their_sessions_but_never_the_excluded_ones(run_module, server):
    app = server.add_session('shop_app', writing=True, command='UPDATE orders SET paid = 1')
    dts = server.add_session('dts', writing=True)
    result = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app', 'shop_batch'], exclude_users=['dts']))
    assert result['changed'] is True
    assert [s['id'] for s in result['ended_sessions']] == [app['id']]
    assert result['fence']['ended_sessions'] == result['ended_sessions']
    assert server.sessions == [dts]
    assert result['statements'] == ["ALTER USER 'shop_app'@'%' ACCOUNT LOCK", "ALTER USER 'shop_batch'@'%' ACCOUNT LOCK",
                                    'KILL CONNECTION %d' % app['id']]


def test_check_mode_lock_changes_nothing_and_predicts_the_diff(run_module, server):
    server.add_session('shop_app')
    result = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app']), check_mode=True, diff=True)
    assert result['changed'] is True
    assert result['statements'] == ["ALTER USER 'shop_app'@'%' ACCOUNT LOCK", 'KILL CONNECTION 101']
    assert result['diff']['before'] == {'shop_app': 'open'} and result['diff']['after'] == {'shop_app': 'locked'}
    assert server.locked['shop_app'] is False and len(server.sessions) == 1 and server.log == []


def test_check_mode_unlock_changes_nothing(run_module, server):
    locked = run_module(db_write_lock, args(scope='instance'))
    server.log = []
    result = run_module(db_write_lock, args(state='unlocked', fence=locked['fence']), check_mode=True, diff=True)
    assert result['changed'] is True and result['statements'] == ['SET GLOBAL read_only = OFF']
    assert result['diff']['after'] == {'read_only': 'OFF'}
    assert server.read_only == 'ON' and server.log == []


def test_unlock_from_a_record_passed_as_json(run_module, server):
    locked = run_module(db_write_lock, args(scope='instance'))
    result = run_module(db_write_lock, args(state='unlocked', fence=json.dumps(locked['fence'])))
    assert result['changed'] is True and server.read_only == 'OFF'


def test_force_unlock_without_a_record(run_module, server):
    server.locked.update(shop_app=True, shop_batch=True)
    result = run_module(db_write_lock, args(state='unlocked', force=True, scope='accounts', accounts=['shop_app']), diff=True)
    assert result['changed'] is True
    assert server.locked == {'shop_app': False, 'shop_batch': True, 'dts': False}
    assert result['statements'] == ["ALTER USER 'shop_app'@'%' ACCOUNT UNLOCK"]
    assert result['diff']['before'] == {'shop_app': 'locked'} and result['diff']['after'] == {'shop_app': 'open'}
    again = run_module(db_write_lock, args(state='unlocked', force=True, scope='accounts', accounts=['shop_app']))
    assert again['changed'] is False


def test_force_unlock_needs_engine_support(run_module, fake_engines):  # noqa: F811
    add_server(1521)
    result = run_module(db_write_lock, connection(1521, engine='oracle', state='unlocked', force=True, scope='instance'))
    assert result['failed']
    assert result['msg'] == 'force=true is not available for the oracle engine: unlock with the fence record.'


# -- failures -------------------------------------------------------------------------------

def test_failed_fence_reports_what_was_rolled_back(run_module, server):
    server.fail_on['shop_batch'] = EngineError('Access denied; you need (at least one of) the CREATE USER privilege(s)')
    result = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app', 'shop_batch']))
    assert result['failed']
    assert result['msg'] == ('Could not apply the fence: shop_batch: Access denied; you need (at least one of) the CREATE USER '
                             'privilege(s). Nothing is left changed: 1 change rolled back (account_lock shop_app back to open).')
    assert server.locked['shop_app'] is False
    assert result['statements'] == ["ALTER USER 'shop_app'@'%' ACCOUNT LOCK", "ALTER USER 'shop_app'@'%' ACCOUNT UNLOCK"]
    assert [c['target'] for c in result['rolled_back']] == ['shop_app'] and result['rollback_failed'] == []


def test_failed_rollback_is_loud(run_module, server):
    server.fail_on['shop_batch'] = EngineError('lost connection')
    server.fail_undo.add('shop_app')
    result = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app', 'shop_batch']))
    assert result['failed']
    assert result['msg'] == ('Could not apply the fence: shop_batch: lost connection. MANUAL ACTION NEEDED: these changes could NOT '
                             'be rolled back and are still in place: account_lock shop_app (is locked, was open). Restore them by hand '
                             'or run this module with state=unlocked and force=true.')
    assert server.locked['shop_app'] is True


def test_nonexistent_account(run_module, server):
    result = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app', 'nobody']))
    assert result['failed']
    assert result['msg'] == ('Error while applying the fence on the mysql server at 127.0.0.1:3306: '
                             'account nobody does not exist on 127.0.0.1:3306')
    assert server.log == []


def test_diff_that_cannot_be_read_is_a_warning_not_a_failure(run_module, server):
    result = run_module(db_write_lock, args(scope='accounts', accounts=['nobody']), diff=True)
    assert result['failed'] and result['msg'].startswith('Error while applying the fence')
    warnings = [w['event']['msg'] if isinstance(w, dict) else w for w in result['warnings']]  # 2.19 wraps warnings
    assert warnings == ['No diff: cannot read the before state of the fence: account nobody does not exist on 127.0.0.1:3306']


def test_unlock_a_record_without_accounts_reads_the_state_of_its_targets(run_module, server):
    locked = run_module(db_write_lock, args(scope='accounts', accounts=['shop_app']))
    record = dict(locked['fence'])
    del record['accounts']
    result = run_module(db_write_lock, args(state='unlocked', fence=record), diff=True)
    assert result['changed'] is True and server.locked['shop_app'] is False
    assert result['diff']['before'] == {'shop_app': 'locked'} and result['diff']['after'] == {'shop_app': 'open'}


def test_no_fence_state_is_read_without_diff(run_module, server):
    run_module(db_write_lock, args(scope='instance'))
    assert server.log == ['SET GLOBAL read_only = ON']


def test_wrong_password_never_shown(run_module, server):
    result = run_module(db_write_lock, args(scope='instance', login_password='x' + PASSWORD))
    assert result['failed'] and 'access denied' in result['msg']
    locked = run_module(db_write_lock, args(scope='instance'), diff=True)
    for output in (result, locked):
        assert PASSWORD not in json.dumps(output)


def test_failed_unlock_says_that_unlocking_again_is_safe(run_module, server, monkeypatch):
    locked = run_module(db_write_lock, args(scope='instance'))
    from test_db_fake_engine import FakeEngine

    def lost_connection(self, record):
        raise EngineError('lost connection to the server during SET GLOBAL read_only = OFF')
    monkeypatch.setattr(FakeEngine, 'unfence', lost_connection)
    result = run_module(db_write_lock, args(state='unlocked', fence=locked['fence']))
    assert result['msg'] == ('Error while lifting the fence on the mysql server at 127.0.0.1:3306: lost connection to the server '
                             'during SET GLOBAL read_only = OFF. Unlocking again with the same record is safe: it restores only '
                             'what still shows the fenced value.')


# -- helpers --------------------------------------------------------------------------------

def test_fence_error_message_without_changes():
    assert fence_error_message(FenceError('Access denied')) == 'Could not apply the fence: Access denied. Nothing was changed.'


def test_describe_change_and_prediction():
    change = {'kind': 'setting', 'target': 'default_transaction_read_only', 'before': None, 'after': 'on'}
    assert describe_change(change) == 'setting default_transaction_read_only: unset -> on'
    assert predicted_state({'default_transaction_read_only': None, 'other': 1}, [change]) == {
        'default_transaction_read_only': 'on', 'other': 1}
    assert predicted_state({'x': 1}, [change], 'before') == {'x': 1}


def test_engine_options():
    assert engine_options({'lease': 30, 'databases': None}, 'redis') == {'lease': 30}
    assert engine_options({'lease': None, 'databases': ['a']}, 'sqlserver') == {'databases': ['a']}
    assert engine_options({'lease': None, 'databases': []}, 'mysql') == {}
