# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Oracle: each row's columns joined with ``||`` (NULL joins as an empty string, so a flag per
column tells NULL from ''), folded per chunk by two sums of ``ORA_HASH`` with different seeds
(about 64 bits); single rows are told apart by ``STANDARD_HASH(..., 'MD5')`` (12c+). Dates and
numbers are joined as text, so the sessions first set the same NLS formats on both sides."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import SqlSide, split_name
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError

SESSION = (
    "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'",
    "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9'",
    "ALTER SESSION SET NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZH:TZM'",
    "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
)


def quote(name):
    return '"%s"' % name.replace('"', '""')


def oracle_case(name):
    """Unquoted names are upper case in Oracle's catalog; "Quoted" ones keep their case."""
    name = name.strip()
    if len(name) > 1 and name.startswith('"') and name.endswith('"'):
        return name[1:-1]
    return name.upper()


class OracleSide(SqlSide):
    row_compare = False
    limit = 'OFFSET {offset} ROWS FETCH NEXT 1 ROWS ONLY'
    chunk_sql = ('SELECT COUNT(*), SUM(ORA_HASH(d.r, 4294967295, 0)), SUM(ORA_HASH(d.r, 4294967295, 1)) '
                 'FROM (SELECT {digest} AS r FROM {table}{where}) d')

    def __init__(self, engine):
        super(OracleSide, self).__init__(engine)
        for statement in SESSION:
            self.query(statement)

    def quote_name(self, name):
        return quote(name)

    def quote(self, name):
        return quote(name)

    def param(self, args):
        return ':k%d' % len(args)

    def query(self, statement, args=()):
        binds = dict(('k%d' % (index + 1), value) for index, value in enumerate(args))
        self.engine.log(statement)
        cursor = self.engine.conn.cursor()
        try:
            cursor.execute(statement, binds)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        except Exception as exc:  # the driver's error, with the statement that failed
            raise EngineError(self.engine.scrub('%s failed on %s: %s' % (statement, self.engine.address, ' '.join(str(exc).split()))))
        finally:
            cursor.close()

    def _name(self, name):
        parts = split_name(name, (2,), 'Oracle table')
        return [oracle_case(part) for part in parts]

    def expand(self, pattern):
        owner = self._name(pattern)[0]
        return ['%s.%s' % (quote(owner), quote(row[0])) for row in self.query(
            'SELECT table_name FROM all_tables WHERE owner = :k1 ORDER BY table_name', (owner,))]

    def describe(self, name):
        owner, table = self._name(name)
        columns = [row[0] for row in self.query(
            'SELECT column_name FROM all_tab_columns WHERE owner = :k1 AND table_name = :k2 ORDER BY column_id', (owner, table))]
        if not columns:
            return None
        key = [row[0] for row in self.query(
            'SELECT cc.column_name FROM all_constraints c JOIN all_cons_columns cc ON cc.owner = c.owner AND '
            'cc.constraint_name = c.constraint_name WHERE c.owner = :k1 AND c.table_name = :k2 AND c.constraint_type = \'P\' '
            'ORDER BY cc.position', (owner, table))]
        return {'name': '%s.%s' % (owner, table), 'qualified': '%s.%s' % (quote(owner), quote(table)), 'columns': columns, 'key': key}

    def digest_expression(self, table):
        columns = [quote(column) for column in table['columns']]
        flags = ' || '.join("NVL2(%s, '0', '1')" % column for column in columns)
        return "%s || CHR(31) || %s" % (" || CHR(31) || ".join(columns), flags)

    def row_digest_expression(self, table):
        return "STANDARD_HASH(%s, 'MD5')" % self.digest_expression(table)


def side(engine):
    return OracleSide(engine)
