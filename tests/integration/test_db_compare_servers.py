"""db_compare against real MariaDB, PostgreSQL and Redis servers (two of each, the fixtures'
source and destination servers): the comparison logic through the collection's engines, then the
module through ansible-playbook, with the task's objects read from the DTS emulator.

Tables are small (2,500 rows, chunks of 1,000) so that chunk walking and narrowing run in every
test; the 1,000,000-row figures are in tests/bench (make bench).
"""

import json
import os
import secrets

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import compare
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import MySQLEngine
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.postgresql import PostgreSQLEngine
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.redis import RedisEngine

from test_db_apps import play, task

ROWS = 2500


class Tables(object):
    """The same tables on two servers of one engine, written with plain SQL (not our engines)."""

    def __init__(self, kind, source, destination):
        self.kind = kind
        self.source = source
        self.destination = destination
        self.name = 'cmp_%s' % secrets.token_hex(4)

    def sql(self, server, statement, args=None):
        if self.kind == 'postgresql':
            return server.execute(statement, args, database=self.name)
        conn = server.connect(database=self.name)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, args)
                return cursor.fetchall()
        finally:
            conn.close()

    def both(self, statement, args=None):
        for server in (self.source, self.destination):
            self.sql(server, statement, args)

    def create(self):
        for server in (self.source, self.destination):
            server.create_database(self.name)
        text = 'VARCHAR(64)' if self.kind == 'mariadb' else 'TEXT'
        self.both('CREATE TABLE items (id INT PRIMARY KEY, name %s NOT NULL, price DECIMAL(10, 2), note %s NULL)' % (text, text))
        self.both('CREATE TABLE pairs (a INT NOT NULL, b %s NOT NULL, v INT, PRIMARY KEY (a, b))' % text)
        self.both('CREATE TABLE heap (v INT)')
        rows = ', '.join("(%d, 'item %d', %d.%02d, %s)" % (i, i, i, i % 100, 'NULL' if i % 7 else "'n%d'" % i)
                         for i in range(1, ROWS + 1))
        self.both('INSERT INTO items VALUES ' + rows)
        self.both('INSERT INTO pairs VALUES ' + ', '.join("(%d, '%s', %d)" % (i // 3, 'k%d' % (i % 3), i) for i in range(300)))
        self.both('INSERT INTO heap VALUES ' + ', '.join('(%d)' % i for i in range(50)))
        return self

    def drop(self):
        for server in (self.source, self.destination):
            server.drop_database(self.name)

    def object(self, table):
        return '%s.%s' % (self.name if self.kind == 'mariadb' else 'public', table)

    def params(self, server):
        return dict(server.params, login_db=self.name) if self.kind == 'postgresql' else dict(server.params)


@pytest.fixture(params=['mariadb', 'postgresql'])
def tables(request):
    kind = request.param
    source = request.getfixturevalue(kind)
    destination = request.getfixturevalue('%s_destination' % kind)
    made = Tables(kind, source, destination).create()
    try:
        yield made
    finally:
        made.drop()


def compare_tables(engines, tables, names, **options):  # pylint: disable=redefined-outer-name
    engine_class = MySQLEngine if tables.kind == 'mariadb' else PostgreSQLEngine
    source = engines(engine_class, tables.params(tables.source))
    destination = engines(engine_class, tables.params(tables.destination))
    options.setdefault('chunk_size', 1000)
    budget = compare.Budget(60)
    worker = compare.comparer(engine_class.name, source, destination, budget=budget, **options)
    results = compare.run([(tables.object(name), tables.object(name)) for name in names], worker, budget)
    return compare.summary(results), source, destination


def by_kind(summary):
    return dict(((item['object'].rsplit('.', 1)[-1], item['kind']), item) for item in summary['differences'])


def test_identical_tables_are_consistent(engines, tables):  # pylint: disable=redefined-outer-name
    summary, source, destination = compare_tables(engines, tables, ['items', 'pairs', 'heap'])
    assert summary['consistent'] is True and summary['differences'] == []
    items, pairs, heap = summary['objects']
    assert (items['source_count'], items['destination_count'], items['chunks'], items['method']) == (ROWS, ROWS, 3, 'checksum')
    assert (pairs['source_count'], pairs['chunks']) == (300, 1)
    assert (heap['method'], heap['source_count'], heap['note']) == ('count', 50, 'no primary key: compared by row count only')
    # The servers hash: the statements are aggregates over key ranges, each shape listed once.
    assert any('BIT_XOR(' in s or 'md5(string_agg(' in s for s in source.statements)
    assert len(source.statements) == len(set(source.statements)) and len(source.statements) < 20
    assert not any(s.split()[0].upper() in ('INSERT', 'UPDATE', 'DELETE', 'CREATE') for s in source.statements + destination.statements)


def test_changed_missing_and_extra_rows_are_named(engines, tables):  # pylint: disable=redefined-outer-name
    tables.sql(tables.destination, "UPDATE items SET name = 'tampered' WHERE id = 1234")
    tables.sql(tables.destination, "UPDATE items SET note = '' WHERE id = 10")     # NULL on the source
    tables.sql(tables.destination, 'DELETE FROM items WHERE id = 77')
    tables.sql(tables.destination, "INSERT INTO items VALUES (9000, 'late', 1.00, NULL)")   # past the source's last key
    tables.sql(tables.destination, "UPDATE pairs SET v = -1 WHERE a = 50 AND b = 'k2'")
    summary, dummy, dummy = compare_tables(engines, tables, ['items', 'pairs'])
    assert summary['consistent'] is False
    found = by_kind(summary)
    assert sorted(found) == [('items', 'changed'), ('items', 'extra'), ('items', 'missing'), ('pairs', 'changed')]
    assert found[('items', 'changed')]['keys'] == [10, 1234]
    assert found[('items', 'missing')]['keys'] == [77]
    assert found[('items', 'extra')]['keys'] == [9000]
    assert found[('pairs', 'changed')]['keys'] == [[50, 'k2']]
    items = summary['objects'][0]
    assert (items['source_count'], items['destination_count'], items['differing_chunks']) == (ROWS, ROWS, 3)
    # Composite keys as chunk bounds: (a, b) > (x, y) on the server.
    summary, dummy, dummy = compare_tables(engines, tables, ['pairs'], chunk_size=64, leaf_rows=8)
    assert [(d['kind'], d['keys']) for d in summary['differences']] == [('changed', [[50, 'k2']])]
    assert summary['objects'][0]['chunks'] == 5


def test_one_changed_row_in_a_big_chunk_is_narrowed(engines, tables):  # pylint: disable=redefined-outer-name
    tables.sql(tables.destination, "UPDATE items SET price = 0 WHERE id = 2222")
    summary, dummy, dummy = compare_tables(engines, tables, ['items'], chunk_size=5000, leaf_rows=100)
    [difference] = summary['differences']
    assert (difference['kind'], difference['keys'], difference['found']) == ('changed', [2222], 1)
    # One chunk, split in halves down to 100 rows: far fewer rows read than a row-by-row pass.
    assert summary['objects'][0]['chunks'] == 1


def test_first_n_keys_then_counted(engines, tables):  # pylint: disable=redefined-outer-name
    tables.sql(tables.destination, "UPDATE items SET name = 'x' WHERE id BETWEEN 100 AND 119")
    summary, dummy, dummy = compare_tables(engines, tables, ['items'], max_differences=3)
    [difference] = summary['differences']
    assert difference['keys'] == [100, 101, 102] and difference['truncated'] is True


def test_count_method_and_tables_without_a_primary_key(engines, tables):  # pylint: disable=redefined-outer-name
    tables.sql(tables.destination, 'DELETE FROM heap WHERE v < 5')
    tables.sql(tables.destination, "UPDATE items SET name = 'x' WHERE id = 5")
    summary, dummy, dummy = compare_tables(engines, tables, ['items', 'heap'], method='count')
    assert [(item['object'].rsplit('.', 1)[-1], item['kind'], item['source_count'], item['destination_count'])
            for item in summary['differences']] == [('heap', 'count', 50, 45)]
    summary, dummy, dummy = compare_tables(engines, tables, ['heap'], no_primary_key='skip')
    assert summary['consistent'] is True and summary['objects'][0]['skipped'] == 'no primary key'
    with pytest.raises(EngineError) as raised:
        compare_tables(engines, tables, ['heap'], no_primary_key='fail')
    assert 'has no primary key' in str(raised.value) and 'no_primary_key to count' in str(raised.value)


def test_missing_table_and_differing_columns(engines, tables):  # pylint: disable=redefined-outer-name
    tables.sql(tables.destination, 'DROP TABLE pairs')
    tables.sql(tables.destination, 'ALTER TABLE heap ADD COLUMN w INT')
    tables.sql(tables.source, 'ALTER TABLE heap ADD PRIMARY KEY (v)')
    tables.sql(tables.destination, 'ALTER TABLE heap ADD PRIMARY KEY (v)')
    summary, dummy, dummy = compare_tables(engines, tables, ['pairs', 'heap'])
    found = by_kind(summary)
    assert found[('pairs', 'missing')]['detail'].startswith('table %s does not exist on the destination' % tables.object('pairs'))
    assert found[('heap', 'changed')]['detail'].startswith('the columns differ')
    with pytest.raises(EngineError) as raised:
        compare_tables(engines, tables, ['nosuch'])
    assert 'does not exist on the source' in str(raised.value)


# -- Redis ------------------------------------------------------------------------------------------
@pytest.fixture
def redis_pair(redis_server, redis_destination):
    prefix = 'cmp%s:' % secrets.token_hex(3)
    clients = [server.connect() for server in (redis_server, redis_destination)]
    for client in clients:
        pipe = client.pipeline(transaction=False)
        for i in range(1200):
            pipe.set('%ss:%d' % (prefix, i), 'value %d' % i)
        pipe.hset(prefix + 'h', mapping={'a': '1', 'b': '2', 'c': '3'})
        pipe.sadd(prefix + 'set', 'x', 'y', 'z')
        pipe.rpush(prefix + 'list', 'one', 'two')
        pipe.execute()
    try:
        yield prefix, clients
    finally:
        for client in clients:
            keys = list(client.scan_iter(match=prefix + '*', count=1000))
            if keys:
                client.delete(*keys)
            client.close()


def compare_redis(engines, redis_server, redis_destination, pattern, **options):
    source = engines(RedisEngine, redis_server.params)
    destination = engines(RedisEngine, redis_destination.params)
    budget = compare.Budget(60)
    worker = compare.comparer('redis', source, destination, budget=budget, chunk_size=500, **options)
    return compare.summary(compare.run([(pattern, pattern)], worker, budget)), source


def test_redis_keys(engines, redis_server, redis_destination, redis_pair):  # pylint: disable=redefined-outer-name
    prefix, (dummy, destination) = redis_pair
    summary, source = compare_redis(engines, redis_server, redis_destination, prefix + '*')
    assert summary['consistent'] is True, summary
    assert summary['objects'][0]['source_count'] == summary['objects'][0]['destination_count'] == 1203
    assert any(s.startswith('EVAL <SHA1 of DUMP per key>') for s in source.statements)

    # The same hash content written in another order: an encoding difference, not a data one.
    destination.delete(prefix + 'h')
    destination.hset(prefix + 'h', mapping={'c': '3', 'b': '2', 'a': '1'})
    destination.set(prefix + 's:700', 'tampered')
    destination.delete(prefix + 's:12')
    destination.set(prefix + 'late', 'only here')
    destination.sadd(prefix + 'set', 'w')
    summary, dummy = compare_redis(engines, redis_server, redis_destination, prefix + '*')
    found = dict((item['kind'], item['keys']) for item in summary['differences'])
    assert sorted(found) == ['changed', 'extra', 'missing']
    assert sorted(found['changed']) == sorted([prefix + 's:700', prefix + 'set'])
    assert found['missing'] == [prefix + 's:12'] and found['extra'] == [prefix + 'late']
    summary, dummy = compare_redis(engines, redis_server, redis_destination, prefix + '*', method='count')
    assert summary['differences'] == []      # one missing, one extra: the counts agree


# -- the module through ansible-playbook --------------------------------------------------------------
def test_module_in_a_playbook_with_objects_from_the_dts_task(tables, emulator, dts_options):  # pylint: disable=redefined-outer-name
    if tables.kind == 'mariadb':
        db_object = {tables.name: {'name': tables.name, 'all': False, 'Table': {'items': {'name': 'items', 'all': True}}}}
    else:
        db_object = {tables.name: {'name': tables.name, 'all': False,
                                   'Schema': {'public': {'name': 'public', 'all': False, 'Table': {'items': {'all': True}}}}}}
    job = emulator.add_job(name='cmp-%s' % secrets.token_hex(3), status='Migrating', phase='incremental',
                           db_object=json.dumps(db_object))
    common = dict(source=tables.params(tables.source), destination=tables.params(tables.destination), chunk_size=1000)
    tasks = [
        task('from the task', 'db_compare', dict(common, job_id=job.job_id, **dts_options)),
        task('check mode', 'db_compare', dict(common, objects=[tables.object('items')]), check_mode=True),
        task('bad chunk', 'db_compare', dict(common, objects=['x.y'], chunk_size=0), ignore_errors=True),
    ]
    run = play(tasks)
    assert run.rc == 0, run
    result = run.task('from the task')
    assert result['consistent'] is True and result['changed'] is False
    assert result['object_names'] == [[tables.object('items'), tables.object('items')]]
    assert result['api_calls'] == ['DescribeDtsJobDetail'] and result['rows_compared'] == 2 * ROWS
    assert run.task('check mode')['consistent'] is True
    assert run.task('bad chunk')['msg'] == 'chunk_size must be 1 or more, got 0.'

    tables.sql(tables.destination, "UPDATE items SET name = 'tampered' WHERE id = 1500")
    run = play([task('differs', 'db_compare', dict(common, objects=[tables.object('items')], fail_on_difference=True),
                     ignore_errors=True)])
    result = run.task('differs')
    assert run.status('differs') == 'failed'
    assert result['msg'] == 'The data differ: %s: changed 1500.' % tables.object('items')
    assert result['differences'][0]['keys'] == [1500]
    assert tables.source.params['login_password'] not in json.dumps(result)


# -- the role's phase file (roles/switchover/tasks/phases/verify_data.yml) ---------------------------
PHASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles', 'switchover', 'tasks', 'phases', 'verify_data.yml')


def phase_play(tables, journal_path, extra_tasks, last_run=None, **variables):  # pylint: disable=redefined-outer-name
    """The phase file alone, as the role runs it: a journal begun (the phase records itself in it),
    the role's variables set. ``last_run``: what an earlier run recorded of the comparison."""
    facts = dict(switchover_source=tables.params(tables.source), switchover_destination=tables.params(tables.destination),
                 switchover_verify='checksum', switchover_verify_objects=[tables.object('items')], switchover_job_id='dtsjob0001',
                 switchover_verify_chunk_size=1000, switchover_budget_left=60, switchover_phase='verify_data')
    facts.update(variables)
    begin = [{'name': 'begin', 'dtsops.switchover.switchover_journal': {'operation': 'begin'}}]
    if last_run:
        begin.append({'name': 'last run', 'dtsops.switchover.switchover_journal': {'operation': 'data', 'data': {'verify_data': last_run}}})
    defaults = {'path': journal_path, 'unit': 'unit1', 'journal': "{{ (switchover_journal | default(omit)) if ansible_check_mode else omit }}"}
    return [{'name': 'inputs', 'ansible.builtin.set_fact': facts},
            {'name': 'run', 'module_defaults': {'dtsops.switchover.switchover_journal': defaults}, 'block': begin + extra_tasks}]


def include_phase(name):
    return {'name': name, 'ansible.builtin.include_tasks': PHASE}


def show(name, variable):
    return {'name': name, 'ansible.builtin.debug': {'var': variable}}


def recorded(path):
    """What the phase recorded: (its result, the data it kept)."""
    with open(path) as stream:
        journal = json.load(stream)
    return journal['phases']['verify_data']['result'], journal['data']


def test_phase_file_aborts_before_the_switch_and_reports_after_it(mariadb, mariadb_destination, tmp_path):
    tables = Tables('mariadb', mariadb, mariadb_destination).create()
    try:
        path = str(tmp_path / 'unit1.json')
        run = play(phase_play(tables, path, [include_phase('verify')]))
        assert run.rc == 0, run
        result, data = recorded(path)
        assert result['consistent'] is True and result['differences'] == [] and result['method'] == 'checksum'
        assert result['plan'] == ('compare %s by checksum, a difference aborts; it took an unknown time (no earlier run)'
                                  % tables.object('items'))
        assert data['verify_data']['rows_compared'] == 2 * ROWS

        tables.sql(tables.destination, 'DELETE FROM items WHERE id = 42')
        path = str(tmp_path / 'unit1-differ.json')
        blocked = {'name': 'guarded', 'block': [include_phase('verify')],
                   'rescue': [show('blocked', 'ansible_failed_result.msg')]}
        run = play(phase_play(tables, path, [blocked, {'name': 'after the switch', 'ansible.builtin.set_fact': {'switchover_verify_when': 'after_switch'}},
                                             include_phase('verify after')]))
        assert run.rc == 0, run
        assert run.task('blocked')['ansible_failed_result.msg'] == 'The data differ: %s: missing 42.' % tables.object('items')
        reported, data = recorded(path)
        assert reported['consistent'] is False and reported['differences'][0]['keys'] == [42]
        assert reported['plan'].endswith('by checksum, report only; it took an unknown time (no earlier run)')

        # Check mode compares nothing: the journal in memory says what the last run took.
        path = str(tmp_path / 'unit1-plan.json')
        run = play(phase_play(tables, path, [include_phase('plan'), show('planned', 'switchover_journal.phases.verify_data.result')],
                              last_run={'seconds': 12.5}), check=True)
        assert run.rc == 0, run
        planned = run.task('planned')['switchover_journal.phases.verify_data.result']
        assert planned['consistent'] is None and planned['plan'].endswith('a difference aborts; it took 12.5 s on the last run')
        assert not os.path.exists(path), 'check mode writes no journal'
    finally:
        tables.drop()
