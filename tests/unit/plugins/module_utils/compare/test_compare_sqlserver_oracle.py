"""db_compare's SQL Server and Oracle sides through the real pymssql and python-oracledb APIs,
against the SQL Server and Oracle models of tests/unit/fakes extended with the comparison's
statements. The models accept exactly the statements written for them (a changed hash
expression is a syntax error there), answer them from their rows, and hash in Python: what is
checked is the statements sent, the chunk walk, the narrowing and the result."""

import hashlib
import re

import oracledb
import pymssql
import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import compare
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.oracle import OracleEngine
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.sqlserver import SQLServerEngine
from unit.fakes.oracle import FakeOracle
from unit.fakes.sqlserver import FakeSQLServer

ROWS = 250
COLUMNS = ['id', 'name', 'note']


def rows():
    return dict((i, (i, 'item %d' % i, None if i % 5 else 'n%d' % i)) for i in range(1, ROWS + 1))


def digest(row):
    return hashlib.md5(repr(row).encode('utf-8')).digest()


def in_range(table, lower, upper):
    return [table[key] for key in sorted(table) if (lower is None or key > lower) and (upper is None or key <= upper)]


def xor32(rows_, start):
    value = 0
    for row in rows_:
        value ^= int.from_bytes(digest(row)[start:start + 4], 'big', signed=True)
    return value


# -- SQL Server ---------------------------------------------------------------------------------------
T3 = r'\[(\w+)\]\.\[(\w+)\]\.\[(\w+)\]'
MSSQL_WHERE = r'(?: WHERE (?:\[id\] > (\d+))?(?: AND )?(?:\[id\] <= (\d+))?)?'
MSSQL_ROW = (r"HASHBYTES\('MD5', CONCAT\(\[id\], NCHAR\(31\), \[name\], NCHAR\(31\), \[note\], IIF\(\[id\] IS NULL, '1', '0'\), "
             r"IIF\(\[name\] IS NULL, '1', '0'\), IIF\(\[note\] IS NULL, '1', '0'\)\)\)")


class ComparedSQLServer(FakeSQLServer):
    HANDLERS = FakeSQLServer.HANDLERS + (
        (r"SELECT COLUMN_NAME FROM \[(\w+)\]\.INFORMATION_SCHEMA\.COLUMNS WHERE TABLE_SCHEMA = N'(\w+)' AND TABLE_NAME = N'(\w+)' "
         r"ORDER BY ORDINAL_POSITION$", 'q_columns'),
        (r"SELECT k\.COLUMN_NAME FROM \[(\w+)\]\.INFORMATION_SCHEMA\.TABLE_CONSTRAINTS AS c JOIN \[\w+\]\.INFORMATION_SCHEMA\."
         r"KEY_COLUMN_USAGE AS k ON k\.CONSTRAINT_NAME = c\.CONSTRAINT_NAME AND k\.TABLE_SCHEMA = c\.TABLE_SCHEMA AND "
         r"k\.TABLE_NAME = c\.TABLE_NAME WHERE c\.TABLE_SCHEMA = N'(\w+)' AND c\.TABLE_NAME = N'(\w+)' AND "
         r"c\.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k\.ORDINAL_POSITION$", 'q_key'),
        (r'SELECT COUNT_BIG\(\*\) FROM ' + T3 + '$', 'q_count'),
        (r'SELECT \[id\] FROM ' + T3 + MSSQL_WHERE + r' ORDER BY \[id\] OFFSET (\d+) ROWS FETCH NEXT 1 ROWS ONLY$', 'q_boundary'),
        (r'SELECT COUNT_BIG\(\*\), CHECKSUM_AGG\(CAST\(SUBSTRING\(d\.h, 1, 4\) AS INT\)\), CHECKSUM_AGG\(CAST\(SUBSTRING\(d\.h, 5, 4\) '
         r'AS INT\)\) FROM \(SELECT ' + MSSQL_ROW + ' AS h FROM ' + T3 + MSSQL_WHERE + r'\) AS d$', 'q_chunk'),
        (r'SELECT \[id\], ' + MSSQL_ROW + ' FROM ' + T3 + MSSQL_WHERE + r' ORDER BY \[id\]$', 'q_rows'),
    )

    def __init__(self):
        super(ComparedSQLServer, self).__init__()
        self.add_database('shop')
        self.data = {('shop', 'dbo', 'orders'): rows()}

    def _rows(self, match, lower=4, upper=5):
        table = self.data.get(tuple(match.group(i) for i in (1, 2, 3)), {})
        bound = [match.group(i) for i in (lower, upper)]
        return in_range(table, *[int(value) if value else None for value in bound])

    def q_columns(self, match, params, connection):
        found = tuple(match.group(i) for i in (1, 2, 3)) in self.data
        return ['COLUMN_NAME'], [[c] for c in COLUMNS] if found else [], None

    def q_key(self, match, params, connection):
        return ['COLUMN_NAME'], [['id']], None

    def q_count(self, match, params, connection):
        return [''], [[len(self.data[tuple(match.group(i) for i in (1, 2, 3))])]], None

    def q_boundary(self, match, params, connection):
        found = self._rows(match)[int(match.group(6)):][:1]
        return ['id'], [[row[0]] for row in found], None

    def q_chunk(self, match, params, connection):
        found = self._rows(match)
        return ['', '', ''], [[len(found), xor32(found, 0), xor32(found, 4)]], None

    def q_rows(self, match, params, connection):
        return ['id', ''], [[row[0], digest(row)] for row in self._rows(match)], None


MSSQL = dict(engine='sqlserver', login_port=None, login_user='switchover_admin', login_password='Adm1n-pa55', login_db='shop',
             ssl_mode='prefer', ca_cert=None, client_cert=None, client_key=None, connect_timeout=7)


@pytest.fixture
def mssql(monkeypatch):
    servers = {'src.example.com': ComparedSQLServer(), 'dst.example.com': ComparedSQLServer()}
    monkeypatch.setattr(pymssql, 'connect', lambda **kwargs: servers[kwargs['server']].connect(**kwargs))
    return servers['src.example.com'], servers['dst.example.com']


def compare_sqlserver(**options):
    source = SQLServerEngine(dict(MSSQL, login_host='src.example.com'))
    destination = SQLServerEngine(dict(MSSQL, login_host='dst.example.com'))
    source.connect()
    destination.connect()
    budget = compare.Budget(30)
    options.setdefault('chunk_size', 100)
    worker = compare.comparer('sqlserver', source, destination, budget=budget, leaf_rows=20, **options)
    try:
        return compare.summary(compare.run([('dbo.orders', 'dbo.orders')], worker, budget)), source
    finally:
        source.close()
        destination.close()


def test_sqlserver_identical_then_changed_missing_extra(mssql):
    source_server, destination_server = mssql
    summary, source = compare_sqlserver()
    assert summary['consistent'] is True
    assert summary['objects'][0]['source_count'] == ROWS and summary['objects'][0]['chunks'] == 3
    shapes = [s for s in source.statements if 'INFORMATION_SCHEMA' in s or 'd.h' in s or 'OFFSET' in s]
    assert shapes == [
        "SELECT COLUMN_NAME FROM [shop].INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        "SELECT k.COLUMN_NAME FROM [shop].INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS c JOIN [shop].INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k "
        "ON k.CONSTRAINT_NAME = c.CONSTRAINT_NAME AND k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME WHERE "
        "c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? AND c.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k.ORDINAL_POSITION",
        'SELECT [id] FROM [shop].[dbo].[orders] ORDER BY [id] OFFSET 99 ROWS FETCH NEXT 1 ROWS ONLY',
        "SELECT COUNT_BIG(*), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 1, 4) AS INT)), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 5, 4) AS INT)) FROM "
        "(SELECT HASHBYTES('MD5', CONCAT([id], NCHAR(31), [name], NCHAR(31), [note], IIF([id] IS NULL, '1', '0'), "
        "IIF([name] IS NULL, '1', '0'), IIF([note] IS NULL, '1', '0'))) AS h FROM [shop].[dbo].[orders] WHERE [id] <= ?) AS d",
        'SELECT [id] FROM [shop].[dbo].[orders] WHERE [id] > ? ORDER BY [id] OFFSET 99 ROWS FETCH NEXT 1 ROWS ONLY',
        "SELECT COUNT_BIG(*), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 1, 4) AS INT)), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 5, 4) AS INT)) FROM "
        "(SELECT HASHBYTES('MD5', CONCAT([id], NCHAR(31), [name], NCHAR(31), [note], IIF([id] IS NULL, '1', '0'), "
        "IIF([name] IS NULL, '1', '0'), IIF([note] IS NULL, '1', '0'))) AS h FROM [shop].[dbo].[orders] WHERE [id] > ? AND [id] <= ?) AS d",
        # The last chunk has no upper bound: rows the destination has past the source's last key are in it.
        "SELECT COUNT_BIG(*), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 1, 4) AS INT)), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 5, 4) AS INT)) FROM "
        "(SELECT HASHBYTES('MD5', CONCAT([id], NCHAR(31), [name], NCHAR(31), [note], IIF([id] IS NULL, '1', '0'), "
        "IIF([name] IS NULL, '1', '0'), IIF([note] IS NULL, '1', '0'))) AS h FROM [shop].[dbo].[orders] WHERE [id] > ?) AS d",
    ]
    assert not source_server.writes and not destination_server.writes

    table = destination_server.data[('shop', 'dbo', 'orders')]
    table[150] = (150, 'tampered', None)
    del table[30]
    table[999] = (999, 'late', None)
    summary, dummy = compare_sqlserver()
    found = dict((item['kind'], item['keys']) for item in summary['differences'])
    assert found == {'changed': [150], 'missing': [30], 'extra': [999]}
    assert any(re.match(r"SELECT \[id\], HASHBYTES\('MD5', CONCAT\(.*\)\) FROM \[shop\]\.\[dbo\]\.\[orders\] WHERE \[id\] > \d+ AND "
                        r"\[id\] <= \d+ ORDER BY \[id\]$", line) for line in destination_server.log)


def test_sqlserver_missing_table_and_count(mssql):
    dummy, destination_server = mssql
    del destination_server.data[('shop', 'dbo', 'orders')]
    summary, dummy = compare_sqlserver()
    [difference] = summary['differences']
    assert difference['kind'] == 'missing' and 'does not exist on the destination' in difference['detail']


# -- Oracle -------------------------------------------------------------------------------------------
T2 = r'"(\w+)"\."(\w+)"'
ORA_WHERE = r'(?: WHERE (?:"ID" > :(k\d))?(?: AND )?(?:"ID" <= :(k\d))?)?'
ORA_ROW = (r'"ID" \|\| CHR\(31\) \|\| "NAME" \|\| CHR\(31\) \|\| "NOTE" \|\| CHR\(31\) \|\| NVL2\("ID", \'0\', \'1\'\) \|\| '
           r'NVL2\("NAME", \'0\', \'1\'\) \|\| NVL2\("NOTE", \'0\', \'1\'\)')


class ComparedOracle(FakeOracle):
    HANDLERS = FakeOracle.HANDLERS + (
        (r"ALTER SESSION SET NLS_(DATE|TIMESTAMP|TIMESTAMP_TZ|NUMERIC)_(FORMAT|CHARACTERS) = '[^']+'$", 'x_session'),
        (r'SELECT column_name FROM all_tab_columns WHERE owner = :k1 AND table_name = :k2 ORDER BY column_id$', 'q_columns'),
        (r"SELECT cc\.column_name FROM all_constraints c JOIN all_cons_columns cc ON cc\.owner = c\.owner AND cc\.constraint_name = "
         r"c\.constraint_name WHERE c\.owner = :k1 AND c\.table_name = :k2 AND c\.constraint_type = 'P' ORDER BY cc\.position$", 'q_key'),
        (r'SELECT COUNT\(\*\) FROM ' + T2 + '$', 'q_count'),
        (r'SELECT "ID" FROM ' + T2 + ORA_WHERE + r' ORDER BY "ID" OFFSET (\d+) ROWS FETCH NEXT 1 ROWS ONLY$', 'q_boundary'),
        (r'SELECT COUNT\(\*\), SUM\(ORA_HASH\(d\.r, 4294967295, 0\)\), SUM\(ORA_HASH\(d\.r, 4294967295, 1\)\) FROM \(SELECT '
         + ORA_ROW + ' AS r FROM ' + T2 + ORA_WHERE + r'\) d$', 'q_chunk'),
        (r'SELECT "ID", STANDARD_HASH\(' + ORA_ROW + r", 'MD5'\) FROM " + T2 + ORA_WHERE + r' ORDER BY "ID"$', 'q_rows'),
    )

    def __init__(self):
        super(ComparedOracle, self).__init__()
        self.data = {('APP', 'ORDERS'): rows()}
        self.session_settings = []

    def is_write(self, statement):
        return not re.match(r'\s*(SELECT|ALTER SESSION)\b', statement)

    def _rows(self, match, params):
        table = self.data.get((match.group(1), match.group(2)), {})
        return in_range(table, *[params[match.group(i)] if match.group(i) else None for i in (3, 4)])

    def x_session(self, match, params, connection):
        self.session_settings.append(match.group(0))
        return None, [], 0

    def q_columns(self, match, params, connection):
        found = (params['k1'], params['k2']) in self.data
        return ['COLUMN_NAME'], [[c.upper()] for c in COLUMNS] if found else [], None

    def q_key(self, match, params, connection):
        return ['COLUMN_NAME'], [['ID']], None

    def q_count(self, match, params, connection):
        return ['N'], [[len(self.data[(match.group(1), match.group(2))])]], None

    def q_boundary(self, match, params, connection):
        return ['ID'], [[row[0]] for row in self._rows(match, params)[int(match.group(5)):][:1]], None

    def q_chunk(self, match, params, connection):
        found = self._rows(match, params)
        return ['N', 'H0', 'H1'], [[len(found), xor32(found, 0) & 0xffffffff, xor32(found, 4) & 0xffffffff]], None

    def q_rows(self, match, params, connection):
        return ['ID', 'H'], [[row[0], digest(row)] for row in self._rows(match, params)], None


ORACLE = dict(engine='oracle', login_port=None, login_user='switchover_admin', login_password='Adm1n-pa55', login_db='ORCLPDB1',
              ssl_mode='prefer', ca_cert=None, client_cert=None, client_key=None, connect_timeout=7)


@pytest.fixture
def ora(monkeypatch):
    servers = {'src.example.com': ComparedOracle(), 'dst.example.com': ComparedOracle()}
    for server in servers.values():
        server.add_user('SWITCHOVER_ADMIN', password='Adm1n-pa55')
    monkeypatch.setattr(oracledb, 'connect', lambda **kwargs: servers[kwargs['host']].connect(**kwargs))
    return servers['src.example.com'], servers['dst.example.com']


def compare_oracle(names=(('app.orders', 'app.orders'),), **options):
    source = OracleEngine(dict(ORACLE, login_host='src.example.com'))
    destination = OracleEngine(dict(ORACLE, login_host='dst.example.com'))
    source.connect()
    destination.connect()
    budget = compare.Budget(30)
    options.setdefault('chunk_size', 100)
    worker = compare.comparer('oracle', source, destination, budget=budget, leaf_rows=20, **options)
    try:
        return compare.summary(compare.run(list(names), worker, budget)), source
    finally:
        source.close()
        destination.close()


def test_oracle_identical_then_changed_missing_extra(ora):
    source_server, destination_server = ora
    summary, source = compare_oracle()
    assert summary['consistent'] is True and summary['objects'][0]['chunks'] == 3
    assert summary['objects'][0]['object'] == 'app.orders'
    assert source_server.session_settings == [
        "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'",
        "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'",
        "ALTER SESSION SET NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'",
        "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'"]
    assert ('SELECT COUNT(*), SUM(ORA_HASH(d.r, 4294967295, 0)), SUM(ORA_HASH(d.r, 4294967295, 1)) FROM (SELECT "ID" || CHR(31) || '
            '"NAME" || CHR(31) || "NOTE" || CHR(31) || NVL2("ID", \'0\', \'1\') || NVL2("NAME", \'0\', \'1\') || NVL2("NOTE", \'0\', \'1\') '
            'AS r FROM "APP"."ORDERS" WHERE "ID" > :k1 AND "ID" <= :k2) d') in source.statements
    assert not source_server.writes and not destination_server.writes

    table = destination_server.data[('APP', 'ORDERS')]
    table[201] = (201, 'item 201', 'n201')      # NULL on the source
    del table[7]
    table[1000] = (1000, 'late', None)
    summary, dummy = compare_oracle()
    found = dict((item['kind'], item['keys']) for item in summary['differences'])
    assert found == {'changed': [201], 'missing': [7], 'extra': [1000]}
    assert any(line.startswith('SELECT "ID", STANDARD_HASH(') for line in destination_server.log)


def test_oracle_schema_pattern_and_unknown_table(ora):
    source_server, dummy = ora
    source_server.data[('APP', 'ORDERS')] = rows()
    with pytest.raises(compare.EngineError) as raised:
        compare_oracle(names=[('app.nosuch', 'app.nosuch')])
    assert 'table app.nosuch does not exist on the source src.example.com:1521: check objects' == str(raised.value)
