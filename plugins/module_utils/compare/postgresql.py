# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL: md5 of each row's text (``ROW(columns)::text`` tells NULL from an empty string),
its first 64 bits summed per chunk in the server (a sum, so no sort is needed)."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import SqlSide, split_name
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError


def quote(name):
    return '"%s"' % name.replace('"', '""')


class PostgreSQLSide(SqlSide):

    def __init__(self, engine):
        super(PostgreSQLSide, self).__init__(engine)
        # Values render as text per session settings: make them the same on both sides.
        self.query("SET TIME ZONE 'UTC'")
        self.query('SET extra_float_digits = 1')
        self.query("SET DateStyle = 'ISO, YMD'")
        self.query("SET IntervalStyle = 'postgres'")
        self.query("SET bytea_output = 'hex'")

    def quote_name(self, name):
        return quote(name)

    @staticmethod
    def _name(name):
        parts = split_name(name, (1, 2), 'PostgreSQL table')
        return (['public'] + parts) if len(parts) == 1 else parts

    def expand(self, pattern):
        schema = self._name(pattern)[0]
        rows = self.query("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                          "AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname", (schema,))
        return ['%s.%s' % (schema, row[0]) for row in rows]

    def describe(self, name):
        schema, table = self._name(name)
        qualified = '%s.%s' % (quote(schema), quote(table))
        columns = [row[0] for row in self.query(
            'SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped '
            'ORDER BY a.attnum', (qualified,))]
        if not columns:
            return None
        key = [row[0] for row in self.query(
            'SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) '
            'WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)',
            (qualified,))]
        return {'name': '%s.%s' % (schema, table), 'qualified': '%s.%s' % (self.quote(schema), self.quote(table)),
                'columns': columns, 'key': key}

    def digest_expression(self, table):
        return "('x' || substr(md5(ROW(%s)::text), 1, 16))::bit(64)::bigint" % ', '.join(
            self.quote(column) for column in table['columns'])

    def aggregate(self, table):
        return 'coalesce(sum(%s), 0)' % self.digest_expression(table)


def side(engine):
    return PostgreSQLSide(engine)
