"""module_utils/dts.py: settings and credential sources, retry classification and backoff (with the
SDK's own exception classes and a fake clock), error mapping, and the Job view."""

import pytest

from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import RetryError, UnretryableException
from darabonba.policy.retry import RetryPolicyContext

from ansible_collections.dtsops.switchover.plugins.module_utils import dts
from ansible_collections.dtsops.switchover.plugins.module_utils.dts import (
    DtsClient,
    DtsError,
    Job,
    mask_key_id,
    resolve_settings,
    undelayed_check,
)

KEY_ID = 'LTAI5tExampleKeyId0001'
SECRET = 'Sup3rSecretAccessKeySecretValue'
TOKEN = 'CAIS-sts-token-value-0123456789'


class FakeClock(object):
    def __init__(self):
        self.now = 500.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeSdk(object):
    """Stands in for the SDK client: each ``*_with_options`` call takes the next scripted outcome
    (an exception to raise or a body dict) and records the request it was given."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.sent = []
        self.last_body = None
        self._endpoint = 'dts.example.test'

    def __getattr__(self, name):
        if not name.endswith('_with_options'):
            raise AttributeError(name)

        def method(request, runtime):
            self.sent.append((name[:-len('_with_options')], request.to_map(), runtime.read_timeout))
            outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
            if isinstance(outcome, Exception):
                raise outcome
            self.last_body = dict(outcome)
            return None

        return method


def settings(**overrides):
    params = {'access_key_id': KEY_ID, 'access_key_secret': SECRET, 'region': 'cn-hangzhou', 'api_timeout': 10,
              'api_retry_timeout': 60}
    params.update(overrides)
    return resolve_settings(params, environ={})


def client_for(outcomes, jitter=0.5, **overrides):
    clock = FakeClock()
    sdk = FakeSdk(outcomes)
    client = DtsClient(settings(**overrides), sdk_client=sdk, clock=clock, sleep=clock.sleep, jitter=lambda: jitter)
    return client, sdk, clock


def transport_error(text):
    return UnretryableException(RetryPolicyContext(retries_attempted=1, exception=RetryError(text)))


def throttled(retry_after=None):
    if retry_after is None:
        return ClientException(status_code=400, code='Throttling.User', message='code: 400, Request was denied due to user flow control.',
                               data={'Code': 'Throttling.User', 'Message': 'Request was denied due to user flow control.'}, request_id='R-T')
    return ThrottlingException(status_code=400, code='Throttling.User', message='code: 400, Request was denied due to user flow control.',
                               retry_after=retry_after, data={'Code': 'Throttling.User', 'Message': 'Request was denied due to user flow control.'},
                               request_id='R-T')


def server_error():
    return ServerException(status_code=503, code='ServiceUnavailable', message='code: 503, temporary failure',
                           data={'Code': 'ServiceUnavailable', 'Message': 'The request has failed due to a temporary failure of the server.'},
                           request_id='R-5')


REFUSED = ("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: / (Caused by NewConnectionError("
           "'<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused'))")
READ_TIMEOUT = "HTTPConnectionPool(host='127.0.0.1', port=4000): Read timed out. (read timeout=10.0)"
DROPPED = "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
TLS = ("HTTPSConnectionPool(host='127.0.0.1', port=4000): Max retries exceeded (Caused by SSLError(SSLError(1, "
       "'[SSL: WRONG_VERSION_NUMBER] wrong version number')))")
OK = {'RequestId': 'R-OK', 'Success': True, 'DtsJobId': 'job1', 'Status': 'Migrating'}


# -- settings and credentials ---------------------------------------------------------------------

def test_options_win_over_the_environment():
    resolved = resolve_settings({'access_key_id': 'OPTIONKEYID', 'access_key_secret': 'optsecret', 'region': 'cn-beijing'},
                                environ={'ALIBABA_CLOUD_ACCESS_KEY_ID': 'ENVKEYID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET': 'envsecret',
                                         'ALIBABA_CLOUD_REGION_ID': 'cn-shanghai'})
    assert (resolved.access_key_id, resolved.access_key_secret, resolved.region) == ('OPTIONKEYID', 'optsecret', 'cn-beijing')
    assert resolved.sources['access_key_id'] == 'the access_key_id option'
    assert resolved.protocol == 'https' and resolved.endpoint is None


@pytest.mark.parametrize('environ, key_source, region', [
    ({'ALIBABA_CLOUD_ACCESS_KEY_ID': 'A1', 'ALICLOUD_ACCESS_KEY': 'A2', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET': 's',
      'ALIBABA_CLOUD_REGION_ID': 'r1', 'ALICLOUD_REGION': 'r2'}, 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'r1'),
    ({'ALICLOUD_ACCESS_KEY': 'A2', 'ALICLOUD_ACCESS_KEY_ID': 'A3', 'ALICLOUD_SECRET_KEY': 's', 'ALICLOUD_REGION_ID': 'r3'},
     'ALICLOUD_ACCESS_KEY', 'r3'),
    ({'ALICLOUD_ACCESS_KEY_ID': 'A3', 'ALICLOUD_SECRET_ACCESS_KEY': 's', 'ALICLOUD_REGION': 'r2', 'ALICLOUD_REGION_ID': 'r3'},
     'ALICLOUD_ACCESS_KEY_ID', 'r2'),
])
def test_environment_fallbacks_in_order(environ, key_source, region):
    resolved = resolve_settings({'access_key_id': None, 'access_key_secret': None, 'region': None}, environ=environ)
    assert resolved.sources['access_key_id'] == 'the environment variable ' + key_source
    assert resolved.access_key_id == environ[key_source]
    assert resolved.region == region


def test_security_token_from_the_environment_is_named_in_the_description():
    resolved = resolve_settings({'access_key_id': KEY_ID, 'access_key_secret': SECRET, 'region': 'cn-hangzhou'},
                                environ={'ALICLOUD_SECURITY_TOKEN': TOKEN})
    assert resolved.security_token == TOKEN
    text = resolved.describe_credentials()
    assert text == ('AccessKey ID LTAI****001 (from the access_key_id option), the AccessKey secret from the access_key_secret '
                    'option and a security token from the environment variable ALICLOUD_SECURITY_TOKEN')
    assert SECRET not in text and TOKEN not in text and KEY_ID not in text


def test_missing_keys_and_region_are_named_with_every_source():
    with pytest.raises(DtsError) as caught:
        resolve_settings({}, environ={})
    assert caught.value.kind == 'config'
    assert str(caught.value) == (
        'DTS needs an AccessKey ID (the access_key_id option, or ALIBABA_CLOUD_ACCESS_KEY_ID, ALICLOUD_ACCESS_KEY or '
        'ALICLOUD_ACCESS_KEY_ID); an AccessKey secret (the access_key_secret option, or ALIBABA_CLOUD_ACCESS_KEY_SECRET, '
        'ALICLOUD_SECRET_KEY or ALICLOUD_SECRET_ACCESS_KEY); a region (the region option, or ALIBABA_CLOUD_REGION_ID, '
        'ALICLOUD_REGION or ALICLOUD_REGION_ID).')


@pytest.mark.parametrize('endpoint, protocol, expected', [
    ('127.0.0.1:8080', 'http', ('127.0.0.1:8080', 'http')),
    ('http://127.0.0.1:8080', None, ('127.0.0.1:8080', 'http')),
    ('HTTPS://dts.aliyuncs.com/', None, ('dts.aliyuncs.com', 'https')),
    ('dts-vpc.cn-hangzhou.aliyuncs.com', None, ('dts-vpc.cn-hangzhou.aliyuncs.com', 'https')),
])
def test_endpoint_and_protocol(endpoint, protocol, expected):
    resolved = settings(endpoint=endpoint, protocol=protocol)
    assert (resolved.endpoint, resolved.protocol) == expected


@pytest.mark.parametrize('endpoint, protocol, message', [
    ('http://127.0.0.1:8080', 'https', 'endpoint http://127.0.0.1:8080 says http but protocol is https: drop the scheme from endpoint '
                                       'or make them agree.'),
    ('127.0.0.1:8080/dts', None, "endpoint '127.0.0.1:8080/dts' is not a host name with an optional port (for example dts.aliyuncs.com "
                                 "or 127.0.0.1:8080)."),
])
def test_bad_endpoints_are_refused(endpoint, protocol, message):
    with pytest.raises(DtsError) as caught:
        settings(endpoint=endpoint, protocol=protocol)
    assert str(caught.value) == message


@pytest.mark.parametrize('value, masked', [
    ('LTAI5tExampleKeyId0001', 'LTAI****001'),
    ('testid', 'te****'),
    ('AKID', '****'),
    ('', ''),
    (None, ''),
])
def test_mask_key_id(value, masked):
    assert mask_key_id(value) == masked


# -- calls, retries and backoff -------------------------------------------------------------------

def test_call_builds_the_typed_request_adds_the_region_and_records_the_action():
    client, sdk, dummy = client_for([OK])
    body = client.call('DescribeDtsJobDetail', DtsJobId='job1')
    client.call('CreateReverseDtsJob', DtsJobId='job1')
    client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert body == OK
    assert sdk.sent[0][:2] == ('describe_dts_job_detail', {'DtsJobId': 'job1', 'RegionId': 'cn-hangzhou'})
    # CreateReverseDtsJob has no RegionId parameter.
    assert sdk.sent[1][:2] == ('create_reverse_dts_job', {'DtsJobId': 'job1'})
    assert client.api_calls == ['DescribeDtsJobDetail', 'CreateReverseDtsJob']
    assert client.requests == 3


def test_unknown_parameter_is_a_programming_error():
    client, dummy, dummy2 = client_for([OK])
    with pytest.raises(ValueError, match='DescribeDtsJobDetail takes no parameter DtsInstanceId'):
        client.call('DescribeDtsJobDetail', DtsJobId='job1', DtsInstanceId='x')


@pytest.mark.parametrize('failure', [
    pytest.param(throttled, id='throttled-without-header'),
    pytest.param(lambda: throttled(1), id='throttling-exception'),
    pytest.param(lambda: transport_error(REFUSED), id='connection-refused'),
])
@pytest.mark.parametrize('action', ['DescribeDtsJobDetail', 'SuspendDtsJob', 'CreateReverseDtsJob'])
def test_failures_that_were_not_applied_are_retried_for_every_action(failure, action):
    client, sdk, clock = client_for([failure(), failure(), OK])
    assert client.call(action, DtsJobId='job1') == OK
    assert len(sdk.sent) == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize('failure, reason', [
    (server_error, 'a server error (503 ServiceUnavailable: The request has failed due to a temporary failure of the server.)'),
    (lambda: transport_error(READ_TIMEOUT), 'no answer within api_timeout'),
    (lambda: transport_error(DROPPED), 'the connection was closed before the answer arrived'),
])
def test_ambiguous_failures_are_retried_for_reads_only(failure, reason):
    client, sdk, dummy = client_for([failure(), OK])
    assert client.call('DescribeDtsJobDetail', DtsJobId='job1') == OK
    assert len(sdk.sent) == 2

    for action in ('CreateReverseDtsJob', 'CreateDtsInstance', 'ConfigureDtsJob', 'SuspendDtsJob'):
        client, sdk, clock = client_for([failure(), OK])
        with pytest.raises(DtsError) as caught:
            client.call(action, DtsJobId='job1') if action != 'CreateDtsInstance' else client.call(action, Type='MIGRATION')
        assert caught.value.kind == 'ambiguous' and caught.value.ambiguous
        assert str(caught.value) == 'The DTS call %s may or may not have taken effect: %s.' % (action, reason)
        assert len(sdk.sent) == 1 and clock.sleeps == []


def test_caller_may_allow_retrying_an_ambiguous_failure():
    client, sdk, dummy = client_for([server_error(), OK])
    assert client.call('SuspendDtsJob', retry_ambiguous=True, DtsJobId='job1') == OK
    assert len(sdk.sent) == 2


@pytest.mark.parametrize('outcome, kind, message', [
    (ClientException(status_code=400, code='InvalidParameter', message='code: 400, The parameter DtsJobId is invalid.',
                     data={'Code': 'InvalidParameter', 'Message': 'The parameter DtsJobId is invalid.'}, request_id='R-400'),
     'api', 'DTS DescribeDtsJobDetail failed: InvalidParameter: The parameter DtsJobId is invalid (request id R-400).'),
    ({'Success': False, 'ErrCode': 'InternalError', 'ErrMessage': 'The Value of Input Parameter %s is not valid.',
      'DynamicMessage': 'DtsJobId', 'RequestId': 'R-B'},
     'api', 'DTS DescribeDtsJobDetail failed: InternalError: The Value of Input Parameter DtsJobId is not valid (request id R-B).'),
    (transport_error(TLS), 'unreachable', 'Cannot talk to the DTS endpoint https://dts.example.test: TLS failed (WRONG_VERSION_NUMBER: wrong '
                                          'version number). For a plain HTTP endpoint set protocol: http.'),
    (transport_error('Failed to parse the value as json format, Value: "<html>".'), 'api',
     'DTS DescribeDtsJobDetail failed: the answer is not JSON.'),
])
def test_final_failures_are_not_retried(outcome, kind, message):
    client, sdk, clock = client_for([outcome, OK])
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert caught.value.kind == kind
    assert str(caught.value).startswith(message)
    assert len(sdk.sent) == 1 and clock.sleeps == []


def test_tls_failure_tells_to_use_http_for_plain_http_endpoints():
    client, dummy, dummy2 = client_for([transport_error(TLS)])
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert str(caught.value).endswith('For a plain HTTP endpoint set protocol: http.')


@pytest.mark.parametrize('success', ['false', 'False', False])
def test_success_false_in_any_spelling_is_an_error(success):
    client, dummy, dummy2 = client_for([{'Success': success, 'ErrCode': 'X', 'ErrMessage': 'bad'}])
    with pytest.raises(DtsError, match='DTS StartDtsJob failed: X: bad.'):
        client.call('StartDtsJob', DtsJobId='job1')


@pytest.mark.parametrize('success', ['true', 'True', True])
def test_success_true_in_any_spelling_returns_the_body(success):
    client, dummy, dummy2 = client_for([{'Success': success, 'DtsJobId': 'r1'}])
    assert client.call('CreateReverseDtsJob', DtsJobId='job1')['DtsJobId'] == 'r1'


def test_backoff_is_exponential_jittered_and_capped():
    for jitter, expected in ((0.0, [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]), (1.0, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0])):
        client, dummy, clock = client_for([throttled()] * 7 + [OK], jitter=jitter, api_retry_timeout=600)
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
        assert clock.sleeps == expected


def test_retries_stop_at_api_retry_timeout_with_a_clear_message():
    client, sdk, clock = client_for([throttled()], api_retry_timeout=10, jitter=1.0)
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert caught.value.kind == 'throttled'
    assert sum(clock.sleeps) < 10
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert str(caught.value) == ('DTS throttled DescribeDtsJobDetail (Throttling.User: Request was denied due to user flow control.) '
                                 '(5 attempts over 7.5 s; api_retry_timeout is 10 s). Retry later, poll less often or raise '
                                 'api_retry_timeout.')


def test_retries_stop_at_the_callers_deadline_when_it_comes_first():
    client, sdk, clock = client_for([transport_error(REFUSED)], api_retry_timeout=600, jitter=1.0)
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', deadline=clock() + 3, DtsJobId='job1')
    assert caught.value.kind == 'unreachable'
    assert clock.sleeps == [0.5, 1.0]
    assert str(caught.value) == ('Cannot reach the DTS endpoint https://dts.example.test for DescribeDtsJobDetail: connection refused '
                                 '(3 attempts over 1.5 s; api_retry_timeout is 600 s). Check endpoint, protocol, region and the network.')
    # The read timeout of each attempt never outlives the deadline (but is at least 1 s).
    assert [sent[2] for sent in sdk.sent] == [3000, 2500, 1500]


def test_zero_api_retry_timeout_means_one_attempt():
    client, sdk, clock = client_for([server_error(), OK], api_retry_timeout=0)
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert caught.value.kind == 'server'
    assert len(sdk.sent) == 1


def test_retry_after_is_honoured():
    client, dummy, clock = client_for([throttled(7), OK])
    client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert clock.sleeps == [7.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once():
    client, sdk, clock = client_for([throttled(30), OK], api_retry_timeout=20)
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert caught.value.kind == 'throttled'
    assert clock.sleeps == [] and len(sdk.sent) == 1


# -- error mapping --------------------------------------------------------------------------------

@pytest.mark.parametrize('outcome', [
    pytest.param({'Success': False, 'ErrCode': 'InvalidJobId', 'ErrMessage': 'The Value of Input Parameter %s is not valid.',
                  'DynamicMessage': 'DtsJobId', 'HttpStatusCode': 403}, id='business'),
    pytest.param(ClientException(status_code=403, code='Forbidden.InstanceNotFound', message='code: 403, The instance is not found.',
                                 data={'Code': 'Forbidden.InstanceNotFound', 'Message': 'The instance is not found.'}), id='gateway'),
    pytest.param(ClientException(status_code=404, code='None', message='code: 404, None request id: R',
                                 data={'ErrCode': 'InvalidJobId', 'ErrMessage': 'not found'}), id='gateway-errcode-only'),
])
def test_unknown_task_in_both_styles(outcome):
    client, dummy, dummy2 = client_for([outcome])
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='dtsnope123')
    assert caught.value.kind == 'not_found'
    assert str(caught.value) == 'DTS task dtsnope123 not found in region cn-hangzhou.'
    assert client.find_job('dtsnope123') is None


@pytest.mark.parametrize('code, status, reason', [
    ('InvalidAccessKeyId.NotFound', 404, 'the AccessKey ID does not exist or is disabled'),
    ('SignatureDoesNotMatch', 400, 'the signature does not match: the AccessKey secret is not the one of this AccessKey ID'),
    ('InvalidSecurityToken.Expired', 403, 'the security token has expired: get a new STS token'),
    ('IncompleteSignature', 400, 'Signature is incomplete'),
])
def test_credential_errors_name_the_sources_and_leak_nothing(code, status, reason):
    gateway_message = 'Signature is incomplete. server string to sign is:POST&%%2F&AccessKeyId%%3D%s&SecurityToken%%3D%s&x=%s' % (
        KEY_ID, TOKEN, SECRET)
    exc = ClientException(status_code=status, code=code, message='code: %d, %s' % (status, gateway_message),
                          data={'Code': code, 'Message': gateway_message}, request_id='R-C')
    clock = FakeClock()
    client = DtsClient(settings(security_token=TOKEN), sdk_client=FakeSdk([exc]), clock=clock, sleep=clock.sleep)
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    text = str(caught.value)
    assert caught.value.kind == 'credentials'
    assert text == ('DTS rejected the credentials: %s (%s). Used AccessKey ID LTAI****001 (from the access_key_id option), the '
                    'AccessKey secret from the access_key_secret option and a security token from the security_token option.'
                    % (reason, code))
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in text


def test_permission_error_names_the_ram_action():
    exc = ClientException(status_code=403, code='Forbidden.RAM', message='code: 403, User not authorized',
                          data={'Code': 'Forbidden.RAM', 'Message': 'User not authorized to operate on the specified resource.'})
    client, dummy, dummy2 = client_for([exc])
    with pytest.raises(DtsError) as caught:
        client.call('SuspendDtsJob', DtsJobId='job1')
    assert caught.value.kind == 'permission'
    assert str(caught.value) == ('The RAM identity of AccessKey ID LTAI****001 may not call dts:SuspendDtsJob (Forbidden.RAM: User not '
                                 'authorized to operate on the specified resource.). Grant it in a RAM policy.')


def test_wrong_state_is_reported_with_the_task_and_dts_reason():
    body = {'Success': 'false', 'ErrCode': 'OperationDenied.JobStatus', 'RequestId': 'R-S',
            'ErrMessage': 'The forward task must be paused or finished.'}
    client, dummy, dummy2 = client_for([body])
    with pytest.raises(DtsError) as caught:
        client.call('CreateReverseDtsJob', DtsJobId='job1')
    assert caught.value.kind == 'state'
    assert str(caught.value) == ('DTS refused CreateReverseDtsJob for task job1: The forward task must be paused or finished '
                                 '(OperationDenied.JobStatus) (request id R-S).')


def test_missing_sdk_credentials_error_is_a_credentials_error():
    exc = ClientException(code='InvalidCredentials', message='Please set up the credentials correctly.')
    client, dummy, dummy2 = client_for([exc])
    with pytest.raises(DtsError) as caught:
        client.call('DescribeDtsJobDetail', DtsJobId='job1')
    assert caught.value.kind == 'credentials'
    assert str(caught.value).startswith('DTS rejected the credentials: Please set up the credentials correctly (InvalidCredentials).')


# -- paging ---------------------------------------------------------------------------------------

def test_list_jobs_reads_every_page_and_filters_names_exactly():
    def page(numbers, total):
        return {'Success': True, 'TotalRecordCount': total, 'DtsJobList': [
            {'DtsJobId': 'j%d' % n, 'DtsJobName': 'orders' if n % 2 else 'orders_archive', 'Status': 'Migrating'} for n in numbers]}

    client, sdk, dummy = client_for([page(range(0, 2), 5), page(range(2, 4), 5), page(range(4, 5), 5)])
    jobs = client.list_jobs(job_type='MIGRATION', name='orders', page_size=2)
    assert [job.job_id for job in jobs] == ['j1', 'j3']
    assert [sent[1]['PageNumber'] for sent in sdk.sent] == [1, 2, 3]
    assert sdk.sent[0][1] == {'Region': 'cn-hangzhou', 'RegionId': 'cn-hangzhou', 'JobType': 'MIGRATION', 'PageNumber': 1,
                              'PageSize': 2, 'Type': 'name', 'Params': 'orders'}


# -- Job view -------------------------------------------------------------------------------------

# The documented sample of DescribeDtsJobDetail (reference dts-api.md 1.2), Checkpoint as a string.
DOCUMENTED_SAMPLE = {
    'DtsJobName': 'api_test', 'DtsInstanceID': 'dtsi03e3zty16i****', 'Success': True, 'Delay': 0,
    'MigrationMode': {'DataInitialization': True, 'DataSynchronization': True, 'StructureInitialization': True},
    'DtsJobClass': 'xlarge', 'DtsJobId': 'i03e3zty16i****', 'HttpStatusCode': 200, 'Status': 'Migrating',
    'RequestId': '29207299-7C41-493A-BA4F-2FAC5DE4****',
    'DbObject': '{"dtstestdata":{"all":true,"name":"dtstestdata","state":"normal"}}',
    'CreateTime': '2021-03-16T08:01:19Z', 'PayType': 'PostPaid', 'Checkpoint': '1616405159',
    'DestinationEndpoint': {'UserName': 'dtstest', 'InstanceID': 'rm-bp1imrtn6fq7h****', 'SslSolutionEnum': 'DISABLE', 'Port': '3306',
                            'DatabaseName': 'dtstestdata', 'Region': 'cn-hangzhou', 'InstanceType': 'RDS', 'EngineName': 'MySQL'},
    'SourceEndpoint': {'RoleName': '', 'UserName': 'dtstest', 'InstanceID': 'rm-bp1162kryivb8****', 'SslSolutionEnum': 'DISABLE',
                       'Port': '3306', 'AliyunUid': '140692647406****', 'Region': 'cn-hangzhou', 'InstanceType': 'RDS', 'EngineName': 'MySQL'},
    'Reserved': '{}',
}


def test_job_view_of_the_documented_sample():
    job = Job.from_detail(DOCUMENTED_SAMPLE)
    view = job.as_dict()
    assert view['job_id'] == 'i03e3zty16i****'
    assert view['instance_id'] == 'dtsi03e3zty16i****'
    assert view['name'] == 'api_test'
    assert view['status'] == 'Migrating'
    assert view['checkpoint'] == 1616405159
    assert view['checkpoint_time'] == '2021-03-22T09:25:59Z'
    assert view['delay_ms'] == 0 and view['delay_seconds'] == 0.0
    assert view['migration_mode'] == {'structure': True, 'full': True, 'incremental': True}
    assert view['paused'] is False and view['failed'] is False and view['finished'] is False
    assert view['source']['instance_id'] == 'rm-bp1162kryivb8****'
    assert view['source']['role_name'] is None
    assert view['destination']['port'] == '3306'
    assert view['raw'] is DOCUMENTED_SAMPLE


def body(status, incremental=None, **extra):
    mode = {'StructureInitialization': True, 'DataInitialization': True, 'DataSynchronization': True}
    raw = {'DtsJobId': 'j', 'Status': status, 'MigrationMode': mode}
    if incremental:
        raw['DataSynchronizationStatus'] = {'Status': incremental}
    raw.update(extra)
    return raw


@pytest.mark.parametrize('raw, phase', [
    (body('NotStarted'), 'not_started'),
    (body('NotConfigured'), 'not_started'),
    (body('Prechecking'), 'precheck'),
    (body('PreCheckPass'), 'precheck'),
    (body('PrecheckFailed'), 'failed'),
    (body('MigrationFailed'), 'failed'),
    (body('Suspending', 'Suspending'), 'paused'),
    (body('Finished', 'Finished'), 'finished'),
    (body('Migrating', 'NotStarted', StructureInitializationStatus={'Status': 'Migrating'},
          DataInitializationStatus={'Status': 'NotStarted'}), 'structure'),
    (body('Migrating', 'NotStarted', StructureInitializationStatus={'Status': 'Finished'},
          DataInitializationStatus={'Status': 'NotStarted'}), 'full'),
    (body('Migrating', 'NotStarted', StructureInitializationStatus={'Status': 'Finished'},
          DataInitializationStatus={'Status': 'Migrating'}), 'full'),
    (body('Migrating', 'NotStarted'), 'full'),
    (body('Migrating', 'Migrating'), 'incremental'),
    (body('synchronizing', 'Catched'), 'incremental'),
    (body('Synchronizing', 'Catched'), 'incremental'),
    (body('Retrying', 'Migrating'), 'incremental'),
    ({'Status': 'Migrating', 'MigrationMode': {'DataSynchronization': True}}, 'incremental'),
    ({'Status': 'Migrating', 'MigrationMode': {'StructureInitialization': 'true'}}, 'structure'),
])
def test_phase(raw, phase):
    assert Job.from_detail(raw).phase == phase


def test_caught_up_and_failures_are_read_case_insensitively():
    assert Job.from_detail(body('synchronizing', 'CATCHED')).caught_up is True
    failed = Job.from_detail(body('Failed', ErrorMessage='DTS-070211: Connect Source DB failed.'))
    assert failed.failed and failed.error_message == 'DTS-070211: Connect Source DB failed.'
    assert failed.describe_state() == 'Failed: DTS-070211: Connect Source DB failed.'
    assert Job.from_detail(body('Retrying', 'Migrating', RetryState={'Retrying': True})).retrying is True


@pytest.mark.parametrize('raw_type, job_type', [('MIGRATION', 'MIGRATION'), ('online', 'MIGRATION'), ('sync', 'SYNC'),
                                                ('subSync', 'SYNC'), ('subscribe', 'SUBSCRIBE'), (None, None)])
def test_job_type_is_normalised(raw_type, job_type):
    assert Job.from_detail({'JobType': raw_type}).job_type == job_type


def test_reverse_is_recognised_by_swapped_endpoints():
    forward = Job.from_detail(DOCUMENTED_SAMPLE)
    reverse = Job.from_detail({'SourceEndpoint': dict(DOCUMENTED_SAMPLE['DestinationEndpoint'], InstanceID='RM-BP1IMRTN6FQ7H****'),
                               'DestinationEndpoint': DOCUMENTED_SAMPLE['SourceEndpoint']})
    assert reverse.is_reverse_of(forward)
    assert not forward.is_reverse_of(forward)
    by_address = Job.from_detail({'SourceEndpoint': {'Ip': '10.0.0.2', 'Port': 5432, 'EngineName': 'PostgreSQL'},
                                  'DestinationEndpoint': {'Ip': '10.0.0.1', 'Port': '5432', 'EngineName': 'postgresql'}})
    forward_by_address = Job.from_detail({'SourceEndpoint': {'Ip': '10.0.0.1', 'Port': '5432', 'EngineName': 'PostgreSQL'},
                                          'DestinationEndpoint': {'Ip': '10.0.0.2', 'Port': '5432', 'EngineName': 'PostgreSQL'}})
    assert by_address.is_reverse_of(forward_by_address)
    other_engine = Job.from_detail({'SourceEndpoint': {'Ip': '10.0.0.2', 'Port': '5432', 'EngineName': 'MySQL'},
                                    'DestinationEndpoint': {'Ip': '10.0.0.1', 'Port': '5432', 'EngineName': 'PostgreSQL'}})
    assert not other_engine.is_reverse_of(forward_by_address)
    assert not Job.from_detail({}).is_reverse_of(Job.from_detail({}))


# -- the undelayed goal ---------------------------------------------------------------------------

@pytest.mark.parametrize('raw, accept_paused, ready, near, terminal', [
    (body('Migrating', 'Migrating', Delay=5000), False, True, True, None),
    (body('Migrating', 'Migrating', Delay=5001), False, False, True, None),
    (body('Migrating', 'Migrating', Delay=15000), False, False, True, None),
    (body('Migrating', 'Migrating', Delay=15001), False, False, False, None),
    (body('Migrating', 'Catched'), False, True, False, None),
    (body('Migrating', 'NotStarted', Delay=0), False, False, False, None),
    (body('Suspending', 'Suspending', Delay=0), False, False, False, 'DTS task j is paused (Suspending). Resume it, or set accept_paused '
                                                                     'to accept a paused task whose delay is within max_delay.'),
    (body('Suspending', 'Suspending', Delay=0), True, True, False, None),
    (body('Suspending', 'Suspending', Delay=9000), True, False, False, None),
    (body('Suspending', 'NotStarted', Delay=0), True, False, False, None),
    (body('PrecheckFailed', ErrorMessage='DTS-1: no privilege'), False, False, False, 'DTS task j failed (PrecheckFailed: DTS-1: no privilege).'),
    (body('Finished', 'Finished'), False, False, False, 'DTS task j has finished (Finished): it no longer migrates changes.'),
    ({'DtsJobId': 'j', 'Status': 'Migrating', 'MigrationMode': {'DataInitialization': True, 'DataSynchronization': False}}, False, False,
     False, 'DTS task j has no incremental migration (MigrationMode.DataSynchronization is false): it never reaches an undelayed state.'),
])
def test_undelayed_goal(raw, accept_paused, ready, near, terminal):
    observation = undelayed_check(5000, accept_paused=accept_paused)(Job.from_detail(raw))
    assert (observation.ready, observation.near, observation.terminal) == (ready, near, terminal)


def test_module_helpers_are_importable_without_the_sdk(monkeypatch):
    monkeypatch.setattr(dts, 'HAS_SDK', False)

    class Module(object):
        params = {}

        def fail_json(self, **kwargs):
            raise SystemExit(kwargs)

    with pytest.raises(SystemExit) as caught:
        dts.dts_client(Module())
    assert 'alibabacloud-dts20200101' in caught.value.args[0]['msg']


def test_list_jobs_sends_the_status_in_the_api_spelling():
    client, sdk, dummy = client_for([{'Success': True, 'TotalRecordCount': 1, 'DtsJobList': [
        {'DtsJobId': 'j1', 'Status': 'Suspending'}, {'DtsJobId': 'j2', 'Status': 'Migrating'}]}])
    assert [job.job_id for job in client.list_jobs(status='suspending')] == ['j1']
    assert sdk.sent[0][1]['Status'] == 'Suspending'
    client.list_jobs(status='SomethingNew')
    assert 'Status' not in sdk.sent[1][1]


def test_a_ten_minute_wait_costs_well_under_150_calls():
    """The delay drains from 10 minutes to 0 over 10 minutes; the vendor's minute of stability follows."""
    clock = FakeClock()
    start = clock()

    class DrainingSdk(FakeSdk):
        def __getattr__(self, name):
            def method(request, runtime):
                self.sent.append(name)
                elapsed = clock() - start
                self.last_body = {'Success': True, 'DtsJobId': 'j', 'Status': 'Migrating', 'Delay': int(max(0, 600 - elapsed) * 1000),
                                  'DataSynchronizationStatus': {'Status': 'Migrating'}, 'MigrationMode': {'DataSynchronization': True}}
            return method

    sdk = DrainingSdk([])
    client = DtsClient(settings(), sdk_client=sdk, clock=clock, sleep=clock.sleep)
    job, result = client.watch('j', undelayed_check(5000), timeout=1800, poll_interval=5, stable_for=60,
                               clock=clock, wallclock=lambda: clock() + 1.7e9, sleep=clock.sleep)
    assert job.delay_ms <= 5000
    assert result.polls == len(sdk.sent) < 60
    # Close to the goal (and while it must hold) it polls every 5 s.
    near = [sample['t'] for sample in result.samples if sample['delay_ms'] <= 15000]
    assert set(round(b - a, 3) for a, b in zip(near, near[1:])) == {5.0}


def test_a_task_between_the_same_instances_but_other_databases_is_not_the_reverse():
    def job(source_db, destination_db, created):
        return Job.from_detail({'CreateTime': created,
                                'SourceEndpoint': {'Ip': '10.0.0.1', 'Port': '3306', 'DatabaseName': source_db},
                                'DestinationEndpoint': {'Ip': '10.0.0.2', 'Port': '3306', 'DatabaseName': destination_db}})

    forward = job('orders', 'orders_new', '2026-11-24T02:00:00Z')
    reverse = Job.from_detail({'CreateTime': '2026-11-24T03:00:00Z',
                               'SourceEndpoint': {'Ip': '10.0.0.2', 'Port': '3306', 'DatabaseName': 'ORDERS_NEW'},
                               'DestinationEndpoint': {'Ip': '10.0.0.1', 'Port': '3306', 'DatabaseName': 'orders'}})
    assert reverse.is_reverse_of(forward)
    other_databases = Job.from_detail(dict(reverse.raw, SourceEndpoint=dict(reverse.raw['SourceEndpoint'], DatabaseName='billing')))
    assert not other_databases.is_reverse_of(forward)
    older = Job.from_detail(dict(reverse.raw, CreateTime='2026-11-23T00:00:00Z'))
    assert not older.is_reverse_of(forward)
    unnamed = Job.from_detail(dict(reverse.raw, SourceEndpoint={'Ip': '10.0.0.2', 'Port': '3306'}))
    assert unnamed.is_reverse_of(forward)
