"""module_base: the in-process module (validation, defaults, no_log masking, failures, warnings),
the wait option checks of both backends, the one failure path, and the same logic giving the
same result as a real module and in-process."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import module_base
from ansible_collections.dtsops.switchover.plugins.module_utils.catch_up import CAUGHT_UP_SPEC
from ansible_collections.dtsops.switchover.plugins.module_utils.dts import DtsError
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, FenceError
from ansible_collections.dtsops.switchover.plugins.module_utils.fencing import WRITE_LOCK_SPEC, write_lock
from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import (
    InProcessDbModule,
    InProcessDtsModule,
    InProcessModule,
    ModuleFailed,
    db_spec,
    dts_spec,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.sessions import SESSIONS_QUIESCED_SPEC, sessions_quiesced
from ansible_collections.dtsops.switchover.plugins.module_utils.task_state import TASK_STATE_SPEC, task_state
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import WaitAborted, WaitResult, WaitTimeout
from ansible_collections.dtsops.switchover.plugins.modules import db_sessions_quiesced, db_write_lock

from test_db_fake_engine import PASSWORD, add_server, connection, fake_engines  # noqa: F401  pylint: disable=unused-import

SPEC = dict(
    name=dict(type='str', required=True),
    count=dict(type='int', default=3),
    secret=dict(type='str', no_log=True),
    timeout=dict(type='float', default=10),
    poll_interval=dict(type='float', default=1),
)


def failure(call):
    with pytest.raises(ModuleFailed) as info:
        call()
    assert info.value.result['failed'] is True
    return info.value.result


# -- validation -----------------------------------------------------------------------------------

def test_defaults_are_applied_and_types_converted():
    module = InProcessModule(SPEC, {'name': 'orders', 'count': '7'})
    assert module.params == {'name': 'orders', 'count': 7, 'secret': None, 'timeout': 10.0, 'poll_interval': 1.0}
    assert module.check_mode is False and module._diff is False


@pytest.mark.parametrize('params, message', [
    ({}, 'missing required arguments: name'),
    ({'name': 'x', 'count': 'many'}, "argument 'count' is of type"),
    ({'name': 'x', 'colour': 'red'}, 'Unsupported parameters: colour'),
])
def test_a_validation_error_raises_module_failed(params, message):
    assert message in failure(lambda: InProcessModule(SPEC, params))['msg']


def test_rules_reach_the_validator():
    result = failure(lambda: InProcessModule(SPEC, {'name': 'x', 'secret': 's3'}, mutually_exclusive=[('name', 'secret')]))
    assert result['msg'] == 'parameters are mutually exclusive: name|secret'


@pytest.mark.parametrize('params, message', [
    ({'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ({'timeout': -0.5}, 'timeout must be 0 or more seconds, got -0.5.'),
    ({'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
])
def test_wait_options_are_checked_once_by_the_base(params, message):
    assert failure(lambda: InProcessModule(SPEC, dict(params, name='x')))['msg'] == message


def test_a_spec_without_wait_options_is_not_checked():
    assert InProcessModule({'timeout_name': dict(type='str')}, {}).params == {'timeout_name': None}


def test_real_module_checks_the_same(run_module):
    result = run_module(db_sessions_quiesced, connection(3306, timeout=-1))
    assert result['failed'] is True and result['msg'] == 'timeout must be 0 or more seconds, got -1.'


# -- failures, warnings, secrets ------------------------------------------------------------------

def test_fail_json_raises_with_the_extra_keys_and_warnings():
    module = InProcessModule(SPEC, {'name': 'x'})
    module.warn('first')
    result = failure(lambda: module.fail_json(msg='broken', statements=['SELECT 1'], timed_out=True))
    assert result == {'msg': 'broken', 'failed': True, 'statements': ['SELECT 1'], 'timed_out': True, 'warnings': ['first']}


def test_run_returns_the_result_with_warnings_only_when_there_are_some():
    def logic(module):
        if module.params['count'] > 3:
            module.warn('many')
        return {'changed': False, 'count': module.params['count']}

    assert InProcessModule(SPEC, {'name': 'x'}).run(logic) == {'changed': False, 'count': 3}
    assert InProcessModule(SPEC, {'name': 'x', 'count': 4}).run(logic) == {'changed': False, 'count': 4, 'warnings': ['many']}


def test_no_log_values_never_appear_in_results_messages_or_warnings():
    def logic(module):
        module.warn('using %s' % module.params['secret'])
        return {'echo': 'key=%s' % module.params['secret'], 'nested': [{'value': module.params['secret']}]}

    result = InProcessModule(SPEC, {'name': 'x', 'secret': 'hunter2-secret'}).run(logic)
    assert 'hunter2-secret' not in repr(result)
    assert result['echo'] == 'key=********' and result['warnings'] == ['using ********']

    module = InProcessModule(SPEC, {'name': 'x', 'secret': 'hunter2-secret'})
    assert 'hunter2-secret' not in repr(failure(lambda: module.fail_json(msg='login with hunter2-secret failed')))
    # A validation error names the bad value: a secret one is masked there too.
    bad = failure(lambda: InProcessModule(SPEC, {'name': 'x', 'secret': 'hunter2-secret', 'count': 'hunter2-secret'}))
    assert 'hunter2-secret' not in repr(bad)


def test_secrets_taken_from_the_environment_are_masked(monkeypatch):
    monkeypatch.setenv('ALIBABA_CLOUD_ACCESS_KEY_ID', 'LTAI5tExampleKeyId0001')
    monkeypatch.setenv('ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'env-secret-value')
    monkeypatch.setenv('ALIBABA_CLOUD_REGION_ID', 'cn-hangzhou')
    module = InProcessDtsModule({}, {})
    client = module.client()
    assert client.region == 'cn-hangzhou'
    assert 'env-secret-value' not in repr(failure(lambda: module.fail_json(msg='env-secret-value leaked')))


# -- the one failure path -------------------------------------------------------------------------

class _Client(object):
    api_calls = [{'action': 'DescribeDtsJobDetail'}]


class _Engine(object):
    name = 'mysql'
    address = '127.0.0.1:3306'
    statements = ['SET GLOBAL read_only = ON']


def test_fail_from_a_dts_error_gives_its_kind_and_the_api_calls():
    module = InProcessDtsModule({}, {'region': 'cn-hangzhou'})
    result = failure(lambda: module.fail_from(DtsError('DTS task j1 not found.', kind='not_found', action='DescribeDtsJobDetail'),
                                              client=_Client(), job_id='j1'))
    assert result['msg'] == 'DTS task j1 not found.' and result['job_id'] == 'j1'
    assert result['api_calls'] == _Client.api_calls and result['error']['kind'] == 'not_found'


@pytest.mark.parametrize('error', [WaitTimeout, WaitAborted])
def test_fail_from_a_wait_error_gives_its_message(error):
    module = InProcessModule(SPEC, {'name': 'x'})
    result = failure(lambda: module.fail_from(error('did not become paused', WaitResult()), client=_Client(), polls=4))
    assert result['msg'] == 'did not become paused' and result['polls'] == 4 and result['api_calls'] == _Client.api_calls


def test_fail_from_a_fence_error_says_what_was_rolled_back():
    change = {'kind': 'global_variable', 'target': 'read_only', 'before': 'OFF', 'after': 'ON'}
    module = InProcessModule(SPEC, {'name': 'x'})
    result = failure(lambda: module.fail_from(FenceError('denied', rolled_back=[change]), engine=_Engine(), doing='apply the fence'))
    assert result['msg'] == ('Could not apply the fence: denied. Nothing is left changed: 1 change rolled back '
                             '(global_variable read_only back to OFF).')
    assert result['rolled_back'] == [change] and result['rollback_failed'] == [] and result['statements'] == _Engine.statements


def test_fail_from_an_engine_error_or_a_driver_error_names_the_server():
    module = InProcessModule(SPEC, {'name': 'x'})
    result = failure(lambda: module.fail_from(EngineError('access denied'), engine=_Engine(), doing='listing sessions'))
    assert result['msg'] == 'Error while listing sessions on the mysql server at 127.0.0.1:3306: access denied'
    assert 'exception' not in result
    try:
        raise KeyError('x')
    except KeyError as exc:
        result = failure(lambda: module.fail_from(exc, engine=_Engine(), doing='listing sessions', hint='Try again.'))
    assert result['msg'] == "Error while listing sessions on the mysql server at 127.0.0.1:3306: KeyError: 'x'. Try again."
    assert 'Traceback' in result['exception']


def test_fail_from_passes_a_module_failure_through_unchanged():
    module = InProcessModule(SPEC, {'name': 'x'})
    first = ModuleFailed({'msg': 'first', 'failed': True})
    with pytest.raises(ModuleFailed) as info:
        module.fail_from(first, engine=_Engine())
    assert info.value is first


def test_run_maps_an_error_the_logic_lets_through():
    def logic(module):
        raise DtsError('throttled for too long', kind='throttled')

    result = failure(lambda: InProcessModule(SPEC, {'name': 'x'}).run(logic))
    assert result['msg'] == 'throttled for too long' and result['error']['kind'] == 'throttled'


# -- the same logic in both backends --------------------------------------------------------------

def test_specs_add_the_connection_options_without_touching_the_module_spec():
    assert set(db_spec(WRITE_LOCK_SPEC)) == set(WRITE_LOCK_SPEC) | set(db_spec({}))
    assert {'source', 'destination', 'token_object'} <= set(db_spec({'token_object': dict(type='str')}, pair=True))
    assert 'access_key_secret' in dts_spec(TASK_STATE_SPEC) and 'access_key_secret' not in TASK_STATE_SPEC
    spec = db_spec(WRITE_LOCK_SPEC)
    spec['state']['default'] = 'unlocked'
    assert WRITE_LOCK_SPEC['state']['default'] == 'locked'


def test_write_lock_gives_the_same_result_in_process_as_the_module(run_module, fake_engines):  # noqa: F811
    server = add_server(3306)
    real = run_module(db_write_lock, connection(3306, scope='instance'), check_mode=True, diff=True)
    in_process = InProcessDbModule(WRITE_LOCK_SPEC, connection(3306, scope='instance'), check_mode=True, diff=True).run(write_lock)
    real.pop('invocation', None)
    assert in_process == dict(real) and server.read_only == 'OFF'

    result = InProcessDbModule(WRITE_LOCK_SPEC, connection(3306, scope='instance')).run(write_lock)
    assert result['changed'] is True and server.read_only == 'ON' and PASSWORD not in repr(result)
    unlocked = InProcessDbModule(WRITE_LOCK_SPEC, connection(3306, state='unlocked', fence=result['fence'])).run(write_lock)
    assert unlocked['changed'] is True and server.read_only == 'OFF'


def test_an_in_process_failure_inside_the_logic_keeps_its_own_message(fake_engines):  # noqa: F811
    add_server(3306)
    # force=true on an engine without unfenced_record: fail_json inside the logic's try block must
    # not be turned into an 'Error while ...' by the logic's own except clause.
    add_server(1521)
    params = connection(1521, engine='oracle', state='unlocked', force=True, scope='instance')
    result = failure(lambda: InProcessDbModule(WRITE_LOCK_SPEC, params).run(write_lock))
    assert result['msg'] == 'force=true is not available for the oracle engine: unlock with the fence record.'
    assert PASSWORD not in repr(result)


def test_sessions_quiesced_warns_nothing_and_returns_the_counts_in_process(fake_engines):  # noqa: F811
    server = add_server(3306)
    server.add_session('shop_app', writing=True, command='UPDATE t SET a = 1')
    params = connection(3306, timeout=0, poll_interval=0.01)
    result = failure(lambda: InProcessDbModule(SESSIONS_QUIESCED_SPEC, params).run(sessions_quiesced))
    assert result['msg'].startswith('Timed out after 0 seconds waiting for no session writing: 1 session still writing')
    assert result['counts']['writing'] == 1 and 'warnings' not in result


def test_module_base_has_no_registry_of_engines():
    # AnsiballZ packs what a module imports: the base must not pull in every engine.
    assert not [name for name in vars(module_base) if name.endswith('Engine')]


def test_task_state_runs_in_process_until_the_first_api_call(monkeypatch):
    for name in ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID'):
        monkeypatch.delenv(name, raising=False)
    result = failure(lambda: InProcessDtsModule(TASK_STATE_SPEC, {'job_id': 'j1', 'state': 'paused', 'region': 'r',
                                                                  'access_key_secret': 'sk-secret'}).run(task_state))
    assert result['msg'].startswith('DTS needs an AccessKey ID') and 'sk-secret' not in repr(result)


def test_secrets_of_source_and_destination_are_masked_too():
    params = dict(source=connection(3306, login_password='src-Pa55'), destination=connection(3307, login_password='dst-Pa55'),
                  token_object='shop.t')
    module = InProcessDbModule(CAUGHT_UP_SPEC, params, pair=True)
    assert module.params['source']['ssl_mode'] == 'prefer' and module.params['timeout'] == 300.0
    result = failure(lambda: module.fail_json(msg='src-Pa55 and dst-Pa55', source=module.params['source']))
    assert 'Pa55' not in repr(result)
