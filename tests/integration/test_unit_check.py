"""switchover_unit_check and the engines' server_identity() and protocol check, on real MariaDB,
PostgreSQL and Redis servers, with DTS reached through the real SDK at the emulator."""

import uuid

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.db import engine_class
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from fixtures_db import unique_name
from harness import run_playbook


# -- the engines ------------------------------------------------------------------------------------
def identity(params):
    engine = engine_class(params['engine'])(params)
    engine.connect()
    try:
        return engine.server_identity(), list(engine.statements)
    finally:
        engine.close()


def test_mariadb_identity_tells_servers_apart_and_names_the_database(mariadb, mariadb_destination):
    first, statements = identity(dict(mariadb.params, login_db='mysql'))
    assert statements[-1] == 'SELECT @@hostname, @@port, @@datadir, @@server_id, DATABASE()'
    assert first['flavour'] == 'mariadb' and first['read_from'] == '@@hostname:@@port:@@datadir (server_id)'
    assert first['database'] == 'mysql' and ':%s:' % mariadb.port in first['server']
    again, dummy = identity(dict(mariadb.params, login_host='localhost'))
    assert (again['server'], again['database']) == (first['server'], None)
    other, dummy = identity(mariadb_destination.params)
    assert other['server'] != first['server']


def test_postgresql_identity_is_the_system_identifier_and_port(postgresql, postgresql_destination):
    first, statements = identity(postgresql.params)
    assert "SELECT system_identifier::text, current_setting('port'), current_database() FROM pg_control_system()" in statements
    system_id = postgresql.execute('SELECT system_identifier FROM pg_control_system()')[0][0]
    assert first['server'] == '%s:%s' % (system_id, postgresql.port) and first['database'] == 'postgres'
    other, dummy = identity(postgresql_destination.params)
    assert other['server'] != first['server']


def test_redis_identity_is_the_run_id(redis_server, redis_destination):
    first, statements = identity(dict(redis_server.params, login_db='2'))
    client = redis_server.connect()
    try:
        run_id = client.info('server')['run_id']
    finally:
        client.close()
    assert (first['server'], first['database']) == (run_id, '2')
    assert 'INFO server' in statements
    assert identity(redis_destination.params)[0]['server'] != first['server']


SERVERS = {'mysql': 'mariadb', 'postgresql': 'postgresql', 'redis': 'redis_server'}
NAMES = {'mysql': 'a MySQL server', 'postgresql': 'a PostgreSQL server', 'redis': 'a Redis server', 'oracle': 'an Oracle server'}


@pytest.mark.parametrize('engine, target', [(e, t) for e in list(SERVERS) + ['oracle'] for t in SERVERS if e != t])
@pytest.mark.parametrize('ssl_mode', ['prefer', 'disable'])
def test_a_server_of_another_engine_is_named_as_such(request, engine, target, ssl_mode):
    """The engine's protocol against another engine's real server: the message names the mistake
    (not a lost connection after a read timeout)."""
    server = request.getfixturevalue(SERVERS[target])
    params = {'engine': engine, 'login_host': '127.0.0.1', 'login_port': server.port, 'login_password': 'not-the-password',
              'ssl_mode': ssl_mode, 'connect_timeout': 2, 'login_db': 'ORCLPDB1' if engine == 'oracle' else None}
    with pytest.raises(EngineError) as raised:
        engine_class(engine)(params).connect()
    assert str(raised.value) == ('127.0.0.1:%s did not answer as %s within 2 s (connect_timeout): check engine and login_port'
                                 % (server.port, NAMES[engine]))


# -- the module -------------------------------------------------------------------------------------
def endpoint(server, database=None, engine='MySQL', **extra):
    spec = dict({'engine': engine, 'host': '127.0.0.1', 'port': server.port, 'user': 'dts_migration'}, **extra)
    if database:
        spec['database'] = database
    return spec


def test_the_module_checks_units_against_their_tasks(emulator, dts_options, mariadb, mariadb_destination, postgresql):
    shop, shop_new = unique_name('shop'), unique_name('shop')
    mariadb.create_database(shop)
    mariadb.create_database(shop_new)
    mariadb_destination.create_database(shop)
    source = dict(mariadb.params, login_db=shop)
    destination = dict(mariadb_destination.params, login_db=shop)
    add = emulator.add_job

    def job(src, dst):
        return add(name='uc-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=0, source=src, destination=dst).job_id

    two_servers = job(endpoint(mariadb, shop), endpoint(mariadb_destination, shop))
    one_server = job(endpoint(mariadb, shop), endpoint(mariadb, shop_new))
    to_postgresql = job(endpoint(mariadb, shop), endpoint(postgresql, engine='PostgreSQL'))
    rds = job(endpoint(mariadb, shop), {'engine': 'MySQL', 'instance_type': 'RDS', 'instance_id': 'rm-bp1imrtn6fq7h'})
    cases = [
        ('two servers', two_servers, source, destination),
        ('two servers, check mode', two_servers, source, destination),
        ('one server, two databases', one_server, source, dict(source, login_db=shop_new)),
        ('one server, one database', one_server, source, dict(source, login_port=mariadb.port)),
        ('source is the destination', two_servers, destination, destination),
        ('unknown task', 'nosuchjob00001', source, destination),
        ('wrong engine', to_postgresql, source, dict(postgresql.params, engine='mysql')),
        ('rds endpoint', rds, source, destination),
        ('rds endpoint, instance id', rds, source, dict(destination, instance_id='rm-other')),
        ('mysql at a postgresql port', rds, source, dict(destination, login_port=postgresql.port, connect_timeout=2)),
    ]
    tasks = [{'name': name, 'dtsops.switchover.switchover_unit_check': dict(dts_options, job_id=job_id, source=src, destination=dst),
              'ignore_errors': True, 'check_mode': name.endswith('check mode')}
             for name, job_id, src, dst in cases]
    before = len(emulator.requests)
    run = run_playbook([{'name': 'unit check', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}])

    def statuses(name):
        return [(item['name'], item['status']) for item in run.task(name)['checks']]

    ok = [('source_engine', 'ok'), ('source_address', 'ok'), ('destination_engine', 'ok'), ('destination_address', 'ok'),
          ('distinct_servers', 'ok')]
    for name in ('two servers', 'two servers, check mode', 'one server, two databases'):
        assert run.status(name) == 'ok', run
        assert statuses(name) == ok
    result = run.task('two servers')
    assert result['job']['job_id'] == two_servers and result['unchecked'] == [] and result['changed'] is False
    assert result['identities']['source']['server'] != result['identities']['destination']['server']
    assert result['statements'] == ['SELECT VERSION(), @@version_comment', "SHOW GLOBAL VARIABLES LIKE 'super_read_only'",
                                    'SELECT @@hostname, @@port, @@datadir, @@server_id, DATABASE()']
    assert run.task('one server, two databases')['checks'][-1]['detail'].startswith('one server (mysql ')

    failed = dict((name, run.task(name)['msg']) for name, dummy, dummy, dummy in cases if run.status(name) == 'failed')
    assert sorted(failed) == ['mysql at a postgresql port', 'one server, one database', 'rds endpoint, instance id',
                              'source is the destination', 'unknown task', 'wrong engine']
    assert failed['unknown task'] == 'DTS task nosuchjob00001 not found in region %s.' % emulator.region
    assert failed['one server, one database'].startswith('The unit does not match DTS task %s (region %s): source (127.0.0.1:%s) and '
                                                         'destination (127.0.0.1:%s) reach the same server (mysql @@hostname:@@port:@@datadir'
                                                         % (one_server, emulator.region, mariadb.port, mariadb.port))
    assert failed['one server, one database'].endswith(
        "and the same database %s: point destination at the task's destination (or source at its source), or check job_id." % shop)
    assert failed['source is the destination'] == (
        "The unit does not match DTS task %s (region %s): source points at 127.0.0.1:%s, but DTS task %s's source "
        "(SourceEndpoint.Ip/Port) is 127.0.0.1:%s: set source.login_host and source.login_port to the task's source, or check job_id."
        % (two_servers, emulator.region, mariadb_destination.port, two_servers, mariadb.port))
    assert failed['wrong engine'] == (
        "The unit does not match DTS task %s (region %s): destination.engine is mysql, but DTS task %s's destination "
        '(DestinationEndpoint.EngineName) is PostgreSQL: set destination.engine to postgresql, or check job_id.'
        % (to_postgresql, emulator.region, to_postgresql))
    assert failed['rds endpoint, instance id'].endswith(
        "destination.instance_id is rm-other, but DTS task %s's destination (DestinationEndpoint.InstanceID) is rm-bp1imrtn6fq7h: "
        'point destination at that instance (instance_id and its connection), or check job_id.' % rds)
    assert failed['mysql at a postgresql port'] == (
        'Cannot connect to the destination mysql at 127.0.0.1:%s: 127.0.0.1:%s did not answer as a MySQL server '
        'within 2 s (connect_timeout): check engine and login_port' % (postgresql.port, postgresql.port))
    # An endpoint DTS describes by instance id only is said to be unchecked, and does not fail.
    unchecked = run.task('rds endpoint')
    assert run.status('rds endpoint') == 'ok'
    assert unchecked['unchecked'] == ["DTS task %s's destination describes it by InstanceID rm-bp1imrtn6fq7h (InstanceType RDS) "
                                      'without Ip/Port: set destination.instance_id to check it; destination is not checked against it.'
                                      % rds]
    assert 'UNCHECKED: destination_address (' in unchecked['summary']
    # Only reads: DescribeDtsJobDetail, once per case.
    assert [entry['action'] for entry in emulator.requests[before:]] == ['DescribeDtsJobDetail'] * len(cases)
