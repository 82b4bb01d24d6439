"""Pure functions of the postgresql engine, and its missing-driver path."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import postgresql
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.postgresql import (
    PostgreSQLEngine,
    is_write_statement,
    mask_statement,
)


@pytest.mark.parametrize('statement, writes', [
    ('INSERT INTO t VALUES (1)', True),
    ('/* batch */ update t set v = 1', True),
    ('WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d', True),
    ('WITH x AS (SELECT 1) SELECT * FROM x', False),
    ('SELECT * INTO new_table FROM t', True),
    ('SELECT * FROM t FOR UPDATE', False),
    ('COPY t FROM STDIN', True),
    ('MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE', True),
    ('select pg_sleep(1)', False),
    ('', False),
    (None, False),
])
def test_is_write_statement(statement, writes):
    assert is_write_statement(statement) is writes


@pytest.mark.parametrize('statement, secret', [
    ("ALTER ROLE app PASSWORD 'pa55'", 'pa55'),
    ("CREATE ROLE app LOGIN PASSWORD 'it''s-secret'", "it''s-secret"),
    ('ALTER USER app WITH PASSWORD $$dollar-quoted$$', 'dollar-quoted'),
    ('CREATE ROLE a PASSWORD $pw$tagged$pw$ LOGIN', 'tagged'),
])
def test_mask_statement_hides_passwords(statement, secret):
    masked = mask_statement(statement)
    assert secret not in masked and "PASSWORD '********'" in masked


def test_missing_driver(monkeypatch):
    monkeypatch.setattr(postgresql, 'HAS_PSYCOPG2', False)
    with pytest.raises(MissingDriver) as excinfo:
        PostgreSQLEngine({'login_host': 'db', 'login_password': 'x'}).connect()
    assert excinfo.value.package == 'psycopg2-binary'


def test_verify_modes_need_a_ca_before_connecting(monkeypatch):
    def refuse(**kwargs):
        raise AssertionError('must not connect')
    monkeypatch.setattr(postgresql.psycopg2, 'connect', refuse)
    with pytest.raises(EngineError, match='ssl_mode verify-full needs ca_cert'):
        PostgreSQLEngine({'login_host': 'db', 'ssl_mode': 'verify-full'}).connect()


def test_connect_maps_options(monkeypatch):
    seen = {}

    class Connection(object):
        autocommit = False

        def get_backend_pid(self):
            return 42

        def cursor(self):
            raise RuntimeError('stop here')

    def connect(**kwargs):
        seen.update(kwargs)
        return Connection()

    monkeypatch.setattr(postgresql.psycopg2, 'connect', connect)
    with pytest.raises(RuntimeError, match='stop here'):
        PostgreSQLEngine({'login_host': 'db', 'login_password': 'pw', 'ssl_mode': 'verify-ca', 'ca_cert': '/ca.pem',
                          'client_cert': '/c.pem', 'client_key': '/c.key', 'connect_timeout': 7}).connect()
    assert seen == {'host': 'db', 'port': 5432, 'user': 'postgres', 'password': 'pw', 'dbname': 'postgres',
                    'connect_timeout': 7, 'sslmode': 'verify-ca', 'application_name': 'dtsops.switchover',
                    'sslrootcert': '/ca.pem', 'sslcert': '/c.pem', 'sslkey': '/c.key'}
