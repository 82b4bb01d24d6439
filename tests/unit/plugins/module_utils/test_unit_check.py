"""unit_check: the cross-check of a unit against its DTS task, without servers (names resolve
through a table). The module end to end, on real servers and the emulator, is in
tests/integration/test_unit_check.py."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import Job
from ansible_collections.dtsops.switchover.plugins.module_utils.unit_check import UnitCheck, all_loopback, resolve_host, summary

PORTS = {'mysql': 3306, 'postgresql': 5432, 'sqlserver': 1433, 'oracle': 1521, 'redis': 6379, 'mongodb': 27017}
HOSTS = {'localhost': {'127.0.0.1', '::1'}, '127.0.0.1': {'127.0.0.1'}, '10.0.0.5': {'10.0.0.5'}, 'db1.internal': {'10.0.0.5'},
         '10.0.0.6': {'10.0.0.6'}}
LABELS = {'job_id': 'switchover_job_id', 'source': 'switchover_source', 'destination': 'switchover_destination'}


def job(source=None, destination=None):
    base = {'EngineName': 'MySQL', 'InstanceType': 'OTHER', 'Ip': '10.0.0.5', 'Port': '3306'}
    return Job.from_detail({'DtsJobId': 'j1', 'Status': 'Migrating',
                            'SourceEndpoint': dict(base, **(source or {})),
                            'DestinationEndpoint': dict(base, **dict({'Ip': '10.0.0.6'}, **(destination or {})))})


def unit(task=None, source=None, destination=None):
    src = dict({'engine': 'mysql', 'login_host': '10.0.0.5', 'login_port': None}, **(source or {}))
    dst = dict({'engine': 'mysql', 'login_host': '10.0.0.6', 'login_port': 3306}, **(destination or {}))
    return UnitCheck(task or job(), 'cn-hangzhou', src, dst, PORTS, labels=LABELS, resolve=HOSTS.get)


def by_name(checks):
    return dict((item['name'], (item['status'], item['detail'])) for item in checks)


def test_a_matching_unit_passes_every_check():
    checks = unit().static_checks()
    assert [(item['name'], item['status']) for item in checks] == [
        ('source_engine', 'ok'), ('source_address', 'ok'), ('destination_engine', 'ok'), ('destination_address', 'ok')]
    assert by_name(checks)['source_address'][1] == 'switchover_source 10.0.0.5:3306 is 10.0.0.5:3306 (SourceEndpoint.Ip/Port).'
    assert unit().failure(checks) is None


@pytest.mark.parametrize('dts_name, engine', [
    ('MySQL', 'mysql'), ('MYSQL', 'mysql'), ('MariaDB', 'mysql'), ('PolarDB', 'mysql'), ('DRDS', 'mysql'),
    ('PostgreSQL', 'postgresql'), ('polardb_pg', 'postgresql'), ('POLARDB_O', 'postgresql'), ('polardb_o', 'oracle'),
    ('oracle', 'oracle'), ('MSSQL', 'sqlserver'), ('Redis', 'redis'), ('mongodb', 'mongodb'), ('MongoDB', 'mongodb'),
])
def test_dts_engine_names_map_to_the_engines_without_regard_to_case(dts_name, engine):
    check = unit(job(source={'EngineName': dts_name}), source={'engine': engine}).engine_check('source', 'SourceEndpoint')
    assert check['status'] == 'ok', check


def test_a_wrong_engine_names_both_sides_and_the_variable():
    task = job(destination={'EngineName': 'PostgreSQL', 'Port': '5432'})
    checks = unit(task, destination={'login_port': 5432}).static_checks()
    assert by_name(checks)['destination_engine'] == (
        'mismatch', "switchover_destination.engine is mysql, but DTS task j1's destination (DestinationEndpoint.EngineName) is "
                    'PostgreSQL: set switchover_destination.engine to postgresql, or check switchover_job_id.')
    assert unit(task).failure(checks) == (
        'The unit does not match DTS task j1 (region cn-hangzhou): ' + by_name(checks)['destination_engine'][1])


def test_engines_dts_names_but_no_engine_serves_fail_and_unknown_names_are_unchecked():
    foreign = unit(job(source={'EngineName': 'clickhouse'})).engine_check('source', 'SourceEndpoint')
    assert foreign == {'name': 'source_engine', 'status': 'mismatch',
                       'detail': "DTS task j1's source (SourceEndpoint.EngineName) is clickhouse, which no engine of this collection "
                                 'serves: check switchover_job_id.'}
    unknown = unit(job(source={'EngineName': 'NewDB'})).engine_check('source', 'SourceEndpoint')
    assert unknown['status'] == 'unchecked' and 'an engine name this module does not know' in unknown['detail']
    empty = unit(job(source={'EngineName': ''})).engine_check('source', 'SourceEndpoint')
    assert empty['status'] == 'unchecked' and 'names no engine' in empty['detail']


def test_a_wrong_port_or_host_is_a_mismatch():
    port = by_name(unit(source={'login_port': 3307}).static_checks())['source_address']
    assert port == ('mismatch', "switchover_source points at 10.0.0.5:3307, but DTS task j1's source (SourceEndpoint.Ip/Port) is "
                                '10.0.0.5:3306: set switchover_source.login_host and switchover_source.login_port to the '
                                "task's source, or check switchover_job_id.")
    # The source pointed at the destination's server: both engine and port match, the host does not.
    host = by_name(unit(source={'login_host': '10.0.0.6'}).static_checks())['source_address']
    assert host[0] == 'mismatch' and 'points at 10.0.0.6:3306' in host[1]


def test_names_are_resolved_and_any_loopback_matches_any_other():
    assert by_name(unit(source={'login_host': 'db1.internal'}).static_checks())['source_address'][0] == 'ok'
    local = unit(job(source={'Ip': '127.0.0.1'}), source={'login_host': 'localhost'}).static_checks()
    assert by_name(local)['source_address'][0] == 'ok'
    assert all_loopback({'127.0.0.1', '::1', '127.0.1.1'}) and not all_loopback({'127.0.0.1', '10.0.0.5'}) and not all_loopback(set())


def test_an_address_that_does_not_resolve_is_unchecked_not_accepted():
    checks = unit(source={'login_host': 'nowhere.invalid'}).static_checks()
    assert by_name(checks)['source_address'] == (
        'unchecked', 'switchover_source (nowhere.invalid:3306) and 10.0.0.5:3306 (SourceEndpoint.Ip/Port) cannot be compared: '
                     'nowhere.invalid does not resolve.')
    assert resolve_host('nowhere.invalid') is None
    assert '127.0.0.1' in resolve_host('127.0.0.1')


def test_an_endpoint_without_port_checks_the_host_only():
    checks = unit(job(source={'Port': None})).static_checks()
    assert by_name(checks)['source_address'] == (
        'ok', 'switchover_source 10.0.0.5:3306 is 10.0.0.5 (SourceEndpoint.Ip/Port); DTS gives no Port, so only the host is checked.')


def test_instance_ids_are_compared_where_both_sides_have_one():
    task = job(destination={'InstanceType': 'RDS', 'InstanceID': 'rm-bp1imrtn6fq7h', 'Ip': None, 'Port': None})
    same = unit(task, destination={'instance_id': 'RM-BP1IMRTN6FQ7H'}).static_checks()
    assert [(item['name'], item['status']) for item in same][2:] == [('destination_engine', 'ok'), ('destination_instance', 'ok')]
    other = by_name(unit(task, destination={'instance_id': 'rm-other'}).static_checks())['destination_instance']
    assert other == ('mismatch', "switchover_destination.instance_id is rm-other, but DTS task j1's destination "
                                 '(DestinationEndpoint.InstanceID) is rm-bp1imrtn6fq7h: point switchover_destination at that instance '
                                 '(instance_id and its connection), or check switchover_job_id.')
    # An instance id given for an endpoint DTS describes by address: that one is unchecked, the address is.
    checks = by_name(unit(source={'instance_id': 'rm-x'}).static_checks())
    assert checks['source_instance'][0] == 'unchecked' and checks['source_address'][0] == 'ok'


def test_an_rds_endpoint_without_instance_id_given_is_reported_unchecked():
    task = job(destination={'InstanceType': 'RDS', 'InstanceID': 'rm-bp1imrtn6fq7h', 'Ip': None, 'Port': None})
    checks = unit(task).static_checks()
    assert by_name(checks)['destination_address'] == (
        'unchecked', "DTS task j1's destination describes it by InstanceID rm-bp1imrtn6fq7h (InstanceType RDS) without Ip/Port: "
                     'set switchover_destination.instance_id to check it; switchover_destination is not checked against it.')
    assert unit(task).failure(checks) is None
    line = summary(checks)
    assert line.startswith('unit matches the task: source_engine, source_address, destination_engine; UNCHECKED: destination_address (')
    bare = by_name(unit(job(source={'Ip': None, 'Port': None})).static_checks())['source_address']
    assert bare[0] == 'unchecked' and 'describes neither Ip/Port nor InstanceID' in bare[1]


def identity(server, database, engine='mysql', address='127.0.0.1:3306'):
    return {'engine': engine, 'flavour': engine, 'server': server, 'read_from': '@@server_uuid', 'database': database, 'address': address}


def test_two_servers_pass():
    check = unit().identity_check(identity('uuid-a', 'shop'), identity('uuid-b', 'shop', address='127.0.0.1:3307'))
    assert check == {'name': 'distinct_servers', 'status': 'ok',
                     'detail': 'two servers: switchover_source @@server_uuid uuid-a, switchover_destination @@server_uuid uuid-b.'}


def test_one_server_with_two_databases_is_allowed_and_said():
    check = unit().identity_check(identity('uuid-a', 'shop'), identity('uuid-a', 'shop_new'))
    assert check['status'] == 'ok'
    assert check['detail'] == ('one server (mysql @@server_uuid uuid-a), two databases: switchover_source shop, '
                               'switchover_destination shop_new.')


@pytest.mark.parametrize('database, said', [('shop', 'the same database shop'), (None, 'no database that tells them apart')])
def test_one_server_and_one_database_fails(database, said):
    check = unit().identity_check(identity('uuid-a', database), identity('uuid-a', database, address='localhost:3306'))
    assert check['status'] == 'mismatch'
    assert check['detail'] == ('switchover_source (127.0.0.1:3306) and switchover_destination (localhost:3306) reach the same server '
                               "(mysql @@server_uuid uuid-a) and %s: point switchover_destination at the task's destination (or "
                               'switchover_source at its source), or check switchover_job_id.' % said)


def test_every_mismatch_is_in_the_message():
    task = job(source={'EngineName': 'PostgreSQL'})
    checks = unit(task, source={'login_port': 3307}).static_checks()
    message = unit(task).failure(checks)
    assert message.count('switchover_source') == 5 and 'engine is mysql' in message and 'points at 10.0.0.5:3307' in message


def test_default_labels_are_the_module_options():
    check = UnitCheck(job(), 'r', {'engine': 'redis', 'login_host': '10.0.0.5'}, {'engine': 'mysql'}, PORTS,
                      resolve=HOSTS.get).engine_check('source', 'SourceEndpoint')
    assert check['detail'].startswith('source.engine is redis') and check['detail'].endswith('or check job_id.')
