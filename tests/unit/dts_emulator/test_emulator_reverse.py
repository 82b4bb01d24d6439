"""Reverse tasks (CreateReverseDtsJob + StartReverseWriter) and CreateDtsInstance + ConfigureDtsJob + StartDtsJob.

The emulator fixture's reverse precheck lasts 4 s.
"""

import json

import pytest

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_tea_openapi.exceptions import ClientException

from emulator_sdk import REGION, detail, raw

T0 = 1700000000
SOURCE = {'InstanceType': 'RDS', 'EngineName': 'MySQL', 'InstanceID': 'rm-source', 'Ip': '10.0.0.1', 'Port': 3306, 'UserName': 'dts'}
DESTINATION = {'InstanceType': 'RDS', 'EngineName': 'MySQL', 'InstanceID': 'rm-dest', 'Ip': '10.0.0.2', 'Port': 3307, 'UserName': 'dts'}


def create_reverse(client, job_id):
    return client.create_reverse_dts_job(dts_models.CreateReverseDtsJobRequest(dts_job_id=job_id)).body


def start_writer(client, job_id, checkpoint=None):
    return client.start_reverse_writer(dts_models.StartReverseWriterRequest(dts_job_id=job_id, check_point=checkpoint)).body


@pytest.fixture
def forward(emu):
    return emu.add_job(name='orders', status='Migrating', phase='incremental', source=SOURCE, destination=DESTINATION,
                       db_object='{"shop":{"all":true}}', reverse_delay=[(0, 4000), (4, 0)])


def suspend(client, job_id):
    return client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=job_id)).body


def running_forward(emu, **overrides):
    spec = dict(status='Migrating', phase='incremental', reverse_delay=10000)
    spec.update(overrides)
    return emu.add_job(**spec)


def test_reverse_needs_a_running_forward_task_in_incremental_sync(emu, client, clock):
    refused = {
        'not started': emu.add_job(status='NotStarted'),
        'prechecking': emu.add_job(status='Prechecking'),
        'full phase': emu.add_job(status='Migrating', phase='full'),
        'paused': emu.add_job(status='Suspending', phase='incremental'),
        'finished': emu.add_job(status='Finished'),
        'failed': emu.add_job(status='Failed', phase='incremental'),
    }
    for what, job in refused.items():
        body = create_reverse(client, job.job_id)
        assert (what, body.success, body.err_code, body.http_status_code) == (what, 'false', 'OperationDenied.JobStatus', '403')
        assert 'a reverse task can be created only while the forward task runs with incremental synchronization in progress' in body.err_message
    assert 'is Migrating, full phase;' in create_reverse(client, refused['full phase'].job_id).err_message
    assert all(not job.reverse_job_ids for job in refused.values())

    forward = running_forward(emu)
    suspend(client, forward.job_id)
    assert create_reverse(client, forward.job_id).err_message.startswith('The task %s is Suspending;' % forward.job_id)
    client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=forward.job_id))
    assert create_reverse(client, forward.job_id).success == 'true'


@pytest.mark.parametrize('engine', ['PostgreSQL', 'Redis', 'Oracle', 'PolarDB', 'MariaDB', 'DRDS'])
def test_reverse_refused_for_engines_without_reverse_instances(emu, client, engine):
    forward = running_forward(emu, source={'engine': engine}, destination={'engine': engine})
    body = create_reverse(client, forward.job_id)
    assert body.success == 'false' and body.err_code == 'OperationDenied.ReverseJobNotSupported' and body.http_status_code == '403'
    assert body.err_message == ('The task %s replicates %s to %s; reverse tasks (CreateReverseDtsJob) exist only for MySQL, SQL Server and '
                                'MongoDB. Create an incremental-only task from the destination to the source instead '
                                '(CreateDtsInstance + ConfigureDtsJob).' % (forward.job_id, engine, engine))
    assert [job.job_id for job in emu.jobs()] == [forward.job_id]


@pytest.mark.parametrize('source, destination, allowed', [
    ('MySQL', 'MySQL', True), ('SQLServer', 'MSSQL', True), ('MSSQL', 'MSSQL', True), ('MongoDB', 'MongoDB', True),
    ('MySQL', 'PolarDB', False), ('MySQL', 'MongoDB', False),
])
def test_reverse_engine_pairs(emu, client, source, destination, allowed):
    forward = running_forward(emu, source={'engine': source}, destination={'engine': destination})
    assert (create_reverse(client, forward.job_id).success == 'true') is allowed


def test_one_reverse_task_per_forward_task(emu, client):
    forward = running_forward(emu)
    first = create_reverse(client, forward.job_id).dts_job_id
    second = create_reverse(client, forward.job_id)
    assert second.success == 'false' and second.err_code == 'OperationDenied.ReverseJobExists'
    assert second.err_message == 'The task %s already has the reverse task %s; a task has one reverse task.' % (forward.job_id, first)
    assert forward.reverse_job_ids == [first]
    # A released reverse task does not count (our choice: the docs do not say).
    client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=first))
    third = create_reverse(client, forward.job_id)
    assert third.success == 'true' and forward.reverse_job_ids == [first, third.dts_job_id]


def test_reverse_lifecycle(emu, client, clock, forward):
    created = create_reverse(client, forward.job_id)
    assert created.success == 'true'
    reverse = emu.job(created.dts_job_id)
    assert reverse.instance_id == created.dts_instance_id and reverse.reverse_of == forward.job_id
    assert forward.reverse_job_ids == [reverse.job_id]
    assert (reverse.job_type, reverse.structure, reverse.full, reverse.incremental) == ('SYNC', False, False, True)

    body = detail(client, reverse.job_id)
    assert body.status == 'Prechecking' and body.data_synchronization_status.status == 'NotStarted'
    assert body.source_endpoint.instance_id == 'rm-dest' and body.destination_endpoint.instance_id == 'rm-source'
    assert body.source_endpoint.port == '3307' and body.destination_endpoint.port == '3306'
    assert body.migration_mode.to_map() == {'StructureInitialization': False, 'DataInitialization': False, 'DataSynchronization': True,
                                            'DataExtractTransformLoad': False}
    assert body.db_object == '{"shop":{"all":true}}'
    assert detail(client, forward.job_id).status == 'Migrating'   # the forward task keeps running

    early = start_writer(client, reverse.job_id)
    assert early.success == 'false' and early.err_code == 'OperationDenied.JobStatus' and 'is Prechecking' in early.err_message

    clock.advance(4)   # precheck passed: capturing, writer not started
    body = detail(client, reverse.job_id)
    assert body.status == 'Suspending' and body.data_synchronization_status.status == 'Suspending'
    listed = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(job_type='SYNC', dts_job_id=reverse.job_id)).body.dts_job_list[0]
    assert listed.status == 'Suspending' and listed.job_type == 'sync' and listed.precheck_status.status == 'Finished'
    started = raw(client, 'StartDtsJob', {'DtsJobId': reverse.job_id})[1]
    assert started['Success'] is False and started['ErrCode'] == 'OperationDenied.ReverseWriterNotStarted'

    # The writer waits for the forward task to be paused.
    running = start_writer(client, reverse.job_id)
    assert running.success == 'false' and running.err_code == 'OperationDenied.JobStatus'
    assert running.err_message == ('The forward task %s is Migrating; pause it (SuspendDtsJob, until it is Suspending) before StartReverseWriter.'
                                   % forward.job_id)
    assert suspend(client, forward.job_id).success is True

    assert start_writer(client, reverse.job_id, checkpoint=str(T0 + 1)).success == 'true'
    assert emu.calls('StartReverseWriter')[-1]['params']['CheckPoint'] == str(T0 + 1)
    body = detail(client, reverse.job_id)
    assert body.status == 'synchronizing' and body.delay == 4000 and body.checkpoint == T0 + 1
    assert body.data_synchronization_status.status == 'Migrating'
    assert reverse.writer_started is True and reverse.writer_checkpoint == str(T0 + 1)
    clock.advance(4)   # the reverse task's own profile drains
    body = detail(client, reverse.job_id)
    assert (body.status, body.delay, body.data_synchronization_status.status) == ('synchronizing', 0, 'Catched')
    listed = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(job_type='SYNC', dts_job_id=reverse.job_id)).body.dts_job_list[0]
    assert listed.status == 'Synchronizing'

    again = start_writer(client, reverse.job_id)
    assert again.success == 'false' and 'StartReverseWriter needs it paused (Suspending)' in again.err_message
    # "The original task cannot be directly started" once the reverse task writes, even after it is released.
    for dummy in range(2):
        resumed = client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=forward.job_id)).body
        assert resumed.success is False and resumed.err_code == 'OperationDenied.ReverseJobStarted'
        assert resumed.err_message == ('The task %s cannot be started again: the writer of its reverse task %s has started.'
                                       % (forward.job_id, reverse.job_id))
        assert emu.job(forward.job_id).status == 'Suspending'
        client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=reverse.job_id))


def test_forward_task_can_resume_while_the_writer_has_not_started(emu, client, clock, forward):
    reverse = create_reverse(client, forward.job_id).dts_job_id
    clock.advance(4)
    suspend(client, forward.job_id)
    assert client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=forward.job_id)).body.success is True
    assert detail(client, forward.job_id).status == 'Migrating' and detail(client, reverse).status == 'Suspending'


def test_checkpoint_in_milliseconds_is_understood(emu, client, clock):
    forward = running_forward(emu)
    reverse = create_reverse(client, forward.job_id).dts_job_id
    clock.advance(4)
    suspend(client, forward.job_id)
    start_writer(client, reverse, checkpoint=str((T0 + 2) * 1000))
    assert detail(client, reverse).checkpoint == T0 + 2


def test_reverse_task_delay_grows_while_capturing(emu, client, clock, forward):
    reverse = create_reverse(client, forward.job_id).dts_job_id
    clock.advance(4 + 10)
    assert detail(client, reverse).delay == 10000


def test_start_writer_refusals(emu, client, clock, forward):
    not_reverse = raw(client, 'StartReverseWriter', {'DtsJobId': forward.job_id})[1]
    assert not_reverse['Success'] == 'false' and not_reverse['ErrCode'] == 'OperationDenied.NotReverseJob'
    missing = raw(client, 'StartReverseWriter', {'DtsJobId': 'nosuchjob'})[1]
    assert missing['ErrCode'] == 'InvalidJobId' and missing['ErrMessage'] == 'The Value of Input Parameter DtsJobId is not valid.'

    reverse = create_reverse(client, forward.job_id).dts_job_id
    clock.advance(4)
    suspend(client, forward.job_id)
    with pytest.raises(ClientException) as raised:
        start_writer(client, reverse, checkpoint='yesterday')
    assert raised.value.status_code == 403 and raised.value.code == 'InvalidParameter'
    assert raised.value.data['Message'] == 'The value of the parameter CheckPoint is invalid.'
    assert emu.job(reverse).status == 'Suspending'


def test_reverse_default_profile_and_default_precheck(clock):
    from dts_emulator import Emulator
    from emulator_sdk import AK, SECRET, sdk

    emulator = Emulator(accounts={AK: SECRET}, clock=clock, reverse_delay=[(0, 700)], durations={'reverse_precheck': 0.5}).start()
    try:
        client = sdk(emulator)
        forward = emulator.add_job(status='Migrating', phase='incremental')
        reverse = create_reverse(client, forward.job_id).dts_job_id
        clock.advance(0.5)
        suspend(client, forward.job_id)
        start_writer(client, reverse)
        assert detail(client, reverse).delay == 700
        assert emulator.job(reverse).writer_checkpoint is None
    finally:
        emulator.stop()


def configure_request(**overrides):
    fields = dict(dts_job_name='orders_reverse', job_type='MIGRATION', source_endpoint_instance_type='RDS',
                  source_endpoint_instance_id='rm-dest', source_endpoint_engine_name='MySQL', source_endpoint_region=REGION,
                  source_endpoint_user_name='dts', source_endpoint_password='src-pass',
                  destination_endpoint_instance_type='RDS', destination_endpoint_instance_id='rm-source', destination_endpoint_engine_name='MySQL',
                  destination_endpoint_region=REGION, destination_endpoint_user_name='dts', destination_endpoint_password='dst-pass',
                  destination_endpoint_data_base_name='shop',
                  structure_initialization=False, data_initialization=False, data_synchronization=True, db_list='{"shop":{"all":true}}')
    fields.update(overrides)
    return dts_models.ConfigureDtsJobRequest(**fields)


def test_create_instance_configure_and_start_incremental_only(emu, client, clock):
    created = client.create_dts_instance(dts_models.CreateDtsInstanceRequest(
        type='MIGRATION', pay_type='PostPaid', instance_class='small', source_region=REGION, destination_region=REGION,
        source_endpoint_engine_name='MySQL', destination_endpoint_engine_name='MySQL')).body
    configured = client.configure_dts_job(configure_request(dts_instance_id=created.instance_id,
                                                            reserve='{"autoStartModulesAfterConfig": "none"}')).body
    assert configured.success == 'true' and configured.dts_job_id == created.job_id and configured.dts_instance_id == created.instance_id
    job = emu.job(configured.dts_job_id)
    assert (job.structure, job.full, job.incremental, job.status) == (False, False, True, 'NotStarted')
    assert job.params['SourceEndpointPassword'] == 'src-pass' and job.params['DbList'] == '{"shop":{"all":true}}'
    assert job.params['CreateDtsInstance']['Type'] == 'MIGRATION'
    assert job.source['InstanceID'] == 'rm-dest' and job.destination['DatabaseName'] == 'shop'

    assert client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=job.job_id)).body.success is True
    assert detail(client, job.job_id).status == 'Prechecking'
    clock.advance(2)
    body = detail(client, job.job_id)
    assert body.status == 'Migrating' and body.data_synchronization_status.status == 'Catched'

    again = client.configure_dts_job(configure_request(dts_job_id=job.job_id)).body
    assert again.success == 'false' and again.err_code == 'UpdateJob.OperationDenied.InitStatus'


def test_configure_of_a_bought_instance_starts_the_precheck_by_default(emu, client, clock):
    created = client.create_dts_instance(dts_models.CreateDtsInstanceRequest(type='MIGRATION', pay_type='PostPaid', source_region=REGION)).body
    configured = client.configure_dts_job(configure_request(dts_instance_id=created.instance_id, reserve='{"autoStartModulesAfterConfig": "all"}'))
    assert configured.body.success == 'true'
    assert detail(client, created.job_id).status == 'Prechecking'
    clock.advance(2)
    assert detail(client, created.job_id).status == 'Migrating'   # then every later module, at once


def test_pre_check_pass_shows_between_precheck_and_the_next_module(clock):
    from dts_emulator import Emulator
    from emulator_sdk import AK, SECRET, sdk

    with Emulator(accounts={AK: SECRET}, clock=clock, durations={'precheck': 2, 'precheck_pass': 3}) as emulator:
        client = sdk(emulator)
        job = emulator.add_job(structure=False, full=False)
        client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=job.job_id))
        seen = []
        for dummy in range(6):
            seen.append(detail(client, job.job_id).status)
            clock.advance(1)
        assert seen == ['Prechecking', 'Prechecking', 'PreCheckPass', 'PreCheckPass', 'PreCheckPass', 'Migrating']


@pytest.mark.parametrize('reserve', ['{"autoStartModulesAfterConfig": "later"}', '{not json', '["none"]'])
def test_configure_rejects_a_bad_reserve(emu, client, reserve):
    created = client.create_dts_instance(dts_models.CreateDtsInstanceRequest(type='MIGRATION', pay_type='PostPaid', source_region=REGION)).body
    body = client.configure_dts_job(configure_request(dts_instance_id=created.instance_id, reserve=reserve)).body
    assert body.success == 'false' and body.err_code == 'InvalidParameter' and 'Reserve' in body.err_message
    assert emu.job(created.job_id).status == 'NotConfigured'


def test_configure_without_instance_then_create_instance_with_auto_start(emu, client, clock):
    configured = client.configure_dts_job(configure_request(checkpoint=str(T0 - 600))).body
    assert configured.success == 'true'
    request = dts_models.CreateDtsInstanceRequest(job_id=configured.dts_job_id, auto_start=True, pay_type='PostPaid')
    created = client.create_dts_instance(request).body
    assert created.success == 'true' and created.job_id == configured.dts_job_id and created.instance_id == configured.dts_instance_id
    assert emu.job(configured.dts_job_id).status == 'Prechecking'
    assert detail(client, configured.dts_job_id).checkpoint == T0 - 600   # the configured start offset


@pytest.mark.parametrize('overrides, parameter', [
    ({'db_list': None}, 'DbList'),
    ({'db_list': '{not json'}, 'DbList'),
    ({'job_type': 'CHECK'}, 'JobType'),
    ({'dts_job_name': None}, 'DtsJobName'),
    ({'structure_initialization': None}, 'StructureInitialization'),
    ({'data_synchronization': False}, 'DataSynchronization'),
    ({'checkpoint': 'now'}, 'Checkpoint'),
])
def test_configure_validation(emu, client, overrides, parameter):
    body = client.configure_dts_job(configure_request(**overrides)).body
    assert body.success == 'false' and body.err_code == 'InvalidParameter' and body.http_status_code == '403'
    assert parameter in body.err_message
    assert emu.jobs() == []


def test_create_instance_validation(emu, client):
    body = raw(client, 'CreateDtsInstance', {'PayType': 'PostPaid'})[1]
    assert body['Success'] == 'false' and body['ErrCode'] == 'InvalidParameter' and body['ErrMessage'] == 'The Value of Input Parameter Type is not valid.'
    assert 'HttpStatusCode' not in body
    body = raw(client, 'CreateDtsInstance', {'Type': 'MIGRATION', 'PayType': 'Free'})[1]
    assert body['ErrMessage'] == 'The Value of Input Parameter PayType is not valid.'
    body = raw(client, 'CreateDtsInstance', {'JobId': 'nosuchjob', 'AutoStart': True})[1]
    assert body['ErrCode'] == 'InvalidParameter' and body['ErrMessage'] == 'The Value of Input Parameter JobId is not valid.'
    assert emu.jobs() == []


def test_configure_records_the_body_parameters(emu, client):
    client.configure_dts_job(configure_request(reserve=json.dumps({'targetTableMode': '2'})))
    params = emu.calls('ConfigureDtsJob')[-1]['params']
    assert params['Reserve'] == '{"targetTableMode": "2"}' and params['DataSynchronization'] == 'True'
