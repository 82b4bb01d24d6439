# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data comparison between a source and a destination (the db_compare module).

The servers hash the data; this side only walks chunks and compares digests. One file per engine
supplies a :class:`Side` (what one server can answer about one object); the walk, the narrowing
of a differing chunk down to rows and the result are the same for every table engine and live
here (:class:`TableCompare`). Redis and MongoDB walk keys and documents their own way but fill
the same :class:`ObjectResult`.

A chunk is a key range ``(lower, upper]`` (``None``: unbounded), so that consecutive chunks
cover the whole key space and rows the destination has beyond the source's last key are seen.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import threading
import time
import uuid

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, NotSupported

METHODS = ('checksum', 'count')
NO_KEY_ACTIONS = ('count', 'skip', 'fail')
KINDS = ('missing', 'extra', 'changed', 'count')


class CompareTimeout(EngineError):
    """The comparison ran out of time; ``results`` holds the objects compared so far."""

    def __init__(self, message, results=()):
        super(CompareTimeout, self).__init__(message)
        self.results = list(results)


def json_value(value):
    """A key value as JSON-safe data: numbers and text as they are, the rest as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode('utf-8')
        except UnicodeDecodeError:
            return '0x' + raw.hex()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return dict((str(k), json_value(v)) for k, v in value.items())
    return str(value)


def json_key(key):
    """A key tuple as shown: the value for a one-column key, a list for a composite one."""
    if isinstance(key, tuple):
        return json_value(key[0]) if len(key) == 1 else [json_value(part) for part in key]
    return json_value(key)


class Budget(object):
    """The deadline (``timeout``) and the read rate (``max_rows_per_second``) of one run.

    ``spend(rows)`` is called after each read: it sleeps as long as needed to stay under the rate
    (so a busy source is not loaded harder than asked) and raises CompareTimeout past the deadline."""

    def __init__(self, timeout, max_rows_per_second=None, clock=time.monotonic, sleep=time.sleep):
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.timeout = timeout
        self.rate = max_rows_per_second or None
        self.rows = 0
        self.results = []

    def left(self):
        return self.timeout - (self.clock() - self.started)

    def check(self):
        if self.left() <= 0:
            raise CompareTimeout('the comparison did not finish within timeout (%s seconds)' % _seconds(self.timeout), self.results)

    def spend(self, rows):
        self.rows += rows
        if self.rate:
            ahead = self.rows / float(self.rate) - (self.clock() - self.started)
            if ahead > 0:
                self.sleep(min(ahead, max(self.left(), 0)))
        self.check()


class ObjectResult(object):
    """What one compared object gave: counts, timings, and its differences (first N keys)."""

    def __init__(self, name, destination_name, method, max_differences):
        self.name = name
        self.destination_name = destination_name
        self.method = method
        self.max_differences = max_differences
        self.source_count = None
        self.destination_count = None
        self.chunks = 0
        self.differing_chunks = 0
        self.rows_read = 0
        self.seconds = 0.0
        self.skipped = None
        self.note = None
        self.keys = dict((kind, []) for kind in ('missing', 'extra', 'changed'))
        self.found = dict((kind, 0) for kind in ('missing', 'extra', 'changed'))
        self.object_kind = None     # 'missing' / 'extra' when the whole object is absent on one side
        self.count_differs = False

    @property
    def full(self):
        """Enough keys named: narrowing more would only cost time."""
        return sum(self.found.values()) >= self.max_differences

    def add(self, kind, key):
        self.found[kind] += 1
        if len(self.keys[kind]) < self.max_differences:
            self.keys[kind].append(json_key(key))

    @property
    def consistent(self):
        if self.skipped:
            return True
        return not (self.object_kind or self.count_differs or any(self.found.values()))

    def differences(self):
        """The differences of this object, one entry per kind."""
        base = {'object': self.name, 'destination_object': self.destination_name}
        if self.object_kind:
            return [dict(base, kind=self.object_kind, keys=[], found=0, detail=self.note or '')]
        found = []
        for kind in ('missing', 'extra', 'changed'):
            if self.found[kind]:
                found.append(dict(base, kind=kind, keys=list(self.keys[kind]), found=self.found[kind],
                                  truncated=self.found[kind] > len(self.keys[kind]) or self.full))
        if self.count_differs and not found:
            found.append(dict(base, kind='count', keys=[], found=abs((self.source_count or 0) - (self.destination_count or 0)),
                              source_count=self.source_count, destination_count=self.destination_count,
                              detail=self.note or ''))
        return found

    def as_dict(self):
        return {
            'object': self.name,
            'destination_object': self.destination_name,
            'method': self.method,
            'consistent': self.consistent,
            'source_count': self.source_count,
            'destination_count': self.destination_count,
            'chunks': self.chunks,
            'differing_chunks': self.differing_chunks,
            'rows_read': self.rows_read,
            'seconds': round(self.seconds, 3),
            'skipped': self.skipped,
            'note': self.note,
        }


def not_implemented(side, method):
    """What a table engine's file left out: an error the module reports, not a traceback."""
    return NotSupported('db_compare on %s has no %s' % (getattr(side.engine, 'name', 'this engine'), method))


class Side(object):
    """What one server answers about one table (a table engine's file implements it).

    ``table`` is what :meth:`describe` returned. Key values travel as tuples, as the driver gave
    them, and go back into the statements as parameters."""

    def __init__(self, engine):
        self.engine = engine

    def describe(self, name):
        """{'name', 'columns': [...], 'key': [...] (empty: no primary key)} or None when missing."""
        raise not_implemented(self, 'describe')

    def expand(self, pattern):
        """The table names a pattern such as ``db.*`` stands for."""
        raise not_implemented(self, 'expand')

    def count(self, table):
        raise not_implemented(self, 'count')

    def boundary(self, table, lower, upper, offset):
        """The key ``offset`` rows after ``lower`` (within ``upper``), or None past the end."""
        raise not_implemented(self, 'boundary')

    def chunk(self, table, lower, upper):
        """(rows, digest) of the key range (lower, upper], hashed by the server."""
        raise not_implemented(self, 'chunk')

    def row_digests(self, table, lower, upper):
        """{key tuple: row digest} of the key range, hashed by the server."""
        raise not_implemented(self, 'row_digests')


class SqlSide(Side):
    """A Side for the SQL engines: key ranges as WHERE clauses, statements shown with ``?`` for
    their parameters (one line per statement shape, however many chunks ran it).

    An engine file implements :meth:`quote_name`, :meth:`describe`, :meth:`expand`,
    :meth:`digest_expression` (the per-row hash) and :meth:`aggregate` (its fold over a chunk), or
    its own ``chunk_sql`` over ``{digest}``; engines whose driver is not PyMySQL-like override
    :meth:`query` and :meth:`param`."""

    row_compare = True      # (a, b) > (x, y) understood (MySQL, PostgreSQL), else spelt out
    limit = 'LIMIT 1 OFFSET {offset}'
    chunk_sql = 'SELECT COUNT(*), {aggregate} FROM {table}{where}'
    count_sql = 'SELECT COUNT(*) FROM {table}'

    def quote_name(self, name):
        """The identifier quoted as the server wants it."""
        raise not_implemented(self, 'quote_name')

    def quote(self, name):
        # The drivers with %s placeholders format the statement with %: a % in a name is doubled.
        return self.quote_name(name).replace('%', '%%')

    def param(self, args):
        """The placeholder of the next parameter (appended to ``args`` by the caller)."""
        return '%s'

    def query(self, statement, args=()):
        """Rows (tuples) of a read, through the engine's ``execute``; recorded once per statement
        shape (parameters shown as ``?``)."""
        shown = statement.replace('%s', '?').replace('%%', '%')
        try:
            return self.engine.execute(statement, tuple(args), shown=shown)
        except EngineError:
            raise
        except Exception as exc:  # the driver's error, with the statement that failed
            raise EngineError(self.engine.scrub('%s failed on %s: %s' % (shown, self.engine.address, ' '.join(str(exc).split()))))

    def digest_expression(self, table):
        raise not_implemented(self, 'digest_expression')

    def row_digest_expression(self, table):
        return self.digest_expression(table)

    def aggregate(self, table):
        return ''

    def _keys(self, table):
        return ', '.join(self.quote(column) for column in table['key'])

    def _compare(self, key, op, values, args):
        if len(key) == 1:
            args.append(values[0])
            return '%s %s %s' % (self.quote(key[0]), op, self.param(args))
        if self.row_compare:
            marks = []
            for value in values:
                args.append(value)
                marks.append(self.param(args))
            return '(%s) %s (%s)' % (', '.join(self.quote(c) for c in key), op, ', '.join(marks))
        # (a, b) > (x, y) spelt out: a > x OR (a = x AND b > y); <= is the negation of >.
        alternatives = []
        for index in range(len(key)):
            terms = []
            for position in range(index + 1):
                args.append(values[position])
                terms.append('%s %s %s' % (self.quote(key[position]), '>' if position == index else '=', self.param(args)))
            alternatives.append('(%s)' % ' AND '.join(terms))
        condition = '(%s)' % ' OR '.join(alternatives)
        return condition if op == '>' else 'NOT %s' % condition

    def where(self, table, lower, upper, args):
        conditions = []
        if lower is not None:
            conditions.append(self._compare(table['key'], '>', lower, args))
        if upper is not None:
            conditions.append(self._compare(table['key'], '<=', upper, args))
        return ' WHERE %s' % ' AND '.join(conditions) if conditions else ''

    def count(self, table):
        return int(self.query(self.count_sql.format(table=table['qualified']))[0][0])

    def boundary(self, table, lower, upper, offset):
        args = []
        where = self.where(table, lower, upper, args)
        rows = self.query('SELECT %s FROM %s%s ORDER BY %s %s' % (
            self._keys(table), table['qualified'], where, self._keys(table), self.limit.format(offset=int(offset))), args)
        return tuple(rows[0][:len(table['key'])]) if rows else None

    def chunk(self, table, lower, upper):
        args = []
        where = self.where(table, lower, upper, args)
        row = self.query(self.chunk_sql.format(aggregate=self.aggregate(table), digest=self.digest_expression(table),
                                               table=table['qualified'], where=where), args)[0]
        return int(row[0]), tuple(_number(value) for value in row[1:])

    def row_digests(self, table, lower, upper):
        args = []
        where = self.where(table, lower, upper, args)
        rows = self.query('SELECT %s, %s FROM %s%s ORDER BY %s' % (
            self._keys(table), self.row_digest_expression(table), table['qualified'], where, self._keys(table)), args)
        width = len(table['key'])
        return dict((tuple(row[:width]), _number(row[width])) for row in rows)


def _number(value):
    """Digests as ints whatever numeric type the driver used (Decimal, int, float)."""
    if value is None:
        return 0
    if isinstance(value, (int, decimal.Decimal)) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


def same_columns(source_table, destination_table):
    return [c.lower() for c in source_table['columns']] == [c.lower() for c in destination_table['columns']] \
        and [c.lower() for c in source_table['key']] == [c.lower() for c in destination_table['key']]


class TableCompare(object):
    """Compare tables in key chunks with the servers' own hashing; narrow differing chunks to rows."""

    def __init__(self, source, destination, method='checksum', chunk_size=10000, max_differences=10,
                 no_primary_key='count', budget=None, leaf_rows=1000):
        self.source = source
        self.destination = destination
        self.method = method
        self.chunk_size = chunk_size
        self.max_differences = max_differences
        self.no_primary_key = no_primary_key
        self.budget = budget or Budget(3600)
        self.leaf_rows = max(1, min(leaf_rows, chunk_size))

    def compare(self, name, destination_name):
        result = ObjectResult(name, destination_name, self.method, self.max_differences)
        started = time.monotonic()
        try:
            self._compare(result, name, destination_name)
        finally:
            result.seconds = time.monotonic() - started
        return result

    def _compare(self, result, name, destination_name):
        source_table = self.source.describe(name)
        if source_table is None:
            raise EngineError('table %s does not exist on the source %s: check objects' % (name, self.source.engine.address))
        destination_table = self.destination.describe(destination_name)
        if destination_table is None:
            result.object_kind = 'missing'
            result.note = 'table %s does not exist on the destination' % destination_name
            result.source_count = self.source.count(source_table)
            return
        method = self.method
        if method == 'checksum' and not source_table['key']:
            if self.no_primary_key == 'fail':
                raise EngineError('table %s has no primary key, so it cannot be compared in key chunks: give it a primary key, '
                                  'or set no_primary_key to count (compare the row counts) or skip' % name)
            if self.no_primary_key == 'skip':
                result.skipped = 'no primary key'
                result.note = 'skipped: no primary key (no_primary_key=skip)'
                return
            result.note = 'no primary key: compared by row count only'
            method = 'count'
        if method == 'checksum' and not same_columns(source_table, destination_table):
            result.object_kind = 'changed'
            result.note = 'the columns differ: source (%s), destination (%s)' % (
                ', '.join(source_table['columns']), ', '.join(destination_table['columns']))
            return
        result.method = method
        if method == 'count':
            result.source_count = self.source.count(source_table)
            result.destination_count = self.destination.count(destination_table)
            result.rows_read = (result.source_count or 0) + (result.destination_count or 0)
            result.count_differs = result.source_count != result.destination_count
            self.budget.spend(0)
            return
        self._walk(result, source_table, destination_table)

    def _walk(self, result, source_table, destination_table):
        result.source_count = result.destination_count = 0
        lower = None
        while True:
            upper = self.source.boundary(source_table, lower, None, self.chunk_size - 1)
            source_digest, destination_digest = self._chunks(source_table, destination_table, lower, upper)
            result.chunks += 1
            result.source_count += source_digest[0]
            result.destination_count += destination_digest[0]
            rows = source_digest[0] + destination_digest[0]
            result.rows_read += rows
            self.budget.spend(rows)
            if source_digest != destination_digest:
                result.differing_chunks += 1
                if not result.full:
                    self._narrow(result, source_table, destination_table, lower, upper, source_digest[0], destination_digest[0])
            if upper is None:
                break
            lower = upper
        # Narrowing stopped at max_differences: the counts still tell whether rows are missing.
        result.count_differs = result.source_count != result.destination_count

    def _narrow(self, result, source_table, destination_table, lower, upper, source_rows, destination_rows):
        """Split a differing key range in halves until it is small, then compare row digests."""
        if max(source_rows, destination_rows) <= self.leaf_rows:
            self._rows(result, source_table, destination_table, lower, upper)
            return
        # Split where the larger side has its middle row, so each half shrinks.
        side, table, rows = ((self.source, source_table, source_rows) if source_rows >= destination_rows
                             else (self.destination, destination_table, destination_rows))
        middle = side.boundary(table, lower, upper, rows // 2 - 1)
        if middle is None:  # the range shrank meanwhile (a busy source): compare its rows
            self._rows(result, source_table, destination_table, lower, upper)
            return
        for low, high in ((lower, middle), (middle, upper)):
            if result.full:
                return
            source_digest, destination_digest = self._chunks(source_table, destination_table, low, high)
            result.rows_read += source_digest[0] + destination_digest[0]
            self.budget.spend(source_digest[0] + destination_digest[0])
            if source_digest != destination_digest:
                self._narrow(result, source_table, destination_table, low, high, source_digest[0], destination_digest[0])

    def _both(self, source_call, destination_call):
        """Run a read on both servers at the same time (each hashes its own chunk): the
        destination's in a helper thread, the source's here."""
        outcome = {}

        def run():
            try:
                outcome['value'] = destination_call()
            except BaseException as exc:  # re-raised in the caller's thread  pylint: disable=broad-except
                outcome['error'] = exc
        helper = threading.Thread(target=run, name='db_compare-destination')
        helper.start()
        try:
            source_value = source_call()
        finally:
            helper.join()
        if 'error' in outcome:
            raise outcome['error']
        return source_value, outcome['value']

    def _chunks(self, source_table, destination_table, lower, upper):
        return self._both(lambda: self.source.chunk(source_table, lower, upper),
                          lambda: self.destination.chunk(destination_table, lower, upper))

    def _rows(self, result, source_table, destination_table, lower, upper):
        source_rows, destination_rows = self._both(lambda: self.source.row_digests(source_table, lower, upper),
                                                   lambda: self.destination.row_digests(destination_table, lower, upper))
        result.rows_read += len(source_rows) + len(destination_rows)
        self.budget.spend(len(source_rows) + len(destination_rows))
        for key in sorted(source_rows, key=_sortable):
            if key not in destination_rows:
                result.add('missing', key)
            elif source_rows[key] != destination_rows[key]:
                result.add('changed', key)
        for key in sorted(destination_rows, key=_sortable):
            if key not in source_rows:
                result.add('extra', key)


def _sortable(key):
    return tuple((value is not None, str(type(value)), value if value is not None else 0) for value in key)


def split_name(name, parts, what):
    """'a.b' -> ['a', 'b'] with ``parts`` accepted counts; EngineError naming the format."""
    pieces = name.split('.') if isinstance(name, str) else []
    if len(pieces) not in parts or not all(piece.strip() for piece in pieces):
        raise EngineError('%s %r: name it as %s' % (what, name, ' or '.join(
            {1: 'table', 2: 'schema.table', 3: 'database.schema.table'}[count] for count in sorted(parts))))
    return pieces


def objects_from_db_object(db_object, engine):
    """The (source, destination) object names of a DTS task's DbObject (a JSON text or dict).

    DTS names the objects per database (MySQL, MongoDB: tables/collections under ``Table``),
    per database and schema (PostgreSQL, SQL Server: ``Schema`` then ``Table``; Oracle: the
    top level is the schema); ``name`` is the name on the destination (a mapping), ``all: true``
    takes every object below."""
    if isinstance(db_object, str):
        try:
            db_object = json.loads(db_object) if db_object.strip() else {}
        except ValueError as exc:
            raise EngineError('the DTS task DbObject is not JSON (%s): pass objects' % exc)
    if not isinstance(db_object, dict) or not db_object:
        raise EngineError('the DTS task names no objects (empty DbObject): pass objects')
    if engine == 'redis':
        return [('*', '*')]
    pairs = []
    for db_key, spec in sorted(db_object.items()):
        spec = spec if isinstance(spec, dict) else {}
        destination_db = spec.get('name') or db_key
        if engine in ('postgresql', 'sqlserver') and isinstance(spec.get('Schema'), dict):
            for schema, schema_spec in sorted(spec['Schema'].items()):
                schema_spec = schema_spec if isinstance(schema_spec, dict) else {}
                destination_schema = schema_spec.get('name') or schema
                prefix = ('%s.' % db_key, '%s.' % destination_db) if engine == 'sqlserver' else ('', '')
                pairs.extend(_tables(schema_spec, prefix[0] + schema, prefix[1] + destination_schema))
        elif engine in ('postgresql', 'sqlserver'):
            schema = 'public' if engine == 'postgresql' else 'dbo'
            prefix = ('%s.' % db_key, '%s.' % destination_db) if engine == 'sqlserver' else ('', '')
            pairs.extend(_tables(spec, prefix[0] + schema, prefix[1] + schema))
        else:
            pairs.extend(_tables(spec, db_key, destination_db))
    return pairs


def _tables(spec, container, destination_container):
    tables = spec.get('Table') if isinstance(spec.get('Table'), dict) else None
    if not tables:
        return [('%s.*' % container, '%s.*' % destination_container)]
    return [('%s.%s' % (container, table), '%s.%s' % (destination_container, (table_spec or {}).get('name') or table))
            for table, table_spec in sorted(tables.items())]


# The engine files are imported only for the engines asked for; written out for AnsiballZ, which
# packs a module's module_utils by reading its import statements.
def _mysql():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import mysql
    return mysql


def _postgresql():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import postgresql
    return postgresql


def _sqlserver():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import sqlserver
    return sqlserver


def _oracle():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import oracle
    return oracle


def _redis():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import redis
    return redis


def _mongodb():
    from ansible_collections.dtsops.switchover.plugins.module_utils.compare import mongodb
    return mongodb


ENGINE_FILES = {'mysql': _mysql, 'postgresql': _postgresql, 'sqlserver': _sqlserver, 'oracle': _oracle,
                'redis': _redis, 'mongodb': _mongodb}


def comparer(engine_name, source, destination, **options):
    """The object that compares one object pair (``compare(name, destination_name)``) for two
    connected engines: TableCompare over two Sides for the SQL engines, the engine's own for
    Redis and MongoDB."""
    module = ENGINE_FILES[engine_name]()
    if hasattr(module, 'comparer'):
        return module.comparer(source, destination, **options)
    source_side = module.side(source)
    compare = TableCompare(source_side, module.side(destination), **options)
    compare.expand = source_side.expand
    return compare


def run(objects, compare, budget):
    """Compare every (source name, destination name) pair with ``compare.compare(name,
    destination_name)`` -> ObjectResult, expanding patterns (``db.*``) on the source. Returns
    the list of ObjectResult; CompareTimeout carries the ones finished."""
    results = budget.results
    for name, destination_name in objects:
        if name.endswith('*') and not getattr(compare, 'patterns_are_objects', False):
            names = compare.expand(name)
            if not names:
                raise EngineError('%s matches no object on the source: check objects' % name)
            prefix = destination_name[:-1]
            pairs = [(item, prefix + item.rsplit('.', 1)[-1]) for item in names]
        else:
            pairs = [(name, destination_name)]
        for pair in pairs:
            budget.check()
            results.append(compare.compare(*pair))
    return results


def summary(results):
    """The module's result fields out of the ObjectResults."""
    differences = []
    for item in results:
        differences.extend(item.differences())
    return {
        'consistent': not differences,
        'differences': differences,
        'objects': [item.as_dict() for item in results],
        'rows_compared': sum(item.rows_read for item in results),
    }


def describe_differences(differences, limit=10):
    """One line per difference, for a failure message and the report."""
    lines = []
    for item in differences[:limit]:
        if item['kind'] == 'count':
            lines.append('%s: %s rows on the source, %s on the destination' % (
                item['object'], item.get('source_count'), item.get('destination_count')))
        elif not item['keys']:
            lines.append('%s: %s (%s)' % (item['object'], item['kind'], item.get('detail') or 'the whole object'))
        else:
            more = ' and %d more' % (item['found'] - len(item['keys'])) if item['found'] > len(item['keys']) else ''
            lines.append('%s: %s %s%s' % (item['object'], item['kind'], ', '.join(json.dumps(k, default=str) for k in item['keys']), more))
    if len(differences) > limit:
        lines.append('and %d more' % (len(differences) - limit))
    return '; '.join(lines)


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')
