"""db_caught_up with fake engines: the token round trip, check mode, token objects, failures."""

import json
import re

import pytest

from ansible_collections.dtsops.switchover.plugins.modules import db_caught_up

from test_db_fake_engine import PASSWORD, add_server, connection, fake_engines  # noqa: F401  pylint: disable=unused-import

TABLE = 'shop.dtsops_switchover_token'


def args(**extra):
    values = dict(source=connection(3306), destination=connection(3307), token_object=TABLE, poll_interval=0.01, timeout=5)
    values.update(extra)
    return values


@pytest.fixture
def pair(fake_engines):  # noqa: F811  pylint: disable=redefined-outer-name
    source, destination = add_server(3306), add_server(3307)
    source.tables[TABLE] = []
    destination.tables[TABLE] = []
    return source, destination


def replicate_after(source, reads, name=TABLE, to_name=None):
    """on_read hook for the destination: copy the source's tokens after ``reads`` reads, the way
    replication would deliver them."""
    state = {'reads': 0}

    def hook(destination, dummy_name, dummy_token):
        state['reads'] += 1
        if state['reads'] > reads and name in source.tables:
            destination.tables.setdefault(to_name or name, [])[:] = list(source.tables[name])
    return hook


@pytest.mark.parametrize('extra, message', [
    (dict(poll_interval=0), 'poll_interval must be more than 0 seconds, got 0.'),
    (dict(timeout=-1), 'timeout must be 0 or more seconds, got -1.'),
    (dict(token_object=' '), 'token_object must not be empty.'),
    (dict(token=''), 'token must not be empty.'),
    (dict(destination={'login_port': 3307}), 'missing required arguments: engine found in destination'),
    (dict(source=dict(connection(3306), engine='db2')),
     'value of engine must be one of: mongodb, mysql, oracle, postgresql, redis, sqlserver, got: db2 found in source'),
])
def test_bad_options_fail_with_one_clear_message(run_module, pair, extra, message):
    result = run_module(db_caught_up, args(**extra))
    assert result['failed']
    assert message in result['msg']
    assert pair[0].log == []


def test_token_written_on_the_source_appears_on_the_destination(run_module, pair):
    source, destination = pair
    destination.on_read = replicate_after(source, reads=2)
    result = run_module(db_caught_up, args())
    assert not result.get('failed'), result
    assert result['changed'] is True and result['written'] is True and result['created'] is False
    assert re.match(r'^dtsops-\d{8}T\d{6}Z-[0-9a-f]{12}$', result['token'])
    assert source.tables[TABLE] == [result['token']] == destination.tables[TABLE]
    assert result['polls'] == 3 and [s['ready'] for s in result['samples']] == [False, False, True]
    assert result['latency'] >= 0 and result['seen_time'] >= result['write_time']
    assert result['write_time_iso'].endswith('Z') and result['seen_time_iso'].endswith('Z')
    assert result['statements'] == ["INSERT INTO %s (token, written_at) VALUES ('%s', NOW(6))" % (TABLE, result['token'])]
    assert result['source_object'] == result['destination_object'] == TABLE


def test_given_token_and_another_name_on_the_destination(run_module, pair):
    source, destination = pair
    destination.tables['public.token'] = []
    destination.on_read = replicate_after(source, reads=0, to_name='public.token')
    result = run_module(db_caught_up, args(token='cutover-42', destination_token_object='public.token'))
    assert result['token'] == 'cutover-42' and result['destination_object'] == 'public.token'
    assert destination.tables['public.token'] == ['cutover-42'] and result['polls'] == 1


def test_heterogeneous_engines(run_module, pair):
    source, destination = pair
    destination.on_read = replicate_after(source, reads=0)
    result = run_module(db_caught_up, args(destination=connection(3307, engine='postgresql')))
    assert result['written'] is True and result['polls'] == 1


def test_timeout_says_what_was_written_and_where_it_looked(run_module, pair):
    result = run_module(db_caught_up, args(token='cutover-43', timeout=0.05))
    assert result['failed']
    assert re.match(r'^The token cutover-43, written at \S+Z into shop.dtsops_switchover_token on the source mysql 127.0.0.1:3306, '
                    r'did not appear in shop.dtsops_switchover_token on the destination mysql 127.0.0.1:3307 within 0.05 seconds '
                    r'\(\d+ reads\). The migration is not caught up, or shop.dtsops_switchover_token is not part of the migration '
                    r'task.$', result['msg']), result['msg']
    assert result['written'] is True and pair[0].tables[TABLE] == ['cutover-43']


def test_check_mode_writes_nothing_and_reports_the_write(run_module, pair):
    source, destination = pair
    result = run_module(db_caught_up, args(token='cutover-44'), check_mode=True)
    assert not result.get('failed'), result
    assert result['changed'] is True and result['written'] is False and result['polls'] == 0
    assert result['statements'] == ["INSERT INTO %s (token, written_at) VALUES ('cutover-44', NOW(6))" % TABLE]
    assert source.tables[TABLE] == [] and not [s for s in source.log if s.startswith('INSERT')]
    assert destination.log == []


def test_missing_source_table_without_create(run_module, pair):
    del pair[0].tables[TABLE]
    result = run_module(db_caught_up, args())
    assert result['failed']
    assert result['msg'] == ('Error while checking the token object shop.dtsops_switchover_token on the mysql server at '
                             '127.0.0.1:3306: the token table shop.dtsops_switchover_token does not exist on 127.0.0.1:3306; '
                             'create it or set create=true')


def test_missing_destination_table_without_create(run_module, pair):
    del pair[1].tables[TABLE]
    result = run_module(db_caught_up, args())
    assert result['failed'] and 'on the mysql server at 127.0.0.1:3307: the token table' in result['msg']
    assert pair[0].tables[TABLE] == [], 'nothing may be written when the proof cannot work'


def test_create_makes_the_source_table_and_waits_for_the_destination_one(run_module, pair):
    source, destination = pair
    del source.tables[TABLE]
    del destination.tables[TABLE]
    destination.on_read = replicate_after(source, reads=2)
    result = run_module(db_caught_up, args(create=True))
    assert not result.get('failed'), result
    assert result['created'] is True and result['polls'] == 3
    assert result['statements'][0].startswith('CREATE TABLE shop.dtsops_switchover_token')


def test_create_timeout_reports_the_last_read_error(run_module, pair):
    del pair[0].tables[TABLE]
    del pair[1].tables[TABLE]
    result = run_module(db_caught_up, args(create=True, timeout=0.05))
    assert result['failed']
    assert result['msg'].endswith('The last read failed: the token table shop.dtsops_switchover_token does not exist on 127.0.0.1:3307.')


def test_check_mode_with_create_creates_nothing(run_module, pair):
    del pair[0].tables[TABLE]
    result = run_module(db_caught_up, args(create=True), check_mode=True)
    assert result['created'] is True and TABLE not in pair[0].tables
    assert [s.split(' ')[0] for s in result['statements']] == ['CREATE', 'INSERT']


def test_unreachable_destination_and_wrong_source_password(run_module, pair):
    unreachable = run_module(db_caught_up, args(destination=connection(3999)))
    assert unreachable['failed']
    assert unreachable['msg'].startswith('Cannot connect to the destination mysql at 127.0.0.1:3999: cannot reach')
    wrong = run_module(db_caught_up, args(source=connection(3306, login_password='x' + PASSWORD)))
    assert wrong['msg'].startswith("Cannot connect to the source mysql at 127.0.0.1:3306: access denied")
    for result in (unreachable, wrong):
        assert PASSWORD not in json.dumps(result)
