"""MariaDB (and MySQL) replication: structure and full copy from a consistent snapshot, then the
row-based binlog read with mysql-replication and applied in commit order.

Source requirements: ``log_bin``, ``binlog_format=ROW``, ``binlog_row_image=FULL`` and, for
column names in the binlog, ``binlog_row_metadata=FULL`` (without it rows are matched to the
destination's columns by position). The migration account needs REPLICATION SLAVE, BINLOG
MONITOR (REPLICATION CLIENT) and SELECT on the source, and on the destination the rights to
write the migrated databases and to create the database ``dts_emulator`` (the progress table).

The full copy's start position comes from MariaDB's ``binlog_snapshot_file/position`` status of
a ``START TRANSACTION WITH CONSISTENT SNAPSHOT``: no lock on the source. Each destination
transaction also upserts the task's row in ``dts_emulator.progress``: the position is saved
atomically with the data, and a reader of that server's binlog knows which transactions a
replicator wrote (that is how the reverse task skips the forward task's writes).
"""

import json
import random
import re
import time

import pymysql
from pymysql.constants import CLIENT
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import GtidEvent, HeartbeatLogEvent, MariadbGtidEvent, QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from .base import TAG_PREFIX, ReplicationError, Replicator, Unit

PROGRESS_DB = TAG_PREFIX
PROGRESS_TABLE = 'progress'
ER_BAD_DB, ER_NO_SUCH_TABLE = 1049, 1146
COPY_BATCH = 500

# DDL that belongs to the migrated objects. Account statements (CREATE USER, GRANT, ALTER USER ...
# ACCOUNT LOCK: the switchover's own fence) are binlogged too and must never be replicated.
DDL = re.compile(r'^\s*(?:/\*.*?\*/\s*)*(?:create|alter|drop|rename|truncate)\s+(?:or\s+replace\s+)?(?:temporary\s+)?'
                 r'(?:online\s+|offline\s+)?(?:ignore\s+)?(?:unique\s+|fulltext\s+|spatial\s+)?(?:table|index|view)\b', re.I | re.S)
DDL_TAG = re.compile(r'^\s*/\* %s:(\w+) \*/' % TAG_PREFIX)


def quote(name):
    return '`%s`' % name.replace('`', '``')


def sql_value(value):
    """What PyMySQL can send for a value decoded from the binlog."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, (set, frozenset)):
        return ','.join(sorted(value))
    return value


class MySQLReplicator(Replicator):
    engine = 'mysql'
    heartbeat = 0.3

    def __init__(self, *args, **kwargs):
        super(MySQLReplicator, self).__init__(*args, **kwargs)
        if not self.objects:
            raise ReplicationError('no database to migrate: set the task DbObject or the endpoint DatabaseName')
        self._tables = {}

    def _connect(self, endpoint, **kwargs):
        try:
            return pymysql.connect(host=endpoint.host, port=endpoint.port, user=endpoint.user, password=endpoint.password or '',
                                   connect_timeout=5, charset='utf8mb4', **kwargs)
        except pymysql.err.MySQLError as error:
            raise ReplicationError('cannot connect to %s as %s: %s' % (endpoint.address, endpoint.user, error.args[-1])) from None

    # -- structure and full copy --------------------------------------------------------------

    def current_position(self, cursor):
        cursor.execute('SHOW MASTER STATUS')
        row = cursor.fetchone()
        if not row:
            raise ReplicationError('the binary log is off on %s: start it with log_bin and binlog_format=ROW' % self.source.address)
        return {'file': row[0], 'pos': int(row[1])}

    def prepare(self):
        source = self._connect(self.source, autocommit=True)
        try:
            cursor = source.cursor()
            if not (self.structure or self.full):
                return self.current_position(cursor)
            cursor.execute('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            cursor.execute('START TRANSACTION WITH CONSISTENT SNAPSHOT')
            cursor.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            snapshot = {name.lower(): value for name, value in cursor.fetchall()}
            if not snapshot.get('binlog_snapshot_file'):
                raise ReplicationError('%s gives no binlog position for a consistent snapshot (binlog_snapshot_file): '
                                       'the full copy needs MariaDB with log_bin' % self.source.address)
            position = {'file': snapshot['binlog_snapshot_file'], 'pos': int(snapshot['binlog_snapshot_position'])}
            destination = self._connect(self.destination, autocommit=False)
            try:
                for database in self.objects:
                    self._copy_database(cursor, source, destination, database)
                destination.commit()
            finally:
                destination.close()
            source.commit()
            return position
        except pymysql.err.MySQLError as error:
            raise ReplicationError('full migration from %s failed: %s' % (self.source.address, error.args[-1])) from None
        finally:
            source.close()

    def _copy_database(self, cursor, source, destination, database):
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
                       "ORDER BY TABLE_NAME", (database,))
        tables = [row[0] for row in cursor.fetchall()]
        target = destination.cursor()
        if self.structure:
            target.execute('CREATE DATABASE IF NOT EXISTS %s' % quote(database))
            for table in tables:
                cursor.execute('SHOW CREATE TABLE %s.%s' % (quote(database), quote(table)))
                statement = cursor.fetchone()[1]
                target.execute('USE %s' % quote(database))
                target.execute(re.sub(r'^CREATE TABLE', 'CREATE TABLE IF NOT EXISTS', statement, count=1))
        if not self.full:
            return
        for table in tables:
            reader = source.cursor(pymysql.cursors.SSCursor)
            reader.execute('SELECT * FROM %s.%s' % (quote(database), quote(table)))
            columns = [column[0] for column in reader.description]
            names = ', '.join(quote(column) for column in columns)
            placeholders = ', '.join(['%s'] * len(columns))
            statement = 'INSERT INTO %s.%s (%s) VALUES (%s)' % (quote(database), quote(table), names, placeholders)
            while True:
                rows = reader.fetchmany(COPY_BATCH)
                if not rows:
                    break
                target.executemany(statement, rows)
            reader.close()

    # -- capture ------------------------------------------------------------------------------

    def stream(self, position, stop, emit):
        reader = BinLogStreamReader(
            connection_settings={'host': self.source.host, 'port': self.source.port, 'user': self.source.user,
                                 'passwd': self.source.password or ''},
            server_id=random.randint(1000000, 2 ** 31), blocking=True, resume_stream=True, log_file=position['file'],
            log_pos=position['pos'], slave_heartbeat=self.heartbeat, enable_logging=False,
            only_schemas=list(self.objects) + [PROGRESS_DB],
            only_events=[GtidEvent, MariadbGtidEvent, QueryEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent,
                         HeartbeatLogEvent])
        changes, tag = [], None
        try:
            for event in reader:
                if stop.is_set():
                    return
                if isinstance(event, HeartbeatLogEvent):
                    continue
                here = {'file': reader.log_file, 'pos': reader.log_pos}
                # Binlog timestamps are whole seconds: the arrival time is the better commit time for
                # live changes, timestamp + 1 for changes read again after a restart.
                commit_time = min(time.time(), event.timestamp + 1)
                if isinstance(event, (GtidEvent, MariadbGtidEvent)):
                    changes, tag = [], None
                elif isinstance(event, QueryEvent):
                    query = event.query.strip()
                    keyword = query.upper()
                    if keyword in ('BEGIN', 'XA START'):
                        changes, tag = [], None
                    elif keyword == 'COMMIT':
                        emit(Unit(here, commit_time, changes, skip=not changes, tag=tag))
                        changes, tag = [], None
                    else:
                        schema = event.schema.decode('utf-8', 'replace') if isinstance(event.schema, bytes) else event.schema
                        if self._ddl_in_scope(schema, query):
                            match = DDL_TAG.match(query)
                            emit(Unit(here, commit_time, [('ddl', schema, None, query)], tag=match.group(1) if match else None))
                        else:
                            emit(Unit(here, commit_time, skip=True))
                elif isinstance(event, XidEvent):
                    emit(Unit(here, commit_time, changes, skip=not changes, tag=tag))
                    changes, tag = [], None
                else:
                    tag = self._collect(event, changes) or tag
        except pymysql.err.MySQLError as error:
            raise ReplicationError('reading the binlog of %s as %s failed: %s'
                                   % (self.source.address, self.source.user, error.args[-1])) from None
        finally:
            reader.close()

    def _ddl_in_scope(self, schema, query):
        if not DDL.match(query):
            return False
        if schema in self.objects:
            return True
        return any(re.search(r'(?<![\w$])`?%s`?\s*\.' % re.escape(database), query) for database in self.objects)

    def _collect(self, event, changes):
        """Add a rows event to the transaction; returns the tag when it is a progress write."""
        if event.schema == PROGRESS_DB:
            if event.table == PROGRESS_TABLE:
                row = event.rows[-1]
                return (row.get('after_values') or row.get('values') or {}).get('job_id')
            return None
        for row in event.rows:
            if isinstance(event, WriteRowsEvent):
                changes.append(('insert', event.schema, event.table, (None, row['values'])))
            elif isinstance(event, UpdateRowsEvent):
                changes.append(('update', event.schema, event.table, (row['before_values'], row['after_values'])))
            else:
                changes.append(('delete', event.schema, event.table, (row['values'], None)))
        return None

    # -- apply --------------------------------------------------------------------------------

    def connect_destination(self):
        connection = self._connect(self.destination, autocommit=False, client_flag=CLIENT.FOUND_ROWS)
        cursor = connection.cursor()
        cursor.execute('CREATE DATABASE IF NOT EXISTS %s' % quote(PROGRESS_DB))
        cursor.execute('CREATE TABLE IF NOT EXISTS %s.%s (job_id VARCHAR(64) NOT NULL PRIMARY KEY, position VARCHAR(512) NOT NULL, '
                       'updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB' % (quote(PROGRESS_DB), quote(PROGRESS_TABLE)))
        connection.commit()
        self._tables = {}
        return connection

    def destination_progress(self):
        connection = self._connect(self.destination, autocommit=True)
        try:
            cursor = connection.cursor()
            cursor.execute('SELECT position FROM %s.%s WHERE job_id = %%s' % (quote(PROGRESS_DB), quote(PROGRESS_TABLE)), (self.job_id,))
            row = cursor.fetchone()
            return json.loads(row[0]) if row else None
        except pymysql.err.MySQLError as error:
            if error.args and error.args[0] in (ER_BAD_DB, ER_NO_SUCH_TABLE):
                return None
            raise
        finally:
            connection.close()

    def _table(self, cursor, schema, table):
        """(column names in order, primary key columns) of a destination table, cached."""
        key = (schema, table)
        if key not in self._tables:
            cursor.execute('SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s '
                           'ORDER BY ORDINAL_POSITION', (schema, table))
            rows = cursor.fetchall()
            if not rows:
                raise ReplicationError('table %s.%s does not exist on the destination %s' % (schema, table, self.destination.address))
            self._tables[key] = ([row[0] for row in rows], [row[0] for row in rows if row[1] == 'PRI'])
        return self._tables[key]

    def _named(self, values, columns):
        # Without binlog_row_metadata=FULL the reader names columns UNKNOWN_COL<n>: match by position.
        if values and next(iter(values)).startswith('UNKNOWN_COL'):
            return dict(zip(columns, values.values()))
        return values

    def apply(self, connection, unit):
        cursor = connection.cursor()
        try:
            for kind, schema, table, rows in unit.changes:
                if kind == 'ddl':
                    if schema:
                        cursor.execute('USE %s' % quote(schema))
                    cursor.execute('/* %s:%s */ %s' % (TAG_PREFIX, self.job_id, rows))
                    self._tables = {}
                    continue
                columns, key = self._table(cursor, schema, table)
                before, after = (self._named(values, columns) if values else values for values in rows)
                self._apply_row(cursor, kind, schema, table, key, before, after)
            cursor.execute('INSERT INTO %s.%s (job_id, position, updated_at) VALUES (%%s, %%s, NOW(6)) '
                           'ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)'
                           % (quote(PROGRESS_DB), quote(PROGRESS_TABLE)), (self.job_id, json.dumps(unit.position)))
            connection.commit()
        except pymysql.err.MySQLError as error:
            connection.rollback()
            raise ReplicationError('writing to the destination %s failed at %s: %s'
                                   % (self.destination.address, self.describe(unit.position), error.args[-1])) from None

    @staticmethod
    def describe(position):
        return '%s:%s' % (position['file'], position['pos']) if position else 'the start'

    def _apply_row(self, cursor, kind, schema, table, key, before, after):
        name = '%s.%s' % (quote(schema), quote(table))
        if kind == 'insert':
            cursor.execute('INSERT INTO %s (%s) VALUES (%s)' % (name, ', '.join(quote(c) for c in after), ', '.join(['%s'] * len(after))),
                           [sql_value(v) for v in after.values()])
            return
        match = key or list(before)
        where = ' AND '.join('%s <=> %%s' % quote(column) for column in match)
        args = [sql_value(before[column]) for column in match]
        limit = '' if key else ' LIMIT 1'
        if kind == 'update':
            assignments = ', '.join('%s = %%s' % quote(column) for column in after)
            count = cursor.execute('UPDATE %s SET %s WHERE %s%s' % (name, assignments, where, limit),
                                   [sql_value(v) for v in after.values()] + args)
        else:
            count = cursor.execute('DELETE FROM %s WHERE %s%s' % (name, where, limit), args)
        if count == 0:
            raise ReplicationError('the row to %s in %s.%s is missing on the destination (key %s)'
                                   % (kind, schema, table, dict(zip(match, args))))
