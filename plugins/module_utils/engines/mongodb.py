# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB engine, through pymongo.

Fences: scope ``instance`` runs ``setUserWriteBlockMode`` (MongoDB 6.0+, replica sets and
sharded clusters) and ends the sessions with open transactions; scope ``accounts`` revokes the
roles that let the users write (recording exactly those, so the undo grants them back) and ends
their sessions. Commands are recorded as ``<db>.runCommand(<JSON>)``. docs/engines/mongodb.md has
the privileges and caveats.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import shutil
import tempfile
import traceback
import uuid

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    MissingDriver,
    NotSupported,
    decode_document,
    document_placeholder,
    encode_document,
    make_session,
    version_numbers,
)

try:
    import pymongo
    from pymongo import errors as mongo_errors
    from bson.binary import Binary
except ImportError:
    pymongo = None
    PYMONGO_IMPORT_ERROR = traceback.format_exc()
else:
    PYMONGO_IMPORT_ERROR = None

APP_NAME = 'dtsops.switchover'
ENABLED, DISABLED, UNKNOWN = 'enabled', 'disabled', 'unknown'
# serverStatus().repl.userWriteBlockMode
WRITE_BLOCK_STATES = {1: DISABLED, 2: ENABLED}

# Privilege actions that write data or its definition, or let a user give itself such actions.
WRITE_ACTIONS = frozenset((
    'insert', 'update', 'remove', 'createCollection', 'dropCollection', 'dropDatabase', 'renameCollectionSameDB',
    'convertToCapped', 'createIndex', 'dropIndex', 'collMod', 'applyOps', 'grantRole', 'createRole', 'createUser',
))
# currentOp: commands that write.
WRITE_COMMANDS = frozenset((
    'insert', 'update', 'delete', 'findAndModify', 'findandmodify', 'bulkWrite', 'create', 'createIndexes', 'drop',
    'dropDatabase', 'dropIndexes', 'renameCollection', 'collMod', 'applyOps', 'commitTransaction',
))
UNAUTHORIZED = 13
USER_NOT_FOUND = 11
AUTHENTICATION_FAILED = 18
USER_WRITES_BLOCKED = 371
DUPLICATE_KEY = 11000
SECRET_KEYS = ('pwd', 'password', 'payload')
COLLECTION_HINTS = {
    'token': 'create it (create: true) on the source and include it in the DTS task.',
    'document': 'create it (create: true).',
}


def to_json(value):
    """Commands and documents as JSON for the statements and session lists (UUIDs, dates as text)."""
    def default(item):
        if isinstance(item, Binary) and item.subtype == 4:
            return str(item.as_uuid())
        return str(item)
    return json.dumps(value, default=default, separators=(', ', ': '))


def masked(command):
    """A copy of a command without the secrets it may carry (createUser pwd, SASL payloads)."""
    if isinstance(command, dict):
        return dict((k, '********' if k in SECRET_KEYS else masked(v)) for k, v in command.items())
    if isinstance(command, list):
        return [masked(v) for v in command]
    return command


def user_key(user, db):
    return '%s@%s' % (user, db)


def parse_account(account, default_db='admin'):
    """'user@db' -> (user, db); 'user' -> (user, 'admin'). The last @ separates the database."""
    if not isinstance(account, str) or not account.strip():
        raise EngineError('account %r is not a MongoDB user name.' % (account,))
    user, at, db = account.strip().rpartition('@')
    return (user, db) if at and user and db else (account.strip(), default_db)


def role_key(role):
    return role['role'], role['db']


def lsid_uuid(op):
    """The session id of a currentOp entry as a UUID string, or None."""
    value = (op.get('lsid') or {}).get('id')
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Binary) and value.subtype in (3, 4):
        return str(value.as_uuid(value.subtype))
    return None


class MongoDBEngine(Engine):
    name = 'mongodb'
    display_name = 'MongoDB'
    driver_package = 'pymongo'
    default_port = 27017
    change_kinds = ('user_write_block', 'user_roles')
    principal = 'user'
    principals = 'application users (user@database)'

    def __init__(self, params, check_mode=False):
        super(MongoDBEngine, self).__init__(params, check_mode=check_mode)
        # Our connections are told apart in currentOp by this application name.
        self.app_name = '%s/%s' % (APP_NAME, uuid.uuid4().hex[:12])
        self._info = None

    # -- connection ---------------------------------------------------------------------------
    def tls_settings(self):
        """pymongo keyword arguments for ssl_mode/ca_cert/client_cert/client_key, and a temporary
        directory to delete once the client is built (pymongo wants certificate and key in one file)."""
        mode = self.params.get('ssl_mode') or 'prefer'
        ca_cert, client_cert, client_key = (self.params.get(k) for k in ('ca_cert', 'client_cert', 'client_key'))
        if mode in ('disable', 'prefer'):
            if client_cert or client_key:
                raise EngineError('client_cert needs TLS: set ssl_mode to require, verify-ca or verify-full.')
            return {'tls': False}, None
        if client_key and not client_cert:
            raise EngineError('client_key needs client_cert.')
        kwargs = {'tls': True, 'tlsAllowInvalidHostnames': mode != 'verify-full'}
        if ca_cert:
            kwargs['tlsCAFile'] = ca_cert
        elif mode == 'require':
            kwargs['tlsAllowInvalidCertificates'] = True
        tmpdir = None
        if client_cert:
            if client_key and client_key != client_cert:
                tmpdir = tempfile.mkdtemp(prefix='dtsops-mongo-')
                combined = os.path.join(tmpdir, 'client.pem')
                try:
                    with open(client_cert, 'rb') as cert, open(client_key, 'rb') as key:
                        data = cert.read().rstrip(b'\n') + b'\n' + key.read()
                    fd = os.open(combined, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, 'wb') as out:
                        out.write(data)
                except OSError as exc:
                    shutil.rmtree(tmpdir, ignore_errors=True)
                    raise EngineError('cannot read client_cert or client_key: %s' % exc) from None
                client_cert = combined
            kwargs['tlsCertificateKeyFile'] = client_cert
        return kwargs, tmpdir

    def connect(self):
        if pymongo is None:
            raise MissingDriver('pymongo', PYMONGO_IMPORT_ERROR)
        timeout_ms = int(float(self.params.get('connect_timeout') or 10) * 1000)
        kwargs = dict(host=self.params.get('login_host') or 'localhost', port=int(self.params['login_port']),
                      appname=self.app_name, connectTimeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms,
                      uuidRepresentation='standard', tz_aware=True, retryWrites=False)
        if self.params.get('login_user'):
            kwargs.update(username=self.params['login_user'], password=self.params.get('login_password') or '',
                          authSource=self.params.get('login_db') or 'admin')
        tls, tmpdir = self.tls_settings()
        kwargs.update(tls)
        try:
            # The certificate files are read here, so the combined one can go right after.
            self.conn = pymongo.MongoClient(**kwargs)
        except (mongo_errors.PyMongoError, OSError, ValueError) as exc:
            raise EngineError('cannot use the connection options: %s' % self.scrub(str(exc))) from None
        finally:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
        try:
            replies = []
            for name in ('ping', 'buildInfo', 'hello'):
                self.log(self.render('admin', {name: 1}))
                replies.append(self.conn.admin.command(name))
            dummy, build, hello = replies
        except mongo_errors.PyMongoError as exc:
            self.close()
            raise EngineError(self._connect_message(exc)) from None
        topology = 'sharded' if hello.get('msg') == 'isdbgrid' else 'replica_set' if hello.get('setName') else 'standalone'
        self._info = {
            'version': build.get('version'),
            'version_info': list(build.get('versionArray') or version_numbers(build.get('version')))[:3],
            'edition': 'enterprise' if 'enterprise' in (build.get('modules') or ()) else 'community',
            'topology': topology,
            'replica_set': hello.get('setName'),
        }

    def _connect_message(self, exc):
        text = self.scrub(str(exc))
        if isinstance(exc, mongo_errors.OperationFailure) and exc.code == AUTHENTICATION_FAILED:
            return ('%s (check login_user, login_password and login_db, the authentication database, admin by default)'
                    % exc.details.get('errmsg', text))
        if isinstance(exc, mongo_errors.ServerSelectionTimeoutError):
            reason = text.split(', Timeout:', maxsplit=1)[0]
            reason = reason.split(' (configured timeouts', maxsplit=1)[0]
            if 'SSL' in reason or 'certificate' in reason:
                return 'TLS: %s (check ssl_mode, ca_cert, client_cert)' % reason
            return 'cannot reach the server: %s' % reason
        return text

    def server_info(self):
        return dict(self._info, engine=self.name, flavour='mongodb', app_name=self.app_name)

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """A replica set: its name and settings.replicaSetId (replSetGetConfig), which a set of
        the same name elsewhere does not share. A sharded cluster (mongos): the clusterId of
        config.version. A standalone server: host and process id (serverStatus). MongoDB has no
        database per connection (login_db is where users are defined): database is None."""
        topology = self._info['topology']
        if topology == 'replica_set':
            config = self.read('admin', {'replSetGetConfig': 1}, 'replSetGetConfig (role clusterMonitor)').get('config') or {}
            replica_set_id = (config.get('settings') or {}).get('replicaSetId')
            return self.identity('%s/%s' % (self._info['replica_set'], replica_set_id), 'replica set name/settings.replicaSetId')
        if topology == 'sharded':
            reply = self.read('config', {'find': 'version', 'limit': 1}, 'find on config.version (role clusterMonitor)')
            batch = (reply.get('cursor') or {}).get('firstBatch') or [{}]
            return self.identity(batch[0].get('clusterId'), 'config.version clusterId')
        status = self.read('admin', {'serverStatus': 1}, 'serverStatus (role clusterMonitor)')
        return self.identity('%s pid %s' % (status.get('host'), status.get('pid')), 'serverStatus host and pid')

    # -- commands -----------------------------------------------------------------------------
    def render(self, db, command):
        return '%s.runCommand(%s)' % (db, to_json(masked(command)))

    def read(self, db, command, privilege=None):
        """A command that changes nothing. Recorded once, however often it runs (polls)."""
        self.log(self.render(db, command))
        try:
            return self.conn[db].command(command)
        except mongo_errors.PyMongoError as exc:
            raise self._error(exc, self.render(db, command), privilege) from None

    def command(self, db, command, write=True, privilege=None, shown=None):
        """A command that changes the server (recorded; in check mode only recorded).
        ``shown``: the command as recorded, when it carries too much to show (a document)."""
        rendered = self.render(db, shown or command)
        if not self.log(rendered, write=True) and write:
            return {}
        try:
            return self.conn[db].command(command)
        except mongo_errors.PyMongoError as exc:
            raise self._error(exc, rendered, privilege) from None

    def _error(self, exc, what, privilege=None):
        code = getattr(exc, 'code', None)
        message = self.scrub((getattr(exc, 'details', None) or {}).get('errmsg') or str(exc))
        if code == UNAUTHORIZED:
            text = 'missing privilege %s for %s: %s' % (privilege or 'for this command', what, message)
        elif isinstance(exc, mongo_errors.ConnectionFailure):
            text = 'lost the connection during %s: %s' % (what, message)
        else:
            text = '%s failed: %s%s' % (what, message, ' (code %s)' % code if code else '')
        error = EngineError(text)
        error.code = code
        return error

    # -- sessions -----------------------------------------------------------------------------
    def sessions(self):
        ops = self.read('admin', {'currentOp': 1, '$all': True}, 'inprog (role clusterMonitor)').get('inprog') or []
        return [self._session(op) for op in ops if self._from_client(op)]

    @staticmethod
    def _from_client(op):
        """Client operations and sessions; not the server's own threads (TTL monitor, replication...)."""
        return bool(op.get('client') or op.get('client_s') or op.get('effectiveUsers') or op.get('type') == 'idleSession')

    def _session(self, op):
        kind = op.get('type', 'op')
        users = op.get('effectiveUsers') or []
        transaction = op.get('transaction')
        lsid = lsid_uuid(op)
        app = op.get('appName') or ((op.get('clientMetadata') or {}).get('application') or {}).get('name')
        if kind == 'op' and op.get('opid') is not None:
            session_id = op['opid']
        elif lsid:
            session_id = 'lsid:%s' % lsid
        else:
            session_id = op.get('desc') or 'conn%s' % op.get('connectionId')
        command = op.get('command')
        age = op.get('secs_running')
        if age is None and transaction:
            age = int((transaction.get('timeOpenMicros') or 0) // 1000000)
        return make_session(
            session_id,
            user=users[0].get('user') if users else None,
            client=op.get('client') or op.get('client_s'),
            database=(op.get('ns') or '').split('.')[0] or None,
            state='active' if op.get('active') else kind,
            command=to_json(masked(command)) if command else None,
            writing=bool(transaction) or self._writes(op),
            idle=kind in ('idleConnection', 'idleCursor') or kind == 'idleSession' and not transaction,
            own=app == self.app_name,
            age=age,
            opid=op.get('opid'),
            lsid=lsid,
            connection_id=op.get('connectionId'),
            app_name=app,
            op_type=kind,
            user_db=users[0].get('db') if users else None,
            transaction=bool(transaction),
        )

    @staticmethod
    def _writes(op):
        if not op.get('active'):
            return False
        if op.get('op') in ('insert', 'update', 'remove'):
            return True
        command = op.get('command') or {}
        name = next(iter(command), None)
        if name in WRITE_COMMANDS:
            return True
        # An aggregation ending in $out or $merge writes.
        pipeline = command.get('pipeline') or []
        return name == 'aggregate' and bool(pipeline) and isinstance(pipeline[-1], dict) \
            and bool({'$out', '$merge'} & set(pipeline[-1]))

    def end_sessions(self, sessions):
        """killSessions for sessions with a session id (their operations and open transactions end
        with them), killOp for operations without one. Idle connections cannot be closed from the
        server side: MongoDB has no command for it."""
        ended, by_lsid, ops = [], [], []
        for session in sessions:
            if session.get('own'):
                continue
            if session.get('lsid'):
                by_lsid.append(session)
            elif session.get('opid') is not None:
                ops.append(session)
        if by_lsid:
            ids = [{'id': Binary.from_uuid(uuid.UUID(s['lsid']))} for s in by_lsid]
            self.command('admin', {'killSessions': ids}, privilege='killAnySession (role hostManager)')
            ended.extend(s['id'] for s in by_lsid)
        for session in ops:
            self.command('admin', {'killOp': 1, 'op': session['opid']}, privilege='killop (role hostManager)')
            ended.append(session['id'])
        return ended

    # -- fencing ------------------------------------------------------------------------------
    def _record_extra(self):
        return {'topology': self._info['topology'], 'check_mode': self.check_mode}

    def _principal(self, account):
        return parse_account(account)

    def _is_login_user(self, account, principal):
        return principal == (self.params.get('login_user'), self.params.get('login_db') or 'admin')

    def _is_excluded(self, account, principal, exclude_users):
        # exclude_users spares sessions by user name, whatever their database.
        return principal[0] in exclude_users or account in exclude_users

    def _write_block_state(self):
        """enabled/disabled from serverStatus; unknown on mongos, which does not report it."""
        status = self.read('admin', {'serverStatus': 1, 'repl': 1}, 'serverStatus (role clusterMonitor)')
        return WRITE_BLOCK_STATES.get((status.get('repl') or {}).get('userWriteBlockMode'), UNKNOWN)

    def _check_write_block(self):
        if version_numbers(self._info['version'])[:2] < [6, 0]:
            raise NotSupported('setUserWriteBlockMode needs MongoDB 6.0 or later (the server runs %s): use scope accounts, '
                               'which revokes the write roles of the application users.' % self._info['version'])
        if self._info['topology'] == 'standalone':
            raise NotSupported('setUserWriteBlockMode works on replica sets and sharded clusters, not on a standalone '
                               'server: use scope accounts.')

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        self.check_options(options)
        excluded = set(exclude_users or ())
        if scope == 'instance':
            return self._fence_instance(end_sessions, excluded)
        return self._fence_accounts(accounts, end_sessions, excluded)

    def _fence_instance(self, end_sessions, excluded):
        self._check_write_block()
        before = self._write_block_state()
        change = {'kind': 'user_write_block', 'target': 'user_write_block', 'before': before, 'after': ENABLED}
        changes = self.apply_changes([change], lambda change: self.command(
            'admin', {'setUserWriteBlockMode': 1, 'global': True}, privilege='setUserWriteBlockMode (role backup, restore or root)'))
        ended = []
        if end_sessions:
            # Writes already inside an open transaction could still commit: end those sessions.
            ended = self.end_fence_sessions(changes, lambda: [
                s for s in self.sessions() if s['writing'] and not s['own'] and s['user'] not in excluded])
        return self.new_record('instance', (), changes, ended)

    def _users(self, accounts):
        keys = [parse_account(account) for account in accounts]
        found = self.read('admin', {'usersInfo': [{'user': user, 'db': db} for user, db in keys]},
                          'viewUser (role userAdminAnyDatabase)').get('users') or []
        by_key = dict(((u['user'], u['db']), u) for u in found)
        missing = [user_key(*key) for key in keys if key not in by_key]
        if missing:
            raise EngineError('user %s does not exist on %s (write user@database; a name alone means the admin '
                              'database).' % (', '.join(missing), self.address))
        return [by_key[key] for key in keys]

    def _write_roles(self, users):
        """The (role, db) pairs among the users' roles whose privileges, inherited ones included, write."""
        roles = sorted(set(role_key(r) for u in users for r in u.get('roles') or ()))
        if not roles:
            return set()
        info = self.read('admin', {'rolesInfo': [{'role': r, 'db': d} for r, d in roles], 'showPrivileges': True,
                                   'showBuiltinRoles': True}, 'viewRole (role userAdminAnyDatabase)').get('roles') or []
        writing = set()
        for role in info:
            actions = set(a for p in role.get('inheritedPrivileges') or role.get('privileges') or () for a in p.get('actions') or ())
            if actions & WRITE_ACTIONS:
                writing.add(role_key(role))
        return writing

    def _fence_accounts(self, accounts, end_sessions, excluded):
        users = self._users(accounts)
        writing = self._write_roles(users)
        plan = []
        for user in users:
            roles = [{'role': r['role'], 'db': r['db']} for r in user.get('roles') or ()]
            revoked = [r for r in roles if role_key(r) in writing]
            plan.append({'kind': 'user_roles', 'target': user_key(user['user'], user['db']),
                         'before': sorted('%s@%s' % role_key(r) for r in roles),
                         'after': sorted('%s@%s' % role_key(r) for r in roles if r not in revoked),
                         'revoked': revoked})
        changes = self.apply_changes(plan, self._revoke)
        ended = []
        if end_sessions:
            fenced = set((u['user'], u['db']) for u in users)
            with self.undo_on_failure(changes):
                targets = [s for s in self.sessions() if not s['own'] and (s['user'], s['user_db']) in fenced
                           and s['user'] not in excluded]
                # Every session of these users, with its operations, cursors and open transactions;
                # then the operations that run without a session.
                self.command('admin', {'killAllSessionsByPattern': [{'users': [{'user': u, 'db': d} for u, d in sorted(fenced)]}]},
                             privilege='killAnySession (role hostManager)')
                self.end_sessions([s for s in targets if not s['lsid']])
            # Idle connections stay open (MongoDB cannot close them) but can no longer write.
            ended = [s for s in targets if s['lsid'] or s['opid'] is not None]
        return self.new_record('accounts', [c['target'] for c in changes], changes, ended)

    def _revoke(self, change):
        user, dummy, db = change['target'].rpartition('@')
        self.command(db, {'revokeRolesFromUser': user, 'roles': change['revoked']},
                     privilege='revokeRole on the roles\' databases (role userAdminAnyDatabase)')

    def _restore(self, change, current=None):
        if change['kind'] == 'user_write_block':
            self.command('admin', {'setUserWriteBlockMode': 1, 'global': False},
                         privilege='setUserWriteBlockMode (role backup, restore or root)')
            return
        user, dummy, db = change['target'].rpartition('@')
        roles = self._missing_roles(change, current)
        if roles:
            self.command(db, {'grantRolesToUser': user, 'roles': roles},
                         privilege='grantRole on the roles\' databases (role userAdminAnyDatabase)')

    @staticmethod
    def _missing_roles(change, current=None):
        """The revoked roles the user lacks now (all of them when ``current`` was not read)."""
        if current is None:
            return list(change.get('revoked') or ())
        roles = current.get(('user_roles', change['target'])) or set()
        return [r for r in change.get('revoked') or () if role_key(r) not in roles]

    def unfence(self, record):
        return self.unfence_changes(self.check_record(record))

    def _current(self, changes):
        current = {}
        for change in changes:
            if change['kind'] == 'user_write_block':
                current[('user_write_block', change['target'])] = self._write_block_state()
            else:
                current[('user_roles', change['target'])] = self._current_roles(change['target'])
        return current

    def _still_fenced(self, change, current):
        if change['kind'] == 'user_write_block':
            # mongos does not report the block (unknown): lift it to be sure.
            return current.get(('user_write_block', change['target'])) != DISABLED
        # Not when the user is gone, or has the roles back already.
        return current.get(('user_roles', change['target'])) is not None and bool(self._missing_roles(change, current))

    def _current_roles(self, target):
        user, db = parse_account(target)
        found = self.read('admin', {'usersInfo': [{'user': user, 'db': db}]}, 'viewUser (role userAdminAnyDatabase)').get('users') or []
        return set(role_key(r) for r in found[0].get('roles') or ()) if found else None

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record that, undone, lifts the user write block (force unlock). The roles an accounts
        fence revoked are known only from its record."""
        self.check_scope(scope, accounts)
        if scope == 'accounts':
            raise NotSupported('the roles an accounts fence revoked are recorded only in its fence record: unlock with '
                               'the record, or grant the roles back with grantRolesToUser.')
        change = {'kind': 'user_write_block', 'target': 'user_write_block', 'before': DISABLED, 'after': ENABLED}
        return self.new_record('instance', (), [change], extra={'forced': True})

    def fence_state(self, scope, accounts=()):
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            return {'user_write_block': self._write_block_state()}
        state = {}
        for account in accounts:
            user, db = parse_account(account)
            roles = self._current_roles(user_key(user, db))
            state[user_key(user, db)] = None if roles is None else sorted('%s@%s' % r for r in roles)
        return state

    # -- collections of the catch-up token and of documents -----------------------------------
    @staticmethod
    def _collection(name, what):
        """'database.collection' -> (database, collection); the collection may contain dots."""
        db, dot, collection = (name or '').partition('.') if isinstance(name, str) else ('', '', '')
        if not dot or not db or not collection or set(db) & set('/\\. "$'):
            raise EngineError('%s object %r must be database.collection.' % (what, name))
        return db, collection

    def _collection_exists(self, db, collection):
        reply = self.read(db, {'listCollections': 1, 'filter': {'name': collection}, 'nameOnly': True},
                          'listCollections on the database')
        return bool((reply.get('cursor') or {}).get('firstBatch'))

    def _ensure_collection(self, name, what, create):
        db, collection = self._collection(name, what)
        if self._collection_exists(db, collection):
            return False
        if not create:
            raise EngineError('%s collection %s does not exist on %s: %s' % (what, name, self.address, COLLECTION_HINTS[what]))
        self.command(db, {'create': collection}, privilege='createCollection on the database')
        return True

    def _write_errors(self, reply, name, what, ignore=()):
        for error in reply.get('writeErrors') or ():
            if error.get('code') in ignore:
                continue
            if error.get('code') == USER_WRITES_BLOCKED:
                raise EngineError('writes are blocked (setUserWriteBlockMode) and login_user lacks the '
                                  'bypassWriteBlockingMode privilege (role restore or root) that writes the %s '
                                  'through the fence.' % what)
            raise EngineError('writing the %s into %s failed: %s (code %s)' % (what, name, error.get('errmsg'), error.get('code')))

    def _find(self, name, what, key):
        db, collection = self._collection(name, what)
        reply = self.read(db, {'find': collection, 'filter': {'_id': key}, 'limit': 1, 'singleBatch': True},
                          'find on the collection')
        return (reply.get('cursor') or {}).get('firstBatch') or []

    # -- catch-up proof -----------------------------------------------------------------------
    def ensure_token_object(self, name, create=False):
        return self._ensure_collection(name, 'token', create)

    def write_token(self, name, token):
        db, collection = self._collection(name, 'token')
        document = {'_id': token, 'written_at': datetime.datetime.now(datetime.timezone.utc)}
        reply = self.command(db, {'insert': collection, 'documents': [document]}, privilege='insert on the collection')
        self._write_errors(reply, name, 'token', ignore=(DUPLICATE_KEY,))  # a duplicate: written before, a retry
        return name

    def read_token(self, name, token):
        if self._find(name, 'token', token):
            return True
        if not self._collection_exists(*self._collection(name, 'token')):
            raise EngineError('token collection %s does not exist on %s (yet).' % (name, self.address))
        return False

    # -- documents ----------------------------------------------------------------------------
    def ensure_document_object(self, name, create=False):
        return self._ensure_collection(name, 'document', create)

    def save_document(self, name, key, document):
        db, collection = self._collection(name, 'document')
        text = encode_document(document)
        update = {'update': collection, 'updates': [{'q': {'_id': key}, 'upsert': True, 'u': {
            '_id': key, 'document': text, 'updated_at': datetime.datetime.now(datetime.timezone.utc)}}]}
        shown = copy.deepcopy(update)
        shown['updates'][0]['u']['document'] = document_placeholder(text)
        reply = self.command(db, update, privilege='update and insert on the collection', shown=shown)
        self._write_errors(reply, name, 'document')
        return name

    def load_document(self, name, key):
        found = self._find(name, 'document', key)
        return decode_document(found[0].get('document'), 'document %s in %s' % (key, name)) if found else None

    def delete_document(self, name, key):
        db, collection = self._collection(name, 'document')
        reply = self.command(db, {'delete': collection, 'deletes': [{'q': {'_id': key}, 'limit': 1}]},
                             privilege='remove on the collection')
        self._write_errors(reply, name, 'document')
