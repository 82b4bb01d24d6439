"""db_compare's MongoDB side with the real pymongo against two wire-protocol fakes
(tests/unit/fakes/mongo.py) that also answer count, dbHash and _id-range finds: the commands
sent, dbHash deciding, the narrowing by _id chunks, and the differences named."""

import hashlib
import json

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import compare
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mongodb import MongoDBEngine
from unit.fakes.mongo import FakeMongo, error

PASSWORD = 'Adm1n-pa55'
DOCUMENTS = 120


class ComparedMongo(FakeMongo):
    """FakeMongo with the read commands db_compare sends."""

    def c_count(self, db, command, client, connection_id):
        self._require(client, 'find', db)
        return {'n': len(self.collections.get((db, command['count']), {}))}

    def c_dbHash(self, db, command, client, connection_id):
        self._require(client, 'dbHash', db)
        if self.topology == 'mongos':
            return error(59, 'CommandNotFound', "no such command: 'dbHash'")
        hashes = {}
        for name in command['collections']:
            documents = self.collections.get((db, name), {})
            text = json.dumps([documents[key] for key in sorted(documents)], default=str)
            hashes[name] = hashlib.md5(text.encode('utf-8')).hexdigest()
        return {'collections': hashes, 'md5': hashlib.md5(''.join(sorted(hashes.values())).encode()).hexdigest()}

    def c_find(self, db, command, client, connection_id):
        bounds = command.get('filter', {}).get('_id')
        if not isinstance(bounds, dict) and command.get('filter'):
            return super(ComparedMongo, self).c_find(db, command, client, connection_id)
        self._require(client, 'find', db)
        assert command['sort'] == {'_id': 1}
        documents = self.collections.get((db, command['find']), {})
        bounds = bounds or {}
        keys = [key for key in sorted(documents) if ('$gt' not in bounds or key > bounds['$gt']) and
                ('$lte' not in bounds or key <= bounds['$lte'])]
        if command.get('limit'):
            keys = keys[:command['limit']]
        return {'cursor': {'id': 0, 'ns': '%s.%s' % (db, command['find']), 'firstBatch': [documents[key] for key in keys]}}


def documents():
    return dict((i, {'_id': i, 'sku': 'sku-%d' % i, 'qty': i % 7}) for i in range(DOCUMENTS))


@pytest.fixture
def servers():
    pair = []
    for dummy in range(2):
        fake = ComparedMongo()
        fake.start()
        fake.add_user('switchover_admin', PASSWORD, [('readAnyDatabase', 'admin')])
        fake.collections[('shop', 'orders')] = documents()
        fake.collections[('shop', 'carts')] = {}
        pair.append(fake)
    yield pair
    for fake in pair:
        fake.stop()


def engine(server):
    connected = MongoDBEngine(dict(engine='mongodb', login_host='127.0.0.1', login_port=server.port, login_user='switchover_admin',
                                   login_password=PASSWORD, login_db=None, ssl_mode='prefer', ca_cert=None, client_cert=None,
                                   client_key=None, connect_timeout=5))
    connected.connect()
    return connected


def run(servers, names=(('shop.orders', 'shop.orders'),), **options):  # pylint: disable=redefined-outer-name
    source, destination = engine(servers[0]), engine(servers[1])
    for server in servers:
        server.reset_log()
    budget = compare.Budget(30)
    options.setdefault('chunk_size', 50)
    try:
        worker = compare.comparer('mongodb', source, destination, budget=budget, **options)
        return compare.summary(compare.run(list(names), worker, budget)), source
    finally:
        source.close()
        destination.close()


def commands(server):
    return [(db, next(iter(command))) for db, command in server.commands]


def test_identical_collections_are_decided_by_dbhash(servers):  # pylint: disable=redefined-outer-name
    summary, source = run(servers, names=[('shop.*', 'shop.*')])
    assert summary['consistent'] is True
    assert [item['object'] for item in summary['objects']] == ['shop.carts', 'shop.orders']
    assert summary['objects'][1]['source_count'] == DOCUMENTS and summary['objects'][1]['chunks'] == 1
    assert ('shop', 'dbHash') in commands(servers[0]) and ('shop', 'find') not in commands(servers[0])
    assert 'shop.runCommand({"dbHash": 1, "collections": ["orders"]})' in source.statements


def test_a_differing_collection_is_narrowed_by_id_chunks(servers):  # pylint: disable=redefined-outer-name
    orders = servers[1].collections[('shop', 'orders')]
    orders[61]['qty'] = 99
    del orders[5]
    orders[500] = {'_id': 500, 'sku': 'late', 'qty': 1}
    summary, source = run(servers)
    found = dict((item['kind'], item['keys']) for item in summary['differences'])
    assert found == {'changed': [61], 'missing': [5], 'extra': [500]}
    assert summary['objects'][0]['chunks'] == 3 and summary['objects'][0]['differing_chunks'] == 3
    assert 'shop.runCommand({"find": "orders", "filter": {"_id": {"$gt": ?}}, "sort": {"_id": 1}, "limit": 50})' in source.statements
    # The destination is read per source chunk, without a limit, so its extras in the range are seen.
    finds = [command for db, command in servers[1].commands if 'find' in command]
    assert [command['filter'] for command in finds] == [{'_id': {'$lte': 49}}, {'_id': {'$gt': 49, '$lte': 99}}, {'_id': {'$gt': 99}}]


def test_mongos_without_dbhash_walks_the_collection(servers):  # pylint: disable=redefined-outer-name
    for server in servers:
        server.topology = 'mongos'
    summary, dummy = run(servers)
    assert summary['consistent'] is True and summary['objects'][0]['chunks'] == 3
    assert ('shop', 'dbHash') in commands(servers[0]) and ('shop', 'find') in commands(servers[0])


def test_count_method_and_missing_collection(servers):  # pylint: disable=redefined-outer-name
    del servers[1].collections[('shop', 'orders')][3]
    summary, dummy = run(servers, method='count')
    assert [(d['kind'], d['source_count'], d['destination_count']) for d in summary['differences']] == [('count', DOCUMENTS, DOCUMENTS - 1)]
    assert all(next(iter(command)) != 'dbHash' for dummy, command in servers[0].commands)
    del servers[1].collections[('shop', 'orders')]
    summary, dummy = run(servers)
    assert summary['differences'][0]['kind'] == 'missing'
    with pytest.raises(compare.EngineError) as raised:
        run(servers, names=[('shop', 'shop')])
    assert str(raised.value) == "MongoDB collection 'shop': name it as database.collection"
