"""Redis engine paths that the Redis 7 server here cannot show: old servers without CLIENT PAUSE
WRITE (before 6.2) or ACL users (before 6.0), a missing driver, and the pure functions.

``redis.Redis`` is patched to return :class:`FakeRedis`, which answers the few commands these
paths send and logs them."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import redis as redis_engine
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver, NotSupported
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.redis import (
    RedisEngine,
    parse_client_list,
    parse_keeper_name,
    render_command,
)

PARAMS = {'login_host': 'cache.example', 'login_port': 6379, 'login_password': 'Cache-Secret-1'}
COMMAND_FLAGS = {'set': ['write', 'denyoom'], 'get': ['readonly', 'fast'], 'hset': ['write', 'denyoom', 'fast'],
                 'ping': ['fast', 'stale']}


class FakeRedis(object):
    version = '7.0.15'
    log = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.response_callbacks = {'INFO': 'parse-info'}
        FakeRedis.last = self

    def execute_command(self, *args):
        FakeRedis.log.append(' '.join(str(a) for a in args))
        if args == ('CLIENT', 'ID'):
            return 5
        if args == ('INFO', 'server'):
            return '# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\n' % self.version
        if args[:2] == ('COMMAND', 'INFO'):
            return [[name, -1, COMMAND_FLAGS[name], 1, 1, 1] if name in COMMAND_FLAGS else None for name in args[2:]]
        raise AssertionError('FakeRedis does not expect %s' % (args,))

    def close(self):
        pass


@pytest.fixture
def server(monkeypatch):
    FakeRedis.log = []
    monkeypatch.setattr(redis_engine.redis_py, 'Redis', FakeRedis)
    return FakeRedis


@pytest.mark.parametrize('version', ['6.0.9', '5.0.7'])
def test_client_pause_write_needs_6_2_and_names_the_alternative(server, version):
    server.version = version
    engine = RedisEngine(PARAMS).connect()
    with pytest.raises(NotSupported, match=r'CLIENT PAUSE WRITE needs Redis 6\.2 or later \(server: %s\); use scope accounts'
                       % version.replace('.', r'\.')):
        engine.fence('instance')
    assert not [entry for entry in server.log if 'PAUSE' in entry]


def test_acl_needs_6_0(server):
    server.version = '5.0.7'
    with pytest.raises(NotSupported, match=r'ACL users need Redis 6\.0 or later \(server: 5\.0\.7\)'):
        RedisEngine(PARAMS).connect().fence('accounts', ['app'])


def test_redis_6_2_supports_both(server):
    server.version = '6.2.14'
    info = RedisEngine(PARAMS).connect().server_info()
    assert info['client_pause_write'] is True and info['acl'] is True
    assert info['version_info'] == [6, 2, 14]


def test_connection_options_are_mapped(server):
    RedisEngine(dict(PARAMS, login_db='3', connect_timeout=4)).connect()
    kwargs = server.last.kwargs
    assert (kwargs['host'], kwargs['port'], kwargs['db'], kwargs['password']) == ('cache.example', 6379, 3, 'Cache-Secret-1')
    assert kwargs['username'] is None  # no login_user: AUTH with the password (the default user)
    assert kwargs['socket_connect_timeout'] == 4
    assert 'ssl' not in kwargs  # prefer cannot fall back with redis-py: no TLS
    assert server.last.response_callbacks == {}  # raw replies, parsed by the engine
    RedisEngine(dict(PARAMS, ssl_mode='verify-full', ca_cert='/ca.pem')).connect()
    kwargs = server.last.kwargs
    assert (kwargs['ssl'], kwargs['ssl_ca_certs'], kwargs['ssl_cert_reqs'], kwargs['ssl_check_hostname']) == (
        True, '/ca.pem', 'required', True)
    RedisEngine(dict(PARAMS, ssl_mode='require')).connect()
    assert server.last.kwargs['ssl_cert_reqs'] == 'none'


def test_missing_driver(monkeypatch):
    monkeypatch.setattr(redis_engine, 'HAS_REDIS', False)
    with pytest.raises(MissingDriver) as excinfo:
        RedisEngine(PARAMS).connect()
    assert excinfo.value.package == 'redis'


@pytest.mark.parametrize('commands, allows', [
    ('+@all', True),
    ('+@all -@write', False),
    ('+@all -@write -debug', False),
    ('+@all -@write +set', True),
    ('-@all +get', False),
    ('-@all +get +hset', True),
    ('-@all +@read', False),
    ('-@all +@string', True),
    ('-@all +set -set', False),
    ('', False),
])
def test_acl_rules_are_replayed_to_see_whether_writes_remain(server, commands, allows):
    assert RedisEngine(PARAMS).connect()._allows_writes(commands) is allows


def test_client_list_parsing():
    text = ('id=7 addr=10.0.0.5:51234 laddr=10.0.0.1:6379 fd=8 name= age=12 idle=0 flags=N db=0 multi=-1 cmd=set user=app\n'
            'id=9 addr=[::1]:40000 fd=9 name=dtsops-switchover-keeper-ab12-5000-1700000000 flags=N cmd=client|pause user=ops\n')
    clients = parse_client_list(text)
    assert [c['id'] for c in clients] == ['7', '9']
    assert clients[0]['cmd'] == 'set' and clients[0]['name'] == '' and clients[1]['addr'] == '[::1]:40000'
    assert parse_keeper_name(clients[1]['name']) == {'nonce': 'ab12', 'pause_ms': 5000, 'lease_until': 1700000000,
                                                     'client_name': clients[1]['name']}
    assert parse_keeper_name('dtsops.switchover') is None


def test_render_command_quotes_blanks():
    assert render_command(['ACL', 'SETUSER', 'app', '(~b* +@all -@write)']) == "ACL SETUSER app '(~b* +@all -@write)'"
    assert render_command(['SET', 'k', '']) == "SET k ''"


def test_bad_options_are_refused_before_anything_runs(server):
    engine = RedisEngine(PARAMS).connect()
    with pytest.raises(EngineError, match='login_db must be a Redis database number'):
        RedisEngine(dict(PARAMS, login_db='zero')).connect()
    with pytest.raises(EngineError, match='ssl_mode verify-ca needs ca_cert'):
        RedisEngine(dict(PARAMS, ssl_mode='verify-ca')).connect()
    with pytest.raises(EngineError, match='the token key prefix must not be empty'):
        engine.ensure_token_object('  ')
