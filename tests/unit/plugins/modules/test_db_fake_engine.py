"""A fake Engine for the db_* module tests, and tests that it keeps the contract of engines/base.py
(so module tests built on it test the modules, not a fake that behaves like no engine).

A FakeServer holds the state an engine would see: settings, accounts, sessions and token tables.
Engines find their server by login_port in SERVERS, like a real engine finds a host.
"""

import copy

import pytest

from ansible.module_utils.common import warnings
from ansible_collections.dtsops.switchover.plugins.module_utils import db
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    FenceError,
    make_session,
)

PASSWORD = 'Pa55-w0rd-never-shown'
SERVERS = {}


class FakeServer(object):
    """What the fake engine reads and changes. ``log`` holds the statements that really ran."""

    def __init__(self, port, flavour='mariadb', version='10.11.6', accounts=('shop_app', 'shop_batch', 'dts')):
        self.port = port
        self.flavour = flavour
        self.version = version
        self.read_only = 'OFF'
        self.locked = dict((a, False) for a in accounts)
        self.sessions = []
        self.tables = {}
        self.log = []
        self.fail_on = {}          # target -> error raised when the fence changes it
        self.fail_undo = set()     # targets whose undo fails
        self.fail_listing = None   # exception raised by sessions()
        self.on_list = None        # callable(server) run before each listing (sessions come and go)
        self.on_read = None        # callable(server, name, token) run before each token read
        self.next_id = 100

    def add_session(self, user, writing=False, idle=True, command=None, client=None, database='shop'):
        self.next_id += 1
        session = make_session(self.next_id, user=user, client=client or '10.0.0.%d:5%04d' % (self.next_id % 250, self.next_id),
                               database=database, state='Query' if command else 'Sleep', command=command,
                               writing=writing, idle=idle and not writing and not command, age=3)
        self.sessions.append(session)
        return session


def add_server(port, **kwargs):
    server = FakeServer(port, **kwargs)
    SERVERS[port] = server
    return server


class FakeEngine(Engine):
    name = 'mysql'
    driver_package = 'PyMySQL'
    default_port = 3306

    def connect(self):
        server = SERVERS.get(self.params['login_port'])
        if server is None:
            raise EngineError("cannot reach %s: connection refused. Check login_host and login_port." % self.address)
        if self.params.get('login_password') != PASSWORD:
            raise EngineError("access denied for user '%s': wrong login_password?" % self.params.get('login_user'))
        self.server = server
        self.conn = server

    def execute(self, statement, write=False):
        if write:
            self.record(statement)
            if self.check_mode:
                return False
        self.server.log.append(statement)
        return True

    def server_info(self):
        return {'engine': self.name, 'flavour': self.server.flavour, 'version': self.server.version}

    # -- sessions
    def sessions(self):
        if self.server.on_list:
            self.server.on_list(self.server)
        if self.server.fail_listing:
            raise self.server.fail_listing
        own = make_session(1, user=self.params.get('login_user'), client='127.0.0.1:40000', state='Query',
                           command='SELECT * FROM information_schema.PROCESSLIST', own=True)
        return [own] + copy.deepcopy(self.server.sessions)

    def end_sessions(self, sessions):
        ended = []
        for session in sessions:
            if self.execute('KILL CONNECTION %s' % session['id'], write=True):
                self.server.sessions = [s for s in self.server.sessions if s['id'] != session['id']]
            ended.append(session['id'])
        return ended

    # -- fencing
    def _targets(self, scope, accounts):
        if scope == 'instance':
            return ['read_only']
        missing = [a for a in accounts if a not in self.server.locked]
        if missing:
            raise EngineError('account %s does not exist on %s' % (', '.join(missing), self.address))
        return list(accounts)

    def _get(self, target):
        if target == 'read_only':
            return self.server.read_only
        return 'locked' if self.server.locked[target] else 'open'

    def _set(self, target, value):
        statement = ('SET GLOBAL read_only = %s' % value if target == 'read_only'
                     else "ALTER USER '%s'@'%%' ACCOUNT %s" % (target, 'LOCK' if value == 'locked' else 'UNLOCK'))
        if target in self.server.fail_on and value != 'open' and value != 'OFF':
            raise self.server.fail_on[target]
        if self.execute(statement, write=True):
            if target == 'read_only':
                self.server.read_only = value
            else:
                self.server.locked[target] = value == 'locked'

    def fence_state(self, scope, accounts=()):
        return dict((t, self._get(t)) for t in self._targets(scope, accounts))

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        changes = []
        for target in self._targets(scope, accounts):
            before = self._get(target)
            after = 'ON' if target == 'read_only' else 'locked'
            try:
                if before != after:
                    self._set(target, after)
            except EngineError as exc:
                rolled_back = self.unfence({'changes': changes})
                raise FenceError('%s: %s' % (target, exc), rolled_back=rolled_back,
                                 rollback_failed=[c for c in changes if c not in rolled_back])
            changes.append({'kind': 'global_variable' if target == 'read_only' else 'account_lock',
                            'target': target, 'before': before, 'after': after})
        ended = []
        if end_sessions and scope == 'accounts':
            victims = [s for s in self.server.sessions if s['user'] in accounts and s['user'] not in exclude_users]
            ended = [s for s in victims if s['id'] in self.end_sessions(victims)]
        return {'engine': self.name, 'scope': scope, 'server': self.address, 'flavour': self.server.flavour,
                'version': self.server.version, 'accounts': list(accounts), 'changes': changes,
                'ended_sessions': ended, 'extra': dict(options or {})}

    def unfence(self, record):
        restored = []
        for change in reversed(record['changes']):
            target = change['target']
            if change['before'] == change['after'] or self._get(target) != change['after']:
                continue
            if target in self.server.fail_undo:
                continue
            self._set(target, change['before'])
            restored.append(change)
        return restored

    def unfenced_record(self, scope, accounts=(), options=None):
        changes = []
        for target in self._targets(scope, accounts):
            unfenced = 'OFF' if target == 'read_only' else 'open'
            changes.append({'kind': 'forced', 'target': target, 'before': unfenced, 'after': self._get(target)})
        return {'engine': self.name, 'scope': scope, 'server': self.address, 'accounts': list(accounts),
                'changes': changes, 'ended_sessions': [], 'extra': {'forced': True}}

    # -- catch-up token
    def ensure_token_object(self, name, create=False):
        if name in self.server.tables:
            return False
        if not create:
            raise EngineError('the token table %s does not exist on %s; create it or set create=true' % (name, self.address))
        if self.execute('CREATE TABLE %s (token VARCHAR(64) PRIMARY KEY, written_at TIMESTAMP(6))' % name, write=True):
            self.server.tables[name] = []
        return True

    def write_token(self, name, token):
        if self.execute("INSERT INTO %s (token, written_at) VALUES ('%s', NOW(6))" % (name, token), write=True):
            self.server.tables[name].append(token)
        return name

    def read_token(self, name, token):
        if self.server.on_read:
            self.server.on_read(self.server, name, token)
        if name not in self.server.tables:
            raise EngineError('the token table %s does not exist on %s' % (name, self.address))
        self.server.log.append("SELECT 1 FROM %s WHERE token = '%s'" % (name, token))
        return token in self.server.tables[name]


class FakePostgreSQLEngine(FakeEngine):
    name = 'postgresql'
    driver_package = 'psycopg2-binary'
    default_port = 5432


class FakeNoForceEngine(FakeEngine):
    """An engine that cannot build a record without a fence (no unfenced_record)."""
    name = 'oracle'
    unfenced_record = None


@pytest.fixture
def fake_engines(monkeypatch):
    """Register the fake engines for every engine name and start with no server. Module warnings
    are process-wide in ansible-core: a module run in-process must not see the previous run's."""
    SERVERS.clear()
    warnings._global_warnings.clear()  # pylint: disable=protected-access
    registry = dict((name, FakeEngine) for name in db.ENGINE_NAMES)
    registry.update(postgresql=FakePostgreSQLEngine, oracle=FakeNoForceEngine)
    monkeypatch.setattr(db, 'ENGINES', registry)
    yield SERVERS
    SERVERS.clear()


def connection(port, engine='mysql', **extra):
    params = dict(engine=engine, login_host='127.0.0.1', login_port=port, login_user='switchover_admin',
                  login_password=PASSWORD)
    params.update(extra)
    return params


def fake(port=3306, check_mode=False):
    engine = FakeEngine(connection(port), check_mode=check_mode)
    engine.connect()
    return engine


# -- the fake keeps the Engine contract --------------------------------------------------------

def test_fence_then_unfence_restores_the_values_found(fake_engines):
    server = add_server(3306)
    server.locked['shop_app'] = True  # locked before: the fence must leave it locked on undo
    engine = fake()
    record = engine.fence('accounts', ['shop_app', 'shop_batch'])
    assert [(c['target'], c['before'], c['after']) for c in record['changes']] == [
        ('shop_app', 'locked', 'locked'), ('shop_batch', 'open', 'locked')]
    assert engine.unfence(record) == [record['changes'][1]]
    assert server.locked == {'shop_app': True, 'shop_batch': False, 'dts': False}
    assert engine.unfence(record) == []


def test_check_mode_records_and_changes_nothing(fake_engines):
    server = add_server(3306)
    engine = fake(check_mode=True)
    record = engine.fence('instance')
    assert record['changes'][0]['after'] == 'ON'
    assert engine.statements == ['SET GLOBAL read_only = ON']
    assert server.read_only == 'OFF' and server.log == []


def test_failed_fence_is_rolled_back(fake_engines):
    server = add_server(3306)
    server.fail_on['shop_batch'] = EngineError('Access denied; you need the CREATE USER privilege')
    engine = fake()
    with pytest.raises(FenceError) as caught:
        engine.fence('accounts', ['shop_app', 'shop_batch'])
    assert [c['target'] for c in caught.value.rolled_back] == ['shop_app']
    assert server.locked['shop_app'] is False


def test_unknown_account_fails_before_any_change(fake_engines):
    server = add_server(3306)
    with pytest.raises(EngineError, match='account nobody does not exist'):
        fake().fence('accounts', ['shop_app', 'nobody'])
    assert server.log == []


def test_wrong_password_and_unreachable_server(fake_engines):
    add_server(3306)
    with pytest.raises(EngineError, match='access denied'):
        FakeEngine(connection(3306, login_password='wrong')).connect()
    with pytest.raises(EngineError, match='connection refused'):
        FakeEngine(connection(3999)).connect()
