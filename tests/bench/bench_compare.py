"""db_compare on 1,000,000 rows: two throwaway servers per engine (MariaDB, PostgreSQL) holding
the same table, compared

* by db_compare's checksum (the servers hash primary-key chunks of 10,000 rows; only digests
  travel), table rows per second;
* by a client-side row-by-row comparison measured in the same run: both tables streamed in key
  order through server-side cursors and compared tuple by tuple in Python, rows per second;
* then one row changed on the destination: the seconds db_compare takes to name it (the whole
  table is still walked, the one differing chunk is narrowed down to the row).

``DTSOPS_BENCH_COMPARE_ROWS`` changes the number of rows (default 1000000).
"""

import os
import time

from bench import Row, Skip, benchmark

ROWS = int(os.environ.get('DTSOPS_BENCH_COMPARE_ROWS', '1000000'))
CHANGED = ROWS * 3 // 4 + 17
CHUNK = 10000

MARIADB_DDL = ('CREATE TABLE bench.items (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT NOT NULL, '
               'price DECIMAL(12, 2) NOT NULL, note VARCHAR(64) NULL) ENGINE=InnoDB')
MARIADB_FILL = ("INSERT INTO bench.items SELECT seq, CONCAT('item ', seq), seq %% 100, seq / 100, IF(seq %% 7 = 0, CONCAT('n', seq), NULL) "
                "FROM bench.seq_1_to_%d" % ROWS)
PG_DDL = 'CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, qty INT NOT NULL, price NUMERIC(12, 2) NOT NULL, note TEXT)'
PG_FILL = ("INSERT INTO items SELECT g, 'item ' || g, g %% 100, g / 100.0, CASE WHEN g %% 7 = 0 THEN 'n' || g END "
           "FROM generate_series(1, %d) g" % ROWS)


class Pair(object):
    """Two servers of one engine with the same ``items`` table."""

    def __init__(self, kind):
        try:
            from localdb import MariaDBServer, PostgreSQLServer
        except ImportError as exc:
            raise Skip('the throwaway servers (tests/localdb) are not importable: %s' % exc)
        self.kind = kind
        server_class = MariaDBServer if kind == 'mariadb' else PostgreSQLServer
        self.servers = [server_class(), server_class()]

    def __enter__(self):
        for server in self.servers:
            server.start()
            if self.kind == 'mariadb':
                server.create_database('bench')
                server.execute(MARIADB_DDL)
                server.execute(MARIADB_FILL)
            else:
                server.execute(PG_DDL)
                server.execute(PG_FILL)
                server.execute('VACUUM ANALYZE items')
        return self

    def __exit__(self, *exc):
        for server in self.servers:
            server.stop()

    @property
    def object(self):
        return 'bench.items' if self.kind == 'mariadb' else 'public.items'

    def change_one_row(self):
        destination = self.servers[1]
        statement = "UPDATE %s SET name = 'changed' WHERE id = %d" % ('bench.items' if self.kind == 'mariadb' else 'items', CHANGED)
        destination.execute(statement)

    def db_compare(self):
        """db_compare's logic through the collection's engines (what the module runs); returns the summary."""
        from ansible_collections.dtsops.switchover.plugins.module_utils import compare
        from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import MySQLEngine
        from ansible_collections.dtsops.switchover.plugins.module_utils.engines.postgresql import PostgreSQLEngine
        engine_class = MySQLEngine if self.kind == 'mariadb' else PostgreSQLEngine
        source, destination = (engine_class(server.params) for server in self.servers)
        source.connect()
        destination.connect()
        try:
            budget = compare.Budget(3600)
            worker = compare.comparer(engine_class.name, source, destination, chunk_size=CHUNK, budget=budget)
            return compare.summary(compare.run([(self.object, self.object)], worker, budget))
        finally:
            source.close()
            destination.close()

    def client_side(self):
        """Both tables streamed in key order and compared row by row in Python; returns the rows compared."""
        connections = [server.connect(database='bench') if self.kind == 'mariadb' else server.connect() for server in self.servers]
        try:
            cursors = []
            for index, conn in enumerate(connections):
                if self.kind == 'mariadb':
                    import pymysql.cursors
                    cursor = conn.cursor(pymysql.cursors.SSCursor)
                else:
                    conn.autocommit = False
                    cursor = conn.cursor(name='bench_stream_%d' % index)
                    cursor.itersize = CHUNK
                cursor.execute('SELECT id, name, qty, price, note FROM items ORDER BY id')
                cursors.append(cursor)
            compared = differing = 0
            for left, right in zip(*cursors):
                compared += 1
                differing += left != right
            for cursor in cursors:
                cursor.close()
            return compared, differing
        finally:
            for conn in connections:
                conn.close()


def _seconds(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def _measure(kind):
    label = 'MariaDB' if kind == 'mariadb' else 'PostgreSQL'
    with Pair(kind) as pair:
        pair.db_compare()      # warm the buffer pools once, as both methods read the same pages
        ours, summary = _seconds(pair.db_compare)
        if not summary['consistent'] or summary['objects'][0]['source_count'] != ROWS:
            raise RuntimeError('db_compare on identical tables: %r' % summary)
        theirs, (compared, differing) = _seconds(pair.client_side)
        if compared != ROWS or differing:
            raise RuntimeError('client-side comparison compared %d rows, %d differing' % (compared, differing))
        pair.change_one_row()
        found, summary = _seconds(pair.db_compare)
        keys = [d['keys'] for d in summary['differences']]
        if keys != [[CHANGED]]:
            raise RuntimeError('db_compare named %r, not the changed row %d' % (keys, CHANGED))
    return [
        Row('%s %d rows: db_compare checksum' % (label, ROWS), ROWS / ours, 'rows/s',
            note='%.2f s; chunks of %d rows hashed by the server' % (ours, CHUNK)),
        Row('%s %d rows: client-side row-by-row' % (label, ROWS), ROWS / theirs, 'rows/s',
            note='%.2f s; both tables streamed and compared in Python, same run' % theirs),
        Row('%s: db_compare speed-up over row-by-row' % label, theirs / ours, 'x', target=1, higher_is_better=True),
        Row('%s %d rows: name one changed row' % (label, ROWS), found, 's',
            note='row %d named; the whole table walked, one chunk narrowed' % CHANGED),
    ]


@benchmark('compare_mariadb', 'db_compare: checksum vs client-side row-by-row on %d MariaDB rows; naming one changed row' % ROWS)
def compare_mariadb():
    return _measure('mariadb')


@benchmark('compare_postgresql', 'db_compare: checksum vs client-side row-by-row on %d PostgreSQL rows; naming one changed row' % ROWS)
def compare_postgresql():
    return _measure('postgresql')
