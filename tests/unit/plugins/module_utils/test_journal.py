import json
import os

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import db
from ansible_collections.dtsops.switchover.plugins.module_utils import journal as j
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver
from unit.fakes.documents import MemoryEngine


def test_new_run_then_resume_counts_attempts(tmp_path):
    path = str(tmp_path / 'unit.json')
    journal, how = j.begin_run(j.load(path), 'orders', now=100.0)
    assert how == 'new' and journal['outcome'] == 'running' and journal['unit'] == 'orders'
    j.set_phase(journal, 'fence', 'started', now=101.0)
    j.save(path, journal)

    again, how = j.begin_run(j.load(path), 'orders', now=200.0)
    assert how == 'resumed'
    assert again['attempt'] == 2
    assert again['run_id'] == journal['run_id']
    assert again['phases']['fence']['status'] == 'started'


def test_finished_run_is_not_resumed_and_archive_moves_it(tmp_path):
    path = str(tmp_path / 'unit.json')
    journal, dummy = j.begin_run(None, 'orders')
    j.finish(journal, 'completed', 'done')
    j.save(path, journal)
    again, how = j.begin_run(j.load(path), 'orders')
    assert how == 'finished'
    target = j.archive(path, again)
    assert not os.path.exists(path)
    assert json.load(open(target))['outcome'] == 'completed'


def test_phase_timing_and_result_merge():
    journal = j.new_journal('u', now=0.0)
    j.set_phase(journal, 'catch_up', 'started', now=10.0)
    j.set_phase(journal, 'catch_up', 'done', result={'latency': 0.4}, now=12.5)
    entry = journal['phases']['catch_up']
    assert entry['elapsed'] == 2.5 and entry['result'] == {'latency': 0.4}
    assert j.phase_done(journal, 'catch_up')
    assert not j.phase_done(journal, 'fence')
    assert [e['status'] for e in journal['events']] == ['started', 'done']


def test_rejects_unknown_status_and_outcome():
    journal = j.new_journal('u')
    with pytest.raises(j.JournalError, match='unknown phase status'):
        j.set_phase(journal, 'x', 'finished')
    with pytest.raises(j.JournalError, match='unknown outcome'):
        j.finish(journal, 'ok')


def test_save_is_atomic_and_private(tmp_path, monkeypatch):
    path = str(tmp_path / 'sub' / 'unit.json')
    journal = j.new_journal('u')
    j.save(path, journal)
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'

    # A failure half way through a save leaves the previous journal intact and no temp file.
    journal['data']['fence'] = {'changes': [1]}

    def broken_dump(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(j.json, 'dump', broken_dump)
    with pytest.raises(j.JournalError, match='disk full'):
        j.save(path, journal)
    monkeypatch.undo()
    assert j.load(path)['data'] == {}
    assert os.listdir(os.path.dirname(path)) == ['unit.json']


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / 'x.json'
    path.write_text('{"hello": 1}')
    with pytest.raises(j.JournalError, match='not a switchover journal'):
        j.load(str(path))
    path.write_text('{not json')
    with pytest.raises(j.JournalError, match='cannot read'):
        j.load(str(path))


# -- the journal kept in a database too (option store) --------------------------------------------
PASSWORD = 'St0re-Secret'


@pytest.fixture
def store(monkeypatch):
    MemoryEngine.reset(['ops.journal'])
    monkeypatch.setitem(db.ENGINES, 'mysql', MemoryEngine)
    return dict((key, None) for key in j.STORE_SPEC) | dict(engine='mysql', login_host='db.example', login_port=3306,
                                                            login_user='journal', login_password=PASSWORD, object='ops.journal',
                                                            create=False, ssl_mode='prefer', connect_timeout=10)


def params(path, operation, store=None, **extra):
    base = dict((key, None) for key in j.ARGUMENT_SPEC)
    base.update(path=path, operation=operation, note='', store=store, **extra)
    return base


def stored(key):
    text = MemoryEngine.documents.get(('ops.journal', key))
    return None if text is None else json.loads(text)


def test_every_write_goes_to_the_store_and_a_new_controller_resumes_from_it(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    begun = j.run(params(path, 'begin', store, unit='orders'), now=100.0)
    assert begun['how'] == 'new' and begun['loaded_from'] is None
    # No file: the store is looked at first, then the new journal written there.
    assert begun['statements'] == ['SELECT ops.journal orders/orders.json', 'UPSERT ops.journal orders/orders.json']
    j.run(params(path, 'phase', store, phase='fence', status='done', data={'fence': {'scope': 'instance'}}), now=101.0)
    assert stored('orders/orders.json') == j.load(path)
    assert stored('orders/orders.json')['data']['fence'] == {'scope': 'instance'}

    os.unlink(path)  # the controller's disk is gone (a new AWX job)
    resumed = j.run(params(path, 'begin', store, unit='orders'), now=200.0)
    assert resumed['loaded_from'] == 'store' and resumed['how'] == 'resumed' and resumed['changed']
    assert resumed['journal']['attempt'] == 2 and resumed['journal']['phases']['fence']['status'] == 'done'
    assert j.load(path) == resumed['journal'] == stored('orders/orders.json')
    assert resumed['statements'] == ['SELECT ops.journal orders/orders.json', 'UPSERT ops.journal orders/orders.json']
    # The file is there again: the next operations read it, not the store.
    again = j.run(params(path, 'data', store, data={'reverse_job_id': 'r1'}), now=201.0)
    assert again['loaded_from'] == 'file' and stored('orders/orders.json')['data']['reverse_job_id'] == 'r1'


def test_a_finished_run_found_in_the_store_is_written_to_the_file(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    j.run(params(path, 'begin', store, unit='orders'))
    j.run(params(path, 'finish', store, outcome='completed'))
    os.unlink(path)
    result = j.run(params(path, 'begin', store, unit='orders'))
    assert result['how'] == 'finished' and result['changed'] and result['loaded_from'] == 'store'
    assert j.load(path)['outcome'] == 'completed'


def test_the_journals_of_one_unit_and_of_several_units_are_kept_apart(tmp_path, store):
    for name, unit in (('orders.json', 'orders'), ('orders.rollback.json', 'orders'), ('billing.json', 'billing')):
        j.run(params(str(tmp_path / name), 'begin', store, unit=unit))
    assert sorted(key for dummy, key in MemoryEngine.documents) == [
        'billing/billing.json', 'orders/orders.json', 'orders/orders.rollback.json']


def test_read_falls_back_to_the_store_when_given_the_unit(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    j.run(params(path, 'begin', store, unit='orders'))
    os.unlink(path)
    assert j.run(params(path, 'read', store))['journal'] == {}
    read = j.run(params(path, 'read', store, unit='orders'))
    assert read['loaded_from'] == 'store' and read['journal']['unit'] == 'orders' and not read['changed']
    assert not os.path.exists(path)  # read changes nothing
    with pytest.raises(j.JournalError, match=r'run operation=begin first'):
        j.run(params(path, 'data', store, data={'a': 1}))


def test_archive_moves_the_stored_journal_aside_too(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    journal = j.run(params(path, 'begin', store, unit='orders'))['journal']
    j.run(params(path, 'finish', store, outcome='completed'))
    result = j.run(params(path, 'archive', store))
    assert result['archived_to'] == '%s.%s' % (path, journal['run_id']) and not os.path.exists(path)
    assert stored('orders/orders.json') is None
    assert stored('orders/orders.json.%s' % journal['run_id'])['outcome'] == 'completed'
    # A new controller starts afresh instead of finding the finished run again.
    assert j.run(params(path, 'begin', store, unit='orders'))['how'] == 'new'


def test_archive_of_a_journal_only_in_the_store(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    journal = j.run(params(path, 'begin', store, unit='orders'))['journal']
    j.run(params(path, 'finish', store, outcome='aborted'))
    os.unlink(path)
    result = j.run(params(path, 'archive', store, unit='orders'))
    assert j.load(result['archived_to'])['outcome'] == 'aborted' and not os.path.exists(path)
    assert stored('orders/orders.json') is None and stored('orders/orders.json.%s' % journal['run_id'])


def test_a_failed_store_write_fails_the_operation_and_changes_neither_copy(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    j.run(params(path, 'begin', store, unit='orders'), now=1.0)
    before = j.load(path)
    MemoryEngine.fail['save'] = EngineError("INSERT INTO ops.journal failed (MySQL error 1142: INSERT command denied to user 'journal')")
    with pytest.raises(j.JournalError) as excinfo:
        j.run(params(path, 'phase', store, phase='fence', status='started'), now=2.0)
    assert str(excinfo.value) == (
        'Cannot write the journal orders/orders.json into the journal store (mysql at db.example:3306, ops.journal): '
        "INSERT INTO ops.journal failed (MySQL error 1142: INSERT command denied to user 'journal')")
    assert j.load(path) == before == stored('orders/orders.json')


@pytest.mark.parametrize('failure, message', [
    (EngineError('access denied: check login_user and login_password (MySQL error 1045: ... using password: %s)' % PASSWORD),
     'Cannot connect to the journal store (mysql at db.example:3306, ops.journal): access denied: check login_user and '
     'login_password (MySQL error 1045: ... using password: ********)'),
    (OSError('[Errno 111] Connection refused'),
     'Cannot connect to the journal store (mysql at db.example:3306, ops.journal): OSError: [Errno 111] Connection refused'),
    (MissingDriver('PyMySQL'),
     'The journal store (mysql at db.example:3306, ops.journal) needs the Python package PyMySQL on the controller: '
     'pip install PyMySQL'),
])
def test_a_store_that_cannot_be_reached_fails_with_one_clear_message_and_no_secret(tmp_path, store, failure, message):
    MemoryEngine.fail['connect'] = failure
    with pytest.raises(j.JournalError) as excinfo:
        j.run(params(str(tmp_path / 'orders.json'), 'begin', store, unit='orders'))
    assert str(excinfo.value) == message and PASSWORD not in str(excinfo.value)
    assert not os.path.exists(str(tmp_path / 'orders.json'))


def test_a_missing_object_is_created_only_when_asked(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    store = dict(store, object='ops.other')
    with pytest.raises(j.JournalError, match=r'^Cannot use the journal store \(mysql at db\.example:3306, ops\.other\): '
                                             r'document table ops\.other does not exist on db\.example:3306: create it'):
        j.run(params(path, 'begin', store, unit='orders'))
    result = j.run(params(path, 'begin', dict(store, create=True), unit='orders'))
    assert result['statements'][0] == 'CREATE TABLE ops.other' and 'ops.other' in MemoryEngine.objects


def test_check_mode_reads_the_store_and_writes_nothing(tmp_path, store):
    path = str(tmp_path / 'orders.json')
    result = j.run(params(path, 'begin', dict(store, object='ops.new', create=True), unit='orders'), check_mode=True)
    assert result['how'] == 'new' and result['statements'] == ['CREATE TABLE ops.new']
    j.run(params(path, 'begin', store, unit='orders'))
    os.unlink(path)
    result = j.run(params(path, 'begin', store, unit='orders'), check_mode=True)
    assert result['loaded_from'] == 'store' and result['how'] == 'resumed'
    assert not os.path.exists(path) and stored('orders/orders.json')['attempt'] == 1


def test_the_store_must_hold_a_journal(tmp_path, store):
    MemoryEngine.documents[('ops.journal', 'orders/orders.json')] = json.dumps({'hello': 1})
    with pytest.raises(j.JournalError, match=r'holds no switchover journal of version 1 under orders/orders\.json'):
        j.run(params(str(tmp_path / 'orders.json'), 'begin', store, unit='orders'))


def test_begin_refuses_settings_that_cannot_work_and_writes_nothing(tmp_path):
    from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
    path = str(tmp_path / 'unit.json')
    with pytest.raises(journal_utils.JournalError) as caught:
        journal_utils.run({'path': path, 'operation': 'begin', 'unit': 'shop', 'check': {'job_id': ''}})
    assert str(caught.value).startswith("shop: check the unit's variables.")
    assert not (tmp_path / 'unit.json').exists()


def test_the_plan_records_what_does_not_apply_and_returns_the_segments(tmp_path):
    from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
    path = str(tmp_path / 'unit.json')
    begun = journal_utils.run({'path': path, 'operation': 'begin', 'unit': 'shop', 'settings': {}})
    assert begun['phases'][0] == 'preflight' and begun['first']['phases'] == ['preflight']
    assert begun['ansible_facts']['switchover_journal']['unit'] == 'shop'
    planned = journal_utils.run({'path': path, 'operation': 'plan', 'settings': {'scope': 'accounts', 'incremental': True}})
    phases = planned['journal']['phases']
    assert phases['reopen_source']['status'] == 'skipped' and phases['run_full_migration']['status'] == 'skipped'
    assert planned['starts']['fence']['phases'][:3] == ['fence', 'verify_sessions', 'catch_up']
    assert planned['order'] == begun['phases'][1:]


def test_a_phase_does_not_start_inside_the_window_once_the_budget_is_spent(tmp_path):
    from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
    path = str(tmp_path / 'unit.json')
    journal_utils.run({'path': path, 'operation': 'begin', 'unit': 'shop'}, now=1000.0)
    journal_utils.run({'path': path, 'operation': 'data', 'data': {'window_start': 1000.0}}, now=1000.0)
    journal_utils.run({'path': path, 'operation': 'phase', 'phase': 'verify_data', 'status': 'started', 'write_budget': 30}, now=1029.0)
    with pytest.raises(journal_utils.JournalError) as caught:
        journal_utils.run({'path': path, 'operation': 'phase', 'phase': 'arm_reverse', 'status': 'started', 'write_budget': 30}, now=1031.0)
    assert str(caught.value) == 'The write-unavailable budget of 30 s is spent (31.0 s since the fence) before arm_reverse.'


def test_check_mode_works_on_the_journal_in_memory(tmp_path):
    from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
    path = str(tmp_path / 'unit.json')
    begun = journal_utils.run({'path': path, 'operation': 'begin', 'unit': 'shop'}, check_mode=True)
    memory = begun['journal']
    after = journal_utils.run({'path': path, 'operation': 'data', 'data': {'fence': {'scope': 'accounts'}}, 'journal': memory},
                              check_mode=True)
    assert after['loaded_from'] == 'memory' and after['journal']['data']['fence'] == {'scope': 'accounts'}
    assert not (tmp_path / 'unit.json').exists()
