"""The engine-independent parts of db_compare: the DTS task's objects, the budget (rate and
deadline, on a virtual clock), the result and its message, key values as JSON."""

import datetime
import decimal

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import compare


@pytest.mark.parametrize('engine, db_object, expected', [
    ('mysql', '{"shop": {"name": "shop", "all": true}}', [('shop.*', 'shop.*')]),
    ('mysql', {'shop': {'name': 'shop_new', 'all': False, 'Table': {'orders': {'name': 'orders_v2', 'all': True}, 'items': {'all': True}}}},
     [('shop.items', 'shop_new.items'), ('shop.orders', 'shop_new.orders_v2')]),
    ('postgresql', {'app': {'name': 'app', 'all': False, 'Schema': {'sales': {'name': 'sales2', 'all': False,
                                                                              'Table': {'orders': {'name': 'orders', 'all': True}}}}}},
     [('sales.orders', 'sales2.orders')]),
    ('postgresql', {'app': {'name': 'app', 'all': True}}, [('public.*', 'public.*')]),
    ('sqlserver', {'shop': {'name': 'shop', 'all': False, 'Schema': {'dbo': {'all': True}}}}, [('shop.dbo.*', 'shop.dbo.*')]),
    ('oracle', {'APP': {'name': 'APP', 'all': False, 'Table': {'ORDERS': {'all': True}}}}, [('APP.ORDERS', 'APP.ORDERS')]),
    ('mongodb', {'shop': {'all': False, 'Table': {'orders': {'all': True}}}}, [('shop.orders', 'shop.orders')]),
    ('redis', {'0': {'name': '0', 'all': True}}, [('*', '*')]),
])
def test_objects_of_the_dts_task(engine, db_object, expected):
    assert compare.objects_from_db_object(db_object, engine) == expected


@pytest.mark.parametrize('db_object, message', [
    ('{}', 'the DTS task names no objects (empty DbObject): pass objects'),
    ('', 'the DTS task names no objects (empty DbObject): pass objects'),
    ('{not json', 'the DTS task DbObject is not JSON'),
])
def test_unusable_dbobject(db_object, message):
    with pytest.raises(compare.EngineError) as raised:
        compare.objects_from_db_object(db_object, 'mysql')
    assert str(raised.value).startswith(message)


class Clock(object):
    """A virtual clock: sleep() moves it."""

    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_budget_keeps_the_rate_and_the_deadline():
    clock = Clock()
    budget = compare.Budget(10, max_rows_per_second=1000, clock=clock, sleep=clock.sleep)
    budget.spend(500)              # 0.5 s worth of rows read in no time: wait 0.5 s
    clock.now += 0.2               # the next read took 0.2 s
    budget.spend(500)              # 1 s worth at 0.7 s: wait 0.3 s
    assert clock.slept == [0.5, 0.3]
    unlimited = compare.Budget(10, clock=clock, sleep=clock.sleep)
    unlimited.spend(10 ** 6)
    assert clock.slept == [0.5, 0.3]
    clock.now += 20
    with pytest.raises(compare.CompareTimeout) as raised:
        budget.spend(1)
    assert str(raised.value) == 'the comparison did not finish within timeout (10 seconds)'


class Stub(object):
    """A comparer whose compare() returns prepared results, to drive run()."""

    def __init__(self, clock, seconds):
        self.clock = clock
        self.seconds = seconds
        self.expand = lambda pattern: ['shop.a', 'shop.b', 'shop.c']

    def compare(self, name, destination_name):
        self.clock.now += self.seconds
        return compare.ObjectResult(name, destination_name, 'checksum', 10)


def test_run_expands_patterns_and_stops_at_the_deadline_with_what_it_compared():
    clock = Clock()
    results = compare.run([('shop.*', 'new.*')], Stub(clock, 10), compare.Budget(25, clock=clock, sleep=clock.sleep))
    assert [(r.name, r.destination_name) for r in results] == [('shop.a', 'new.a'), ('shop.b', 'new.b'), ('shop.c', 'new.c')]
    budget = compare.Budget(15, clock=clock, sleep=clock.sleep)
    with pytest.raises(compare.CompareTimeout) as raised:
        compare.run([('shop.*', 'new.*')], Stub(clock, 10), budget)
    assert [r.name for r in raised.value.results] == ['shop.a', 'shop.b']
    stub = Stub(clock, 0)
    stub.expand = lambda pattern: []
    with pytest.raises(compare.EngineError) as raised:
        compare.run([('shop.*', 'shop.*')], stub, compare.Budget(5))
    assert str(raised.value) == 'shop.* matches no object on the source: check objects'


def test_result_differences_and_message():
    result = compare.ObjectResult('shop.orders', 'shop.orders', 'checksum', 2)
    for key in (5, 6, 7):
        result.add('changed', (key,))
    result.add('missing', (1, 'a'))
    result.source_count, result.destination_count = 10, 9
    result.count_differs = True
    assert result.consistent is False and result.full is True
    differences = result.differences()
    assert differences == [
        {'object': 'shop.orders', 'destination_object': 'shop.orders', 'kind': 'missing', 'keys': [[1, 'a']], 'found': 1, 'truncated': True},
        {'object': 'shop.orders', 'destination_object': 'shop.orders', 'kind': 'changed', 'keys': [5, 6], 'found': 3, 'truncated': True},
    ]
    assert compare.describe_differences(differences) == 'shop.orders: missing [1, "a"]; shop.orders: changed 5, 6 and 1 more'
    counted = compare.ObjectResult('shop.heap', 'shop.heap', 'count', 10)
    counted.source_count, counted.destination_count, counted.count_differs = 50, 45, True
    assert compare.describe_differences(counted.differences()) == 'shop.heap: 50 rows on the source, 45 on the destination'
    skipped = compare.ObjectResult('shop.heap', 'shop.heap', 'checksum', 10)
    skipped.skipped = 'no primary key'
    assert skipped.consistent is True and skipped.differences() == []


def test_key_values_as_json():
    assert compare.json_key((decimal.Decimal('1.50'),)) == '1.50'
    assert compare.json_key((b'\xff\x00', 'x')) == ['0xff00', 'x']
    assert compare.json_key((datetime.date(2026, 3, 1), 7)) == ['2026-03-01', 7]
    assert compare.json_key(('plain',)) == 'plain'
