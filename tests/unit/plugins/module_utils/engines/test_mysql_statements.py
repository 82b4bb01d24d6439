"""Pure functions of the mysql engine: write detection, masking, account names, host patterns."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import (
    host_matches,
    is_write_statement,
    mask_statement,
    parse_account,
)


@pytest.mark.parametrize('statement, writes', [
    ('INSERT INTO t VALUES (1)', True),
    ('  update t set v = 1', True),
    ('/* app:orders */ DELETE FROM t', True),
    ('-- comment\nREPLACE INTO t VALUES (1)', True),
    ('(SELECT 1)', False),
    ('SELECT * FROM t FOR UPDATE', False),
    ("SELECT * INTO OUTFILE '/tmp/x' FROM t", True),
    ('WITH x AS (SELECT 1) UPDATE t JOIN x SET v = 1', True),
    ('WITH x AS (SELECT 1) SELECT * FROM x', False),
    ('ALTER TABLE t ADD c INT', True),
    ('LOAD DATA INFILE "x" INTO TABLE t', True),
    ('SHOW PROCESSLIST', False),
    ('', False),
    (None, False),
])
def test_is_write_statement(statement, writes):
    assert is_write_statement(statement) is writes


@pytest.mark.parametrize('statement, secret', [
    ("ALTER USER 'a'@'%' IDENTIFIED BY 'pa55word'", 'pa55word'),
    ("CREATE USER a IDENTIFIED WITH mysql_native_password BY 'x-secret-y'", 'x-secret-y'),
    ("GRANT ALL ON *.* TO a IDENTIFIED BY PASSWORD '*ABCDEF0123'", '*ABCDEF0123'),
    ("SET PASSWORD FOR a = PASSWORD('old-style')", 'old-style'),
    ("SET PASSWORD = 'new-style'", 'new-style'),
    ("CREATE USER a IDENTIFIED BY 'it''s'", "it''s"),
])
def test_mask_statement_hides_passwords(statement, secret):
    masked = mask_statement(statement)
    assert secret not in masked
    assert "'********'" in masked


def test_mask_statement_leaves_other_statements_alone():
    assert mask_statement('UPDATE t SET password_hint = 1') == 'UPDATE t SET password_hint = 1'
    assert mask_statement(None) is None


@pytest.mark.parametrize('text, expected', [
    ('app', ('app', None)),
    ('app@%', ('app', '%')),
    ("'app'@'10.0.%'", ('app', '10.0.%')),
    ('`app`@`localhost`', ('app', 'localhost')),
    ("'odd@name'@'%'", ('odd@name', '%')),
    ("'odd@name'", ('odd@name', None)),
    (' app@10.1.1.1 ', ('app', '10.1.1.1')),
])
def test_parse_account(text, expected):
    assert parse_account(text) == expected


@pytest.mark.parametrize('pattern, host, matches', [
    ('%', '10.1.2.3', True),
    ('10.%', '10.1.2.3', True),
    ('10.%', '192.168.0.1', False),
    ('10.1.2._', '10.1.2.3', True),
    ('localhost', 'LOCALHOST', True),
    ('app.example', 'appXexample', False),
])
def test_host_matches(pattern, host, matches):
    assert host_matches(pattern, host) is matches
