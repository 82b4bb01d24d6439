"""The procedure's decisions: order, skips, segments, names, budget and undo order, without Ansible."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import procedure, window


def journal(**phases):
    return {'phases': dict((name, {'status': status}) for name, status in phases.items()), 'data': {}, 'point_of_no_return': None}


def test_the_default_order_arms_the_reverse_task_before_the_fence_and_moves_traffic_last():
    order = procedure.order('switchover')
    assert order.index('arm_reverse') < order.index('stop_traffic') < order.index('fence')
    assert order[-2:] == ['switch_traffic', 'release_forward']
    assert order.index('pause_forward') < order.index('start_reverse') < order.index('switch_traffic')


def test_fast_cutover_moves_traffic_right_after_the_proof():
    order = procedure.order('switchover', {'cutover': 'fast'})
    assert order.index('catch_up') < order.index('switch_traffic') < order.index('pause_forward')


def test_arming_in_the_window_puts_arm_reverse_after_the_fence():
    order = procedure.order('switchover', {'reverse_arm': 'in_window'})
    assert order.index('fence') < order.index('arm_reverse') < order.index('pause_forward')


def test_the_rollback_is_the_switchover_the_other_way_under_its_own_names():
    assert procedure.order('rollback') == ['rollback_preflight', 'rollback_stop_traffic', 'rollback_fence', 'rollback_verify_sessions',
                                           'rollback_catch_up', 'rollback_pause_reverse', 'rollback_reopen_source',
                                           'rollback_switch_traffic']
    assert procedure.base_name('rollback_pause_reverse') == ('pause_forward', 'back')
    assert procedure.base_name('rollback_fence') == ('fence', 'back')
    assert procedure.base_name('fence') == ('fence', 'forward')
    titles = procedure.titles()
    assert titles['rollback_fence'] == ('Fence writes on the destination', 'database')
    assert titles['fence'] == ('Fence writes on the source', 'database')
    assert titles['rollback_pause_reverse'][0] == 'Pause the reverse task' and titles['pause_forward'][0] == 'Pause the forward task'


@pytest.mark.parametrize('settings, skipped', [
    ({'incremental': True, 'scope': 'accounts'}, {'run_full_migration', 'reopen_source', 'verify_data', 'release_forward'}),
    ({'incremental': True, 'scope': 'instance', 'verify': 'checksum', 'release_forward': True}, {'run_full_migration'}),
    ({'incremental': False, 'scope': 'instance'}, {'wait_undelayed', 'catch_up', 'pause_forward', 'verify_data', 'release_forward'}),
])
def test_what_does_not_apply_is_skipped_with_a_reason(settings, skipped):
    found = procedure.skips(procedure.order('switchover'), settings)
    assert set(found) == skipped
    assert all(found.values())


def test_segments_run_window_steps_back_to_back_and_a_hook_cuts_them():
    phases = ['stop_traffic', 'fence', 'verify_sessions', 'catch_up', 'pause_forward', 'start_reverse', 'switch_traffic']
    plain = procedure.segments(phases, journal())
    assert [(s['kind'], s['phases']) for s in plain] == [
        ('task', ['stop_traffic']), ('window', ['fence', 'verify_sessions', 'catch_up', 'pause_forward', 'start_reverse']),
        ('task', ['switch_traffic'])]
    hooked = procedure.segments(phases, journal(), hooks=['after_catch_up', 'before_fence'])
    assert [(s['phases'], s['before'], s['after']) for s in hooked[1:3]] == [
        (['fence', 'verify_sessions', 'catch_up'], 'before_fence', 'after_catch_up'),
        (['pause_forward', 'start_reverse'], None, None)]
    assert [s['phases'] for s in procedure.segments(phases, journal(), hooks=['before_catch_up'])][1:3] == [
        ['fence', 'verify_sessions'], ['catch_up', 'pause_forward', 'start_reverse']]


def test_segments_leave_out_what_the_journal_records_as_done():
    phases = ['stop_traffic', 'fence', 'verify_sessions', 'catch_up']
    assert procedure.segments(phases, journal(stop_traffic='done', fence='done', verify_sessions='skipped')) == [
        {'kind': 'window', 'phases': ['catch_up'], 'before': None, 'after': None}]


def test_an_unknown_hook_is_named_with_the_phases():
    assert procedure.hook_problems(['before_fence', 'after_rollback_catch_up', 'after_finalize_revoke']) == []
    problems = procedure.hook_problems(['before_fense'])
    assert len(problems) == 1 and 'before_fense' in problems[0] and 'fence' in problems[0]


def test_the_budget_runs_on_the_monotonic_clock_from_the_journal_window_start():
    wall, mono = [1000.0], [50.0]
    clock = window.Clock(10, wall=lambda: wall[0], monotonic=lambda: mono[0])
    state = {'data': {'window_start': 996.0}, 'point_of_no_return': None}
    assert clock.budget_left(state) == pytest.approx(6.0)
    wall[0] -= 100  # the wall clock jumps back: the budget does not care
    mono[0] += 2.5
    assert clock.budget_left(state) == pytest.approx(3.5)
    state['point_of_no_return'] = 1003.0
    assert clock.budget_left(state) is None
    assert window.Clock(10).budget_left({'data': {}}) is None


def test_steps_followed_by_the_switch_of_traffic_record_the_point_of_no_return():
    phases = procedure.order('switchover')[1:]
    plain = procedure.segments(phases, journal(run_full_migration='skipped', verify_data='skipped'))
    window = [s for s in plain if s['kind'] == 'window'][-1]
    assert window['phases'][-1] == 'start_reverse' and window.get('point_of_no_return') is True
    hooked = procedure.segments(phases, journal(), hooks=['before_switch_traffic'])
    assert not any(s.get('point_of_no_return') for s in hooked)
    fast = procedure.segments(procedure.order('switchover', {'cutover': 'fast'})[1:],
                              journal(run_full_migration='skipped', verify_data='skipped'))
    assert [s['phases'] for s in fast if s.get('point_of_no_return')] == [['fence', 'verify_sessions', 'catch_up']]


GOOD = dict(job_id='j1', source_engine='mysql', destination_engine='mysql', scope='accounts', app_accounts=['app'], catch_up_mode='token',
            token_object='db.token', traffic={'method': 'tasks', 'hosts': 'apps', 'stop_tasks': 'stop.yml', 'start_tasks': 'start.yml'},
            traffic_hosts=['app1'], write_budget=300, max_delay=5, stable_window=60, undelayed_timeout=3600, quiesce_timeout=60,
            catch_up_timeout=300, full_migration_timeout=86400, poll_interval=2, hooks={}, reverse_method='auto', reverse_arm='before_fence',
            cutover='armed', verify='none', verify_when='before_switch', reverse_planned='reverse_api', reverse_source_password=False,
            reverse_destination_password=False)


@pytest.mark.parametrize('change, expected', [
    ({'job_id': ''}, procedure.UNIT_RULES),
    ({'scope': 'accounts', 'app_accounts': []}, procedure.UNIT_RULES),
    ({'traffic': {'method': 'service', 'hosts': 'apps'}}, procedure.UNIT_RULES),
    ({'write_budget': 0}, procedure.UNIT_RULES),
    ({'catch_up_mode': 'stable_window', 'stable_window': 120, 'write_budget': 60},
     'switchover_write_budget (60 s) must be longer than switchover_stable_window (120 s): the stable window runs while writes are fenced.'),
    ({'quiesce_timeout': -5, 'poll_interval': 0},
     'switchover_quiesce_timeout must be 0 or more seconds, got -5. switchover_poll_interval must be more than 0 seconds, got 0.'),
    ({'hooks': {'before_fence': '/no/such/hook.yml'}},
     'switchover_hooks.before_fence is /no/such/hook.yml, which is not a task file: give the path of one.'),
    ({'traffic_hosts': []}, 'switchover_traffic.hosts (apps) matches no host of the inventory.'),
    ({'cutover': 'now'}, 'switchover_reverse.method is auto, reverse_api or configure (got auto); switchover_reverse.arm is before_fence '
                         'or in_window (got before_fence); switchover_cutover is armed or fast (got now); switchover_verify is none, count '
                         'or checksum (got none); switchover_verify_when is before_switch or after_switch (got before_switch).'),
    ({'reverse_method': 'reverse_api', 'source_engine': 'postgresql'},
     'switchover_reverse.method=reverse_api, but DTS creates reverse instances (CreateReverseDtsJob) only between two MySQL, two SQL '
     'Server or two MongoDB databases, and this unit goes from postgresql to mysql. Set switchover_reverse.method to auto or configure '
     '(with source_password and destination_password).'),
    ({'reverse_method': 'auto', 'reverse_planned': 'configure', 'source_engine': 'postgresql'},
     "the reverse task of this unit is a configured incremental-only migration task (switchover_reverse.method=auto, which picks configure "
     "for postgresql), and DTS does not return the databases' passwords: set switchover_reverse.source_password and "
     'switchover_reverse.destination_password.'),
])
def test_settings_that_cannot_work_get_one_message_before_anything_runs(change, expected):
    assert procedure.check_settings(dict(GOOD, **change), isfile=lambda path: False) == expected


def test_good_settings_pass_and_a_relative_hook_file_is_left_to_include_tasks():
    assert procedure.check_settings(GOOD) == ''
    assert procedure.check_settings(dict(GOOD, hooks={'after_catch_up': 'hooks/check.yml'}), isfile=lambda path: False) == ''
    problem = procedure.check_settings(dict(GOOD, hooks={'before_fencing': 'x.yml'}))
    assert problem.startswith('switchover_hooks has before_fencing, which names no phase')
