# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Oracle engine, through python-oracledb in thin mode (no Instant Client).

Fences: scope ``instance`` runs ``ALTER SYSTEM ENABLE RESTRICTED SESSION`` (for the PDB when
connected to one) and kills the sessions of users without the RESTRICTED SESSION privilege;
scope ``accounts`` runs ``ALTER USER ... ACCOUNT LOCK`` and kills the users' sessions. QUIESCE
RESTRICTED is not offered: it freezes every non-DBA session, the migration account's included,
and waits without bound for active transactions. docs/engines/oracle.md has the details.
"""

from __future__ import annotations

import re
import ssl
import threading
import traceback

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    MissingDriver,
    decode_document,
    document_placeholder,
    encode_document,
    make_session,
    version_numbers,
)

try:
    import oracledb
except ImportError:
    oracledb = None
    ORACLEDB_IMPORT_ERROR = traceback.format_exc()
else:
    ORACLEDB_IMPORT_ERROR = None

APP_NAME = 'dtsops.switchover'
RESTRICTED, ALLOWED = 'RESTRICTED', 'ALLOWED'
LOCKED, OPEN = 'LOCKED', 'OPEN'

# v$session.command codes of statements that write: INSERT, UPDATE, DELETE, UPSERT (MERGE),
# CREATE/ALTER/DROP/TRUNCATE TABLE, CREATE INDEX.
WRITE_COMMANDS = frozenset((2, 6, 7, 189, 1, 15, 12, 85, 9))

INSUFFICIENT_PRIVILEGES = 1031
MISSING_TABLE = 942
GONE_SESSION = 30              # ORA-00030: User session ID does not exist.
MARKED_FOR_KILL = 31           # ORA-00031: session marked for kill (it ends as soon as it can)
UNIQUE_VIOLATED = 1
TABLE_COLUMNS = {
    'token': '(token VARCHAR2(200) NOT NULL PRIMARY KEY, written_at TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL)',
    'document': '(doc_key VARCHAR2(255) NOT NULL PRIMARY KEY, document CLOB NOT NULL, '
                'updated_at TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL)',
}
TABLE_HINTS = {
    'token': 'create it (create: true) on the source and include it in the DTS task.',
    'document': 'create it (create: true).',
}
CONNECT_HINTS = {
    'ORA-01017': 'check login_user and login_password',
    'ORA-28000': 'the account of login_user is locked',
    'ORA-01035': ('the instance is in restricted mode (a fence is on) and login_user lacks the RESTRICTED SESSION '
                  'privilege it needs to connect now'),
    'DPY-6001': 'check login_db: it must be a service name the listener knows',
    'ORA-12514': 'check login_db: it must be a service name the listener knows',
}

CONTEXT_SQL = ("SELECT SYS_CONTEXT('USERENV', 'SID') AS sid, SYS_CONTEXT('USERENV', 'SESSION_USER') AS session_user, "
               "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AS current_schema, SYS_CONTEXT('USERENV', 'CON_NAME') AS con_name, "
               "SYS_CONTEXT('USERENV', 'CON_ID') AS con_id FROM dual")
# Oracle 11g knows neither CON_NAME nor CON_ID: it has no containers.
CONTEXT_SQL_11G = ("SELECT SYS_CONTEXT('USERENV', 'SID') AS sid, SYS_CONTEXT('USERENV', 'SESSION_USER') AS session_user, "
                   "SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') AS current_schema, NULL AS con_name, 0 AS con_id FROM dual")
PRIVILEGES_SQL = 'SELECT privilege FROM session_privs'
IDENTITY_SQL = 'SELECT dbid, name FROM v$database'
BANNER_SQL = 'SELECT banner FROM v$version'
INSTANCE_LOGINS_SQL = 'SELECT logins FROM v$instance'
PDB_RESTRICTED_SQL = "SELECT restricted FROM v$pdbs WHERE con_id = SYS_CONTEXT('USERENV', 'CON_ID')"

SESSIONS_SQL = (
    "SELECT s.sid, s.serial# AS serial, s.username, s.osuser, s.machine, s.port, s.program, s.status, s.service_name, "
    "s.command, s.last_call_et, s.taddr, t.used_ublk, t.used_urec, q.sql_text, "
    "CASE WHEN s.sid = SYS_CONTEXT('USERENV', 'SID') THEN 1 ELSE 0 END AS is_own "
    "FROM v$session s LEFT JOIN v$transaction t ON t.addr = s.taddr "
    "LEFT JOIN v$sqlarea q ON q.sql_id = s.sql_id "
    "WHERE s.type = 'USER' ORDER BY s.sid"
)

# Users holding RESTRICTED SESSION directly or through roles (roles granted to roles included):
# restricted mode lets them log in, so ending their sessions would fence nothing.
RESTRICTED_SESSION_USERS_SQL = (
    "SELECT grantee FROM dba_sys_privs WHERE privilege = 'RESTRICTED SESSION' "
    "UNION SELECT grantee FROM dba_role_privs START WITH granted_role IN "
    "(SELECT grantee FROM dba_sys_privs WHERE privilege = 'RESTRICTED SESSION') "
    "CONNECT BY NOCYCLE PRIOR grantee = granted_role"
)


# Secrets in other sessions' statements: IDENTIFIED BY <password> [REPLACE <old password>].
SECRET_WORDS = re.compile(r'(\b(?:IDENTIFIED\s+BY|REPLACE)\s+)("[^"]*"|[^\s;]+)', re.I)


def mask_statement(statement):
    return SECRET_WORDS.sub(lambda match: match.group(1) + '********', statement) if statement else statement


def oracle_name(name, what='user'):
    """Oracle's rules: unquoted names are upper-cased, "quoted" ones kept as written."""
    if not isinstance(name, str) or not name.strip():
        raise EngineError('%s %r is not a valid Oracle name.' % (what, name))
    name = name.strip()
    if len(name) > 2 and name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    else:
        name = name.upper()
    if '"' in name or '\x00' in name or len(name) > 128:
        raise EngineError('%s %r is not a valid Oracle name (at most 128 characters, no double quote).' % (what, name))
    return name


def quote_name(name):
    return '"%s"' % name


def oracle_label(name):
    """How a user is written back to us: plain when Oracle would upper-case it anyway, else quoted,
    so oracle_name(oracle_label(x)) == x (record targets and fence_state keys)."""
    return name if re.match(r'^[A-Z][A-Z0-9_$#]*$', name) else quote_name(name)


def literal(value):
    """A value as an SQL literal, to show statements with their bind values."""
    if value is None:
        return 'NULL'
    if isinstance(value, (int, float)):
        return str(value)
    return "'%s'" % str(value).replace("'", "''")


def clean_message(message):
    """An oracledb error message on one line, without the help URL and the connection id."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip() and not line.startswith('Help:')]
    return re.sub(r'\s*\(CONNECTION_ID=[^)]*\)', '', ' '.join(lines))


def error_code(exc):
    """(code, full code like 'ORA-01017' or 'DPY-6005', message) of an oracledb error."""
    error = exc.args[0] if exc.args else None
    return getattr(error, 'code', 0) or 0, getattr(error, 'full_code', '') or '', clean_message(getattr(error, 'message', error))


def manually_locked(status):
    """ACCOUNT LOCK shows as LOCKED; LOCKED(TIMED) is a lock after failed logins that expires by itself."""
    return 'LOCKED' in (status or '') and 'LOCKED(TIMED)' not in status


class OracleEngine(Engine):
    name = 'oracle'
    display_name = 'Oracle'
    driver_package = 'oracledb'
    default_port = 1521
    change_kinds = ('restricted_session', 'account')
    principals = 'application users'

    def __init__(self, params, check_mode=False):
        super(OracleEngine, self).__init__(params, check_mode=check_mode)
        self._context = None
        self._privileges = frozenset()
        self._banner = ''

    # -- connection ---------------------------------------------------------------------------
    def tls_settings(self):
        """oracledb keyword arguments for ssl_mode/ca_cert/client_cert/client_key. The thin driver
        cannot fall back from TLS, so ``prefer`` means plain TCP, as ``disable``."""
        mode = self.params.get('ssl_mode') or 'prefer'
        ca_cert, client_cert, client_key = (self.params.get(k) for k in ('ca_cert', 'client_cert', 'client_key'))
        if mode in ('disable', 'prefer'):
            if client_cert or client_key:
                raise EngineError('client_cert needs TLS: set ssl_mode to require, verify-ca or verify-full.')
            return {'protocol': 'tcp'}
        if client_key and not client_cert:
            raise EngineError('client_key needs client_cert.')
        try:
            context = ssl.create_default_context(cafile=ca_cert)
            context.check_hostname = False      # oracledb matches the name itself (ssl_server_dn_match)
            if mode == 'require' and not ca_cert:
                context.verify_mode = ssl.CERT_NONE
            if client_cert:
                context.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise EngineError('cannot use the TLS files (ca_cert, client_cert, client_key): %s' % exc) from None
        return {'protocol': 'tcps', 'ssl_context': context, 'ssl_server_dn_match': mode == 'verify-full'}

    def connect(self):
        if oracledb is None:
            raise MissingDriver('oracledb', ORACLEDB_IMPORT_ERROR)
        service = self.params.get('login_db')
        if not service:
            raise EngineError('login_db must name the Oracle service to connect to (for example ORCLPDB1).')
        kwargs = dict(
            user=self.params.get('login_user'),
            password=self.params.get('login_password'),
            host=self.params.get('login_host') or 'localhost',
            port=int(self.params['login_port']),
            service_name=service,
            tcp_connect_timeout=float(self.params.get('connect_timeout') or 10),
            program=APP_NAME,
        )
        kwargs.update(self.tls_settings())
        try:
            self.conn = self._connect_bounded(kwargs)
        except oracledb.Error as exc:
            if 'DPY-4011' in str(exc) and kwargs.get('protocol') != 'tcps':
                # The port took the connection and closed it at the first packet: not a listener.
                # (Over TLS the same close may be the TLS peer's: its message stays.)
                raise self.not_this_engine() from None
            raise EngineError(self._connect_message(exc)) from None
        # DDL commits by itself; our one DML (the token) commits explicitly.
        self.conn.autocommit = False
        context_sql = CONTEXT_SQL if version_numbers(self.conn.version)[0] >= 12 else CONTEXT_SQL_11G
        self._context = self.query(context_sql)[0]
        self._privileges = frozenset(row['privilege'] for row in self.query(PRIVILEGES_SQL))
        try:
            banners = [row['banner'] for row in self.query(BANNER_SQL)]
        except EngineError:
            banners = []         # v$version needs catalog access: the edition stays unknown
        self._banner = next((b for b in banners if b and b.startswith('Oracle')), '')

    def _connect_bounded(self, kwargs):
        """oracledb.connect given up on after connect_timeout. The thin driver bounds only the TCP
        connect: on a port that accepts it and never answers (Redis waits for its client) it would
        wait for ever. The abandoned attempt's thread ends with the process."""
        outcome = {}

        def attempt():
            try:
                outcome['connection'] = oracledb.connect(**kwargs)
            except Exception as exc:  # handed to the caller's thread
                outcome['error'] = exc

        worker = threading.Thread(target=attempt, name='dtsops-oracle-connect', daemon=True)
        worker.start()
        worker.join(float(self.params.get('connect_timeout') or 10))
        if worker.is_alive():
            raise self.not_this_engine()
        if 'error' in outcome:
            raise outcome['error']
        return outcome['connection']

    def _connect_message(self, exc):
        dummy, full_code, message = error_code(exc)
        message = self.scrub(message)
        if full_code in CONNECT_HINTS:
            return '%s (%s)' % (message, CONNECT_HINTS[full_code])
        if 'CERTIFICATE_VERIFY_FAILED' in message or 'DPY-6006' in message:
            return 'TLS: the server certificate was not accepted: %s (check ca_cert and ssl_mode)' % message
        if '[SSL' in message:
            return 'TLS: %s (check ssl_mode, client_cert and client_key)' % message
        if 'Errno' in message or 'timed out' in message:
            return 'cannot reach the server: %s' % message
        return message

    def server_info(self):
        match = re.search(r'(Enterprise|Standard|Express|Personal|Free)\b', self._banner)
        return {
            'engine': self.name,
            'flavour': 'oracle',
            'version': self.conn.version,
            'version_info': version_numbers(self.conn.version),
            'edition': match.group(1) if match else None,
            'banner': self._banner or None,
            'container': self._context.get('con_name'),
            'login': self._context.get('session_user'),
            'session_id': self._context.get('sid'),
        }

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """The DBID of v$database (of the CDB in a multitenant database; a Data Guard standby
        shares it) and the container connected to (the PDB; the database name in a non-CDB)."""
        row = self.query(IDENTITY_SQL)[0]
        return self.identity(row['dbid'], 'v$database.dbid', self._context.get('con_name') or row['name'])

    @property
    def in_pdb(self):
        return int(self._context.get('con_id') or 0) > 1

    # -- statements ---------------------------------------------------------------------------
    @staticmethod
    def render(statement, binds=None):
        """The statement with its bind values written in, for the statements a module returns."""
        if not binds:
            return statement
        return re.sub(r':(\w+)', lambda match: literal(binds[match.group(1)]) if match.group(1) in binds else match.group(0),
                      statement)

    def query(self, statement, binds=None):
        """Rows of a read-only statement as dicts. Recorded once, however often it runs (polls)."""
        rendered = self.render(statement, binds)
        self.log(rendered)
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, binds or {})
            names = [column[0].lower() for column in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except oracledb.Error as exc:
            raise self._error(exc, rendered) from None
        finally:
            cursor.close()

    def execute(self, statement, binds=None, write=True, privilege=None, commit=False, clobs=(), shown=None):
        """Run a statement that changes the server (recorded; in check mode only recorded).
        ``clobs``: binds to send as CLOBs; ``shown``: the statement as recorded, when its binds
        are too long to show."""
        shown = shown or self.render(statement, binds)
        if not self.log(shown, write=True) and write:
            return
        cursor = self.conn.cursor()
        try:
            if clobs:
                cursor.setinputsizes(**dict((name, oracledb.DB_TYPE_CLOB) for name in clobs))
            cursor.execute(statement, binds or {})
            if commit:
                self.conn.commit()
        except oracledb.Error as exc:
            raise self._error(exc, shown, privilege) from None
        finally:
            cursor.close()

    def _error(self, exc, sql, privilege=None):
        code, dummy, message = error_code(exc)
        message = self.scrub(message)
        if code == INSUFFICIENT_PRIVILEGES and privilege:
            text = 'missing privilege %s for %s: %s' % (privilege, sql, message)
        elif code == MISSING_TABLE and re.search(r'\b(v\$|dba_)', sql, re.I):
            text = ('login_user cannot read the data dictionary view in %s: %s (grant SELECT_CATALOG_ROLE or '
                    'SELECT ANY DICTIONARY)' % (sql, message))
        else:
            text = '%s failed: %s' % (sql, message)
        error = EngineError(text)
        error.code = code
        return error

    def _require(self, privilege):
        if privilege not in self._privileges:
            raise EngineError('login_user %s lacks the system privilege %s (GRANT %s TO %s).'
                              % (self._context.get('session_user'), privilege, privilege, self._context.get('session_user')))

    # -- sessions -----------------------------------------------------------------------------
    def sessions(self):
        return [self._session(row) for row in self.query(SESSIONS_SQL)]

    @staticmethod
    def _session(row):
        undo = (row.get('used_ublk') or 0) + (row.get('used_urec') or 0)
        active = row.get('status') == 'ACTIVE'
        machine, port = row.get('machine'), row.get('port')
        return make_session(
            '%s,%s' % (row['sid'], row['serial']),
            user=row.get('username'),
            # v$session knows the client's host name and port, not its address.
            client='%s:%s' % (machine, port) if machine and port else machine,
            database=row.get('service_name'),
            state=row.get('status'),
            command=mask_statement(row.get('sql_text')),
            writing=undo > 0 or active and row.get('command') in WRITE_COMMANDS,
            idle=not active and not row.get('taddr'),
            own=bool(row.get('is_own')),
            age=row.get('last_call_et'),
            sid=row['sid'],
            serial=row['serial'],
            program=row.get('program'),
            osuser=row.get('osuser'),
            transaction=bool(row.get('taddr')),
        )

    def _end_session(self, session):
        """ALTER SYSTEM KILL SESSION ... IMMEDIATE; False when the session was already gone."""
        session_id = session['id']
        if not re.match(r'^\d+,\d+$', str(session_id)):
            raise EngineError("%r is not an Oracle session id ('sid,serial#')." % (session_id,))
        try:
            self.execute("ALTER SYSTEM KILL SESSION '%s' IMMEDIATE" % session_id, privilege='ALTER SYSTEM')
        except EngineError as exc:
            code = getattr(exc, 'code', None)
            if code == GONE_SESSION:
                return False
            if code != MARKED_FOR_KILL:
                raise
        return True

    # -- fencing ------------------------------------------------------------------------------
    def _record_extra(self):
        return {'container': self._context.get('con_name'), 'check_mode': self.check_mode}

    def _principal(self, account):
        return oracle_name(account)

    def _is_login_user(self, account, principal):
        return principal == self._context.get('session_user')

    def _restricted_state(self):
        """RESTRICTED or ALLOWED: logins of the instance, or of the PDB we are connected to."""
        if self.in_pdb:
            rows = self.query(PDB_RESTRICTED_SQL)
            return RESTRICTED if rows and rows[0]['restricted'] == 'YES' else ALLOWED
        return RESTRICTED if self.query(INSTANCE_LOGINS_SQL)[0]['logins'] == RESTRICTED else ALLOWED

    def _restricted_users(self):
        return set(row['grantee'] for row in self.query(RESTRICTED_SESSION_USERS_SQL))

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        self.check_options(options)
        excluded = set(oracle_name(u, 'exclude_users entry') for u in exclude_users or ())
        if scope == 'instance':
            return self._fence_instance(end_sessions, excluded)
        return self._fence_accounts(accounts, end_sessions, excluded)

    def _fence_instance(self, end_sessions, excluded):
        self._require('ALTER SYSTEM')
        before = self._restricted_state()
        privileged = self._restricted_users()
        change = {'kind': 'restricted_session', 'target': 'restricted_session', 'before': before, 'after': RESTRICTED,
                  'container': self._context.get('con_name')}
        changes = self.apply_changes(
            [change], lambda change: self.execute('ALTER SYSTEM ENABLE RESTRICTED SESSION', privilege='ALTER SYSTEM'))
        ended, spared = [], []

        def victims():
            # Restricted mode stops new logins only: end the sessions it cannot stop, spare those
            # whose users may log in anyway (ending them would fence nothing) and say so.
            sessions = [s for s in self.sessions() if not s['own'] and s['user'] not in excluded]
            spared.extend(s for s in sessions if s['user'] in privileged)
            return [s for s in sessions if s['user'] not in privileged]

        if end_sessions:
            ended = self.end_fence_sessions(changes, victims)
        extra = {}
        if spared:
            extra['sessions_with_restricted_session'] = spared
        locked_out = sorted(user for user in excluded if user not in privileged)
        if locked_out:
            # The migration account cannot reconnect while restricted: DTS stalls until unfence.
            extra['excluded_users_without_restricted_session'] = locked_out
        return self.new_record('instance', (), changes, ended, extra)

    def _account_rows(self, names):
        """dba_users rows (username, account_status) of the given exact names."""
        binds = dict(('u%d' % i, name) for i, name in enumerate(names))
        return self.query('SELECT username, account_status FROM dba_users WHERE username IN (%s)'
                          % ', '.join(':u%d' % i for i in range(len(names))), binds)

    def _users(self, accounts):
        names = [oracle_name(account) for account in accounts]
        by_name = dict((row['username'], row) for row in self._account_rows(names))
        missing = [name for name in names if name not in by_name]
        if missing:
            raise EngineError('user %s does not exist on %s (unquoted names are upper-cased; write "MixedCase" for a '
                              'quoted one).' % (', '.join(missing), self.address))
        return [by_name[name] for name in names]

    def _fence_accounts(self, accounts, end_sessions, excluded):
        self._require('ALTER USER')
        if end_sessions:
            self._require('ALTER SYSTEM')
        rows = self._users(accounts)
        plan = [{'kind': 'account', 'target': oracle_label(row['username']),
                 'before': LOCKED if manually_locked(row['account_status']) else OPEN, 'after': LOCKED,
                 'account_status': row['account_status']} for row in rows]
        changes = self.apply_changes(plan, lambda change: self.execute(
            'ALTER USER %s ACCOUNT LOCK' % quote_name(oracle_name(change['target'])), privilege='ALTER USER'))
        ended = []
        if end_sessions:
            fenced = set(row['username'] for row in rows)
            ended = self.end_fence_sessions(changes, lambda: [
                s for s in self.sessions() if not s['own'] and s['user'] in fenced and s['user'] not in excluded])
        return self.new_record('accounts', [oracle_label(row['username']) for row in rows], changes, ended)

    def _restore(self, change, current=None):
        if change['kind'] == 'restricted_session':
            self.execute('ALTER SYSTEM DISABLE RESTRICTED SESSION', privilege='ALTER SYSTEM')
        else:
            self.execute('ALTER USER %s ACCOUNT UNLOCK' % quote_name(oracle_name(change['target'])), privilege='ALTER USER')

    def unfence(self, record):
        return self.unfence_changes(self.check_record(record))

    def _current(self, changes):
        current = {}
        if any(change['kind'] == 'restricted_session' for change in changes):
            current[('restricted_session', 'restricted_session')] = self._restricted_state()
        users = [oracle_name(change['target']) for change in changes if change['kind'] == 'account']
        if users:
            for row in self._account_rows(users):
                current[('account', oracle_label(row['username']))] = LOCKED if manually_locked(row['account_status']) else OPEN
        return current

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record that, undone, sets the unfenced values whatever they were before (force unlock)."""
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            changes = [{'kind': 'restricted_session', 'target': 'restricted_session', 'before': ALLOWED,
                        'after': RESTRICTED, 'container': self._context.get('con_name')}]
        else:
            changes = [{'kind': 'account', 'target': oracle_label(row['username']), 'before': OPEN, 'after': LOCKED}
                       for row in self._users(accounts)]
        return self.new_record(scope, [c['target'] for c in changes if c['kind'] == 'account'], changes, extra={'forced': True})

    def fence_state(self, scope, accounts=()):
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            return {'restricted_session': self._restricted_state()}
        names = [oracle_name(account) for account in accounts]
        found = dict((row['username'], LOCKED if manually_locked(row['account_status']) else OPEN)
                     for row in self._account_rows(names))
        return dict((oracle_label(name), found.get(name)) for name in names)

    # -- tables of the catch-up token and of documents ----------------------------------------
    def _table(self, name, what):
        """'schema.table' or 'table' (in the current schema) -> (owner, table) Oracle-cased, and
        the table's quoted name."""
        parts = name.split('.') if isinstance(name, str) else []
        if len(parts) not in (1, 2) or not all(part.strip() for part in parts):
            raise EngineError('%s object %r must be schema.table or table (names without dots).' % (what, name))
        if len(parts) == 1:
            parts.insert(0, quote_name(self._context.get('current_schema')))
        owner, table = (oracle_name(part, '%s object part' % what) for part in parts)
        return owner, table, '%s.%s' % (quote_name(owner), quote_name(table))

    def _ensure_table(self, name, what, create):
        owner, table, qualified = self._table(name, what)
        rows = self.query('SELECT COUNT(*) AS found FROM all_tables WHERE owner = :owner AND table_name = :name',
                          {'owner': owner, 'name': table})
        if rows[0]['found']:
            return False
        if not create:
            raise EngineError('%s table %s does not exist on %s (or login_user cannot see it): %s'
                              % (what, qualified, self.address, TABLE_HINTS[what]))
        self.execute('CREATE TABLE %s %s' % (qualified, TABLE_COLUMNS[what]), privilege='CREATE TABLE (CREATE ANY TABLE in another schema)')
        return True

    def _read_table(self, name, what, statement, binds):
        qualified = self._table(name, what)[2]
        try:
            return self.query(statement % qualified, binds)
        except EngineError as exc:
            if getattr(exc, 'code', None) == MISSING_TABLE:
                raise EngineError('%s table %s does not exist on %s%s' % (
                    what, qualified, self.address, ' (yet).' if what == 'token' else ': %s' % TABLE_HINTS[what])) from None
            raise

    # -- catch-up proof -----------------------------------------------------------------------
    def ensure_token_object(self, name, create=False):
        return self._ensure_table(name, 'token', create)

    def write_token(self, name, token):
        # Restricted session stops new logins only: this connection, open before the fence, can
        # still write. A new connection needs RESTRICTED SESSION while the instance fence is on.
        qualified = self._table(name, 'token')[2]
        try:
            self.execute('INSERT INTO %s (token) VALUES (:token)' % qualified, {'token': token},
                         privilege='INSERT on the token table', commit=True)
        except EngineError as exc:
            if getattr(exc, 'code', None) != UNIQUE_VIOLATED:     # written before: a retry
                raise
        return qualified

    def read_token(self, name, token):
        rows = self._read_table(name, 'token', 'SELECT COUNT(*) AS seen FROM %s WHERE token = :token', {'token': token})
        return bool(rows[0]['seen'])

    # -- documents ----------------------------------------------------------------------------
    def ensure_document_object(self, name, create=False):
        return self._ensure_table(name, 'document', create)

    def save_document(self, name, key, document):
        qualified = self._table(name, 'document')[2]
        text = encode_document(document)
        merge = ('MERGE INTO %s t USING (SELECT :doc_key AS doc_key FROM dual) s ON (t.doc_key = s.doc_key) '
                 'WHEN MATCHED THEN UPDATE SET t.document = :document, t.updated_at = SYSTIMESTAMP '
                 'WHEN NOT MATCHED THEN INSERT (doc_key, document) VALUES (s.doc_key, :document)' % qualified)
        binds = {'doc_key': key, 'document': text}
        # Bound as a CLOB: a journal outgrows the 32 KB of a string bind.
        self.execute(merge, binds, privilege='INSERT and UPDATE on the document table', commit=True, clobs=('document',),
                     shown=self.render(merge, dict(binds, document=document_placeholder(text))))
        return qualified

    def load_document(self, name, key):
        rows = self._read_table(name, 'document', 'SELECT document FROM %s WHERE doc_key = :doc_key', {'doc_key': key})
        if not rows:
            return None
        text = rows[0]['document']
        return decode_document(text.read() if hasattr(text, 'read') else text, 'document %s in %s' % (key, name))

    def delete_document(self, name, key):
        self.execute('DELETE FROM %s WHERE doc_key = :doc_key' % self._table(name, 'document')[2], {'doc_key': key},
                     privilege='DELETE on the document table', commit=True)
