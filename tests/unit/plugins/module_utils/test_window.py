"""The steps of the window with a fake module caller: what each asks of which module, what it
records before it acts, what it keeps, and the rollback's swap of the sides."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import window

SOURCE = {'engine': 'mysql', 'login_host': 'src', 'login_password': 's3cret'}
DESTINATION = {'engine': 'mysql', 'login_host': 'dst', 'login_password': 'd3cret'}


def settings(**extra):
    values = dict(job_id='fwd', reverse_job_id='rev', source=SOURCE, destination=DESTINATION, fence_options={}, scope='accounts',
                  accounts=['app'], exclude_users=['dts'], catch_up_mode='token', token_object='shop.token', token_create=False,
                  max_delay=5, stable_window=60, poll_interval=2, quiesce_timeout=60, catch_up_timeout=300, write_budget=300,
                  reverse={}, reverse_planned='reverse_api', cutover='armed')
    values.update(extra)
    return values


class Calls(object):
    def __init__(self, answers=None, journal=None):
        self.answers = answers or {}
        self.calls = []
        self.journal = journal

    def __call__(self, module, args, check_mode=None):
        # What the journal held when the module was called: the step's intent must be there already.
        self.calls.append((module.rsplit('.', 1)[1], dict(args), dict(self.journal['data']) if self.journal else None))
        answer = self.answers.get(module.rsplit('.', 1)[1], {})
        if isinstance(answer, Exception):
            raise answer
        return answer


def context(direction='forward', data=None, check_mode=False, **extra):
    journal = {'data': dict(data or {}), 'phases': {}, 'point_of_no_return': None}
    wall = [1000.0]
    clock = window.Clock(300, wall=lambda: wall[0], monotonic=lambda: wall[0])
    ctx = window.Context(settings(**extra), journal, direction, check_mode, clock, journal['data'].update)
    return ctx, journal


def test_the_fence_records_the_window_before_it_locks_the_source():
    ctx, journal = context()
    calls = Calls({'db_write_lock': {'changed': True, 'fence': {'scope': 'accounts'}, 'statements': ['ALTER USER app ACCOUNT LOCK']}},
                  journal)
    result, data = window.fence(ctx, calls)
    module, args, seen = calls.calls[0]
    assert module == 'db_write_lock' and args['login_host'] == 'src' and args['accounts'] == ['app'] and args['exclude_users'] == ['dts']
    assert seen['window_start'] == 1000.0
    assert data == {'fence': {'scope': 'accounts'}} and result['plan'] == 'ALTER USER app ACCOUNT LOCK'


def test_a_resumed_fence_keeps_the_first_record():
    ctx, journal = context(data={'window_start': 990.0, 'fence': {'scope': 'accounts', 'first': True}})
    result, data = window.fence(ctx, Calls({'db_write_lock': {'changed': False, 'fence': {'scope': 'accounts'}}}))
    assert data['fence'] == {'scope': 'accounts', 'first': True}
    assert journal['data']['window_start'] == 990.0


def test_the_rollback_fences_the_destination_and_proves_catch_up_towards_the_source():
    ctx, journal = context('back')
    calls = Calls({'db_caught_up': {'token': 't1', 'latency': 0.2}})
    window.fence(ctx, calls)
    window.catch_up(ctx, calls)
    assert calls.calls[0][1]['login_host'] == 'dst'
    proof = calls.calls[1][1]
    assert proof['source']['login_host'] == 'dst' and proof['destination']['login_host'] == 'src' and proof['create'] is False


def test_the_pause_is_recorded_before_it_is_asked_and_the_rollback_pauses_the_reverse_task():
    ctx, journal = context()
    calls = Calls({'dts_task': {'checkpoint': 1234, 'previous_state': 'running'}}, journal)
    result, data = window.pause_forward(ctx, calls)
    assert calls.calls[0][1]['job_id'] == 'fwd' and calls.calls[0][2]['forward_pause_requested'] is True
    assert data == {'pause_checkpoint': 1234}
    ctx, journal = context('back')
    calls = Calls({'dts_task': {'status': 'Suspending'}}, journal)
    result, data = window.pause_forward(ctx, calls)
    assert calls.calls[0][1]['job_id'] == 'rev' and calls.calls[0][2]['reverse_pause_requested'] is True
    assert data == {'reverse_status': 'Suspending'}


def test_steps_get_no_more_time_than_the_budget_has_left():
    ctx, journal = context(data={'window_start': 990.0}, quiesce_timeout=60, write_budget=300)
    ctx.clock = window.Clock(15, wall=lambda: 1000.0, monotonic=lambda: 5.0)
    calls = Calls()
    window.verify_sessions(ctx, calls)
    assert calls.calls[0][1]['timeout'] == pytest.approx(5.0)


def test_the_writer_start_says_first_that_the_forward_task_cannot_be_resumed():
    ctx, journal = context(data={'reverse_job_id': 'rev', 'reverse_method': 'reverse_api'})
    calls = Calls({'dts_reverse_task': {'waited': 1.5}}, journal)
    result, data = window.start_reverse(ctx, calls)
    module, args, seen = calls.calls[0]
    assert seen['forward_resumable'] is False and seen['reverse_start_requested'] is True
    assert args['start'] is True and args['method'] == 'reverse_api' and 'checkpoint' not in args and 'source_password' not in args
    assert result['waited'] == 1.5


def test_a_fast_cutover_starts_the_writer_from_the_point_of_no_return():
    ctx, journal = context(data={'reverse_job_id': 'rev', 'reverse_method': 'reverse_api'}, cutover='fast')
    journal['point_of_no_return'] = 1795000123.7
    calls = Calls()
    window.start_reverse(ctx, calls)
    assert calls.calls[0][1]['checkpoint'] == 1795000123


def test_a_configured_reverse_task_gets_the_passwords_and_stays_resumable():
    ctx, journal = context(data={'reverse_job_id': 'rev', 'reverse_method': 'configure'},
                           reverse={'source_password': 'a', 'destination_password': 'b'})
    calls = Calls({}, journal)
    window.start_reverse(ctx, calls)
    assert calls.calls[0][1]['source_password'] == 'a' and calls.calls[0][2]['forward_resumable'] is True


def test_the_way_back_refuses_a_reverse_task_that_does_not_run():
    ctx, journal = context(data={'reverse_job_id': 'rev'})
    calls = Calls({'dts_task_info': {'jobs': [{'failed': True, 'status': 'Failed', 'phase': 'failed', 'error_message': 'boom'}]}})
    with pytest.raises(window.StepFailed) as caught:
        window.way_back(ctx, calls)
    assert 'rev is Failed' in str(caught.value) and 'boom' in str(caught.value)
    calls = Calls()
    window.way_back(ctx, calls, reverse_seen=True)
    assert [call[0] for call in calls.calls] == ['db_sessions_quiesced', 'db_sessions_quiesced']


def test_the_rollback_reopens_the_source_from_the_switchover_fence():
    ctx, journal = context('back', switch_fence={'scope': 'accounts', 'accounts': ['app']})
    calls = Calls({'db_write_lock': {'statements': ['ALTER USER app ACCOUNT UNLOCK']}})
    result, data = window.reopen_source(ctx, calls)
    assert calls.calls[0][1]['login_host'] == 'src' and calls.calls[0][1]['state'] == 'unlocked'
    assert result['plan'] == 'ALTER USER app ACCOUNT UNLOCK'
    ctx, journal = context('back')
    assert window.reopen_source(ctx, Calls()) == ({'plan': 'nothing to lift'}, {})


TASK = {'status': 'Migrating', 'phase': 'incremental', 'failed': False, 'paused': False, 'delay_ms': 0, 'error_message': '',
        'migration_mode': {'incremental': True}}


def test_the_preflight_checks_the_unit_then_plans_the_fence_without_changing_anything():
    ctx, journal = context()
    calls = Calls({'switchover_unit_check': {'job': TASK, 'checks': [], 'summary': 'unit matches'},
                   'db_write_lock': {'fence': {'scope': 'accounts'}, 'statements': ['ALTER USER app ACCOUNT LOCK']},
                   'db_sessions_quiesced': {'sessions': [], 'counts': {'total': 3}}})
    modes = []
    original = calls.__call__

    def call(module, args, check_mode=None):
        modes.append((module.rsplit('.', 1)[1], check_mode))
        return original(module, args, check_mode)
    result, data = window.preflight(ctx, call)
    assert modes == [('switchover_unit_check', False), ('db_write_lock', True), ('db_sessions_quiesced', True), ('db_caught_up', True)]
    assert data['incremental'] is True and data['fence_planned'] == {'scope': 'accounts'} and data['fenced_accounts'] == ['app']
    assert 'login_password' not in data['source'] and result['plan'].startswith('unit matches; task fwd Migrating/incremental')


def test_the_preflight_refuses_a_paused_task_and_names_the_check():
    ctx, journal = context()
    paused = dict(TASK, status='Suspending', phase='paused', paused=True)
    with pytest.raises(window.StepFailed) as caught:
        window.preflight(ctx, Calls({'switchover_unit_check': {'job': paused, 'checks': [], 'summary': ''}}))
    assert caught.value.check == 'Refuse a task that cannot be switched over'
    assert str(caught.value).startswith('The DTS task fwd is Suspending (phase paused). Resume a paused task deliberately')


def test_sessions_that_still_write_do_not_fail_a_check_that_only_asks_whether_the_database_answers():
    ctx, journal = context(data={'reverse_job_id': 'rev'})
    writing = window.StepFailed('dtsops.switchover.db_sessions_quiesced', {'msg': 'still writing', 'sessions': [{'id': 1}]})
    window.way_back(ctx, Calls({'db_sessions_quiesced': writing}), reverse_seen=True)
    down = window.StepFailed('dtsops.switchover.db_sessions_quiesced', {'msg': 'Cannot connect'})
    with pytest.raises(window.StepFailed) as caught:
        window.way_back(ctx, Calls({'db_sessions_quiesced': down}), reverse_seen=True)
    assert caught.value.check == 'Check that the source answers'


def test_arming_records_the_request_then_the_id_and_refuses_a_fast_cutover_without_a_reverse_instance():
    ctx, journal = context()
    calls = Calls({'dts_reverse_task': {'job_id': 'rev1', 'method': 'reverse_api', 'state': 'prechecking', 'created': True}}, journal)
    result, data = window.arm_reverse(ctx, calls)
    assert calls.calls[0][2]['reverse_requested'] is True and 'reverse_job_id' not in calls.calls[0][2]
    assert calls.calls[1][1]['reverse_job_id'] == 'rev1' and calls.calls[1][2]['reverse_job_id'] == 'rev1'
    assert result['method'] == 'reverse_api' and journal['data']['reverse_method'] == 'reverse_api'
    ctx, journal = context(cutover='fast')
    with pytest.raises(window.StepFailed) as caught:
        window.arm_reverse(ctx, Calls({'dts_reverse_task': {'job_id': 'cfg1', 'method': 'configure', 'fallback': 'refused'}}))
    assert caught.value.check == 'Refuse the fast cut-over without a reverse instance'
    assert journal['data']['reverse_job_id'] == 'cfg1', 'the task is recorded before the refusal, so that the abort releases it'


def test_a_long_wait_goes_in_slices_that_hand_on_the_time_held_and_say_where_it_is():
    ctx, journal = context(undelayed_timeout=100, progress_interval=30)
    now = [0.0]
    ctx.clock = window.Clock(300, wall=lambda: 1000.0 + now[0], monotonic=lambda: now[0])
    lines, held = [], []
    answers = [{'timed_out': True, 'held_for': 4.0, 'last_seen': 'last seen Migrating, delay 9 s', 'goal': 'g', 'samples': [1], 'polls': 3},
               {'waited': 12, 'status': 'Migrating', 'delay_ms': 0, 'samples': [2], 'polls': 2}]

    def call(module, args, check_mode=None):
        held.append(args['held_for'])
        answer = answers.pop(0)
        now[0] += args['timeout'] if answer.get('timed_out') else 12
        if answer.get('timed_out'):
            raise window.StepFailed(module, answer)
        return answer
    ctx.say = lines.append
    result, data = window.wait_undelayed(ctx, call)
    assert held == [0.0, 4.0] and result['polls'] == 5 and data['lag_samples'] == [1, 2]
    assert lines == ['waiting for DTS task fwd: last seen Migrating, delay 9 s (waited 30 s of 100 s)']
