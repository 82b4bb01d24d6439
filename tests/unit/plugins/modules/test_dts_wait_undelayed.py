"""dts_wait_undelayed: option checks, run in-process before any API call."""

import pytest

from ansible_collections.dtsops.switchover.plugins.modules import dts_wait_undelayed

OPTIONS = {'access_key_id': 'LTAI5tExampleKeyId0001', 'access_key_secret': 'secret', 'region': 'cn-hangzhou',
           'endpoint': '127.0.0.1:9', 'protocol': 'http', 'job_id': 'j1'}


@pytest.mark.parametrize('args, message', [
    ({'stable_for': 60, 'timeout': 30}, 'stable_for (60 s) is longer than timeout (30 s): the wait could never succeed.'),
    ({'stable_for': 0.5, 'timeout': 0.25}, 'stable_for (0.5 s) is longer than timeout (0.25 s): the wait could never succeed.'),
    ({'poll_interval': -1}, 'poll_interval must be more than 0 seconds, got -1.'),
    ({'max_delay': -0.5}, 'max_delay must be 0 or more seconds, got -0.5.'),
    ({'timeout': -3}, 'timeout must be 0 or more seconds, got -3.'),
    ({'job_id': ''}, 'job_id must not be empty.'),
    ({'protocol': 'ftp'}, 'value of protocol must be one of: http, https, got: ftp'),
])
def test_bad_options(run_module, args, message):
    result = run_module(dts_wait_undelayed, dict(OPTIONS, **args))
    assert result['failed'] is True
    assert result['msg'] == message


def test_secret_option_is_masked_in_the_invocation(run_module):
    result = run_module(dts_wait_undelayed, dict(OPTIONS, poll_interval=0))
    assert result['invocation']['module_args']['access_key_secret'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
