"""db_compare's option checks and connection failures, in-process (the comparisons themselves run
against real servers in tests/integration/test_db_compare_servers.py and against the fakes in
tests/unit/plugins/module_utils/compare)."""

import socket

import pytest

from ansible_collections.dtsops.switchover.plugins.modules import db_compare

SECRET = 'S3cret-pw-never-shown'


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def args(**extra):
    connection = dict(engine='mysql', login_host='127.0.0.1', login_port=closed_port(), login_password=SECRET, connect_timeout=2)
    values = dict(source=connection, destination=dict(connection), objects=['shop.orders'])
    values.update(extra)
    return values


@pytest.mark.parametrize('extra, message', [
    (dict(chunk_size=0), 'chunk_size must be 1 or more, got 0.'),
    (dict(max_differences=0), 'max_differences must be 1 or more, got 0.'),
    (dict(max_rows_per_second=-5), 'max_rows_per_second must be 0 or more, got -5.'),
    (dict(timeout=0), 'timeout must be more than 0 seconds, got 0.0.'),
    (dict(objects=['shop.orders', ' ']), 'objects must not contain an empty name.'),
    (dict(objects=None), 'Name what to compare: objects, or job_id (the DTS task whose objects are compared).'),
    (dict(objects=[]), 'Name what to compare: objects, or job_id (the DTS task whose objects are compared).'),
    (dict(method='rows'), 'value of method must be one of: checksum, count, got: rows'),
    (dict(no_primary_key='ignore'), 'value of no_primary_key must be one of: count, skip, fail, got: ignore'),
])
def test_bad_options_fail_with_one_clear_message(run_module, extra, message):
    result = run_module(db_compare, args(**extra))
    assert result['failed'] and message in result['msg'], result['msg']
    assert SECRET not in str(result)


def test_checksum_needs_one_engine_on_both_sides(run_module):
    values = args()
    values['destination'] = dict(values['destination'], engine='postgresql')
    result = run_module(db_compare, values)
    assert result['failed']
    assert result['msg'] == ("method checksum compares the servers' own hashes, so both sides must be of one engine (source mysql, "
                             "destination postgresql): use method count across engines.")


def test_job_id_without_credentials_says_which_are_missing(run_module, monkeypatch):
    for name in ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
                 'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY', 'ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID'):
        monkeypatch.delenv(name, raising=False)
    result = run_module(db_compare, args(objects=None, job_id='dtsabc123'))
    assert result['failed'] and 'access_key_id' in result['msg']


@pytest.mark.parametrize('check_mode', [False, True])
def test_unreachable_source_is_named(run_module, check_mode):
    values = args()
    result = run_module(db_compare, values, check_mode=check_mode)
    assert result['failed']
    assert result['msg'].startswith('Cannot connect to the source mysql at 127.0.0.1:%d: server unreachable'
                                    % values['source']['login_port']), result['msg']
    assert SECRET not in str(result)
