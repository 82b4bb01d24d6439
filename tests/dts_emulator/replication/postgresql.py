"""PostgreSQL replication: a logical replication slot whose exported snapshot feeds the structure
(pg_dump | psql) and the full copy (COPY), then logical decoding with the built-in ``pgoutput``
plugin, applied in commit order.

Source requirements: ``wal_level=logical`` and free ``max_replication_slots`` /
``max_wal_senders``. Like DTS for a self-managed PostgreSQL, the migration account must be a
superuser (with REPLICATION) on both servers: it creates the publication ``dts_emulator_<task>``
(FOR ALL TABLES) and the slot of the same name on the source, and on the destination the
replication origin of the same name. Every applied transaction is bound to that origin with the
source's commit position, so the position is saved atomically with the data
(``pg_replication_origin_progress``) and the decoder of the destination sees which transactions a
replicator wrote (pgoutput sends their origin): the reverse task skips the forward task's writes.
DDL is not decoded: tables created after the task started do not replicate.
"""

import datetime
import glob
import io
import os
import select
import struct
import subprocess
import time

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from .base import TAG_PREFIX, ReplicationError, Replicator, Unit

PG_EPOCH = 946684800  # 2000-01-01T00:00:00Z, the origin of PostgreSQL timestamps
FEEDBACK_INTERVAL = 1.0


def lsn_text(lsn):
    return '%X/%X' % (lsn >> 32, lsn & 0xFFFFFFFF)


def lsn_int(text):
    high, low = text.split('/')
    return (int(high, 16) << 32) | int(low, 16)


def _bindir():
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/pg_dump'), key=lambda path: int(path.split('/')[4]))
    if not candidates:
        raise ReplicationError('pg_dump not found under /usr/lib/postgresql: install postgresql-client')
    return os.path.dirname(candidates[-1])


class Decoder(object):
    """pgoutput protocol version 1: messages in, transactions out."""

    def __init__(self):
        self.relations = {}
        self.transaction = None

    def decode(self, payload):
        """Feed one message; returns (changes, commit_time, end_lsn, origin) when a transaction ends."""
        kind = payload[:1]
        view = Reader(payload, 1)
        if kind == b'B':
            view.int64()
            self.transaction = {'commit_time': PG_EPOCH + view.int64() / 1e6, 'changes': [], 'origin': None}
        elif kind == b'O':
            view.int64()
            self.transaction['origin'] = view.string()
        elif kind == b'R':
            relid, namespace, name = view.int32(), view.string(), view.string()
            view.int8()
            columns = []
            for dummy in range(view.int16()):
                flags, column = view.int8(), view.string()
                view.int32()
                view.int32()
                columns.append((column, bool(flags & 1)))
            self.relations[relid] = (namespace, name, columns)
        elif kind == b'I':
            relation = self.relations[view.int32()]
            view.byte()
            self.transaction['changes'].append(('insert', relation, None, view.tuple()))
        elif kind == b'U':
            relation = self.relations[view.int32()]
            old, marker = None, view.byte()
            if marker in (b'K', b'O'):
                old = (marker, view.tuple())
                view.byte()
            self.transaction['changes'].append(('update', relation, old, view.tuple()))
        elif kind == b'D':
            relation = self.relations[view.int32()]
            marker = view.byte()
            self.transaction['changes'].append(('delete', relation, (marker, view.tuple()), None))
        elif kind == b'T':
            count, dummy = view.int32(), view.int8()
            relations = [self.relations[view.int32()] for dummy in range(count)]
            self.transaction['changes'].append(('truncate', relations, None, None))
        elif kind == b'C':
            view.int8()
            view.int64()
            end_lsn = view.int64()
            transaction, self.transaction = self.transaction, None
            return transaction['changes'], transaction['commit_time'], end_lsn, transaction['origin']
        # 'Y' (types) and anything newer carry nothing we apply.
        return None


class Reader(object):
    def __init__(self, data, offset=0):
        self.data = data
        self.offset = offset

    def _unpack(self, fmt, size):
        value = struct.unpack_from(fmt, self.data, self.offset)[0]
        self.offset += size
        return value

    def int8(self):
        return self._unpack('!b', 1)

    def int16(self):
        return self._unpack('!h', 2)

    def int32(self):
        return self._unpack('!i', 4)

    def int64(self):
        return self._unpack('!q', 8)

    def byte(self):
        value = self.data[self.offset:self.offset + 1]
        self.offset += 1
        return bytes(value)

    def string(self):
        end = self.data.index(b'\0', self.offset)
        value = bytes(self.data[self.offset:end]).decode('utf-8')
        self.offset = end + 1
        return value

    def tuple(self):
        """Column values as text; None for NULL; Ellipsis for an unchanged TOASTed value."""
        values = []
        for dummy in range(self.int16()):
            kind = self.byte()
            if kind == b'n':
                values.append(None)
            elif kind == b'u':
                values.append(Ellipsis)
            else:
                length = self.int32()
                values.append(bytes(self.data[self.offset:self.offset + length]).decode('utf-8'))
                self.offset += length
        return values


class PostgreSQLReplicator(Replicator):
    engine = 'postgresql'

    def __init__(self, *args, **kwargs):
        super(PostgreSQLReplicator, self).__init__(*args, **kwargs)
        if not self.source.database:
            self.source.database = self.objects[0] if self.objects else None
        if not self.source.database:
            raise ReplicationError('no database to migrate: set the endpoint DatabaseName or the task DbObject')
        self.destination.database = self.destination.database or self.source.database
        # Slot, publication and origin share one name (job ids are lower-case letters and digits).
        self.name = '%s_%s' % (TAG_PREFIX, self.job_id)

    def _connect(self, endpoint, **kwargs):
        try:
            connection = psycopg2.connect(host=endpoint.host, port=endpoint.port, user=endpoint.user, password=endpoint.password,
                                          dbname=endpoint.database, connect_timeout=5, sslmode='prefer', **kwargs)
        except psycopg2.Error as error:
            raise ReplicationError('cannot connect to %s/%s as %s: %s' % (endpoint.address, endpoint.database, endpoint.user,
                                                                          str(error).strip().splitlines()[0])) from None
        return connection

    def _tool(self, name, endpoint, arguments, stdin=None):
        env = dict(os.environ, PGPASSWORD=endpoint.password or '', PGCONNECT_TIMEOUT='5')
        command = [os.path.join(_bindir(), name), '-h', endpoint.host, '-p', str(endpoint.port), '-U', endpoint.user,
                   '-d', endpoint.database] + arguments
        result = subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ReplicationError('%s on %s failed: %s' % (name, endpoint.address, result.stderr.strip()[-500:]))
        return result.stdout

    # -- structure and full copy --------------------------------------------------------------

    def prepare(self):
        admin = self._connect(self.source)
        admin.autocommit = True
        try:
            cursor = admin.cursor()
            cursor.execute('SELECT 1 FROM pg_publication WHERE pubname = %s', (self.name,))
            if not cursor.fetchone():
                cursor.execute(sql.SQL('CREATE PUBLICATION {} FOR ALL TABLES').format(sql.Identifier(self.name)))
            # A slot left by a copy that never finished is started afresh.
            cursor.execute('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (self.name,))
        except psycopg2.Error as error:
            raise ReplicationError('preparing the source %s failed: %s' % (self.source.address, str(error).strip())) from None
        finally:
            admin.close()
        replication = self._connect(self.source, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            cursor = replication.cursor()
            copy = self.structure or self.full
            cursor.execute('CREATE_REPLICATION_SLOT %s LOGICAL pgoutput %s' % (self.name, 'EXPORT_SNAPSHOT' if copy else 'NOEXPORT_SNAPSHOT'))
            dummy, consistent_point, snapshot, dummy = cursor.fetchone()
            if copy:
                # The snapshot lives as long as the replication connection runs no other command.
                if self.structure:
                    dump = self._tool('pg_dump', self.source, ['--schema-only', '--no-publications', '--no-subscriptions',
                                                               '--snapshot', snapshot])
                    self._tool('psql', self.destination, ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], stdin=dump)
                if self.full:
                    self._copy_data(snapshot)
            return {'lsn': lsn_int(consistent_point)}
        except psycopg2.Error as error:
            raise ReplicationError('full migration from %s failed: %s' % (self.source.address, str(error).strip())) from None
        finally:
            replication.close()

    def _copy_data(self, snapshot):
        source = self._connect(self.source)
        destination = self._connect(self.destination)
        try:
            reader = source.cursor()
            reader.execute('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
            reader.execute('SET TRANSACTION SNAPSHOT %s', (snapshot,))
            reader.execute('SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2', (self.name,))
            writer = destination.cursor()
            for schema, table in reader.fetchall():
                name = sql.SQL('{}.{}').format(sql.Identifier(schema), sql.Identifier(table))
                data = io.StringIO()
                reader.copy_expert(sql.SQL('COPY (SELECT * FROM {}) TO STDOUT').format(name).as_string(source), data)
                data.seek(0)
                writer.copy_expert(sql.SQL('COPY {} FROM STDIN').format(name).as_string(destination), data)
            # Sequences are not decoded: the destination starts where the snapshot was.
            reader.execute('SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE last_value IS NOT NULL')
            for schema, sequence, value in reader.fetchall():
                writer.execute('SELECT setval(%s, %s)', ('%s.%s' % (sql.Identifier(schema).as_string(destination),
                                                                    sql.Identifier(sequence).as_string(destination)), value))
            destination.commit()
            source.commit()
        finally:
            source.close()
            destination.close()

    # -- capture ------------------------------------------------------------------------------

    def stream(self, position, stop, emit):
        connection = self._connect(self.source, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            cursor = connection.cursor()
            cursor.start_replication(slot_name=self.name, decode=False, start_lsn=position['lsn'],
                                     options={'proto_version': '1', 'publication_names': self.name})
            decoder = Decoder()
            last_feedback = 0.0
            while not stop.is_set():
                message = cursor.read_message()
                if message is not None:
                    ended = decoder.decode(message.payload)
                    if ended:
                        changes, commit_time, end_lsn, origin = ended
                        tag = origin[len(TAG_PREFIX) + 1:] if origin and origin.startswith(TAG_PREFIX + '_') else None
                        emit(Unit({'lsn': end_lsn}, commit_time, changes, skip=not changes, tag=tag))
                    continue
                if time.monotonic() - last_feedback > FEEDBACK_INTERVAL:
                    # Only what is applied may be released by the slot: a restart reads the rest again.
                    applied = (self.position or {}).get('lsn', 0)
                    cursor.send_feedback(write_lsn=applied, flush_lsn=applied, apply_lsn=applied)
                    last_feedback = time.monotonic()
                select.select([connection], [], [], 0.3)
        except psycopg2.Error as error:
            raise ReplicationError('logical decoding of %s failed: %s' % (self.source.address, str(error).strip())) from None
        finally:
            connection.close()

    # -- apply --------------------------------------------------------------------------------

    def connect_destination(self):
        connection = self._connect(self.destination)
        try:
            cursor = connection.cursor()
            cursor.execute('SELECT pg_replication_origin_oid(%s)', (self.name,))
            if cursor.fetchone()[0] is None:
                cursor.execute('SELECT pg_replication_origin_create(%s)', (self.name,))
            cursor.execute('SELECT pg_replication_origin_session_setup(%s)', (self.name,))
            connection.commit()
        except psycopg2.Error as error:
            connection.close()
            raise ReplicationError('preparing the destination %s failed (the migration account must be a superuser): %s'
                                   % (self.destination.address, str(error).strip())) from None
        return connection

    def destination_progress(self):
        connection = self._connect(self.destination)
        try:
            cursor = connection.cursor()
            cursor.execute('SELECT pg_replication_origin_progress(roname, true) FROM pg_replication_origin WHERE roname = %s', (self.name,))
            row = cursor.fetchone()
            return {'lsn': lsn_int(row[0])} if row and row[0] else None
        finally:
            connection.close()

    def apply(self, connection, unit):
        cursor = connection.cursor()
        try:
            cursor.execute('SELECT pg_replication_origin_xact_setup(%s, %s)',
                           (lsn_text(unit.position['lsn']), datetime.datetime.fromtimestamp(unit.commit_time, datetime.timezone.utc)))
            for kind, relation, old, new in unit.changes:
                self._apply_change(cursor, kind, relation, old, new)
            connection.commit()
        except psycopg2.Error as error:
            connection.rollback()
            raise ReplicationError('writing to the destination %s failed at %s: %s'
                                   % (self.destination.address, lsn_text(unit.position['lsn']), str(error).strip())) from None

    @staticmethod
    def _name(relation):
        return sql.SQL('{}.{}').format(sql.Identifier(relation[0]), sql.Identifier(relation[1]))

    def _apply_change(self, cursor, kind, relation, old, new):
        if kind == 'truncate':
            cursor.execute(sql.SQL('TRUNCATE {}').format(sql.SQL(', ').join(self._name(r) for r in relation)))
            return
        columns = relation[2]
        if kind == 'insert':
            cursor.execute(sql.SQL('INSERT INTO {} ({}) VALUES ({})').format(
                self._name(relation), sql.SQL(', ').join(sql.Identifier(c) for c, dummy in columns),
                sql.SQL(', ').join(sql.Placeholder() * len(columns))), new)
            return
        # The row to change: the old key or full row when it was sent, else the key of the new row.
        marker, values = old if old else (b'K', new)
        match = [(column, value) for (column, is_key), value in zip(columns, values) if marker == b'O' or is_key]
        if not match:
            raise ReplicationError('table %s.%s has no replica identity: updates and deletes cannot be applied' % relation[:2])
        where = sql.SQL(' AND ').join(sql.SQL('{} IS NOT DISTINCT FROM %s').format(sql.Identifier(c)) for c, dummy in match)
        # Without a key (REPLICA IDENTITY FULL) only one of several identical rows changes.
        target = sql.SQL('ctid = (SELECT ctid FROM {} WHERE {} LIMIT 1)').format(self._name(relation), where)
        args = [value for dummy, value in match]
        if kind == 'update':
            changed = [(column, value) for (column, dummy), value in zip(columns, new) if value is not Ellipsis]
            cursor.execute(sql.SQL('UPDATE {} SET {} WHERE {}').format(
                self._name(relation), sql.SQL(', ').join(sql.SQL('{} = %s').format(sql.Identifier(c)) for c, dummy in changed),
                target), [value for dummy, value in changed] + args)
        else:
            cursor.execute(sql.SQL('DELETE FROM {} WHERE {}').format(self._name(relation), target), args)
        if cursor.rowcount == 0:
            raise ReplicationError('the row to %s in %s.%s is missing on the destination (key %s)'
                                   % (kind, relation[0], relation[1], dict(match)))

    # -- release ------------------------------------------------------------------------------

    def release(self):
        """Drop the slot and the publication on the source (a forgotten slot keeps WAL forever) and
        the origin on the destination."""
        self._on(self.source, self._drop_slot,
                 lambda cursor: cursor.execute(sql.SQL('DROP PUBLICATION IF EXISTS {}').format(sql.Identifier(self.name))))
        self._on(self.destination, lambda cursor: cursor.execute(
            'SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = %s', (self.name,)))

    def _on(self, endpoint, *steps):
        try:
            connection = self._connect(endpoint)
        except ReplicationError:
            return      # a server that is gone holds nothing to release
        connection.autocommit = True
        try:
            for step in steps:
                step(connection.cursor())
        except psycopg2.Error:
            pass
        finally:
            connection.close()

    def _drop_slot(self, cursor):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute('SELECT active FROM pg_replication_slots WHERE slot_name = %s', (self.name,))
            row = cursor.fetchone()
            if row is None:
                return
            if not row[0]:
                cursor.execute('SELECT pg_drop_replication_slot(%s)', (self.name,))
                return
            time.sleep(0.1)     # the walsender of the stopped capture is still ending
