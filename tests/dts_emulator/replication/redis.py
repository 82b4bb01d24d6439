"""Redis replication: the replicator joins the source as a replica (PSYNC), the destination
loads the source's own RDB snapshot, and the command stream that follows is applied in order.

The full copy is exact without parsing RDB: the replicator receives the snapshot with
``PSYNC ? -1`` (``+FULLRESYNC <replid> <offset>``), serves it to the destination as a one-shot
master (``REPLICAOF`` the replicator, then ``REPLICAOF NO ONE``), and applies the stream from
``offset + 1``. After a restart it continues with ``PSYNC <replid> <offset + 1>``, which needs
that offset to be still in the source's replication backlog (``repl-backlog-size``).

Each applied unit (a command, or a MULTI/EXEC block) is one MULTI/EXEC on the destination that
also sets ``dts_emulator:progress:<task>`` in database 0: the position is saved atomically with
the data, and a reader of the destination's stream recognises the replicator's writes (the
reverse task skips them). The migration account needs ``+psync +replconf +ping`` on the source
and, on the destination, ``+replicaof +info`` and the write commands (``+@all`` is simplest).
"""

import json
import socket
import threading
import time

import redis as redis_py

from .base import TAG_PREFIX, ReplicationError, Replicator, Unit

PROGRESS_PREFIX = ('%s:progress:' % TAG_PREFIX).encode()
ACK_INTERVAL = 1.0
# The stream carries these for the replication protocol, not for the data.
PROTOCOL_COMMANDS = {b'PING', b'REPLCONF'}


def encode(*args):
    parts = [b'*%d\r\n' % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b'$%d\r\n%s\r\n' % (len(data), data))
    return b''.join(parts)


class Connection(object):
    """A raw RESP connection: the replication protocol is not something redis-py speaks."""

    def __init__(self, sock, endpoint=None):
        self.sock = sock
        self.endpoint = endpoint
        self.buffer = bytearray()

    @classmethod
    def open(cls, endpoint, timeout=10):
        """Connect and authenticate as the endpoint's account."""
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), timeout=5)
        except OSError as error:
            raise ReplicationError('cannot connect to %s: %s' % (endpoint.address, error)) from None
        sock.settimeout(timeout)
        connection = cls(sock, endpoint)
        if endpoint.password:
            reply = connection.call('AUTH', endpoint.user or 'default', endpoint.password)
            if reply != b'+OK':
                connection.close()
                raise ReplicationError('%s refused the migration account %s: %s' % (endpoint.address, endpoint.user,
                                                                                    reply.decode('utf-8', 'replace')))
        return connection

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def call(self, *args):
        self.send(*args)
        return self.line()

    def fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ReplicationError('%s closed the replication connection' % (self.endpoint.address if self.endpoint else 'the peer'))
        self.buffer += data

    def line(self):
        while b'\r\n' not in self.buffer:
            self.fill()
        end = self.buffer.index(b'\r\n')
        line = bytes(self.buffer[:end])
        del self.buffer[:end + 2]
        return line

    def exact(self, size):
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def command(self):
        """The next complete command in the buffer as (arguments, size in bytes), or None."""
        buffer = self.buffer
        if not buffer:
            return None
        if buffer[:1] != b'*':
            end = buffer.find(b'\n')     # an inline command (the replication stream has none)
            if end < 0:
                return None
            line = bytes(buffer[:end + 1])
            del buffer[:end + 1]
            return line.split(), len(line)
        end = buffer.find(b'\r\n')
        if end < 0:
            return None
        count, position, args = int(buffer[1:end]), end + 2, []
        for dummy in range(count):
            end = buffer.find(b'\r\n', position)
            if end < 0:
                return None
            length = int(buffer[position + 1:end])
            start = end + 2
            if len(buffer) < start + length + 2:
                return None
            args.append(bytes(buffer[start:start + length]))
            position = start + length + 2
        del buffer[:position]
        return args, position

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_snapshot(connection):
    """The RDB payload after +FULLRESYNC: ``$<length>`` (newlines may come first while the
    source saves it)."""
    while True:
        line = connection.line().lstrip(b'\n')
        if line.startswith(b'$'):
            return connection.exact(int(line[1:]))
        if line.startswith(b'-'):
            raise ReplicationError('%s refused the full synchronisation: %s' % (connection.endpoint.address, line.decode()))


class RedisReplicator(Replicator):
    engine = 'redis'
    sync_timeout = 120

    def __init__(self, *args, **kwargs):
        super(RedisReplicator, self).__init__(*args, **kwargs)
        self._handover = None
        self.progress_key = PROGRESS_PREFIX + self.job_id.encode()

    def _client(self, endpoint):
        return redis_py.Redis(host=endpoint.host, port=endpoint.port, username=endpoint.user or None, password=endpoint.password,
                              socket_connect_timeout=5, socket_timeout=30, single_connection_client=True, protocol=2)

    def _join_source(self, replid='?', offset=-1):
        """A connection to the source that is a replica from ``offset`` on; returns (connection, reply)."""
        connection = Connection.open(self.source, timeout=max(30, self.sync_timeout))
        try:
            reply = connection.call('REPLCONF', 'capa', 'psync2')
            if reply != b'+OK':
                raise ReplicationError('%s refused REPLCONF: %s' % (self.source.address, reply.decode('utf-8', 'replace')))
            reply = connection.call('PSYNC', replid, offset)
            if reply.startswith(b'-'):
                raise ReplicationError('%s refused PSYNC (the migration account needs +psync +replconf): %s'
                                       % (self.source.address, reply.decode('utf-8', 'replace')))
            return connection, reply.decode()
        except BaseException:
            connection.close()
            raise

    # -- full copy ----------------------------------------------------------------------------

    def prepare(self):
        connection, reply = self._join_source()
        try:
            words = reply.split()
            if words[0] != '+FULLRESYNC':
                raise ReplicationError('%s answered PSYNC ? -1 with %s' % (self.source.address, reply))
            replid, offset = words[1], int(words[2])
            snapshot = read_snapshot(connection)
            if self.full:
                self._load(snapshot)
        except BaseException:
            connection.close()
            raise
        # The stream after the snapshot goes on on this connection; after a full synchronisation
        # the source starts it with SELECT, so the database of every command is known.
        self._handover = connection
        return {'replid': replid, 'offset': offset, 'db': None}

    def _load(self, snapshot):
        """Make the destination load ``snapshot``, serving it as a one-shot master."""
        listener = socket.create_server(('127.0.0.1', 0))
        listener.settimeout(self.sync_timeout)
        done = threading.Event()
        served = threading.Thread(target=self._serve_snapshot, args=(listener, snapshot, done), daemon=True)
        served.start()
        client = self._client(self.destination)
        attached = False
        try:
            client.execute_command('REPLICAOF', '127.0.0.1', listener.getsockname()[1])
            attached = True
            deadline = time.monotonic() + self.sync_timeout
            while True:
                info = client.info('replication')
                if info.get('master_link_status') == 'up' and not info.get('master_sync_in_progress'):
                    break
                if time.monotonic() > deadline:
                    raise ReplicationError('the destination %s did not load the snapshot within %d s'
                                           % (self.destination.address, self.sync_timeout))
                time.sleep(0.02)
            client.execute_command('REPLICAOF', 'NO', 'ONE')
            attached = False
        except redis_py.RedisError as error:
            raise ReplicationError('loading the snapshot into %s failed (the migration account needs +replicaof +info): %s'
                                   % (self.destination.address, error)) from None
        finally:
            if attached:
                # Never leave the destination a read-only replica of a master that is gone.
                try:
                    client.execute_command('REPLICAOF', 'NO', 'ONE')
                except redis_py.RedisError:
                    pass
            client.close()
            done.set()
            listener.close()
            served.join(timeout=5)

    @staticmethod
    def _serve_snapshot(listener, snapshot, done):
        """Serve ``snapshot`` to the one replica that connects, until ``done`` is set."""
        try:
            peer, dummy = listener.accept()
        except OSError:
            return
        replica = Connection(peer)
        peer.settimeout(0.2)
        try:
            while not done.is_set():
                try:
                    replica.fill()
                except socket.timeout:
                    continue    # the replica is loading or idle: the link stays up
                except (ReplicationError, OSError):
                    return
                while True:
                    parsed = replica.command()
                    if parsed is None:
                        break
                    if not parsed[0]:
                        continue    # a loading replica sends bare newlines to keep the link: never answered
                    name = parsed[0][0].upper()
                    if name == b'PING':
                        peer.sendall(b'+PONG\r\n')
                    elif name in (b'PSYNC', b'SYNC'):
                        peer.sendall(b'+FULLRESYNC %s 0\r\n$%d\r\n' % (b'0' * 40, len(snapshot)) + snapshot)
                    elif name == b'REPLCONF' and len(parsed[0]) > 1 and parsed[0][1].upper() == b'ACK':
                        pass
                    else:
                        peer.sendall(b'+OK\r\n')
        finally:
            peer.close()

    def abandon(self):
        connection, self._handover = self._handover, None
        if connection is not None:
            connection.close()

    # -- capture ------------------------------------------------------------------------------

    def stream(self, position, stop, emit):
        connection, self._handover = self._handover, None
        replid, offset, db = position['replid'], position['offset'], position.get('db')
        if connection is None:
            connection, reply = self._join_source(replid, offset + 1)
            words = reply.split()
            if words[0] != '+CONTINUE':
                connection.close()
                raise ReplicationError('%s no longer holds offset %d of %s in its replication backlog (%s): raise repl-backlog-size; '
                                       'the task must be created again' % (self.source.address, offset + 1, replid, reply))
            if len(words) > 1:
                replid = words[1]     # the source changed its replication id (it was promoted): offsets go on
        connection.sock.settimeout(0.3)
        state = {'replid': replid, 'offset': offset, 'db': db, 'block': None}
        last_ack = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_ack > ACK_INTERVAL:
                    connection.send('REPLCONF', 'ACK', state['offset'])
                    last_ack = time.monotonic()
                parsed = connection.command()
                if parsed is not None:
                    self._take(connection, state, parsed, emit)
                    continue
                try:
                    connection.fill()
                except socket.timeout:
                    pass
        except OSError as error:
            raise ReplicationError('the replication stream of %s broke: %s' % (self.source.address, error)) from None
        finally:
            connection.close()

    @staticmethod
    def _take(connection, state, parsed, emit):
        """One command of the stream: track the offset and database, group MULTI/EXEC blocks."""
        args, size = parsed
        if not args:
            return      # a bare newline keeps a link alive; it is not part of the stream's offsets
        state['offset'] += size
        name = args[0].upper() if args else b''
        block = state['block']
        if name == b'SELECT':
            state['db'] = int(args[1])
            return
        here = {'replid': state['replid'], 'offset': state['offset'], 'db': state['db']}
        db = state['db'] or 0
        if name == b'MULTI':
            state['block'] = {'changes': [], 'tag': None}
        elif name == b'EXEC' and block is not None:
            emit(Unit(here, time.time(), block['changes'], skip=not block['changes'], tag=block['tag']))
            state['block'] = None
        elif name in PROTOCOL_COMMANDS:
            if name == b'REPLCONF' and len(args) > 1 and args[1].upper() == b'GETACK':
                connection.send('REPLCONF', 'ACK', state['offset'])
            elif block is None:
                emit(Unit(here, time.time(), skip=True))
        elif block is not None:
            if name == b'SET' and len(args) > 1 and args[1].startswith(PROGRESS_PREFIX):
                block['tag'] = args[1][len(PROGRESS_PREFIX):].decode()
            else:
                block['changes'].append((db, args))
        else:
            emit(Unit(here, time.time(), [(db, args)]))

    # -- apply --------------------------------------------------------------------------------

    def connect_destination(self):
        return self._client(self.destination)

    def destination_progress(self):
        client = self._client(self.destination)
        try:
            value = client.get(self.progress_key)
            return json.loads(value) if value else None
        except redis_py.RedisError:
            return None
        finally:
            client.close()

    def apply(self, connection, unit):
        pipeline = connection.pipeline(transaction=True)
        selected = None
        for db, args in unit.changes:
            if db != selected:
                pipeline.execute_command('SELECT', db)
                selected = db
            pipeline.execute_command(*args)
        # The connection is left in database 0, where the progress key lives.
        pipeline.execute_command('SELECT', 0)
        pipeline.execute_command('SET', self.progress_key, json.dumps(unit.position))
        try:
            pipeline.execute()
        except redis_py.RedisError as error:
            raise ReplicationError('writing to the destination %s failed at offset %d: %s'
                                   % (self.destination.address, unit.position['offset'], error)) from None
