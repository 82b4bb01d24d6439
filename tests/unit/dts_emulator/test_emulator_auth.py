"""Signatures (ACS3-HMAC-SHA256 and legacy HMAC-SHA1), AccessKeys and STS tokens, with the real SDK."""

import pytest
import requests

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_tea_openapi.exceptions import ClientException

from emulator_sdk import AK, raw, sdk


def describe(client, job_id):
    return client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job_id)).body


@pytest.fixture
def job(emu):
    return emu.add_job(status='Migrating')


@pytest.fixture
def tamper(monkeypatch):
    """tamper(fn): fn(prepared_request) edits every request after the SDK signed it."""
    original = requests.Session.send

    def install(edit):
        def send(session, prepared, **kwargs):
            edit(prepared)
            return original(session, prepared, **kwargs)
        monkeypatch.setattr(requests.Session, 'send', send)
    return install


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_valid_signatures_are_accepted(emu, job, v1):
    assert describe(sdk(emu, v1=v1), job.job_id).status == 'Migrating'
    entry = emu.requests[-1]
    assert entry['auth'] == ('v1' if v1 else 'acs3') and entry['access_key_id'] == AK


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_signed_form_body_is_accepted(emu, v1):
    body = raw(sdk(emu, v1=v1), 'ConfigureDtsJob', {
        'DtsJobName': 'signed', 'JobType': 'MIGRATION', 'SourceEndpointInstanceType': 'RDS', 'DestinationEndpointInstanceType': 'RDS',
        'StructureInitialization': False, 'DataInitialization': False, 'DataSynchronization': True},
        body={'DbList': '{"shop":{"name":"shop","all":true}}', 'Reserve': '{"a": "b c"}'})[1]
    assert body['Success'] == 'true'
    assert emu.job(body['DtsJobId']).db_object == '{"shop":{"name":"shop","all":true}}'


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_wrong_secret_is_refused_with_the_string_to_sign(emu, job, v1):
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, secret='not-the-secret', v1=v1), job.job_id)
    error = raised.value
    assert error.status_code == 400 and error.code == 'SignatureDoesNotMatch'
    message = error.data['Message']
    assert message.startswith('Specified signature is not matched with our calculation. server string to sign is:')
    assert ('ACS3-HMAC-SHA256\n' if not v1 else 'POST&%2F&') in message
    assert 'not-the-secret' not in message and 'unit-test-secret' not in message


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_tampered_query_is_refused(emu, job, tamper, v1):
    other = emu.add_job(status='Migrating')
    tamper(lambda prepared: setattr(prepared, 'url', prepared.url.replace(job.job_id, other.job_id)))
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, v1=v1), job.job_id)
    assert raised.value.code == 'SignatureDoesNotMatch'
    assert emu.requests[-1]['params']['DtsJobId'] == other.job_id  # the edit reached the server


def test_tampered_body_is_refused(emu, tamper):
    def edit(prepared):
        prepared.body = prepared.body.replace(b'shop', b'hack')
    tamper(edit)
    with pytest.raises(ClientException) as raised:
        raw(sdk(emu), 'ConfigureDtsJob', {'DtsJobName': 'x'}, body={'DbList': '{"shop":{"all":true}}'})
    assert raised.value.code == 'SignatureDoesNotMatch'
    assert emu.requests[-1]['params']['DbList'] == '{"hack":{"all":true}}'


def test_switching_the_action_header_is_refused(emu, job, tamper):
    def edit(prepared):
        prepared.headers['x-acs-action'] = 'StopDtsJob'
    tamper(edit)
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu), job.job_id)
    assert raised.value.code == 'SignatureDoesNotMatch'
    assert emu.job(job.job_id).status == 'Migrating'


def test_unsigned_acs_header_is_refused(emu, job, tamper):
    def edit(prepared):
        prepared.headers['x-acs-extra'] = 'smuggled'
    tamper(edit)
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu), job.job_id)
    assert raised.value.status_code == 400 and raised.value.code == 'IncompleteSignature'
    assert 'x-acs-extra' in raised.value.data['Message']


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_unknown_access_key(emu, job, v1):
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, access_key_id='LTAI5tUnknown', v1=v1), job.job_id)
    error = raised.value
    assert error.status_code == 404 and error.code == 'InvalidAccessKeyId.NotFound'
    assert error.data['Message'] == 'Specified access key is not found.'
    assert set(error.data) >= {'RequestId', 'HostId', 'Code', 'Message', 'Recommend'}


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_sts_token(emu, job, v1):
    emu.issue_sts_token('STS.tmpkey', 'tmp-secret', 'token-abc')
    assert describe(sdk(emu, 'STS.tmpkey', 'tmp-secret', token='token-abc', v1=v1), job.job_id).success is True
    entry = emu.requests[-1]
    assert entry['access_key_id'] == 'STS.tmpkey'
    if v1:
        assert entry['params']['SecurityToken'] == 'token-abc'


@pytest.mark.parametrize('v1', [False, True], ids=['acs3', 'v1'])
def test_expired_sts_token(emu, job, v1):
    emu.issue_sts_token('STS.oldkey', 'old-secret', 'token-old', expired=True)
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, 'STS.oldkey', 'old-secret', token='token-old', v1=v1), job.job_id)
    assert raised.value.status_code == 403 and raised.value.code == 'InvalidSecurityToken.Expired'
    assert raised.value.data['Message'] == 'Specified SecurityToken is expired.'


def test_token_can_expire_later(emu, job):
    emu.issue_sts_token('STS.key', 'secret', 'token-1')
    client = sdk(emu, 'STS.key', 'secret', token='token-1')
    assert describe(client, job.job_id).success is True
    emu.issue_sts_token('STS.key', 'secret', 'token-1', expired=True)
    with pytest.raises(ClientException) as raised:
        describe(client, job.job_id)
    assert raised.value.code == 'InvalidSecurityToken.Expired'


@pytest.mark.parametrize('access_key_id, secret, token, code', [
    ('STS.key', 'secret', 'no-such-token', 'InvalidSecurityToken.Malformed'),
    (AK, 'unit-test-secret', 'token-1', 'InvalidSecurityToken.MismatchWithAccessKey'),
    ('STS.key', 'secret', None, 'InvalidAccessKeyId.NotFound'),
    ('STS.key', 'wrong', 'token-1', 'SignatureDoesNotMatch'),
])
def test_sts_mistakes(emu, job, access_key_id, secret, token, code):
    emu.issue_sts_token('STS.key', 'secret', 'token-1')
    with pytest.raises(ClientException) as raised:
        describe(sdk(emu, access_key_id, secret, token=token), job.job_id)
    assert raised.value.code == code
