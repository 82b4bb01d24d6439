import json
import os

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import db
from ansible_collections.dtsops.switchover.plugins.modules import switchover_fleet_report, switchover_journal, switchover_report
from unit.fakes.documents import MemoryEngine


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
    assert report['summary'].startswith('orders: switchover completed; ')
    assert report['summary'].endswith('; reverse task none; report %s' % report['files']['html'])

    units = [{'journal_path': path, 'reports': report['files']}, {'journal_path': str(tmp_path / 'billing.json'), 'unit': 'billing'}]
    planned = run_module(switchover_fleet_report, {'units': units, 'dest': str(tmp_path / 'fleet'), 'name': 'night'}, check_mode=True)
    assert planned['changed'] and not os.path.exists(str(tmp_path / 'fleet'))
    fleet = run_module(switchover_fleet_report, {'units': units, 'dest': str(tmp_path / 'fleet'), 'name': 'night'})
    assert sorted(os.listdir(str(tmp_path / 'fleet'))) == ['night.html', 'night.json', 'night.md']
    assert [(u['unit'], u['outcome']) for u in fleet['fleet']['units']] == [('billing', 'no journal'), ('orders', 'completed')]
    assert fleet['summary'] == 'Switchover of 2 units: 1 completed, 1 no journal; report %s' % fleet['files']['html']


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


@pytest.fixture
def memory_store(monkeypatch):
    MemoryEngine.reset()
    monkeypatch.setitem(db.ENGINES, 'mysql', MemoryEngine)
    return {'engine': 'mysql', 'login_host': 'db.example', 'login_user': 'journal', 'login_password': 'St0re-Secret',
            'object': 'ops.journal', 'create': True}


def test_store_option_keeps_the_journal_in_the_database_and_never_shows_its_password(run_module, tmp_path, memory_store):
    path = str(tmp_path / 'orders.json')
    begun = run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders', 'store': memory_store})
    assert begun['changed'] and begun['how'] == 'new'
    assert begun['statements'] == ['CREATE TABLE ops.journal', 'SELECT ops.journal orders/orders.json',
                                   'UPSERT ops.journal orders/orders.json']
    os.unlink(path)
    resumed = run_module(switchover_journal, {'path': path, 'operation': 'begin', 'unit': 'orders', 'store': memory_store})
    assert resumed['how'] == 'resumed' and resumed['loaded_from'] == 'store' and os.path.exists(path)
    assert resumed['invocation']['module_args']['store']['login_password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    for result in (begun, resumed):
        assert 'St0re-Secret' not in json.dumps(result)


def test_store_needs_an_object(run_module, tmp_path, memory_store):
    del memory_store['object']
    result = run_module(switchover_journal, {'path': str(tmp_path / 'o.json'), 'operation': 'begin', 'unit': 'o', 'store': memory_store})
    assert result['failed'] and 'missing required arguments: object found in store' in result['msg']


def test_fleet_report_needs_units_with_a_journal_path(run_module, tmp_path):
    result = run_module(switchover_fleet_report, {'units': [{'reports': {}}], 'dest': str(tmp_path)})
    assert result['failed'] and 'missing required arguments: journal_path found in units' in result['msg']
    result = run_module(switchover_fleet_report, {'units': [], 'dest': str(tmp_path)})
    assert result['failed'] and result['msg'] == 'units is empty: pass one entry (journal_path) per unit of the run.'
