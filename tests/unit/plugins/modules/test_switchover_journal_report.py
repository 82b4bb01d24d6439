import json
import os

from ansible_collections.dtsops.switchover.plugins.modules import switchover_journal, switchover_report


def test_begin_phase_finish_report(run_module, tmp_path):
    path = str(tmp_path / 'orders.json')
    result = run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders'})
    assert result['changed'] and result['how'] == 'new'

    result = run_module(switchover_journal, {'path': path, 'operation': 'phase', 'phase': 'fence', 'status': 'done',
                                             'data': {'fence': {'scope': 'instance', 'changes': []}}})
    assert result['journal']['data']['fence']['scope'] == 'instance'

    first = run_module(switchover_journal, {'path': path, 'operation': 'point_of_no_return'})
    second = run_module(switchover_journal, {'path': path, 'operation': 'point_of_no_return'})
    assert first['changed'] and not second['changed']
    assert second['journal']['point_of_no_return'] == first['journal']['point_of_no_return']

    run_module(switchover_journal, {'path': path, 'operation': 'finish', 'outcome': 'completed'})
    result = run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders'})
    assert result['how'] == 'finished' and not result['changed']

    report = run_module(switchover_report, {'journal_path': path, 'dest': str(tmp_path / 'reports')})
    assert set(report['files']) == {'json', 'markdown', 'html'}
    assert json.load(open(report['files']['json']))['outcome'] == 'completed'


def test_check_mode_writes_nothing(run_module, tmp_path):
    path = str(tmp_path / 'orders.json')
    result = run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders'}, check_mode=True)
    assert result['changed'] and result['journal']['outcome'] == 'running'
    assert not os.path.exists(path)


def test_update_without_journal_says_what_to_do(run_module, tmp_path):
    result = run_module(switchover_journal, {'path': str(tmp_path / 'none.json'), 'operation': 'data', 'data': {'a': 1}})
    assert result['failed']
    assert 'run operation=begin first' in result['msg']


def test_archive_refuses_a_running_journal(run_module, tmp_path):
    path = str(tmp_path / 'orders.json')
    run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders'})
    result = run_module(switchover_journal, {'path': path, 'operation': 'archive'})
    assert result['failed'] and 'has not finished' in result['msg']
    assert os.path.exists(path)


def test_report_needs_a_journal(run_module, tmp_path):
    result = run_module(switchover_report, {'journal_path': str(tmp_path / 'none.json'), 'dest': str(tmp_path)})
    assert result['failed'] and 'There is no journal' in result['msg']
