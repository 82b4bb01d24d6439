"""The real SDK pointed at an emulator: typed calls and raw call_api (JSON types kept)."""

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_dts20200101.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.utils import Utils
from darabonba.runtime import RuntimeOptions

AK = 'LTAI5tUnitTestKey'
SECRET = 'unit-test-secret'
REGION = 'cn-hangzhou'


def sdk(emulator, access_key_id=AK, secret=SECRET, token=None, v1=False, read_timeout=10000):
    """A client for ``emulator`` signing with ACS3-HMAC-SHA256, or the legacy HMAC-SHA1 with v1."""
    config = open_api_models.Config(access_key_id=access_key_id, access_key_secret=secret, security_token=token, region_id=REGION,
                                    endpoint=emulator.endpoint, protocol='http', read_timeout=read_timeout, connect_timeout=5000)
    if v1:
        config.signature_algorithm = 'v2'
    return Client(config)


def raw(client, action, query=None, body=None):
    """(HTTP status, body dict exactly as sent) through call_api."""
    params = utils_models.Params(action=action, version='2020-01-01', protocol='HTTPS', pathname='/', method='POST', auth_type='AK',
                                 style='RPC', req_body_type='formData', body_type='json')
    request = utils_models.OpenApiRequest(query=Utils.query(query or {}), body=body)
    result = client.call_api(params, request, RuntimeOptions())
    return result['statusCode'], result['body']


def detail(client, job_id):
    return client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job_id, region_id=REGION)).body
