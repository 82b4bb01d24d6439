# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL Server: ``HASHBYTES('MD5', ...)`` of each row, folded per chunk by two ``CHECKSUM_AGG`` of
its first and second four bytes (64 bits; CHECKSUM_AGG takes int). ``CONCAT`` turns NULL into an
empty string, so a flag per column tells them apart. Composite keys are compared spelt out (no
row constructors in T-SQL)."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import SqlSide, split_name
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError


def quote(name):
    return '[%s]' % name.replace(']', ']]')


class SQLServerSide(SqlSide):
    row_compare = False
    limit = 'OFFSET {offset} ROWS FETCH NEXT 1 ROWS ONLY'
    count_sql = 'SELECT COUNT_BIG(*) FROM {table}'
    chunk_sql = ('SELECT COUNT_BIG(*), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 1, 4) AS INT)), CHECKSUM_AGG(CAST(SUBSTRING(d.h, 5, 4) AS INT)) '
                 'FROM (SELECT {digest} AS h FROM {table}{where}) AS d')

    def quote_name(self, name):
        return quote(name)

    def quote(self, name):
        # pymssql substitutes parameters client-side and leaves a % alone.
        return quote(name)

    def query(self, statement, args=()):
        shown = statement.replace('%s', '?')
        sql = self.engine.render(statement, tuple(args)) if args else statement
        self.engine.log(shown)
        cursor = self.engine.conn.cursor()
        try:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
        except Exception as exc:  # the driver's error, with the statement that failed
            raise EngineError(self.engine.scrub('%s failed on %s: %s' % (shown, self.engine.address, ' '.join(str(exc).split()))))
        finally:
            cursor.close()

    def _name(self, name):
        parts = split_name(name, (2, 3), 'SQL Server table')
        if len(parts) == 2:
            if not self.engine.params.get('login_db'):
                raise EngineError('SQL Server table %r: name it as database.schema.table (or set login_db)' % name)
            parts.insert(0, self.engine.params['login_db'])
        return parts

    def expand(self, pattern):
        database, schema = self._name(pattern)[:2]
        rows = self.query("SELECT TABLE_NAME FROM %s.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = %%s AND TABLE_TYPE = 'BASE TABLE' "
                          "ORDER BY TABLE_NAME" % quote(database), (schema,))
        return ['%s.%s.%s' % (database, schema, row[0]) for row in rows]

    def describe(self, name):
        database, schema, table = self._name(name)
        catalog = '%s.INFORMATION_SCHEMA' % quote(database)
        columns = [row[0] for row in self.query(
            'SELECT COLUMN_NAME FROM %s.COLUMNS WHERE TABLE_SCHEMA = %%s AND TABLE_NAME = %%s ORDER BY ORDINAL_POSITION' % catalog,
            (schema, table))]
        if not columns:
            return None
        key = [row[0] for row in self.query(
            "SELECT k.COLUMN_NAME FROM %s.TABLE_CONSTRAINTS AS c JOIN %s.KEY_COLUMN_USAGE AS k ON k.CONSTRAINT_NAME = c.CONSTRAINT_NAME "
            "AND k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = %%s AND c.TABLE_NAME = %%s "
            "AND c.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k.ORDINAL_POSITION" % (catalog, catalog), (schema, table))]
        return {'name': '%s.%s.%s' % (database, schema, table), 'qualified': '.'.join(quote(part) for part in (database, schema, table)),
                'columns': columns, 'key': key}

    def digest_expression(self, table):
        columns = [quote(column) for column in table['columns']]
        flags = ', '.join("IIF(%s IS NULL, '1', '0')" % column for column in columns)
        return "HASHBYTES('MD5', CONCAT(%s, %s))" % (', NCHAR(31), '.join(columns), flags)


def side(engine):
    return SQLServerSide(engine)
