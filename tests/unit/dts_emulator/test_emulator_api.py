"""Each action's envelope, field names and JSON types, through the real SDK (typed models and raw call_api)."""

import http.client
import json

import pytest

from alibabacloud_dts20200101 import models as dts_models

from emulator_sdk import REGION, detail, raw, sdk


def test_describe_dts_job_detail_typed_and_raw(emu, client):
    job = emu.add_job(name='orders', status='Migrating', phase='incremental', delay=[(0, 1500)],
                      source={'instance_id': 'rm-src', 'engine': 'MySQL', 'port': 3306, 'host': '10.0.0.1', 'user': 'dts'},
                      destination={'InstanceID': 'rm-dst', 'InstanceType': 'RDS', 'DatabaseName': 'shop'})
    response = client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job.job_id, region_id=REGION))
    body = response.body
    assert response.status_code == 200
    assert body.success is True and body.http_status_code == 200
    assert (body.dts_job_id, body.dts_instance_id, body.dts_job_name) == (job.job_id, job.instance_id, 'orders')
    assert body.status == 'Migrating'
    assert body.delay == 1500
    assert body.checkpoint == 1700000000 - 2  # the clock minus the delay, whole seconds
    assert body.data_synchronization_status.status == 'Migrating'
    assert body.migration_mode.to_map() == {'StructureInitialization': True, 'DataInitialization': True, 'DataSynchronization': True,
                                            'DataExtractTransformLoad': False}
    assert body.source_endpoint.instance_id == 'rm-src' and body.source_endpoint.port == '3306' and body.source_endpoint.ip == '10.0.0.1'
    assert body.destination_endpoint.database_name == 'shop' and body.destination_endpoint.instance_type == 'RDS'
    assert body.create_time == '2023-11-14T22:13:20Z'

    status, raw_body = raw(client, 'DescribeDtsJobDetail', {'DtsJobId': job.job_id})
    assert status == 200
    assert raw_body['Success'] is True and raw_body['HttpStatusCode'] == 200
    assert isinstance(raw_body['Delay'], int) and isinstance(raw_body['Checkpoint'], int)
    assert 'DtsInstanceID' in raw_body and 'DtsInstanceId' not in raw_body
    # Documented: no top-level phase objects in DescribeDtsJobDetail (reference 1.2).
    assert 'DataInitializationStatus' not in raw_body and 'StructureInitializationStatus' not in raw_body
    assert set(raw_body) >= {'RequestId', 'Status', 'DtsJobId', 'DtsJobName', 'MigrationMode', 'DataSynchronizationStatus', 'SourceEndpoint',
                             'DestinationEndpoint', 'DbObject', 'Reserved', 'PayType', 'DtsJobClass', 'CreateTime', 'ErrorMessage'}


def test_describe_dts_job_detail_by_instance_id_uses_capital_id(emu, client):
    job = emu.add_job(status='Migrating')
    body = client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_instance_id=job.instance_id)).body
    assert body.dts_job_id == job.job_id
    assert emu.calls('DescribeDtsJobDetail')[-1]['params']['DtsInstanceID'] == job.instance_id


def test_describe_dts_jobs_items_and_types(emu, client):
    job = emu.add_job(name='orders', status='Migrating', phase='incremental', delay=[(0, 3000)], db_object='{"shop":{"all":true}}')
    body = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(region=REGION)).body
    assert body.success is True and body.http_status_code == 200
    assert (body.total_record_count, body.page_record_count, body.page_number) == (1, 1, 1)
    item = body.dts_job_list[0]
    assert (item.dts_job_id, item.dts_instance_id, item.status, item.job_type) == (job.job_id, job.instance_id, 'Migrating', 'online')
    assert item.delay == 3000 and item.checkpoint == str(1700000000 - 3)
    assert item.precheck_status.status == 'Finished'
    assert item.structure_initialization_status.status == 'Finished'
    assert item.data_initialization_status.status == 'Finished'
    assert item.data_synchronization_status.status == 'Migrating'
    assert item.db_object == '{"shop":{"all":true}}'

    status, raw_body = raw(client, 'DescribeDtsJobs', {'WithoutDbList': 'true'})
    assert status == 200 and raw_body['Success'] is True and raw_body['HttpStatusCode'] == 200
    raw_item = raw_body['DtsJobList'][0]
    assert isinstance(raw_item['Checkpoint'], str) and isinstance(raw_item['Delay'], int)
    assert 'DtsInstanceID' in raw_item and 'DbObject' not in raw_item
    assert raw_item['MigrationMode']['DataSynchronization'] is True


@pytest.mark.parametrize('action, method, request_class', [
    ('SuspendDtsJob', 'suspend_dts_job', dts_models.SuspendDtsJobRequest),
    ('StartDtsJob', 'start_dts_job', dts_models.StartDtsJobRequest),
    ('StopDtsJob', 'stop_dts_job', dts_models.StopDtsJobRequest),
    ('DeleteDtsJob', 'delete_dts_job', dts_models.DeleteDtsJobRequest),
])
def test_control_actions_bool_envelope(emu, client, action, method, request_class):
    job = emu.add_job(status='Suspending' if action == 'StartDtsJob' else 'Migrating')
    body = getattr(client, method)(request_class(dts_job_id=job.job_id, region_id=REGION)).body
    assert body.success is True and body.http_status_code == 200 and body.request_id
    status, raw_body = raw(client, action, {'DtsJobId': job.job_id})
    assert status == 200
    if action == 'DeleteDtsJob':  # a released task still shows as Finished (released_status='finished'): deleting it again succeeds
        assert raw_body['Success'] is True and detail(client, job.job_id).status == 'Finished'
    else:
        assert raw_body['Success'] is True and raw_body['HttpStatusCode'] == 200


def test_create_reverse_and_start_writer_string_envelopes(emu, client):
    forward = emu.add_job(status='Migrating', phase='incremental')
    body = client.create_reverse_dts_job(dts_models.CreateReverseDtsJobRequest(dts_job_id=forward.job_id)).body
    assert body.success == 'true' and body.http_status_code == '200'
    assert body.dts_job_id != forward.job_id and body.dts_instance_id
    second = raw(client, 'CreateReverseDtsJob', {'DtsJobId': forward.job_id})[1]
    assert second['Success'] == 'false' and second['HttpStatusCode'] == '403' and second['ErrCode'] == 'OperationDenied.ReverseJobExists'
    emu.clock.advance(4)
    refused = raw(client, 'StartReverseWriter', {'DtsJobId': body.dts_job_id})[1]
    assert refused['Success'] == 'false' and 'HttpStatusCode' not in refused and refused['ErrCode'] == 'OperationDenied.JobStatus'
    client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=forward.job_id))
    writer_raw = raw(client, 'StartReverseWriter', {'DtsJobId': body.dts_job_id})[1]
    assert writer_raw['Success'] == 'true' and 'HttpStatusCode' not in writer_raw and writer_raw['RequestId']


def test_create_instance_and_configure_string_envelopes(emu, client):
    created = client.create_dts_instance(dts_models.CreateDtsInstanceRequest(
        type='MIGRATION', pay_type='PostPaid', instance_class='small', source_region=REGION, destination_region=REGION,
        source_endpoint_engine_name='MySQL', destination_endpoint_engine_name='MySQL', quantity=1, auto_pay=False)).body
    assert created.success == 'true' and created.instance_id.startswith('dts') and created.job_id
    assert emu.job(created.job_id).status == 'NotConfigured'

    status, configured = raw(client, 'ConfigureDtsJob', {
        'DtsInstanceId': created.instance_id, 'DtsJobName': 'reverse', 'JobType': 'MIGRATION', 'SourceEndpointInstanceType': 'RDS',
        'DestinationEndpointInstanceType': 'RDS', 'StructureInitialization': False, 'DataInitialization': False,
        'DataSynchronization': True}, body={'DbList': '{"shop":{"name":"shop","all":true}}'})
    assert status == 200
    assert configured['Success'] == 'true' and configured['HttpStatusCode'] == '200'
    assert (configured['DtsJobId'], configured['DtsInstanceId']) == (created.job_id, created.instance_id)
    # Bought first, no Reserve: autoStartModulesAfterConfig defaults to all, the precheck starts.
    assert emu.job(created.job_id).status == 'Prechecking'


def test_sdk_sends_capitalised_booleans_and_body_params(emu, client):
    client.configure_dts_job(dts_models.ConfigureDtsJobRequest(
        dts_job_name='x', job_type='MIGRATION', source_endpoint_instance_type='RDS', destination_endpoint_instance_type='RDS',
        structure_initialization=False, data_initialization=False, data_synchronization=True, db_list='{"a":{"all":true}}'))
    params = emu.calls('ConfigureDtsJob')[-1]['params']
    assert params['DataSynchronization'] == 'True' and params['DataInitialization'] == 'False'
    assert params['DbList'] == '{"a":{"all":true}}'  # from the form body, merged with the query


def test_lower_case_booleans_are_accepted(emu, client):
    body = raw(client, 'ConfigureDtsJob', {
        'DtsJobName': 'lower', 'JobType': 'MIGRATION', 'SourceEndpointInstanceType': 'RDS', 'DestinationEndpointInstanceType': 'RDS',
        'StructureInitialization': 'false', 'DataInitialization': 'FALSE', 'DataSynchronization': 'true', 'DbList': '{}'})[1]
    job = emu.job(body['DtsJobId'])
    assert (job.structure, job.full, job.incremental) == (False, False, True)


def test_business_error_for_unknown_job_names_the_parameter(client):
    body = client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id='nosuchjob')).body
    assert body.success is False and body.err_code == 'InvalidJobId'
    assert body.err_message == 'The Value of Input Parameter %s is not valid.' and body.dynamic_message == 'DtsJobId'
    status, raw_body = raw(client, 'StopDtsJob', {'DtsJobId': 'nosuchjob'})
    assert status == 200 and raw_body['Success'] is False and raw_body['HttpStatusCode'] == 403


def test_business_error_on_string_actions_spells_out_the_parameter(client):
    body = raw(client, 'CreateReverseDtsJob', {'DtsJobId': 'nosuchjob'})[1]
    assert body['Success'] == 'false' and body['HttpStatusCode'] == '403'
    assert body['ErrCode'] == 'InvalidJobId' and body['ErrMessage'] == 'The Value of Input Parameter DtsJobId is not valid.'


def test_gateway_not_found_style(emu, clock):
    from dts_emulator import Emulator
    from alibabacloud_tea_openapi.exceptions import ClientException

    gateway = Emulator(accounts={'AK2': 'S2'}, clock=clock, not_found_style='gateway').start()
    try:
        with pytest.raises(ClientException) as raised:
            sdk(gateway, 'AK2', 'S2').describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id='nosuchjob'))
        assert raised.value.status_code == 403 and raised.value.code == 'Forbidden.InstanceNotFound'
        assert set(raised.value.data) >= {'RequestId', 'HostId', 'Code', 'Message', 'Recommend'}
    finally:
        gateway.stop()


def test_region_mismatch_is_not_found(emu, client):
    job = emu.add_job(status='Migrating')
    body = raw(client, 'DescribeDtsJobDetail', {'DtsJobId': job.job_id, 'RegionId': 'eu-central-1'})[1]
    assert body['Success'] is False and body['ErrCode'] == 'InvalidJobId'


@pytest.mark.parametrize('query, parameter', [
    ({'PageSize': 'ten'}, 'PageSize'),
    ({'PageNumber': '0'}, 'PageNumber'),
    ({'JobType': 'BACKUP'}, 'JobType'),
    ({'Type': 'owner', 'Params': 'x'}, 'Type'),
    ({'WithoutDbList': 'maybe'}, 'WithoutDbList'),
])
def test_describe_dts_jobs_invalid_parameters(client, query, parameter):
    body = raw(client, 'DescribeDtsJobs', query)[1]
    assert body['Success'] is False and body['ErrCode'] == 'InvalidParameter' and body['DynamicMessage'] == parameter


def _post(emu, path, headers, body=b''):
    connection = http.client.HTTPConnection('127.0.0.1', emu.port, timeout=10)
    try:
        connection.request('POST', path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def test_gateway_errors_for_unknown_action_version_and_missing_action(emu):
    status, headers, body = _post(emu, '/', {'x-acs-action': 'DescribeEverything', 'x-acs-version': '2020-01-01'})
    assert status == 404 and body['Code'] == 'InvalidAction.NotFound'
    assert headers['Content-Type'] == 'application/json;charset=utf-8'
    assert set(body) == {'RequestId', 'HostId', 'Code', 'Message', 'Recommend'}
    status, headers, body = _post(emu, '/', {'x-acs-action': 'DescribeDtsJobs', 'x-acs-version': '2016-08-01'})
    assert status == 400 and body['Code'] == 'InvalidVersion'
    status, headers, body = _post(emu, '/', {})
    assert status == 400 and body['Code'] == 'MissingParameter' and '"Action"' in body['Message']


def test_unsigned_request_is_refused(emu):
    status, headers, body = _post(emu, '/?DtsJobId=x', {'x-acs-action': 'DescribeDtsJobDetail', 'x-acs-version': '2020-01-01'})
    assert status == 400 and body['Code'] == 'IncompleteSignature'
    assert emu.requests[-1]['http_status'] == 400 and emu.requests[-1]['code'] == 'IncompleteSignature'


def test_keep_alive_connections_are_served_concurrently(emu, client):
    job = emu.add_job(status='Migrating')
    # Hold an idle keep-alive connection open: a single-threaded server would block every other client.
    idle = http.client.HTTPConnection('127.0.0.1', emu.port, timeout=10)
    idle.connect()
    try:
        for dummy in range(3):
            assert client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job.job_id)).body.success
        other = sdk(emu)
        assert other.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job.job_id)).body.success
    finally:
        idle.close()


def test_request_log(emu, client):
    job = emu.add_job(status='Migrating')
    emu.reset_requests()
    client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id=job.job_id))
    raw(client, 'DescribeDtsJobDetail', {'DtsJobId': 'missing'})
    entries = emu.requests
    assert [entry['action'] for entry in entries] == ['SuspendDtsJob', 'DescribeDtsJobDetail']
    first = entries[0]
    assert first['auth'] == 'acs3' and first['access_key_id'] == 'LTAI5tUnitTestKey' and first['http_status'] == 200
    assert first['job_id'] == job.job_id and first['code'] is None and first['time'] == 1700000000.0
    assert entries[1]['code'] == 'InvalidJobId'
    assert emu.calls('SuspendDtsJob') == [first]
    assert emu.reset_requests() == 2 and emu.requests == []


def test_legacy_get_request_signed_by_the_sdk_utils(emu):
    """A ?Action=... GET as older clients send it, signed with the SDK's own HMAC-SHA1 routine."""
    from urllib.parse import urlencode
    from alibabacloud_tea_openapi.utils import Utils

    job = emu.add_job(status='Suspending')
    params = {'Action': 'DescribeDtsJobDetail', 'Format': 'json', 'Version': '2020-01-01', 'Timestamp': '2026-11-24T01:42:39Z',
              'SignatureNonce': 'nonce-1', 'DtsJobId': job.job_id, 'RegionId': 'cn-hangzhou', 'SignatureMethod': 'HMAC-SHA1',
              'SignatureVersion': '1.0', 'AccessKeyId': 'LTAI5tUnitTestKey'}
    params['Signature'] = Utils.get_rpcsignature(params, 'GET', 'unit-test-secret')
    connection = http.client.HTTPConnection('127.0.0.1', emu.port, timeout=10)
    try:
        connection.request('GET', '/?' + urlencode(params))
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200 and body['Status'] == 'Suspending' and body['Success'] is True
    entry = emu.requests[-1]
    assert (entry['method'], entry['auth'], entry['action']) == ('GET', 'v1', 'DescribeDtsJobDetail')
