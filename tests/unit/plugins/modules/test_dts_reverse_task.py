"""dts_reverse_task: option checks, and the ConfigureDtsJob request built from a forward task (the
endpoints swapped, incremental only), checked against the SDK's own request model."""

import json
import socket

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import DtsClient, DtsError, Job, resolve_settings
from ansible_collections.dtsops.switchover.plugins.module_utils import reverse_task
from ansible_collections.dtsops.switchover.plugins.modules import dts_reverse_task

OPTIONS = {'access_key_id': 'LTAI5tExampleKeyId0001', 'access_key_secret': 'secret', 'region': 'cn-hangzhou',
           'endpoint': '127.0.0.1:9', 'protocol': 'http', 'job_id': 'fwd1'}

FORWARD = Job.from_detail({
    'DtsJobId': 'fwd1', 'DtsJobName': 'orders', 'Status': 'Suspending',
    'DbObject': '{"shop":{"name":"shop","all":true}}',
    'SourceEndpoint': {'InstanceType': 'ECS', 'EngineName': 'MySQL', 'InstanceID': 'i-bp1src', 'Region': 'cn-hangzhou', 'Ip': '10.0.0.5',
                       'Port': '3306', 'UserName': 'dts_reader', 'DatabaseName': 'shop'},
    'DestinationEndpoint': {'InstanceType': 'RDS', 'EngineName': 'MySQL', 'InstanceID': 'rm-bp1dst', 'Region': 'cn-shanghai',
                            'Port': '3306', 'UserName': 'dts_writer'},
})


@pytest.mark.parametrize('args, message', [
    ({'method': 'reverse_api', 'name': 'x'}, 'name only apply to method: configure (or auto, which may fall back to it).'),
    ({'method': 'reverse_api', 'destination_user': 'u', 'source_user': 'v'},
     'source_user, destination_user only apply to method: configure (or auto, which may fall back to it).'),
    ({'method': 'configure', 'destination_password': 'x'},
     'method: configure needs source_password: DTS does not return the database passwords of the forward task.'),
    ({'checkpoint': -5}, 'checkpoint must be a UNIX time in seconds, got -5.'),
    ({'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
    ({'job_id': ' '}, 'job_id must not be empty.'),
    ({'instance_class': 'huge'}, 'value of instance_class must be one of: xxlarge, xlarge, large, medium, small, got: huge'),
])
def test_bad_options(run_module, args, message):
    result = run_module(dts_reverse_task, dict(OPTIONS, **args))
    assert result['failed'] is True
    assert result['msg'] == message


def test_passwords_are_not_needed_to_release(run_module):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    # Validation passes; the run then fails on the closed endpoint, not on missing passwords.
    result = run_module(dts_reverse_task, dict(OPTIONS, endpoint='127.0.0.1:%d' % port, method='configure', state='absent', api_retry_timeout=0))
    assert result['msg'].startswith('Cannot reach the DTS endpoint http://127.0.0.1:%d for DescribeDtsJobDetail: connection refused' % port)


class Module(object):
    check_mode = False

    def __init__(self, **params):
        self.params = dict({'method': 'configure', 'timeout': 60, 'job_id': 'fwd1', 'name': None, 'checkpoint': None, 'db_list': None,
                            'source_user': None, 'destination_user': None, 'source_password': 'src-pw', 'destination_password': 'dst-pw',
                            'instance_class': 'small'}, **params)


def client():
    return DtsClient(resolve_settings(dict(OPTIONS)), sdk_client=object())


def test_configure_request_swaps_the_endpoints_for_incremental_only():
    task = reverse_task.ReverseTask(Module(checkpoint=1700000000), client())
    params = task.configure_params(FORWARD, 'dtsinst1')
    assert params == {
        'DtsInstanceId': 'dtsinst1', 'DtsJobName': 'orders_reverse', 'JobType': 'MIGRATION', 'StructureInitialization': False,
        'DataInitialization': False, 'DataSynchronization': True, 'DbList': '{"shop":{"name":"shop","all":true}}',
        'Checkpoint': '1700000000', 'Reserve': '{"autoStartModulesAfterConfig":"none"}',
        'SourceEndpointInstanceType': 'RDS', 'SourceEndpointEngineName': 'MySQL', 'SourceEndpointInstanceID': 'rm-bp1dst',
        'SourceEndpointRegion': 'cn-shanghai', 'SourceEndpointIP': None, 'SourceEndpointPort': '3306', 'SourceEndpointUserName': 'dts_writer',
        'SourceEndpointPassword': 'dst-pw', 'SourceEndpointDatabaseName': None, 'SourceEndpointOracleSID': None,
        'DestinationEndpointInstanceType': 'ECS', 'DestinationEndpointEngineName': 'MySQL', 'DestinationEndpointInstanceID': 'i-bp1src',
        'DestinationEndpointRegion': 'cn-hangzhou', 'DestinationEndpointIP': '10.0.0.5', 'DestinationEndpointPort': '3306',
        'DestinationEndpointUserName': 'dts_reader', 'DestinationEndpointPassword': 'src-pw', 'DestinationEndpointDataBaseName': 'shop',
        'DestinationEndpointOracleSID': None,
    }
    # Every key is one the SDK's ConfigureDtsJobRequest knows (an unknown one raises ValueError).
    request = task.client._request('ConfigureDtsJob', params)
    assert request.to_map()['DestinationEndpointDataBaseName'] == 'shop'
    assert request.to_map()['RegionId'] == 'cn-hangzhou'


def test_configure_request_with_other_accounts_objects_and_name():
    task = reverse_task.ReverseTask(Module(name='rollback', source_user='rb_writer', destination_user='rb_reader',
                                           db_list={'shop': {'name': 'shop', 'all': True}}), client())
    params = task.configure_params(FORWARD, 'dtsinst1')
    assert (params['DtsJobName'], params['SourceEndpointUserName'], params['DestinationEndpointUserName']) == ('rollback', 'rb_reader', 'rb_writer')
    assert json.loads(params['DbList']) == {'shop': {'name': 'shop', 'all': True}}
    assert 'Checkpoint' not in params


def test_configure_needs_the_objects():
    forward = Job.from_detail(dict(FORWARD.raw, DbObject=''))
    task = reverse_task.ReverseTask(Module(), client())
    with pytest.raises(DtsError, match='DTS task fwd1 does not report its objects \\(DbObject\\): set db_list.'):
        task.configure_params(forward, 'dtsinst1')


def forward_of(engine, incremental=True):
    raw = dict(FORWARD.raw, MigrationMode={'DataSynchronization': incremental})
    raw['SourceEndpoint'] = dict(raw['SourceEndpoint'], EngineName=engine)
    raw['DestinationEndpoint'] = dict(raw['DestinationEndpoint'], EngineName=engine)
    return Job.from_detail(raw)


@pytest.mark.parametrize('engine', ['MySQL', 'mysql', 'MSSQL', 'MongoDB'])
def test_reverse_instances_serve_mysql_sql_server_and_mongodb(engine):
    assert reverse_task.reverse_api_unsupported(forward_of(engine)) is None


@pytest.mark.parametrize('engine', ['PostgreSQL', 'Redis', 'Oracle', 'PolarDB', 'polardb_pg'])
def test_other_engines_get_a_configured_task(engine):
    assert reverse_task.reverse_api_unsupported(forward_of(engine)) == (
        'DTS creates reverse instances (CreateReverseDtsJob) only for MySQL, SQL Server and MongoDB, and task fwd1 migrates %s to %s'
        % (engine, engine))


def test_a_task_without_incremental_migration_gets_a_configured_task():
    assert reverse_task.reverse_api_unsupported(forward_of('MySQL', incremental=False)) == (
        'task fwd1 has no incremental migration, and a reverse instance is created only during incremental migration')


@pytest.mark.parametrize('status, state', [('PreCheckPass', 'paused'), ('Suspending', 'paused'), ('Prechecking', 'starting'),
                                           ('NotStarted', 'not_started'), ('synchronizing', 'running'), ('Finished', 'stopped')])
def test_a_reverse_instance_that_passed_its_precheck_waits_for_its_writer(status, state):
    job = Job.from_detail({'DtsJobId': 'rev1', 'Status': status, 'DataSynchronizationStatus': {'Status': 'Catched'}})
    assert reverse_task.reverse_state(job) == state
