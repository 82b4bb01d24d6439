"""The rehearsal's verifier on a run that rolled back: three periods told apart by the journals,
each write where it belongs exactly once. The databases are a fake kit: the counts are set here."""

import collections
import json

import pytest

from rehearsal.verify import summary, verify

SWITCHED, REOPENED, ROLLED_BACK = 1100.0, 1200.0, 1201.0


class FakeKit(object):
    engine = 'mysql'

    def __init__(self, source, destination):
        self.stored = {'source': collections.Counter(source), 'destination': collections.Counter(destination)}

    def rows(self, side):
        return self.stored[side]

    def last(self, side):
        newest = {}
        for writer, n, dummy in self.stored[side]:
            newest[writer] = max(n, newest.get(writer, n))
        return newest


def _write(path, value):
    path.write_text(json.dumps(value))


def _state(tmp_path, rolled_back=True):
    state = tmp_path / 'switchover'
    (state / 'reports').mkdir(parents=True)
    forward = {'unit': 'shop', 'outcome': 'completed', 'point_of_no_return': SWITCHED, 'data': {'job_id': 'fwd', 'reverse_job_id': 'rev'},
               'phases': {}}
    _write(state / 'shop.json', forward)
    _write(state / 'reports' / 'shop-1.json', {'kind': 'switchover', 'started': 1000.0, 'finished': 1110.0,
                                               'write_unavailable': {'start': 1095.0, 'end': SWITCHED, 'seconds': 5.0},
                                               'lag_samples': [{'time': 1000.0, 'delay_ms': 10}]})
    if rolled_back:
        back = {'unit': 'shop', 'outcome': 'completed', 'point_of_no_return': ROLLED_BACK,
                'phases': {'rollback_reopen_source': {'started': REOPENED}}, 'data': {}}
        _write(state / 'shop.rollback.json', back)
        _write(state / 'reports' / 'shop-2.json', {'kind': 'rollback', 'started': 1190.0, 'finished': 1205.0, 'next': 'create a new task',
                                                   'write_unavailable': {'start': 1197.0, 'end': ROLLED_BACK, 'seconds': 4.0}})
    return str(state)


def _journal(tmp_path, entries):
    path = tmp_path / 'journal.jsonl'
    path.write_text(''.join(json.dumps(dict({'outcome': 'ack', 'error': None}, **entry)) + '\n' for entry in entries))
    return str(path)


ENTRIES = [
    {'writer': 'app1', 'n': 1, 'side': 'source', 't': 1050.0},      # before the switch: both sides
    {'writer': 'app1', 'n': 2, 'side': 'destination', 't': 1150.0},  # on the destination: back on the source
    {'writer': 'app1', 'n': 3, 'side': 'source', 't': 1202.0},      # after the rollback: the source only
    {'writer': 'stray', 'n': 1, 'side': 'source', 't': 1150.0, 'outcome': 'refused', 'error': 'locked'},
]
GOOD = ({('app1', 1, 'source'): 1, ('app1', 2, 'destination'): 1, ('app1', 3, 'source'): 1},
        {('app1', 1, 'source'): 1, ('app1', 2, 'destination'): 1})


def test_a_rolled_back_run_passes_when_every_write_is_where_it_belongs(tmp_path):
    result = verify(FakeKit(*GOOD), _journal(tmp_path, ENTRIES), _state(tmp_path), timeout=0)
    assert result['ok'], result['problems']
    assert result['rolled_back']
    assert result['writes']['acknowledged'] == {'source': 2, 'destination': 1, 'source_after_rollback': 1}
    back = result['rollback']
    assert back['outcome'] == 'completed' and back['write_unavailable_seconds'] == 4.0
    # The way back's gap: last write on the destination -> first on the source after it.
    assert back['application_gap_seconds'] == 52.0
    text = summary(result, 'title')
    assert 'way back          write-unavailable 4.00 s' in text
    assert 'next              create a new task' in text
    assert 'nothing carried to the destination after the rollback' in text


@pytest.mark.parametrize('change, words', [
    # A write made after the rollback reached the abandoned destination.
    (lambda src, dst: dst.update({('app1', 3, 'source'): 1}), 'after the rollback found on the abandoned destination'),
    # A write made on the destination did not come back.
    (lambda src, dst: src.pop(('app1', 2, 'destination')), 'did not reach the source through the reverse task'),
    # A write made after the rollback is missing on the source.
    (lambda src, dst: src.pop(('app1', 3, 'source')), 'after the rollback missing there (lost)'),
    # A write before the switch is stored twice.
    (lambda src, dst: dst.update({('app1', 1, 'source'): 2}), 'stored more than once'),
])
def test_a_rolled_back_run_fails_on_each_misplaced_write(tmp_path, change, words):
    source, destination = dict(GOOD[0]), dict(GOOD[1])
    change(source, destination)
    result = verify(FakeKit(source, destination), _journal(tmp_path, ENTRIES), _state(tmp_path), timeout=0)
    assert not result['ok']
    assert any(words in problem for problem in result['problems']), result['problems']


def test_a_write_acknowledged_on_the_fenced_source_is_a_problem(tmp_path):
    entries = ENTRIES + [{'writer': 'app2', 'n': 1, 'side': 'source', 't': 1150.0}]
    source = dict(GOOD[0])
    source[('app2', 1, 'source')] = 1
    result = verify(FakeKit(source, GOOD[1]), _journal(tmp_path, entries), _state(tmp_path), timeout=0)
    assert any('while the applications ran on the destination' in problem for problem in result['problems']), result['problems']


def test_without_a_rollback_the_writes_after_the_switch_are_expected_on_the_destination(tmp_path):
    """The same ledger read as a plain switchover: the last write on the source is lost."""
    result = verify(FakeKit(*GOOD), _journal(tmp_path, ENTRIES), _state(tmp_path, rolled_back=False), timeout=0)
    assert not result['rolled_back'] and result['rollback'] is None
    assert any('missing on the destination (lost)' in problem for problem in result['problems']), result['problems']
