"""The Redis engine against a real Redis server (tests/localdb): sessions, the CLIENT PAUSE keeper,
ACL fences, undo, token. Old servers (no CLIENT PAUSE WRITE, no ACL) are covered by
tests/unit/plugins/module_utils/engines/test_redis_versions.py."""

import json
import os
import secrets
import select
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, FenceError
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.redis import RedisEngine

from localdb import RedisServer, free_port
from polling import wait_for


def client(app, **kwargs):
    """The application's client, without redis-py's retries (a retry would hide a dropped write)."""
    kwargs.setdefault('retry', Retry(NoBackoff(), 0))
    return app.connect(**kwargs)


class BackgroundWrite(object):
    """SET key value from a thread: under CLIENT PAUSE WRITE it waits until the pause ends."""

    def __init__(self, app, key, value):
        self.conn = client(app, socket_timeout=30)
        self.client_id = self.conn.client_id()
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(key, value))
        self.thread.start()

    def _run(self, key, value):
        try:
            self.result = self.conn.set(key, value)
        except redis_py.RedisError as exc:
            self.result = exc

    @property
    def waiting(self):
        return self.thread.is_alive()

    def finish(self, timeout=15):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), 'the write is still blocked'
        self.conn.close()
        return self.result


def keeper_stopped(engine, keeper):
    """The keeper's status once it has stopped and exited, else None."""
    status = engine.keeper_status(keeper)
    if status['state'] and status['state']['status'] == 'stopped' and not status['alive']:
        return status
    return None


def client_ids(server):
    return [int(c['id']) for c in server.connect().client_list()]


def blocked_clients(server):
    return [c for c in server.connect().client_list() if 'b' in c['flags']]


@pytest.fixture(autouse=True)
def reset_server(redis_server):
    """A test that fails half-way must not leave the shared server paused for the next one."""
    yield
    redis_server.reset_instance_state()


@pytest.fixture
def fast(tmp_path):
    """Keeper options: short timings (the defaults are minutes), state files in the test's directory."""
    return {'lease': 60, 'pause_timeout': 1, 'renew_interval': 0.25, 'state_dir': str(tmp_path)}


@pytest.fixture
def migration(redis_server):
    params = redis_server.create_account('dts_migration', 'dts-pass-1')
    yield params
    redis_server.drop_account('dts_migration')


def test_server_info(redis_server, engines):
    info = engines(RedisEngine, redis_server.params).server_info()
    assert info['flavour'] == 'redis'
    assert info['version_info'] >= [6, 2, 0]
    assert info['client_pause_write'] is True and info['acl'] is True


def test_sessions_tell_writers_from_readers(redis_server, redis_app, engines):
    writer, reader, in_multi = client(redis_app), client(redis_app), client(redis_app)
    # CLIENT ID first: CLIENT LIST shows the last command of each client.
    ids = dict((name, conn.client_id()) for name, conn in (('writer', writer), ('reader', reader), ('multi', in_multi)))
    writer.set(redis_app.prefix + 'k', 'v')
    reader.get(redis_app.prefix + 'k')
    in_multi.execute_command('MULTI')
    in_multi.execute_command('SET', redis_app.prefix + 'm', '1')
    engine = engines(RedisEngine, redis_server.params)

    by_id = dict((s['id'], s) for s in engine.sessions())

    assert by_id[ids['writer']]['writing'] is True
    assert by_id[ids['writer']]['command'] == 'set'
    assert by_id[ids['reader']]['writing'] is False
    assert by_id[ids['reader']]['idle'] is True  # between commands, nothing queued
    assert by_id[ids['writer']]['state'] == 'active' and by_id[ids['writer']]['idle'] is False
    assert by_id[ids['multi']]['writing'] is True
    assert by_id[ids['multi']]['state'] == 'multi'
    assert by_id[ids['multi']]['queued_commands'] == 1
    assert by_id[ids['writer']]['user'] == redis_app.user
    assert by_id[ids['writer']]['client'].startswith('127.0.0.1:')
    own = [s for s in by_id.values() if s['own']]
    assert len(own) == 1 and own[0]['name'] == 'dtsops.switchover'
    json.dumps(list(by_id.values()))
    in_multi.execute_command('DISCARD')
    for conn in (writer, reader, in_multi):
        conn.close()


def test_end_sessions_kills_clients_and_check_mode_only_records(redis_server, redis_app, engines):
    victim = client(redis_app)
    victim_id = victim.client_id()
    session = [s for s in engines(RedisEngine, redis_server.params).sessions() if s['id'] == victim_id]

    dry = engines(RedisEngine, redis_server.params, check_mode=True)
    assert dry.end_sessions(session) == [victim_id]
    assert 'CLIENT KILL ID %d' % victim_id in dry.statements
    assert victim.ping()

    assert engines(RedisEngine, redis_server.params).end_sessions(session) == [victim_id]
    assert victim_id not in client_ids(redis_server)
    assert engines(RedisEngine, redis_server.params).end_sessions(session) == []


def test_instance_fence_pauses_writes_beyond_the_timeout_and_drops_them_on_unfence(redis_server, redis_app, migration, engines, fast):
    key = redis_app.prefix + 'fenced'
    engine = engines(RedisEngine, redis_server.params)
    assert engine.fence_state('instance') == {'client_pause': 'unpaused', 'keepers': []}

    record = engine.fence('instance', exclude_users=['dts_migration'], options=fast)

    keeper = record['extra']['keeper']
    assert [(c['before'], c['after']) for c in record['changes']] == [('unpaused', 'paused')]
    assert engine.fence_state('instance') == {'client_pause': 'paused', 'keepers': [keeper['client_name']]}
    assert 'CLIENT PAUSE 1000 WRITE' in engine.statements
    pending = BackgroundWrite(redis_app, key, 'queued')
    wait_for(lambda: blocked_clients(redis_server), 'the write to be paused')
    time.sleep(2.5)  # more than twice the pause timeout: only the keeper's renewals keep it
    assert pending.waiting
    assert [s for s in engine.sessions() if s['user'] == redis_app.user and s['queued_write']][0]['writing'] is False
    reader = redis_server.connect('dts_migration', 'dts-pass-1')
    assert reader.get(key) is None  # reads go on
    reader.close()

    fresh = engines(RedisEngine, redis_server.params)
    restored = fresh.unfence(json.loads(json.dumps(record)))

    assert [c['kind'] for c in restored] == ['client_pause']
    assert restored[0]['dropped_sessions'] == [pending.client_id]
    assert isinstance(pending.finish(), redis_py.ConnectionError)  # the queued write was dropped, not run
    assert redis_server.connect().get(key) is None
    assert fresh.fence_state('instance') == {'client_pause': 'unpaused', 'keepers': []}
    state = fresh.keeper_status(keeper)
    assert state['alive'] is False and state['state']['status'] == 'stopped'
    assert state['state']['renewals'] > 3
    client(redis_app).set(key, 'after unfence')
    assert fresh.unfence(record) == []  # idempotent


def test_queued_writes_can_be_executed_instead(redis_server, redis_app, engines, fast):
    key = redis_app.prefix + 'executed'
    engine = engines(RedisEngine, redis_server.params)
    record = engine.fence('instance', options=dict(fast, queued_writes='execute'))
    pending = BackgroundWrite(redis_app, key, 'queued')
    wait_for(lambda: blocked_clients(redis_server), 'the write to be paused')
    assert engine.unfence(record)[0]['dropped_sessions'] == []
    assert pending.finish() is True
    assert redis_server.connect().get(key) == 'queued'


def test_the_keeper_stops_at_lease_expiry(redis_server, redis_app, engines, fast):
    key = redis_app.prefix + 'lease'
    engine = engines(RedisEngine, redis_server.params)
    record = engine.fence('instance', options=dict(fast, lease=2))
    pending = BackgroundWrite(redis_app, key, 'after lease')
    assert pending.finish() is True  # nobody unfenced: the lease ended the pause
    assert redis_server.connect().get(key) == 'after lease'
    status = wait_for(lambda: keeper_stopped(engine, record['extra']['keeper']), 'the keeper to stop')
    assert status['state']['reason'] == 'lease expired'
    assert engine.fence_state('instance')['client_pause'] == 'unpaused'
    assert engine.unfence(record) == []  # nothing left to restore


def test_the_keeper_outlives_the_process_that_fenced_and_a_fresh_one_unfences(redis_server, redis_app, engines, fast):
    script = ('import json, sys\n'
              'from ansible_collections.dtsops.switchover.plugins.module_utils.engines.redis import RedisEngine\n'
              'params, options = json.loads(sys.stdin.read())\n'
              'engine = RedisEngine(params).connect()\n'
              'print(json.dumps(engine.fence("instance", options=options)))\n'
              'sys.stdout.flush()\n'
              'import os; os._exit(0)\n')  # no cleanup at all, as if the controller died
    done = subprocess.run([sys.executable, '-c', script], input=json.dumps([redis_server.params, fast]), capture_output=True,
                          text=True, timeout=60, check=True)
    record = json.loads(done.stdout)
    keeper = record['extra']['keeper']
    engine = engines(RedisEngine, redis_server.params)
    assert engine.keeper_status(keeper)['alive'] is True
    pending = BackgroundWrite(redis_app, redis_app.prefix + 'orphan', 'queued')
    time.sleep(1.5)
    assert pending.waiting

    # The keeper got the password on stdin: neither its command line nor its environment holds it.
    with open('/proc/%d/cmdline' % keeper['pid'], 'rb') as stream:
        assert redis_server.password.encode() not in stream.read()
    with open('/proc/%d/environ' % keeper['pid'], 'rb') as stream:
        assert redis_server.password.encode() not in stream.read()

    assert engine.unfence(record)
    assert isinstance(pending.finish(), redis_py.ConnectionError)
    assert engine.keeper_status(keeper)['alive'] is False


def test_unfence_from_another_host_stops_the_keeper_through_the_server(redis_server, redis_app, engines, fast):
    engine = engines(RedisEngine, redis_server.params)
    record = engine.fence('instance', options=fast)
    keeper = record['extra']['keeper']
    elsewhere = json.loads(json.dumps(record))
    elsewhere['extra']['keeper']['host'] = 'another-controller'  # no local pid or stop file to use

    assert engines(RedisEngine, redis_server.params).unfence(elsewhere)

    status = wait_for(lambda: keeper_stopped(engine, keeper), 'the keeper to stop')
    assert status['state']['reason'] == 'connection closed by the server'
    client(redis_app).set(redis_app.prefix + 'k', 'writable again')


def test_a_second_instance_fence_is_idempotent(redis_server, engines, fast):
    engine = engines(RedisEngine, redis_server.params)
    first = engine.fence('instance', options=fast)
    second = engines(RedisEngine, redis_server.params).fence('instance', options=fast)
    assert [(c['before'], c['after']) for c in second['changes']] == [('paused', 'paused')]
    assert second['extra']['keeper']['nonce'] == first['extra']['keeper']['nonce']
    assert engine.unfence(second) == []
    assert engine.fence_state('instance')['client_pause'] == 'paused'
    assert engine.unfence(first)
    assert engine.fence_state('instance')['client_pause'] == 'unpaused'


def test_keeper_timings_are_checked(redis_server, engines):
    engine = engines(RedisEngine, redis_server.params)
    with pytest.raises(EngineError, match='renew_interval .* must be shorter than pause_timeout'):
        engine.fence('instance', options={'pause_timeout': 1, 'renew_interval': 2})
    with pytest.raises(EngineError, match='lease must be a positive number'):
        engine.fence('instance', options={'lease': -1})
    with pytest.raises(EngineError, match='queued_writes must be one of drop, execute'):
        engine.fence('instance', options={'queued_writes': 'keep'})
    assert engine.fence_state('instance')['client_pause'] == 'unpaused'


def test_accounts_fence_denies_writes_kills_clients_and_restores_acl_exactly(redis_server, redis_apps, migration, engines):
    app, other = redis_apps.make(2)
    # A user with a selector (Redis 7): the fence must close writes there too.
    redis_server.command('ACL', 'SETUSER', app.user, '(~%ssel:* +@all)' % app.prefix)
    acl_before = sorted(line for line in redis_server.command('ACL', 'LIST') if line.split()[1] in (app.user, other.user))
    session = client(app)
    session_id = session.client_id()
    engine = engines(RedisEngine, redis_server.params)
    state_before = engine.fence_state('accounts', [app.user, other.user])
    assert state_before[app.user]['writes'] == 'allowed'

    record = engine.fence('accounts', [app.user], exclude_users=['dts_migration'])

    assert [c['target'] for c in record['changes']] == [app.user]
    assert [s['id'] for s in record['ended_sessions']] == [session_id]
    assert session_id not in client_ids(redis_server)
    fresh_client = client(app)
    for key in (app.prefix + 'k', app.prefix + 'sel:k'):
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            fresh_client.set(key, 'v')
    assert fresh_client.get(app.prefix + 'k') is None  # reads go on
    assert engine.fence_state('accounts', [app.user])[app.user]['writes'] == 'denied'
    assert [s for s in engine.sessions() if s['id'] == fresh_client.client_id()][0]['writing'] is False
    client(other).set(other.prefix + 'k', 'other app still writes')
    redis_server.connect('dts_migration', 'dts-pass-1').set(app.prefix + 'k', 'the migration account writes')
    fresh_client.close()

    undo = engines(RedisEngine, redis_server.params)
    assert [c['target'] for c in undo.unfence(json.loads(json.dumps(record)))] == [app.user]
    acl_after = sorted(line for line in redis_server.command('ACL', 'LIST') if line.split()[1] in (app.user, other.user))
    assert acl_after == acl_before
    assert undo.fence_state('accounts', [app.user, other.user]) == state_before
    client(app).set(app.prefix + 'sel:k', 'writes again')
    assert undo.unfence(record) == []
    # No password hash ever leaves the server.
    assert '#' not in json.dumps(record) and '>' not in json.dumps(record)


def test_force_unlock_without_the_record(redis_server, redis_apps, engines, fast):
    app, other = redis_apps.make(2)
    acl_before = [line for line in redis_server.command('ACL', 'LIST') if line.split()[1] == app.user]
    engine = engines(RedisEngine, redis_server.params)
    paused = engine.fence('instance', options=fast)
    engine.fence('accounts', [app.user])  # both records are lost
    pending = BackgroundWrite(other, other.prefix + 'forced', 'queued')
    wait_for(lambda: blocked_clients(redis_server), 'the write to be paused')

    fresh = engines(RedisEngine, redis_server.params)
    # No state_dir either: the keeper's state file is not found, its process is (by its nonce).
    instance = fresh.unfenced_record('instance')
    accounts = fresh.unfenced_record('accounts', [app.user])
    assert [c['kind'] for c in fresh.unfence(instance)] == ['client_pause']
    assert isinstance(pending.finish(), redis_py.ConnectionError)  # dropped, as by default
    assert fresh.keeper_status(paused['extra']['keeper'])['alive'] is False
    assert [c['target'] for c in fresh.unfence(accounts)] == [app.user]
    assert [line for line in redis_server.command('ACL', 'LIST') if line.split()[1] == app.user] == acl_before
    client(app).set(app.prefix + 'k', 'unlocked by force')
    assert fresh.unfence(fresh.unfenced_record('instance')) == []
    assert fresh.unfence(fresh.unfenced_record('accounts', [app.user])) == []


def test_accounts_fence_twice_is_idempotent(redis_server, redis_app, engines):
    engine = engines(RedisEngine, redis_server.params)
    first = engine.fence('accounts', [redis_app.user])
    second = engine.fence('accounts', [redis_app.user])
    assert [c['before'] == c['after'] for c in second['changes']] == [True]
    assert not [s for s in engine.statements[len(engine.statements) - 3:] if s.startswith('ACL SETUSER')]
    assert engine.unfence(second) == []
    assert engine.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'denied'
    engine.unfence(first)
    assert engine.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'allowed'


def test_all_or_nothing_when_the_third_of_five_users_fails(redis_server, redis_apps, engines):
    apps = redis_apps.make(5)
    users = [app.user for app in apps]
    engine = engines(RedisEngine, redis_server.params)
    before = engine.fence_state('accounts', users)
    command = engine.command

    def refuse_third(*args, **kwargs):
        # The server rejects the third SETUSER (a real server error, provoked by a bad modifier).
        if args[:3] == ('ACL', 'SETUSER', users[2]):
            args = args + ('+no-such-command',)
        return command(*args, **kwargs)

    engine.command = refuse_third
    with pytest.raises(FenceError, match="ACL SETUSER %s -@write failed .*'\\+no-such-command'" % users[2]) as excinfo:
        engine.fence('accounts', users)
    engine.command = command

    assert [c['target'] for c in excinfo.value.rolled_back] == [users[1], users[0]]
    assert excinfo.value.rollback_failed == []
    assert engine.fence_state('accounts', users) == before
    for app in apps:
        client(app).set(app.prefix + 'k', 'still writable')


def test_a_missing_user_stops_the_fence_before_anything_changes(redis_server, redis_app, engines):
    engine = engines(RedisEngine, redis_server.params)
    with pytest.raises(EngineError, match='ACL user\\(s\\) not found .*: ghost_user'):
        engine.fence('accounts', [redis_app.user, 'ghost_user'])
    assert not [s for s in engine.statements if s.startswith(('ACL SETUSER', 'CLIENT KILL'))]
    assert engine.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'allowed'


@pytest.mark.parametrize('bad, message', [
    ({'scope': 'cluster'}, "scope must be 'instance' or 'accounts'"),
    ({'scope': 'accounts', 'accounts': []}, 'needs the list of application users'),
    ({'scope': 'accounts', 'accounts': ['default']}, 'is login_user'),
    ({'scope': 'accounts', 'accounts': ['app'], 'exclude_users': ['app']}, 'both fenced'),
])
def test_invalid_fence_requests(redis_server, engines, bad, message):
    with pytest.raises(EngineError, match=message):
        engines(RedisEngine, redis_server.params).fence(**bad)


def test_check_mode_changes_nothing(redis_server, redis_app, engines, fast):
    session = client(redis_app)
    session.ping()
    dry = engines(RedisEngine, redis_server.params, check_mode=True)

    instance = dry.fence('instance', options=fast)
    accounts = dry.fence('accounts', [redis_app.user])

    assert instance['check_mode'] is True and instance['extra']['keeper']['pid'] is None
    assert 'CLIENT PAUSE 1000 WRITE' in dry.statements
    assert 'ACL SETUSER %s -@write' % redis_app.user in dry.statements
    assert 'CLIENT KILL USER %s' % redis_app.user in dry.statements
    assert [s['id'] for s in accounts['ended_sessions']] == [session.client_id()]
    real = engines(RedisEngine, redis_server.params)
    assert real.fence_state('instance') == {'client_pause': 'unpaused', 'keepers': []}
    assert real.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'allowed'
    session.set(redis_app.prefix + 'k', 'not paused, not killed')
    dry.write_token(None, 'dry-token')
    assert not real.read_token(None, 'dry-token')


def test_missing_privileges_are_named(redis_server, redis_app, engines, fast):
    no_pause = redis_server.create_account('ops_nopause', 'ops-pass-1', rules=('~*', '&*', '+@all', '-client|pause'))
    no_setuser = redis_server.create_account('ops_noacl', 'ops-pass-2', rules=('~*', '&*', '+@all', '-acl|setuser'))
    try:
        with pytest.raises(FenceError, match=r'missing privilege \+client\|pause for login_user ops_nopause'):
            engines(RedisEngine, no_pause).fence('instance', options=fast)
        with pytest.raises(FenceError, match=r'missing privilege \+acl\|setuser for login_user ops_noacl'):
            engines(RedisEngine, no_setuser).fence('accounts', [redis_app.user])
        real = engines(RedisEngine, redis_server.params)
        assert real.fence_state('instance')['client_pause'] == 'unpaused'
        assert real.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'allowed'
    finally:
        redis_server.drop_account('ops_nopause')
        redis_server.drop_account('ops_noacl')


MINIMUM_ACL = ('~dtsops_switchover_token:*', 'resetchannels', '-@all', '+info', '+client|id', '+client|setname',
               '+client|list', '+client|kill', '+client|pause', '+client|unpause', '+command|info',
               '+acl|getuser', '+acl|setuser', '+multi', '+exec', '+set', '+exists')


def test_the_documented_minimum_privileges_suffice(redis_server, redis_app, engines, fast):
    params = redis_server.create_account('ops_minimum', 'ops-pass-3', rules=MINIMUM_ACL)
    try:
        engine = engines(RedisEngine, params)
        record = engine.fence('instance', options=fast)
        pending = BackgroundWrite(redis_app, redis_app.prefix + 'k', 'queued')
        wait_for(lambda: blocked_clients(redis_server), 'the write to be paused')
        assert [s for s in engine.sessions() if s['id'] == pending.client_id][0]['queued_write'] is True
        engine.write_token(None, 'minimum')
        assert engine.read_token(None, 'minimum')
        assert engine.unfence(record)[0]['dropped_sessions'] == [pending.client_id]
        pending.finish()
        accounts = engine.fence('accounts', [redis_app.user])
        assert engine.fence_state('accounts', [redis_app.user])[redis_app.user]['writes'] == 'denied'
        assert engine.unfence(accounts)
    finally:
        redis_server.drop_account('ops_minimum')
        redis_server.command('DEL', 'dtsops_switchover_token:minimum')


def test_unfence_rejects_a_foreign_record(redis_server, engines):
    with pytest.raises(EngineError, match='not a fence record of the redis engine'):
        engines(RedisEngine, redis_server.params).unfence({'engine': 'mysql', 'changes': []})


def test_documents_are_kept_also_while_paused(redis_server, engines, fast):
    engine = engines(RedisEngine, redis_server.params)
    prefix = 'journal_%s' % secrets.token_hex(3)
    assert engine.ensure_document_object(prefix, create=True) is False  # keys need no container
    record = engine.fence('instance', options=fast)
    try:
        engine.save_document(prefix, 'orders/orders.json', {'outcome': 'running'})
        assert engine.statements[-3:] == ['CLIENT UNPAUSE', "SET %s:orders/orders.json '<document: 21 bytes>'" % prefix,
                                          'CLIENT PAUSE 1000 WRITE']
        assert engine.load_document(prefix, 'orders/orders.json') == {'outcome': 'running'}
        assert engine.fence_state('instance')['client_pause'] == 'paused'
    finally:
        engine.unfence(record)
    assert json.loads(redis_server.command('GET', '%s:orders/orders.json' % prefix)) == {'outcome': 'running'}
    engine.delete_document(prefix, 'orders/orders.json')
    assert engine.load_document(prefix, 'orders/orders.json') is None


def test_token_travels_between_two_servers_also_while_paused(redis_server, redis_destination, redis_app, engines, fast):
    source = engines(RedisEngine, redis_server.params)
    destination = engines(RedisEngine, redis_destination.params)
    assert source.ensure_token_object('dtsops_switchover_token', create=True) is False
    key = redis_app.prefix + 'queued'
    record = source.fence('instance', options=fast)
    try:
        pending = BackgroundWrite(redis_app, key, 'queued')
        wait_for(lambda: blocked_clients(redis_server), 'the write to be paused')
        where = source.write_token('dtsops_switchover_token', 'token-1')
        assert where == 'key dtsops_switchover_token:token-1 in database 0 on %s' % source.address
        assert source.statements[-3:] == ['CLIENT UNPAUSE', source.statements[-2], 'CLIENT PAUSE 1000 WRITE']
        # The token went in, the application's queued write did not, and the pause holds on.
        assert redis_server.connect().get('dtsops_switchover_token:token-1')
        time.sleep(1.2)
        assert pending.waiting and redis_server.connect().get(key) is None
    finally:
        source.unfence(record)
    pending.finish()
    assert destination.read_token('dtsops_switchover_token', 'token-1') is False
    # What the migration does: copy the key.
    dump = redis_server.connect().dump('dtsops_switchover_token:token-1')
    redis_py.Redis(host='127.0.0.1', port=redis_destination.port, password=redis_destination.password).restore(
        'dtsops_switchover_token:token-1', 0, dump)
    assert destination.read_token('dtsops_switchover_token', 'token-1') is True
    assert destination.read_token('dtsops_switchover_token', 'token-2') is False
    redis_server.connect().delete('dtsops_switchover_token:token-1')


def test_connection_errors_are_clear_and_never_show_the_password(redis_server):
    secret = 'Sup3r-Secret-Value'
    cases = [
        (dict(redis_server.params, login_password=secret), 'access denied: check login_user and login_password'),
        (dict(redis_server.params, login_port=free_port()), 'server unreachable'),
        (dict(redis_server.params, login_db='99'), 'unknown database number'),
        (dict(redis_server.params, login_db='zero'), 'login_db must be a Redis database number'),
        (dict(redis_server.params, ssl_mode='require', connect_timeout=1), 'TLS'),
        (dict(redis_server.params, ssl_mode='verify-ca'), 'needs ca_cert'),
    ]
    for params, message in cases:
        with pytest.raises(EngineError) as excinfo:
            RedisEngine(params).connect()
        assert message in str(excinfo.value)
        assert secret not in str(excinfo.value)
        assert redis_server.password not in str(excinfo.value)


@pytest.fixture(scope='module')
def redis_tls():
    with RedisServer(tls=True) as server:
        yield server


def test_tls_modes_and_a_keeper_over_tls(redis_tls, engines, fast):
    files = redis_tls.tls_files
    for options in ({'ssl_mode': 'require'}, {'ssl_mode': 'verify-ca', 'ca_cert': files['ca']},
                    {'ssl_mode': 'verify-full', 'ca_cert': files['ca'], 'client_cert': files['client_cert'],
                     'client_key': files['client_key']}):
        assert engines(RedisEngine, dict(redis_tls.params, **options)).server_info()['acl'] is True
    with pytest.raises(EngineError, match='TLS problem') as excinfo:
        RedisEngine(dict(redis_tls.params, ssl_mode='verify-ca', ca_cert=files['other_ca'])).connect()
    assert 'certificate verify failed' in str(excinfo.value)

    engine = engines(RedisEngine, dict(redis_tls.params, ssl_mode='verify-full', ca_cert=files['ca']))
    record = engine.fence('instance', options=fast)
    try:
        time.sleep(1.5)
        assert engine.fence_state('instance')['client_pause'] == 'paused'
        assert engine.keeper_status(record['extra']['keeper'])['state']['renewals'] > 2
    finally:
        assert engine.unfence(record)
    assert engine.fence_state('instance')['client_pause'] == 'unpaused'
    assert not os.path.exists('/proc/%d/cmdline' % record['extra']['keeper']['pid']) or \
        not engine.keeper_status(record['extra']['keeper'])['alive']


# -- the throwaway servers every engine test relies on (tests/localdb) ------------------------------
def process_gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as stream:
            return stream.read().rsplit(')', 1)[1].split()[0] == 'Z'  # a zombie no one reaps is gone too
    except OSError:
        return True


def test_localdb_server_is_removed_when_its_owner_dies():
    script = ('import os, sys, time\n'
              'from localdb import RedisServer\n'
              'server = RedisServer().start()\n'
              'print(server.process.pid, server.basedir, flush=True)\n'
              'time.sleep(60)\n')
    owner = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert select.select([owner.stdout], [], [], 60)[0], 'the owner did not start its server'
        pid, basedir = owner.stdout.readline().split()
        assert not process_gone(int(pid)) and os.path.isdir(basedir)
    finally:
        owner.kill()  # SIGKILL: no atexit, no finally in the owner
        owner.wait()
    wait_for(lambda: process_gone(int(pid)) and not os.path.exists(basedir), 'the watchdog to clean up')


def test_localdb_stop_removes_the_process_and_the_directory():
    with RedisServer() as server:
        pid, basedir = server.process.pid, server.basedir
        assert server.running and server.params['login_port'] == server.port
    assert process_gone(pid) and not os.path.exists(basedir)
    assert not server.running
