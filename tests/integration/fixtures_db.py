"""Fixtures for throwaway database servers (see tests/localdb).

Session scope (one server per pytest worker, started on first use):
``mariadb``, ``postgresql``, ``redis_server``: started servers; ``.params`` holds the admin
connection options, ``create_account()``/``drop_account()``/``execute()``/``command()`` help tests.

``mariadb_destination``, ``postgresql_destination``, ``redis_destination``: a second server of
the same engine (started on first use), for tests that need two servers, e.g. the catch-up token.

Function scope (unique names, dropped afterwards, server-wide fences reset so a failed test
cannot leak into the next one):
``mariadb_app``, ``postgresql_app``, ``redis_app``: one application account with its own
database and table ``items`` (Redis: its own key prefix), as an :class:`AppAccount`;
``mariadb_apps``, ``postgresql_apps``, ``redis_apps``: factories, ``make(count)`` -> list of
:class:`AppAccount`, for tests that need several accounts.
``engines``: ``engines(EngineClass, params, check_mode=False)`` -> a connected engine of the
collection, closed after the test.
"""

import secrets

import pytest

from localdb import MariaDBServer, PostgreSQLServer, RedisServer

__all__ = ['AppAccount', 'unique_name', 'mariadb', 'postgresql', 'redis_server', 'mariadb_destination',
           'postgresql_destination', 'redis_destination', 'mariadb_app', 'postgresql_app', 'redis_app', 'mariadb_apps',
           'postgresql_apps', 'redis_apps', 'engines']


def unique_name(prefix='app'):
    """A lower-case identifier that no other test uses: ``app_1f2e3d4c``."""
    return '%s_%s' % (prefix, secrets.token_hex(4))


class AppAccount(object):
    """An application account: ``user``, ``password``, ``params`` (its connection options),
    ``database`` and ``table`` (MariaDB, PostgreSQL) or ``prefix`` (Redis keys it may use)."""

    def __init__(self, server, user, password, params, database=None, table=None, prefix=None):
        self.server = server
        self.user = user
        self.password = password
        self.params = params
        self.database = database
        self.table = table
        self.prefix = prefix

    @property
    def qualified_table(self):
        return '%s.%s' % (self.database, self.table)

    def connect(self, **kwargs):
        """A driver connection as this account (PyMySQL, psycopg2 or redis-py)."""
        if isinstance(self.server, RedisServer):
            return self.server.connect(user=self.user, password=self.password, **kwargs)
        return self.server.connect(user=self.user, password=self.password, database=self.database, **kwargs)

    def __repr__(self):
        return '<AppAccount %s>' % self.user


def _serve(server):
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='session')
def mariadb():
    yield from _serve(MariaDBServer(log_bin=True))


@pytest.fixture(scope='session')
def postgresql():
    yield from _serve(PostgreSQLServer(wal_level='logical'))


@pytest.fixture(scope='session')
def redis_server():
    yield from _serve(RedisServer())


@pytest.fixture(scope='session')
def mariadb_destination():
    yield from _serve(MariaDBServer(log_bin=True))


@pytest.fixture(scope='session')
def postgresql_destination():
    yield from _serve(PostgreSQLServer(wal_level='logical'))


@pytest.fixture(scope='session')
def redis_destination():
    yield from _serve(RedisServer())


@pytest.fixture
def engines():
    opened = []

    def connect(engine_class, params, check_mode=False):
        engine = engine_class(params, check_mode=check_mode)
        engine.connect()
        opened.append(engine)
        return engine

    yield connect
    for engine in opened:
        engine.close()


# -- application accounts -------------------------------------------------------------------------
def _mariadb_app(server):
    name = unique_name()
    server.create_database(name)
    server.execute('CREATE TABLE `%s`.items (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB' % name)
    password = secrets.token_urlsafe(10)
    params = server.create_account(name, password, grants=['ALL ON `%s`.*' % name])
    params['login_db'] = name
    return AppAccount(server, name, password, params, database=name, table='items')


def _mariadb_drop(server, app):
    server.drop_account(app.user)
    server.drop_database(app.database)


def _postgresql_app(server):
    name = unique_name()
    password = secrets.token_urlsafe(10)
    params = server.create_account(name, password)
    server.create_database(name, owner=name)
    server.execute('CREATE TABLE items (id SERIAL PRIMARY KEY, v TEXT)', database=name)
    server.execute('ALTER TABLE items OWNER TO %s' % name, database=name)
    params['login_db'] = name
    return AppAccount(server, name, password, params, database=name, table='items')


def _postgresql_drop(server, app):
    server.drop_database(app.database)
    server.drop_account(app.user)


def _redis_app(server):
    name = unique_name()
    password = secrets.token_urlsafe(10)
    params = server.create_account(name, password, rules=('~%s:*' % name, '&*', '+@all'))
    return AppAccount(server, name, password, params, prefix=name + ':')


def _redis_drop(server, app):
    server.drop_account(app.user)
    client = server.connect()
    try:
        keys = list(client.scan_iter(match=app.prefix + '*'))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class _Apps(object):
    def __init__(self, server, create, drop):
        self.server = server
        self._create = create
        self._drop = drop
        self.created = []

    def make(self, count=1):
        made = [self._create(self.server) for dummy in range(count)]
        self.created.extend(made)
        return made

    def cleanup(self):
        self.server.reset_instance_state()
        for app in reversed(self.created):
            self._drop(self.server, app)
        self.created = []


def _apps(server, create, drop):
    apps = _Apps(server, create, drop)
    try:
        yield apps
    finally:
        apps.cleanup()


@pytest.fixture
def mariadb_apps(mariadb):  # pylint: disable=redefined-outer-name
    yield from _apps(mariadb, _mariadb_app, _mariadb_drop)


@pytest.fixture
def postgresql_apps(postgresql):  # pylint: disable=redefined-outer-name
    yield from _apps(postgresql, _postgresql_app, _postgresql_drop)


@pytest.fixture
def redis_apps(redis_server):  # pylint: disable=redefined-outer-name
    yield from _apps(redis_server, _redis_app, _redis_drop)


@pytest.fixture
def mariadb_app(mariadb_apps):  # pylint: disable=redefined-outer-name
    return mariadb_apps.make()[0]


@pytest.fixture
def postgresql_app(postgresql_apps):  # pylint: disable=redefined-outer-name
    return postgresql_apps.make()[0]


@pytest.fixture
def redis_app(redis_apps):  # pylint: disable=redefined-outer-name
    return redis_apps.make()[0]
