"""A MongoDB server speaking the wire protocol on 127.0.0.1, for the real pymongo, unmodified.

It answers OP_MSG (all pymongo 4.x sends, handshake included) with BSON from the ``bson`` package
that ships with pymongo, authenticates with SCRAM-SHA-256 (RFC 7677) like mongod, enforces the
privileges of built-in and custom roles, and keeps users, roles, operations, sessions, the user
write block and collections in memory. Every command a client sends after the handshake is
logged as ``(database, command)`` without the envelope fields drivers add (``$db``, ``lsid``...).

Errors are server replies (``ok: 0`` with ``code``/``codeName``/``errmsg``, or ``writeErrors``),
so pymongo raises its own exceptions from them.
"""

import base64
import copy
import datetime
import hashlib
import hmac
import os
import socket
import socketserver
import ssl
import struct
import threading
import uuid

import bson
from bson import json_util
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions
from bson.objectid import ObjectId

OP_MSG = 2013
CODEC = CodecOptions(uuid_representation=UuidRepresentation.STANDARD, tz_aware=True)
WIRE_VERSIONS = {'4.4': 9, '5.0': 13, '6.0': 17, '7.0': 21, '8.0': 25}
ENVELOPE = ('$db', 'lsid', '$clusterTime', '$readPreference', 'txnNumber', 'autocommit', 'startTransaction', 'apiVersion')
UNLOGGED = ('hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue', 'endSessions')
# Commands that need no authentication, as in mongod.
OPEN_COMMANDS = ('hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue', 'ping', 'buildInfo', 'buildinfo', 'endSessions')
ITERATIONS = 4096

READ = ['changeStream', 'collStats', 'dbHash', 'dbStats', 'find', 'killCursors', 'listCollections', 'listIndexes',
        'listSearchIndexes', 'planCacheRead']
READ_WRITE = sorted(READ + ['convertToCapped', 'createCollection', 'createIndex', 'dropCollection', 'dropIndex',
                            'insert', 'remove', 'renameCollectionSameDB', 'update'])
DB_ADMIN = ['bypassDocumentValidation', 'collMod', 'compact', 'createCollection', 'createIndex', 'dropCollection',
            'dropDatabase', 'dropIndex', 'listCollections', 'reIndex', 'renameCollectionSameDB', 'validate']
USER_ADMIN = ['changeCustomData', 'changePassword', 'createRole', 'createUser', 'dropRole', 'dropUser', 'grantRole',
              'revokeRole', 'setAuthenticationRestriction', 'viewRole', 'viewUser']
# Built-in role -> (privileges on the role's database, privileges on any database, cluster privileges).
BUILTIN_ROLES = {
    'read': (READ, [], []),
    'readWrite': (READ_WRITE, [], []),
    'dbAdmin': (DB_ADMIN, [], []),
    'userAdmin': (USER_ADMIN, [], []),
    'dbOwner': (sorted(set(READ_WRITE + DB_ADMIN + USER_ADMIN)), [], []),
    'readAnyDatabase': ([], READ, []),
    'readWriteAnyDatabase': ([], READ_WRITE, []),
    'userAdminAnyDatabase': ([], USER_ADMIN, []),
    'clusterMonitor': ([], [], ['inprog', 'serverStatus', 'listDatabases', 'replSetGetConfig']),
    'hostManager': ([], [], ['killop', 'killAnySession']),
    'backup': ([], ['find'], ['setUserWriteBlockMode', 'serverStatus']),
    'restore': ([], ['createCollection', 'createIndex', 'insert', 'dropCollection', 'collMod', 'convertToCapped']
                + USER_ADMIN, ['bypassWriteBlockingMode', 'setUserWriteBlockMode']),
    'root': ([], sorted(set(READ_WRITE + DB_ADMIN + USER_ADMIN)),
             ['inprog', 'serverStatus', 'killop', 'killAnySession', 'bypassWriteBlockingMode', 'setUserWriteBlockMode',
              'replSetGetConfig']),
}
ADMIN_ONLY = ('readAnyDatabase', 'readWriteAnyDatabase', 'userAdminAnyDatabase', 'clusterMonitor', 'hostManager', 'backup',
              'restore', 'root')


def error(code, code_name, errmsg):
    return {'ok': 0.0, 'errmsg': errmsg, 'code': code, 'codeName': code_name}


def _hmac(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


def scram_credentials(password):
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, ITERATIONS)
    return {'salt': salt, 'stored_key': hashlib.sha256(_hmac(salted, b'Client Key')).digest(),
            'server_key': _hmac(salted, b'Server Key')}


class Unauthorized(Exception):
    pass


class FakeMongo(object):
    """One mongod (``topology='replica_set'`` primary or ``'standalone'``) or a mongos (``'mongos'``)."""

    def __init__(self, version='7.0.14', topology='replica_set', modules=(), tls_context=None, advertised_host='127.0.0.1'):
        self.version = version
        self.topology = topology
        self.modules = list(modules)
        self.tls_context = tls_context
        self.advertised_host = advertised_host
        self.users = {}               # (db, user) -> {'credentials', 'roles': [{'role', 'db'}]}
        self.roles = {}               # (db, role) -> [{'resource': {...}, 'actions': [...]}] (custom roles)
        self.ops = []                 # currentOp documents of other clients
        self.collections = {}         # (db, collection) -> {_id: document}
        self.write_block = False
        # What tells two servers apart (server_identity): a replica set's id, a process id.
        self.replica_set_id = ObjectId()
        self.pid = int.from_bytes(os.urandom(2), 'big')
        self.commands = []
        self.failures = []
        self.tls_failures = []
        self.clients = {}             # connection id -> {'app', 'user', 'socket'}
        self.killed = []
        self._next_connection = 1
        self._lock = threading.RLock()
        self._server = None
        self._thread = None
        self.port = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                fake._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(('127.0.0.1', 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:
                for client in self.clients.values():
                    try:
                        client['socket'].shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def address(self):
        return '%s:%d' % (self.advertised_host, self.port)

    # -- set-up helpers -----------------------------------------------------------------------
    def add_user(self, user, password, roles, db='admin'):
        self.users[(db, user)] = {'credentials': scram_credentials(password),
                                  'roles': [{'role': r, 'db': d} for r, d in roles]}

    def add_role(self, role, db, privileges):
        self.roles[(db, role)] = privileges

    def add_op(self, **fields):
        """An operation or session of another client, as currentOp shows it; returns it."""
        op = {'type': 'op', 'active': True, 'host': 'db0:27017', 'desc': 'conn%d' % (9000 + len(self.ops))}
        op.update(fields)
        self.ops.append(op)
        return op

    def fail(self, command, reply, times=1, skip=0):
        """After ``skip`` more ``command`` commands, the next ``times`` get ``reply`` (an ``error()``
        document) instead of running."""
        self.failures.append([command, reply, times, skip])

    def reset_log(self):
        del self.commands[:]

    # -- wire protocol ------------------------------------------------------------------------
    def _serve(self, sock):
        if self.tls_context is not None:
            try:
                sock = self.tls_context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.tls_failures.append(str(exc))
                return
        with self._lock:
            connection_id = self._next_connection
            self._next_connection += 1
            self.clients[connection_id] = {'app': None, 'user': None, 'socket': sock, 'scram': None}
        try:
            while True:
                header = self._read(sock, 16)
                if header is None:
                    return
                length, request_id, dummy, opcode = struct.unpack('<iiii', header)
                body = self._read(sock, length - 16)
                if body is None:
                    return
                if opcode != OP_MSG:
                    raise AssertionError('pymongo 4 sends OP_MSG only, got opcode %d' % opcode)
                flags, command = self._parse(body)
                reply = self._dispatch(connection_id, command)
                if not flags & 2:       # moreToCome: the client expects no answer
                    sock.sendall(self._message(request_id, reply))
        except (OSError, ssl.SSLError):
            return
        finally:
            with self._lock:
                self.clients.pop(connection_id, None)
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _read(sock, size):
        data = b''
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    @staticmethod
    def _parse(body):
        flags = struct.unpack('<I', body[:4])[0]
        end = len(body) - (4 if flags & 1 else 0)
        position, command = 4, None
        while position < end:
            kind = body[position]
            position += 1
            if kind == 0:
                size = struct.unpack('<i', body[position:position + 4])[0]
                command = bson.decode(body[position:position + size], CODEC)
                position += size
            else:
                size = struct.unpack('<i', body[position:position + 4])[0]
                section = body[position + 4:position + size]
                name, documents = section.split(b'\x00', 1)
                command.setdefault(name.decode(), []).extend(bson.decode_all(documents, CODEC))
                position += size
        return flags, command

    def _message(self, response_to, document):
        payload = struct.pack('<I', 0) + b'\x00' + bson.encode(document, codec_options=CODEC)
        return struct.pack('<iiii', 16 + len(payload), 0, response_to, OP_MSG) + payload

    # -- commands -----------------------------------------------------------------------------
    def _dispatch(self, connection_id, command):
        name = next(iter(command))
        db = command.get('$db', 'admin')
        logged = dict((k, v) for k, v in command.items() if k not in ENVELOPE)
        with self._lock:
            if name not in UNLOGGED:
                self.commands.append((db, logged))
            for failure in self.failures:
                if failure[0] == name and failure[2]:
                    if failure[3]:
                        failure[3] -= 1
                        continue
                    failure[2] -= 1
                    return dict(failure[1])
            client = self.clients[connection_id]
            if name not in OPEN_COMMANDS and client['user'] is None:
                return error(13, 'Unauthorized', 'command %s requires authentication' % name)
            handler = getattr(self, 'c_' + name, None)
            if handler is None:
                return error(59, 'CommandNotFound', "no such command: '%s'" % name)
            try:
                reply = handler(db, logged, client, connection_id)
            except Unauthorized:
                return error(13, 'Unauthorized', 'not authorized on %s to execute command %s' % (db, json_util.dumps(logged)))
        reply.setdefault('ok', 1.0)
        return reply

    # -- privileges -----------------------------------------------------------------------------
    def privileges(self, user_key):
        """(action, db or None for any, cluster flag) triples of a user, roles inherited."""
        held = set()
        for role in self.users[user_key]['roles'] if user_key in self.users else ():
            held.update(self._role_privileges(role['role'], role['db']))
        return held

    def _role_privileges(self, role, db):
        if (db, role) in self.roles:
            return set((action, p['resource'].get('db') or None, bool(p['resource'].get('cluster')))
                       for p in self.roles[(db, role)] for action in p['actions'])
        if role not in BUILTIN_ROLES or role in ADMIN_ONLY and db != 'admin':
            return set()
        own_db, any_db, cluster = BUILTIN_ROLES[role]
        return (set((a, db, False) for a in own_db) | set((a, None, False) for a in any_db)
                | set((a, None, True) for a in cluster))

    def _require(self, client, action, db=None, cluster=False):
        held = self.privileges(client['user'])
        if (action, None, cluster) in held or (not cluster and (action, db, False) in held):
            return
        raise Unauthorized()

    def may(self, client, action, db=None, cluster=False):
        try:
            self._require(client, action, db, cluster)
            return True
        except Unauthorized:
            return False

    # -- handshake and authentication -----------------------------------------------------------
    def c_hello(self, db, command, client, connection_id):
        if 'client' in command:
            client['app'] = command['client'].get('application', {}).get('name')
        major_minor = '.'.join(self.version.split('.')[:2])
        reply = {'isWritablePrimary': True, 'ismaster': True, 'helloOk': True, 'maxBsonObjectSize': 16777216,
                 'maxMessageSizeBytes': 48000000, 'maxWriteBatchSize': 100000,
                 'localTime': datetime.datetime.now(datetime.timezone.utc), 'logicalSessionTimeoutMinutes': 30,
                 'connectionId': connection_id, 'minWireVersion': 0, 'maxWireVersion': WIRE_VERSIONS[major_minor],
                 'readOnly': False}
        if self.topology == 'replica_set':
            reply.update(setName='rs0', setVersion=1, hosts=[self.address], primary=self.address, me=self.address,
                         secondary=False, electionId=ObjectId('7fffffff0000000000000001'))
        elif self.topology == 'mongos':
            reply['msg'] = 'isdbgrid'
        mechanisms = command.get('saslSupportedMechs')
        if mechanisms:
            source, dummy, user = mechanisms.partition('.')
            if (source, user) in self.users:
                reply['saslSupportedMechs'] = ['SCRAM-SHA-256']
        return reply

    c_isMaster = c_ismaster = c_hello

    def c_saslStart(self, db, command, client, connection_id):
        first = bytes(command['payload'])
        bare = first[3:] if first.startswith(b'n,,') else first
        fields = dict(item.split(b'=', 1) for item in bare.split(b','))
        user = fields[b'n'].decode().replace('=2C', ',').replace('=3D', '=')
        if (db, user) not in self.users:
            return error(18, 'AuthenticationFailed', 'Authentication failed.')
        if command.get('mechanism') != 'SCRAM-SHA-256':
            return error(334, 'MechanismUnavailable', 'Unable to use %s based authentication for user without any '
                                                      '%s credentials registered' % (command.get('mechanism'), command.get('mechanism')))
        credentials = self.users[(db, user)]['credentials']
        nonce = fields[b'r'] + base64.b64encode(os.urandom(18))
        server_first = b'r=' + nonce + b',s=' + base64.b64encode(credentials['salt']) + b',i=%d' % ITERATIONS
        client['scram'] = {'key': (db, user), 'bare': bare, 'server_first': server_first, 'nonce': nonce}
        return {'conversationId': 1, 'done': False, 'payload': Binary(server_first)}

    def c_saslContinue(self, db, command, client, connection_id):
        state, client['scram'] = client['scram'], None
        final = bytes(command['payload'])
        without_proof, dummy, proof = final.rpartition(b',p=')
        if state is None or dict(item.split(b'=', 1) for item in without_proof.split(b','))[b'r'] != state['nonce']:
            return error(18, 'AuthenticationFailed', 'Authentication failed.')
        credentials = self.users[state['key']]['credentials']
        message = b','.join((state['bare'], state['server_first'], without_proof))
        signature = _hmac(credentials['stored_key'], message)
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature))
        if hashlib.sha256(client_key).digest() != credentials['stored_key']:
            return error(18, 'AuthenticationFailed', 'Authentication failed.')
        client['user'] = state['key']
        server_signature = base64.b64encode(_hmac(credentials['server_key'], message))
        return {'conversationId': 1, 'done': True, 'payload': Binary(b'v=' + server_signature)}

    def c_endSessions(self, db, command, client, connection_id):
        return {}

    def c_ping(self, db, command, client, connection_id):
        return {}

    def c_buildInfo(self, db, command, client, connection_id):
        parts = [int(p) for p in self.version.split('.')]
        return {'version': self.version, 'versionArray': parts + [0], 'modules': self.modules, 'gitVersion': 'f' * 40,
                'bits': 64, 'maxBsonObjectSize': 16777216}

    # -- server state ---------------------------------------------------------------------------
    def c_serverStatus(self, db, command, client, connection_id):
        self._require(client, 'serverStatus', cluster=True)
        reply = {'host': 'db0:27017', 'pid': self.pid, 'version': self.version, 'process': 'mongos' if self.topology == 'mongos' else 'mongod'}
        if self.topology == 'replica_set':
            reply['repl'] = {'setName': 'rs0', 'isWritablePrimary': True, 'userWriteBlockMode': 2 if self.write_block else 1}
        return reply

    def c_replSetGetConfig(self, db, command, client, connection_id):
        self._require(client, 'replSetGetConfig', cluster=True)
        if self.topology != 'replica_set':
            return error(76, 'NoReplicationEnabled', 'not running with --replSet')
        return {'config': {'_id': 'rs0', 'version': 1, 'members': [{'_id': 0, 'host': self.address}],
                           'settings': {'replicaSetId': self.replica_set_id}}}

    def c_setUserWriteBlockMode(self, db, command, client, connection_id):
        if int(self.version.split('.')[0]) < 6:
            return error(59, 'CommandNotFound', "no such command: 'setUserWriteBlockMode'")
        self._require(client, 'setUserWriteBlockMode', cluster=True)
        if self.topology == 'standalone':
            return error(20, 'IllegalOperation', 'Cannot run setUserWriteBlockMode on a standalone server')
        self.write_block = bool(command['global'])
        return {}

    def c_currentOp(self, db, command, client, connection_id):
        all_users = command.get('$all') or command.get('$ownOps') is False
        if all_users:
            self._require(client, 'inprog', cluster=True)
        inprog = []
        for other_id, other in sorted(self.clients.items()):
            document = {'type': 'op' if other_id == connection_id else 'idleConnection',
                        'active': other_id == connection_id, 'desc': 'conn%d' % other_id, 'connectionId': other_id,
                        'client': '127.0.0.1:%d' % (40000 + other_id), 'host': 'db0:27017'}
            if other['app']:
                document['appName'] = other['app']
                document['clientMetadata'] = {'application': {'name': other['app']}}
            if other['user']:
                document['effectiveUsers'] = [{'user': other['user'][1], 'db': other['user'][0]}]
            if other_id == connection_id:
                document.update(opid=1, op='command', ns='admin.$cmd.aggregate', command=dict(command, **{'$db': db}))
            inprog.append(document)
        inprog.extend(copy.deepcopy(self.ops))
        return {'inprog': inprog}

    def c_killOp(self, db, command, client, connection_id):
        self._require(client, 'killop', cluster=True)
        for op in list(self.ops):
            if op.get('opid') == command['op']:
                self.ops.remove(op)
                self.killed.append(op)
        return {'info': 'attempting to kill op'}

    def _kill_where(self, matches):
        for op in list(self.ops):
            if matches(op):
                self.ops.remove(op)
                self.killed.append(op)

    def c_killSessions(self, db, command, client, connection_id):
        self._require(client, 'killAnySession', cluster=True)
        ids = set(entry['id'] for entry in command['killSessions'])
        self._kill_where(lambda op: op.get('lsid', {}).get('id') in ids)
        return {}

    def c_killAllSessionsByPattern(self, db, command, client, connection_id):
        self._require(client, 'killAnySession', cluster=True)
        users = [(u['db'], u['user']) for pattern in command['killAllSessionsByPattern'] for u in pattern.get('users', ())]
        self._kill_where(lambda op: 'lsid' in op and any((u['db'], u['user']) in users for u in op.get('effectiveUsers', ())))
        return {}

    # -- users and roles ------------------------------------------------------------------------
    def c_usersInfo(self, db, command, client, connection_id):
        wanted = command['usersInfo']
        wanted = wanted if isinstance(wanted, list) else [wanted]
        users = []
        for entry in wanted:
            key = (entry['db'], entry['user']) if isinstance(entry, dict) else (db, entry)
            self._require(client, 'viewUser', key[0])
            if key in self.users:
                users.append({'_id': '%s.%s' % key, 'userId': Binary(uuid.uuid5(uuid.NAMESPACE_DNS, '%s.%s' % key).bytes, 4),
                              'user': key[1], 'db': key[0], 'roles': copy.deepcopy(self.users[key]['roles']),
                              'mechanisms': ['SCRAM-SHA-256']})
        return {'users': users}

    def c_rolesInfo(self, db, command, client, connection_id):
        roles = []
        for entry in command['rolesInfo']:
            self._require(client, 'viewRole', entry['db'])
            privileges = sorted(self._role_privileges(entry['role'], entry['db']))
            if not privileges and (entry['db'], entry['role']) not in self.roles and entry['role'] not in BUILTIN_ROLES:
                continue
            by_resource = {}
            for action, role_db, cluster in privileges:
                resource = ('cluster',) if cluster else (role_db or '',)
                by_resource.setdefault(resource, []).append(action)
            inherited = [{'resource': {'cluster': True} if r == ('cluster',) else {'db': r[0], 'collection': ''},
                          'actions': sorted(actions)} for r, actions in sorted(by_resource.items())]
            document = {'role': entry['role'], 'db': entry['db'], 'isBuiltin': (entry['db'], entry['role']) not in self.roles,
                        'roles': [], 'inheritedRoles': []}
            if command.get('showPrivileges'):
                document.update(privileges=inherited, inheritedPrivileges=inherited)
            roles.append(document)
        return {'roles': roles}

    def _change_roles(self, db, command, client, name, grant):
        key = (db, command[name])
        for role in command['roles']:
            self._require(client, 'grantRole' if grant else 'revokeRole', role['db'])
        if key not in self.users:
            return error(11, 'UserNotFound', 'Could not find user "%s" for db "%s"' % (key[1], key[0]))
        roles = self.users[key]['roles']
        for role in command['roles']:
            role = {'role': role['role'], 'db': role['db']}
            if grant and role not in roles:
                if role['role'] not in BUILTIN_ROLES and (role['db'], role['role']) not in self.roles:
                    return error(31, 'RoleNotFound', 'Could not find role: %s@%s' % (role['role'], role['db']))
                roles.append(role)
            elif not grant and role in roles:
                roles.remove(role)
        return {}

    def c_revokeRolesFromUser(self, db, command, client, connection_id):
        return self._change_roles(db, command, client, 'revokeRolesFromUser', grant=False)

    def c_grantRolesToUser(self, db, command, client, connection_id):
        return self._change_roles(db, command, client, 'grantRolesToUser', grant=True)

    # -- data -----------------------------------------------------------------------------------
    def _writes_allowed(self, client):
        return not self.write_block or self.may(client, 'bypassWriteBlockingMode', cluster=True)

    def c_listCollections(self, db, command, client, connection_id):
        self._require(client, 'listCollections', db)
        wanted = command.get('filter', {}).get('name')
        batch = [{'name': name, 'type': 'collection'} for (d, name) in sorted(self.collections)
                 if d == db and (wanted is None or name == wanted)]
        return {'cursor': {'id': 0, 'ns': '%s.$cmd.listCollections' % db, 'firstBatch': batch}}

    def c_create(self, db, command, client, connection_id):
        self._require(client, 'createCollection', db)
        if not self._writes_allowed(client):
            return error(371, 'UserWritesBlocked', 'User writes blocked')
        if (db, command['create']) in self.collections:
            return error(48, 'NamespaceExists', 'Collection %s.%s already exists.' % (db, command['create']))
        self.collections[(db, command['create'])] = {}
        return {}

    def c_insert(self, db, command, client, connection_id):
        self._require(client, 'insert', db)
        documents = self.collections.setdefault((db, command['insert']), {})
        inserted, errors = 0, []
        for index, document in enumerate(command['documents']):
            if not self._writes_allowed(client):
                errors.append({'index': index, 'code': 371, 'codeName': 'UserWritesBlocked', 'errmsg': 'User writes blocked'})
            elif document['_id'] in documents:
                errors.append({'index': index, 'code': 11000, 'errmsg': 'E11000 duplicate key error collection: %s.%s '
                               'index: _id_ dup key: { _id: "%s" }' % (db, command['insert'], document['_id'])})
            else:
                documents[document['_id']] = document
                inserted += 1
                continue
            if command.get('ordered', True):
                break
        reply = {'n': inserted}
        if errors:
            reply['writeErrors'] = errors
        return reply

    def c_update(self, db, command, client, connection_id):
        """Replacement updates by _id (what the document store sends), with upsert."""
        documents = self.collections.setdefault((db, command['update']), {})
        matched, upserted, errors = 0, [], []
        for index, update in enumerate(command['updates']):
            key = update['q']['_id']
            self._require(client, 'update' if key in documents else 'insert', db)
            if not self._writes_allowed(client):
                errors.append({'index': index, 'code': 371, 'codeName': 'UserWritesBlocked', 'errmsg': 'User writes blocked'})
                break
            if key in documents:
                matched += 1
            elif update.get('upsert'):
                upserted.append({'index': index, '_id': key})
            else:
                continue
            documents[key] = dict(update['u'], _id=key)
        reply = {'n': matched + len(upserted), 'nModified': matched}
        if upserted:
            reply['upserted'] = upserted
        if errors:
            reply['writeErrors'] = errors
        return reply

    def c_delete(self, db, command, client, connection_id):
        self._require(client, 'remove', db)
        documents = self.collections.get((db, command['delete']), {})
        if not self._writes_allowed(client):
            return {'n': 0, 'writeErrors': [{'index': 0, 'code': 371, 'codeName': 'UserWritesBlocked', 'errmsg': 'User writes blocked'}]}
        removed = 0
        for delete in command['deletes']:
            removed += documents.pop(delete['q']['_id'], None) is not None
        return {'n': removed}

    def c_find(self, db, command, client, connection_id):
        self._require(client, 'find', db)
        documents = self.collections.get((db, command['find']), {})
        wanted = command.get('filter', {})
        batch = [d for d in documents.values() if all(d.get(k) == v for k, v in wanted.items())][:command.get('limit') or None]
        return {'cursor': {'id': 0, 'ns': '%s.%s' % (db, command['find']), 'firstBatch': batch}}
