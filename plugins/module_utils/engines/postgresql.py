# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL (psycopg2).

The instance fence sets ``default_transaction_read_only`` with ALTER SYSTEM and reloads the
configuration. That is a default, not a wall: transactions that were open before the reload stay
read-write (so the fence ends them), and a session can still ``SET default_transaction_read_only
= off`` or ``BEGIN READ WRITE``; role or database settings that do so are reported in the record.
The admin connection itself always runs with ``default_transaction_read_only = off`` so that it
can undo a fence and write the catch-up token.
"""

from __future__ import annotations

import datetime
import re
import socket
import time
import traceback

try:
    import psycopg2
    from psycopg2 import sql
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    MissingDriver,
    PartlyApplied,
    decode_document,
    document_placeholder,
    encode_document,
    make_session,
)

SETTING = 'default_transaction_read_only'
WRITE_KEYWORDS = frozenset(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY', 'CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'GRANT',
                            'REVOKE', 'REINDEX', 'CLUSTER', 'VACUUM', 'REFRESH', 'COMMENT', 'SECURITY', 'IMPORT', 'LOCK', 'CALL'])
_LEADING_NOISE = re.compile(r'^(\s+|/\*.*?\*/|--[^\n]*\n|\()+', re.S)
_PASSWORD = re.compile(r"(PASSWORD\s+)('(?:[^']|'')*'|\$(\w*)\$.*?\$\3\$)", re.I | re.S)
_TRUE = ('on', 'true', 'yes', '1', 't', 'y')
IN_TRANSACTION_STATES = ('idle in transaction', 'idle in transaction (aborted)')
INSUFFICIENT_PRIVILEGE = '<insufficient privilege>'
DEFAULT_TOKEN_TABLE = 'dtsops_switchover_token'
TABLE_COLUMNS = {
    'token': '(token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())',
    'document': '(doc_key text PRIMARY KEY, document text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())',
}
TABLE_HINTS = {
    'token': 'create it (create: true) and include it in the migration objects',
    'document': 'create it (create: true)',
}


def is_write_statement(statement):
    """True when ``statement`` (a running query) changes data or schema."""
    if not statement:
        return False
    text = _LEADING_NOISE.sub('', statement)
    words = text.split(None, 1)
    keyword = words[0].upper().rstrip(';') if words else ''
    if keyword == 'WITH':
        return bool(re.search(r'\b(INSERT|UPDATE|DELETE|MERGE)\b', text, re.I))
    if keyword == 'SELECT':
        return bool(re.search(r'\bINTO\b', text, re.I) and not re.search(r'\bINTO\s+STRICT\b', text, re.I)
                    and re.search(r'\bSELECT\b[^;]*\bINTO\s+(TEMP|TEMPORARY|UNLOGGED|TABLE)?\s*\w', text, re.I))
    return keyword in WRITE_KEYWORDS


def mask_statement(statement):
    """A statement with passwords (CREATE/ALTER ROLE ... PASSWORD '...') replaced by ********."""
    if not statement:
        return statement
    return _PASSWORD.sub(lambda match: match.group(1) + "'********'", statement)


def _on_off(value):
    return 'on' if str(value).lower() in _TRUE else 'off'


class PostgreSQLEngine(Engine):
    name = 'postgresql'
    display_name = 'PostgreSQL'
    driver_package = 'psycopg2-binary'
    default_port = 5432
    default_user = 'postgres'
    change_kinds = ('alter_system', 'role_login')
    principal = 'role'
    principals = 'application roles'

    def __init__(self, params, check_mode=False):
        super(PostgreSQLEngine, self).__init__(params, check_mode=check_mode)
        self._info = None
        self._pid = None

    # -- connection ---------------------------------------------------------------------------
    def connect(self):
        if not HAS_PSYCOPG2:
            raise MissingDriver(self.driver_package, PSYCOPG2_IMPORT_ERROR)
        mode = self.params.get('ssl_mode') or 'prefer'
        if mode in ('verify-ca', 'verify-full') and not self.params.get('ca_cert'):
            raise EngineError('ssl_mode %s needs ca_cert (the CA that signed the server certificate)' % mode)
        kwargs = dict(
            host=self.params.get('login_host') or 'localhost',
            port=int(self.params['login_port']),
            user=self.params['login_user'],
            password=self.params.get('login_password') or None,
            dbname=self.params.get('login_db') or 'postgres',
            connect_timeout=self.params.get('connect_timeout') or 10,
            sslmode=mode,
            application_name='dtsops.switchover',
        )
        for option, key in (('ca_cert', 'sslrootcert'), ('client_cert', 'sslcert'), ('client_key', 'sslkey')):
            if self.params.get(option):
                kwargs[key] = self.params[option]
        try:
            self.conn = psycopg2.connect(**kwargs)
        except psycopg2.Error as exc:
            if self._not_postgresql(exc):
                raise self.not_this_engine()
            raise EngineError(self._connect_error(exc))
        self.conn.autocommit = True
        self._pid = self.conn.get_backend_pid()
        # Our session must stay writable while the server is fenced (undo, catch-up token).
        self.execute('SET SESSION default_transaction_read_only = off')
        return self

    def _connect_error(self, exc):
        message = ' '.join(str(exc).replace('FATAL:', '').split())
        lowered = message.lower()
        if 'password authentication failed' in lowered or 'no password supplied' in lowered:
            hint = 'access denied: check login_user and login_password'
        elif 'is not permitted to log in' in lowered:
            hint = 'login_user may not log in (NOLOGIN)'
        elif 'database' in lowered and 'does not exist' in lowered:
            hint = 'unknown database: check login_db'
        elif 'pg_hba.conf' in lowered:
            hint = "the server's pg_hba.conf rejects this user, host or TLS setting"
        elif 'ssl' in lowered or 'certificate' in lowered or 'tls' in lowered:
            hint = 'TLS problem: check ssl_mode, ca_cert, client_cert and client_key'
        elif ('refused' in lowered or 'timeout' in lowered or 'could not translate host name' in lowered
              or 'no route' in lowered or 'unreachable' in lowered):
            hint = 'server unreachable: check login_host, login_port and that the server runs'
        else:
            hint = 'connection failed'
        return self.scrub('%s (%s)' % (hint, message))

    def _not_postgresql(self, exc):
        """Whether a failed connect reached a server of another engine: libpq found no PostgreSQL
        answer to its first message (a MySQL greeting instead, or silence from a server that waits
        for the client, as Redis does, while the port accepts connections)."""
        message = str(exc).lower()
        if 'invalid response to ssl negotiation' in message or 'expected authentication request from server' in message:
            return True
        if 'timeout expired' not in message:
            return False
        try:
            # The port accepted the first connection: it was the answer that never came.
            socket.create_connection((self.params.get('login_host') or 'localhost', int(self.params['login_port'])), timeout=1).close()
        except OSError:
            return False
        return True

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """The cluster's system_identifier (pg_control_system(), PostgreSQL 9.6+) and the port:
        a physical standby shares its primary's identifier. The database is the one connected to."""
        system_id, port, database = self._query_one(
            "SELECT system_identifier::text, current_setting('port'), current_database() FROM pg_control_system()")
        return self.identity('%s:%s' % (system_id, port), 'pg_control_system().system_identifier:port', database)

    # -- statements ---------------------------------------------------------------------------
    def render(self, statement, args=None):
        if self.conn is None:
            return str(statement)
        with self.conn.cursor() as cursor:
            return cursor.mogrify(statement, args).decode('utf-8', 'replace')

    def execute(self, statement, args=None, write=False, shown=None):
        """Run one statement and return its rows. ``write``: it changes the server, so it is
        always recorded and skipped in check mode; reads are recorded once each. ``shown``: the
        statement as recorded, when its arguments are too long to show (a document)."""
        if not self.log(shown or self.render(statement, args), write):
            return []
        with self.conn.cursor() as cursor:
            cursor.execute(statement, args)
            return cursor.fetchall() if cursor.description else []

    def _query_one(self, statement, args=None):
        rows = self.execute(statement, args)
        return rows[0] if rows else None

    def _failure(self, statement, exc, doing=None, privilege=None):
        """An EngineError for a statement the server refused; ``privilege`` names what a refusal
        (SQLSTATE 42501) lacks, ``doing`` (e.g. 'fence failed') leads the message."""
        primary = getattr(getattr(exc, 'diag', None), 'message_primary', None) or ' '.join(str(exc).split())
        code = getattr(exc, 'pgcode', None)
        lead = '%s: ' % doing if doing else ''
        if code == '42501' and privilege:
            return EngineError('%smissing privilege %s for login_user (%s refused: %s)' % (lead, privilege, statement, primary))
        return EngineError(self.scrub('%s%s failed (SQLSTATE %s: %s)' % (lead, statement, code, primary)))

    # -- server -------------------------------------------------------------------------------
    def server_info(self):
        if self._info is None:
            version, number, recovery = self._query_one(
                "SELECT current_setting('server_version'), current_setting('server_version_num')::int, pg_is_in_recovery()")
            if number >= 100000:
                numbers = [number // 10000, number % 10000, 0]
            else:
                numbers = [number // 10000, number // 100 % 100, number % 100]
            self._info = {
                'engine': self.name,
                'flavour': 'postgresql',
                'version': version,
                'version_info': numbers,
                'in_recovery': bool(recovery),
            }
        return dict(self._info)

    # -- sessions -----------------------------------------------------------------------------
    def _session_rows(self):
        info = self.server_info()
        columns = ('pid, usename, client_addr::text, client_port, datname, state, query, backend_xid IS NOT NULL, '
                   'EXTRACT(EPOCH FROM now() - xact_start), xact_start < query_start, '
                   'EXTRACT(EPOCH FROM now() - COALESCE(state_change, backend_start)), application_name, xact_start')
        if info['version_info'][0] >= 10:
            statement = ("SELECT %s FROM pg_stat_activity WHERE backend_type = 'client backend' OR "
                         "(query = '%s' AND usename IS NOT NULL)" % (columns, INSUFFICIENT_PRIVILEGE))
        else:
            statement = 'SELECT %s FROM pg_stat_activity' % columns
        return self.execute(statement)

    def sessions(self):
        rows = self._session_rows()
        hidden = [row for row in rows if row[6] == INSUFFICIENT_PRIVILEGE]
        if hidden:
            raise EngineError('login_user cannot see what %d session(s) of other roles do (%s): grant it pg_read_all_stats '
                              '(or pg_monitor)' % (len(hidden), ', '.join(sorted(set(str(row[1]) for row in hidden)))))
        result = []
        for (pid, user, addr, port, database, state, query, has_xid, xact_age, multi_statement, state_age,
             application, xact_start) in rows:
            if addr is None:
                client = 'local'
            else:
                addr = addr.split('/')[0]
                client = '[%s]:%s' % (addr, port) if ':' in addr else '%s:%s' % (addr, port)
            writing = bool(has_xid) or (state == 'active' and is_write_statement(query))
            transaction = None
            if xact_start is not None:
                transaction = {'age': max(0.0, round(float(xact_age), 3)), 'has_xid': bool(has_xid), 'multi_statement': bool(multi_statement),
                               'started': xact_start.isoformat()}
            result.append(make_session(
                id=int(pid), user=user, client=client, database=database, state=state, command=mask_statement(query),
                writing=writing, idle=state == 'idle', own=int(pid) == self._pid,
                age=max(0.0, round(float(state_age), 3)) if state_age is not None else None,
                application=application, transaction=transaction,
            ))
        return result

    def _end_session(self, session):
        if session['id'] == self._pid:
            return False
        statement = 'SELECT pg_terminate_backend(%s)'
        try:
            rows = self.execute(statement, (int(session['id']),), write=True)
        except psycopg2.Error as exc:
            raise self._failure(self.render(statement, (int(session['id']),)), exc,
                                'cannot end session %s of %s' % (session['id'], session.get('user')),
                                privilege='pg_signal_backend (superuser sessions: only a superuser can end them)')
        return self.check_mode or bool(rows and rows[0][0])

    def _wait_gone(self, ids, timeout=10.0):
        """pg_terminate_backend only signals: wait (bounded) until the backends are gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.execute('SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)', (list(ids),)):
                return
            time.sleep(0.05)

    # -- fencing ------------------------------------------------------------------------------
    def _read_only_setting(self):
        """(effective system value, value in postgresql.auto.conf or None)."""
        try:
            rows = self.execute('SELECT sourcefile, setting, applied FROM pg_file_settings WHERE name = %s ORDER BY seqno',
                                (SETTING,))
        except psycopg2.Error as exc:
            raise self._failure('SELECT FROM pg_file_settings', exc, 'cannot read the server configuration',
                                privilege='superuser (or SELECT on pg_file_settings and EXECUTE on pg_show_all_file_settings())')
        effective, auto = 'off', None
        for sourcefile, setting, applied in rows:
            if applied:
                effective = _on_off(setting)
            if (sourcefile or '').endswith('postgresql.auto.conf'):
                auto = setting
        return effective, auto

    def _bypasses(self):
        """Role/database settings that turn the read-only default off again (they defeat the fence)."""
        rows = self.execute(
            "SELECT COALESCE(r.rolname, '*'), COALESCE(d.datname, '*'), c FROM pg_db_role_setting s "
            'LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase, '
            'unnest(s.setconfig) AS c WHERE c ILIKE %s', (SETTING + '=%',))
        return [{'role': role, 'database': database, 'setting': setting} for role, database, setting in rows
                if _on_off(setting.split('=', 1)[1]) == 'off']

    def _resolve_roles(self, accounts):
        names = list(dict.fromkeys(accounts))
        rows = self.execute('SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)', (names,))
        found = dict(rows)
        missing = [name for name in names if name not in found]
        if missing:
            raise EngineError('role(s) not found on %s: %s; check the accounts option (\\du lists them)'
                              % (self.address, ', '.join(missing)))
        return [(name, 'LOGIN' if found[name] else 'NOLOGIN') for name in names]

    def _plan(self, scope, accounts):
        if scope == 'instance':
            effective, auto = self._read_only_setting()
            return [{'kind': 'alter_system', 'target': SETTING, 'before': effective, 'after': 'on', 'file_before': auto}]
        return [{'kind': 'role_login', 'target': role, 'before': state, 'after': 'NOLOGIN'}
                for role, state in self._resolve_roles(accounts)]

    @staticmethod
    def _describe(change, value):
        if change['kind'] == 'alter_system':
            if value is None:
                return 'ALTER SYSTEM RESET %s' % SETTING
            return 'ALTER SYSTEM SET %s = %s' % (SETTING, value)
        return 'ALTER ROLE %s %s' % (change['target'], value)

    def _alter_system(self, value):
        if value is None:
            self.execute('ALTER SYSTEM RESET %s' % SETTING, write=True)
        else:
            self.execute(sql.SQL('ALTER SYSTEM SET {} = {}').format(sql.Identifier(SETTING), sql.Literal(value)), write=True)
        self.execute('SELECT pg_reload_conf()', write=True)

    def _apply(self, change):
        if change['kind'] == 'alter_system':
            self.execute(sql.SQL('ALTER SYSTEM SET {} = {}').format(sql.Identifier(SETTING), sql.Literal(change['after'])),
                         write=True)
            try:
                self.execute('SELECT pg_reload_conf()', write=True)
                self._wait_reloaded(change['after'])
            except (psycopg2.Error, EngineError) as exc:
                raise PartlyApplied(exc)  # the file holds the setting: the rollback takes it out again
        else:
            self.execute(sql.SQL('ALTER ROLE {} NOLOGIN').format(sql.Identifier(change['target'])), write=True)

    def _restore(self, change, current=None):
        if change['kind'] == 'alter_system':
            self._alter_system(change['file_before'])
        else:
            self.execute(sql.SQL('ALTER ROLE {} {}').format(sql.Identifier(change['target']), sql.SQL(change['before'])),
                         write=True)

    def _wait_reloaded(self, value, timeout=10.0):
        """pg_reload_conf() only signals the postmaster: wait until the new default is in force.
        Our session overrides it, so look at reset_val (the value without our SET)."""
        if self.check_mode:
            return
        deadline = time.monotonic() + timeout
        while True:
            row = self._query_one('SELECT reset_val FROM pg_settings WHERE name = %s', (SETTING,))
            if row and _on_off(row[0]) == _on_off(value):
                return
            if time.monotonic() > deadline:
                raise EngineError('the server did not apply %s = %s within %d s of pg_reload_conf()' % (SETTING, value, timeout))
            time.sleep(0.02)

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        changes = self.apply_changes(self._plan(scope, accounts), self._apply)
        extra, fenced_at = {}, None
        with self.undo_on_failure(changes):
            if any(change['kind'] == 'alter_system' and change['before'] != change['after'] for change in changes):
                # Transactions older than this began read-write (in check mode: would have).
                fenced_at = self._query_one('SELECT now()')[0]
            if scope == 'instance':
                bypasses = self._bypasses()
                if bypasses:
                    extra['bypasses'] = bypasses
        ended = []
        if end_sessions:
            ended = self.end_fence_sessions(changes, lambda: self._fence_victims(scope, changes, exclude_users, fenced_at))
        return self.new_record(scope, accounts, changes, ended, extra)

    def _change_error(self, exc, change=None, undo=False):
        if not isinstance(exc, psycopg2.Error):
            return super(PostgreSQLEngine, self)._change_error(exc, change, undo)
        if change is None:
            return self._failure('listing or ending sessions', exc, 'fence failed')
        if undo:
            return self._failure(self._undo_statement(change), exc)
        statement = self._describe(change, change['after'])
        if change['kind'] == 'alter_system':
            return self._failure(statement, exc, 'fence failed',
                                 privilege='superuser (PostgreSQL 15+: ALTER SYSTEM ON PARAMETER %s and EXECUTE on '
                                           'pg_reload_conf())' % SETTING)
        return self._failure(statement, exc, 'fence failed', privilege='CREATEROLE (superuser for superuser roles)')

    def _fence_victims(self, scope, changes, exclude_users, fenced_at):
        excluded = set(exclude_users or ())
        sessions = [s for s in self.sessions() if not s['own'] and s['user'] not in excluded]
        if scope == 'accounts':
            roles = set(change['target'] for change in changes)
            return [s for s in sessions if s['user'] in roles]
        victims = []
        for session in sessions:
            transaction = session['transaction']
            if session['writing']:
                victims.append(session)
            elif transaction and fenced_at is not None and datetime.datetime.fromisoformat(transaction['started']) < fenced_at and (
                    session['state'] in IN_TRANSACTION_STATES or transaction['multi_statement']):
                # Began read-write before the new default: it could still write.
                victims.append(session)
        return victims

    def _undo_statement(self, change):
        return self._describe(change, change.get('file_before') if change['kind'] == 'alter_system' else change['before'])

    def _current(self, changes):
        current = {}
        for change in changes:
            if change['kind'] == 'alter_system':
                auto = self._read_only_setting()[1]
                current[('alter_system', change['target'])] = None if auto is None else _on_off(auto)
            else:
                row = self._query_one('SELECT rolcanlogin FROM pg_roles WHERE rolname = %s', (change['target'],))
                current[('role_login', change['target'])] = None if row is None else 'LOGIN' if row[0] else 'NOLOGIN'
        return current

    def unfence(self, record):
        return self.unfence_changes(self.check_record(record))

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record whose undo sets the unfenced values whatever they were before (an unlock
        after the real record was lost): default_transaction_read_only removed from
        postgresql.auto.conf, or the roles allowed to log in."""
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            changes = [{'kind': 'alter_system', 'target': SETTING, 'before': 'off', 'after': 'on', 'file_before': None}]
        else:
            changes = [{'kind': 'role_login', 'target': role, 'before': 'LOGIN', 'after': 'NOLOGIN'}
                       for role, dummy in self._resolve_roles(accounts)]
        return self.new_record(scope, accounts, changes, extra={'forced': True})

    def fence_state(self, scope, accounts=()):
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            effective, auto = self._read_only_setting()
            return {SETTING: effective, 'postgresql.auto.conf': auto}
        return dict(self._resolve_roles(accounts))

    # -- tables of the catch-up token and of documents ----------------------------------------
    def _table(self, name, what):
        schema, dot, table = name.partition('.')
        if not dot:
            schema, table = 'public', name
        if not schema or not table:
            raise EngineError('name the %s table as schema.table: got %r' % (what, name))
        return schema, table, sql.Identifier(schema, table)

    def _missing_table(self, what, schema, table):
        return EngineError('%s table %s.%s does not exist in database %s on %s: %s' % (
            what, schema, table, self.params.get('login_db') or 'postgres', self.address, TABLE_HINTS[what]))

    def _ensure_table(self, name, what, create):
        schema, table, identifier = self._table(name, what)
        if self._query_one('SELECT to_regclass(%s)', (self.render(identifier),))[0] is not None:
            return False
        if not create:
            raise self._missing_table(what, schema, table)
        statement = sql.SQL('CREATE TABLE IF NOT EXISTS {} %s' % TABLE_COLUMNS[what]).format(identifier)
        try:
            self.execute(statement, write=True)
        except psycopg2.Error as exc:
            raise self._failure(self.render(statement), exc, 'cannot create the %s table' % what, privilege='CREATE on schema %s' % schema)
        return True

    def _table_statement(self, name, what, statement, args, privilege, shown_args=None, write=False, missing_ok=False):
        """Run a statement on the token or document table. A missing table is named as such, or
        with ``missing_ok`` gives None; a refusal names ``privilege``."""
        schema, table, identifier = self._table(name, what)
        statement = sql.SQL(statement).format(identifier)
        shown = self.render(statement, shown_args) if shown_args else None
        try:
            return self.execute(statement, args, write=write, shown=shown)
        except psycopg2.Error as exc:
            if getattr(exc, 'pgcode', None) in ('42P01', '3F000'):
                if missing_ok:
                    return None
                raise self._missing_table(what, schema, table)
            raise self._failure(shown or self.render(statement, args), exc, 'cannot %s the %s' % ('write' if write else 'read', what),
                                privilege='%s on %s.%s' % (privilege, schema, table))

    # -- catch-up token -----------------------------------------------------------------------
    def ensure_token_object(self, name, create=False):
        return self._ensure_table(name or DEFAULT_TOKEN_TABLE, 'token', create)

    def write_token(self, name, token):
        schema, table = self._table(name or DEFAULT_TOKEN_TABLE, 'token')[:2]
        self._table_statement(name or DEFAULT_TOKEN_TABLE, 'token', 'INSERT INTO {} (token) VALUES (%s) ON CONFLICT (token) DO NOTHING',
                              (token,), 'INSERT', write=True)
        return '%s.%s in database %s on %s' % (schema, table, self.params.get('login_db') or 'postgres', self.address)

    def read_token(self, name, token):
        # A missing table is not replicated yet.
        return bool(self._table_statement(name or DEFAULT_TOKEN_TABLE, 'token', 'SELECT 1 FROM {} WHERE token = %s', (token,),
                                          'SELECT', missing_ok=True))

    # -- documents ----------------------------------------------------------------------------
    def ensure_document_object(self, name, create=False):
        return self._ensure_table(name, 'document', create)

    def save_document(self, name, key, document):
        text = encode_document(document)
        self._table_statement(name, 'document', 'INSERT INTO {} (doc_key, document) VALUES (%s, %s) ON CONFLICT (doc_key) '
                                                'DO UPDATE SET document = EXCLUDED.document, updated_at = clock_timestamp()',
                              (key, text), 'INSERT and UPDATE', (key, document_placeholder(text)), write=True)
        schema, table = self._table(name, 'document')[:2]
        return '%s.%s in database %s on %s' % (schema, table, self.params.get('login_db') or 'postgres', self.address)

    def load_document(self, name, key):
        rows = self._table_statement(name, 'document', 'SELECT document FROM {} WHERE doc_key = %s', (key,), 'SELECT')
        return decode_document(rows[0][0], 'document %s in %s' % (key, name)) if rows else None

    def delete_document(self, name, key):
        self._table_statement(name, 'document', 'DELETE FROM {} WHERE doc_key = %s', (key,), 'DELETE', write=True)
