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
    assert titles['rollback_pause_reverse'][0] == 'Pause the reverse task'


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
