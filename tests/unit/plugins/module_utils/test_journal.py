import json
import os

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as j


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
