# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL: per chunk, md5 of the rows' texts (``ROW(columns)::text``, which tells NULL from an
empty string) aggregated in key order in the server; per row, md5 of its text when narrowing."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import SqlSide, split_name


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

    def _row_text(self, table):
        return 'ROW(%s)::text' % ', '.join(self.quote(column) for column in table['columns'])

    def digest_expression(self, table):
        return 'md5(%s)' % self._row_text(table)

    def aggregate(self, table):
        # One md5 over the chunk's row texts in key order: measured 2.4 times faster than a sum
        # of per-row md5s turned into bigints (tests/bench). A record's text is parenthesised and
        # quoted, so the texts joined without a separator still tell the rows apart.
        return "md5(string_agg(%s, '' ORDER BY %s))" % (self._row_text(table), self._keys(table))


def side(engine):
    return PostgreSQLSide(engine)
