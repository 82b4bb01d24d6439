"""What every DTS module shares, through ansible-playbook and the real SDK against the emulator:
credentials and their sources, endpoints, retries under injected faults, a missing SDK."""

import json
import os
import re
import socket
import tempfile
import uuid

import pytest

from fixtures_dts import DTS_ACCESS_KEY_ID, DTS_ACCESS_KEY_SECRET
from harness import run_playbook

ENVIRONMENT_NAMES = ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
                     'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY', 'ALIBABA_CLOUD_SECURITY_TOKEN', 'ALICLOUD_SECURITY_TOKEN',
                     'ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID')
# No credential from the environment of whoever runs the tests.
CLEAN = dict((name, '') for name in ENVIRONMENT_NAMES)


def play(tasks, env=None, **kwargs):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], env=dict(CLEAN, **(env or {})), **kwargs)


def read_task(options, title='read', **args):
    return {'name': title, 'dtsops.switchover.dts_task_info': dict(options, **args), 'ignore_errors': True}


def everything(run):
    return run.stdout + run.stderr + json.dumps(run.results)


@pytest.fixture
def job(emulator):
    return emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=0)


def endpoint_only(dts_options):
    return dict((key, dts_options[key]) for key in ('endpoint', 'protocol'))


# -- credentials ----------------------------------------------------------------------------------

def test_wrong_secret_names_the_sources_and_never_shows_the_secret(emulator, dts_options, job):
    wrong = 'not-the-secret-%s' % uuid.uuid4().hex
    run = play([read_task(dict(dts_options, access_key_secret=wrong), job_id=job.job_id)], verbosity=3)
    result = run.task('read')
    assert run.status('read') == 'failed'
    assert result['msg'] == ('DTS rejected the credentials: the signature does not match: the AccessKey secret is not the one of this '
                             'AccessKey ID (SignatureDoesNotMatch). Used AccessKey ID LTAI****y01 (from the access_key_id option) and the '
                             'AccessKey secret from the access_key_secret option.')
    assert result['error']['kind'] == 'credentials'
    text = everything(run)
    assert wrong not in text and DTS_ACCESS_KEY_SECRET not in text
    assert [request['code'] for request in emulator.requests] == ['SignatureDoesNotMatch']


def test_unknown_access_key(emulator, dts_options, job):
    run = play([read_task(dict(dts_options, access_key_id='LTAI5tUnknownKey9999'), job_id=job.job_id)])
    assert run.task('read')['msg'] == ('DTS rejected the credentials: the AccessKey ID does not exist or is disabled '
                                       '(InvalidAccessKeyId.NotFound). Used AccessKey ID LTAI****999 (from the access_key_id option) and '
                                       'the AccessKey secret from the access_key_secret option.')


@pytest.mark.parametrize('names', [
    ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_REGION_ID'),
    ('ALICLOUD_ACCESS_KEY', 'ALICLOUD_SECRET_KEY', 'ALICLOUD_REGION'),
    ('ALICLOUD_ACCESS_KEY_ID', 'ALICLOUD_SECRET_ACCESS_KEY', 'ALICLOUD_REGION_ID'),
])
def test_credentials_from_the_environment(emulator, dts_options, job, names):
    key_name, secret_name, region_name = names
    good = {key_name: DTS_ACCESS_KEY_ID, secret_name: DTS_ACCESS_KEY_SECRET, region_name: dts_options['region']}
    wrong_secret = 'wrong-env-secret-%s' % uuid.uuid4().hex
    ok = play([read_task(endpoint_only(dts_options), job_id=job.job_id)], env=good)
    assert ok.status('read') == 'ok', ok
    assert ok.task('read')['jobs'][0]['job_id'] == job.job_id
    assert emulator.requests[-1]['access_key_id'] == DTS_ACCESS_KEY_ID

    bad = play([read_task(endpoint_only(dts_options), job_id=job.job_id)], env=dict(good, **{secret_name: wrong_secret}), verbosity=3)
    assert bad.task('read')['msg'] == ('DTS rejected the credentials: the signature does not match: the AccessKey secret is not the one of '
                                       'this AccessKey ID (SignatureDoesNotMatch). Used AccessKey ID LTAI****y01 (from the environment '
                                       'variable %s) and the AccessKey secret from the environment variable %s.' % (key_name, secret_name))
    assert wrong_secret not in everything(bad)


def test_security_tokens(emulator, dts_options, job):
    token = 'valid-token-%s' % uuid.uuid4().hex
    expired = 'expired-token-%s' % uuid.uuid4().hex
    emulator.issue_sts_token('STS.TempKey0000000002', 'temp-secret-0002', token)
    emulator.issue_sts_token('STS.TempKey0000000003', 'temp-secret-0003', expired, expired=True)
    temporary = dict(dts_options, access_key_id='STS.TempKey0000000002', access_key_secret='temp-secret-0002', security_token=token)
    old = dict(dts_options, access_key_id='STS.TempKey0000000003', access_key_secret='temp-secret-0003')
    run = play([read_task(temporary, 'valid', job_id=job.job_id), read_task(old, 'expired', job_id=job.job_id)],
               env={'ALICLOUD_SECURITY_TOKEN': expired}, verbosity=3)
    assert run.status('valid') == 'ok'
    assert run.task('expired')['msg'] == ('DTS rejected the credentials: the security token has expired: get a new STS token '
                                          '(InvalidSecurityToken.Expired). Used AccessKey ID STS.****003 (from the access_key_id option), '
                                          'the AccessKey secret from the access_key_secret option and a security token from the environment '
                                          'variable ALICLOUD_SECURITY_TOKEN.')
    text = everything(run)
    for secret in (token, expired, 'temp-secret-0002', 'temp-secret-0003'):
        assert secret not in text


def test_missing_credentials_say_where_to_put_them(emulator, dts_options):
    run = play([read_task(endpoint_only(dts_options), job_id='any')])
    assert run.task('read')['msg'] == (
        'DTS needs an AccessKey ID (the access_key_id option, or ALIBABA_CLOUD_ACCESS_KEY_ID, ALICLOUD_ACCESS_KEY or '
        'ALICLOUD_ACCESS_KEY_ID); an AccessKey secret (the access_key_secret option, or ALIBABA_CLOUD_ACCESS_KEY_SECRET, '
        'ALICLOUD_SECRET_KEY or ALICLOUD_SECRET_ACCESS_KEY); a region (the region option, or ALIBABA_CLOUD_REGION_ID, '
        'ALICLOUD_REGION or ALICLOUD_REGION_ID).')
    assert emulator.requests == []


def test_module_defaults_for_the_dts_group(emulator, dts_options, job):
    playbook = [{'hosts': 'localhost', 'gather_facts': False,
                 'module_defaults': {'group/dtsops.switchover.dts': dts_options},
                 'tasks': [{'name': 'info', 'dtsops.switchover.dts_task_info': {'job_id': job.job_id}},
                           {'name': 'wait', 'dtsops.switchover.dts_wait_undelayed': {'job_id': job.job_id}},
                           {'name': 'reverse', 'dtsops.switchover.dts_reverse_task': {'job_id': job.job_id, 'start': False}},
                           {'name': 'pause', 'dtsops.switchover.dts_task': {'job_id': job.job_id, 'state': 'paused'}}]}]
    run = run_playbook(playbook, env=CLEAN)
    assert run.rc == 0, run
    assert run.task('reverse')['created'] is True


# -- endpoints ------------------------------------------------------------------------------------

def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint(dts_options):
    port = closed_port()
    run = play([read_task(dict(dts_options, endpoint='127.0.0.1:%d' % port, api_retry_timeout=1), job_id='any')])
    message = run.task('read')['msg']
    assert re.match(r'^Cannot reach the DTS endpoint http://127\.0\.0\.1:%d for DescribeDtsJobDetail: connection refused \(\d+ attempts '
                    r'over \d+\.\d s; api_retry_timeout is 1 s\)\. Check endpoint, protocol, region and the network\.$' % port, message), message
    assert run.task('read')['error']['kind'] == 'unreachable'


def test_https_to_a_plain_http_endpoint(emulator, dts_options):
    run = play([read_task(dict(dts_options, protocol='https'), job_id='any')])
    assert run.task('read')['msg'] == ('Cannot talk to the DTS endpoint https://%s: TLS failed (WRONG_VERSION_NUMBER: wrong version '
                                       'number). For a plain HTTP endpoint set protocol: http.' % emulator.endpoint)


@pytest.mark.parametrize('endpoint, protocol, message', [
    ('http://{endpoint}', None, None),
    ('http://{endpoint}', 'https', 'endpoint http://{endpoint} says http but protocol is https: drop the scheme from endpoint or make '
                                   'them agree.'),
    ('{endpoint}/dts', 'http', "endpoint '{endpoint}/dts' is not a host name with an optional port (for example dts.aliyuncs.com or "
                               "127.0.0.1:8080)."),
])
def test_endpoint_forms(emulator, dts_options, job, endpoint, protocol, message):
    options = dict(dts_options, endpoint=endpoint.format(endpoint=emulator.endpoint), protocol=protocol)
    if protocol is None:
        del options['protocol']
    run = play([read_task(options, job_id=job.job_id)])
    if message is None:
        assert run.status('read') == 'ok', run.task('read')
    else:
        assert run.task('read')['msg'] == message.format(endpoint=emulator.endpoint)


def test_missing_sdk_is_reported_with_the_package_name(dts_options):
    shadow = tempfile.mkdtemp(prefix='dtsops-nosdk-')
    os.mkdir(os.path.join(shadow, 'alibabacloud_dts20200101'))
    with open(os.path.join(shadow, 'alibabacloud_dts20200101', '__init__.py'), 'w') as stream:
        stream.write("raise ImportError('No module named alibabacloud_dts20200101')\n")
    run = play([read_task(dts_options, job_id='any')], env={'PYTHONPATH': shadow + os.pathsep + os.environ.get('PYTHONPATH', '')})
    message = run.task('read')['msg']
    assert message.startswith('Failed to import the required Python library (alibabacloud-dts20200101) on '), message


# -- retries --------------------------------------------------------------------------------------

@pytest.mark.parametrize('fault, answers', [
    ({'kind': 'throttle', 'count': 2}, [400, 400, 200]),
    ({'kind': 'throttle', 'retry_after': 1}, [400, 200]),
    ({'kind': 'server_error', 'count': 2, 'status': 503}, [503, 503, 200]),
    ({'kind': 'drop'}, [None, 200]),
    ({'kind': 'slow', 'seconds': 3}, ['slow', 200]),
])
def test_reads_are_retried(emulator, dts_options, job, fault, answers):
    emulator.add_fault(action='DescribeDtsJobDetail', job_id=job.job_id, **fault)
    run = play([read_task(dict(dts_options, api_timeout=1), job_id=job.job_id)])
    assert run.status('read') == 'ok', run
    assert run.task('read')['jobs'][0]['job_id'] == job.job_id
    seen = [request['http_status'] for request in emulator.calls('DescribeDtsJobDetail')]
    if answers[0] == 'slow':
        # The slow answer came after the client gave up (api_timeout 1 s): a second request got it.
        assert len(seen) == 2 and seen[-1] == 200
    else:
        assert seen == answers


def test_throttled_past_the_deadline(emulator, dts_options, job):
    emulator.add_fault(action='DescribeDtsJobDetail', kind='throttle', count=None)
    run = play([read_task(dict(dts_options, api_retry_timeout=2), job_id=job.job_id)])
    message = run.task('read')['msg']
    match = re.match(r'^DTS throttled DescribeDtsJobDetail \(Throttling\.User: Request was denied due to user flow control\.\) \((\d+) '
                     r'attempts over \d+\.\d s; api_retry_timeout is 2 s\)\. Retry later, poll less often or raise api_retry_timeout\.$',
                     message)
    assert match, message
    assert int(match.group(1)) == len(emulator.calls('DescribeDtsJobDetail')) >= 2


@pytest.mark.parametrize('fault, message', [
    ({'kind': 'bad_json'}, 'DTS DescribeDtsJobDetail failed: the answer is not JSON.'),
    ({'kind': 'business_error', 'err_code': 'Forbidden.RAM', 'err_message': 'User not authorized to operate on the specified resource.'},
     'The RAM identity of AccessKey ID LTAI****y01 may not call dts:DescribeDtsJobDetail (Forbidden.RAM: User not authorized to operate '
     'on the specified resource.). Grant it in a RAM policy.'),
    ({'kind': 'business_error', 'err_code': 'InternalError', 'err_message': 'The request processing has failed due to some unknown error.'},
     'DTS DescribeDtsJobDetail failed: InternalError: The request processing has failed due to some unknown error (request id '),
])
def test_other_errors_are_not_retried(emulator, dts_options, job, fault, message):
    emulator.add_fault(action='DescribeDtsJobDetail', job_id=job.job_id, **fault)
    run = play([read_task(dts_options, job_id=job.job_id)])
    assert run.task('read')['msg'].startswith(message)
    assert len(emulator.calls('DescribeDtsJobDetail')) == 1
