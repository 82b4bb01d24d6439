# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL and MariaDB: per-row MD5 of the columns, folded per chunk with BIT_XOR in the server.

``CONCAT_WS`` skips NULLs, so a flag string (``ISNULL`` of each column) is hashed with the
columns: ('a', NULL) and (NULL, 'a') differ. The separator ``CHAR(31)`` is a binary string, which
makes the whole concatenation binary, so columns of different collations can be mixed."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import SqlSide, split_name
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError


def quote(name):
    return '`%s`' % name.replace('`', '``')


class MySQLSide(SqlSide):

    def __init__(self, engine):
        super(MySQLSide, self).__init__(engine)
        # TIMESTAMP columns render in the session time zone: the same on both sides.
        self.query("SET SESSION time_zone = '+00:00'")

    def quote_name(self, name):
        return quote(name)

    def _name(self, name):
        parts = split_name(name, (1, 2), 'MySQL table')
        if len(parts) == 1:
            if not self.engine.params.get('login_db'):
                raise EngineError('MySQL table %r: name it as database.table (or set login_db)' % name)
            parts.insert(0, self.engine.params['login_db'])
        return parts

    def expand(self, pattern):
        database = self._name(pattern)[0]
        rows = self.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
                          "ORDER BY TABLE_NAME", (database,))
        return ['%s.%s' % (database, row[0]) for row in rows]

    def describe(self, name):
        database, table = self._name(name)
        columns = [row[0] for row in self.query(
            'SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s '
            'ORDER BY ORDINAL_POSITION', (database, table))]
        if not columns:
            return None
        key = [row[0] for row in self.query(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", (database, table))]
        return {'name': '%s.%s' % (database, table), 'qualified': '%s.%s' % (self.quote(database), self.quote(table)),
                'columns': columns, 'key': key}

    def digest_expression(self, table):
        columns = [self.quote(column) for column in table['columns']]
        nulls = 'CONCAT(%s)' % ', '.join('ISNULL(%s)' % column for column in columns)
        return 'CAST(CONV(LEFT(MD5(CONCAT_WS(CHAR(31), %s, %s)), 16), 16, 10) AS UNSIGNED)' % (', '.join(columns), nulls)

    def aggregate(self, table):
        return 'COALESCE(BIT_XOR(%s), 0)' % self.digest_expression(table)


def side(engine):
    return MySQLSide(engine)
