# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL Server engine, through pymssql (whose wheel bundles FreeTDS).

Fences: scope ``instance`` sets each user database ``READ_ONLY WITH ROLLBACK IMMEDIATE``; scope
``accounts`` disables the logins (``ALTER LOGIN ... DISABLE``) and ``KILL``s their sessions.
Statements are rendered once with pymssql's own quoting and sent as rendered, so the statements
a module returns are byte for byte what the server received. docs/engines/sqlserver.md has the
privileges and caveats.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import traceback

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
    import pymssql
    from pymssql import _mssql
except ImportError:
    pymssql = None
    _mssql = None
    PYMSSQL_IMPORT_ERROR = traceback.format_exc()
else:
    PYMSSQL_IMPORT_ERROR = None

APP_NAME = 'dtsops.switchover'
# master, tempdb, model, msdb: never fenced.
SYSTEM_DATABASE_MAX_ID = 4
READ_ONLY, READ_WRITE = 'READ_ONLY', 'READ_WRITE'
ENABLED, DISABLED = 'enabled', 'disabled'

# sys.dm_exec_requests.command values of statements that write.
WRITE_COMMANDS = frozenset((
    'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'BULK INSERT', 'SELECT INTO', 'TRUNCATE TABLE', 'CREATE TABLE',
    'ALTER TABLE', 'DROP TABLE', 'CREATE INDEX', 'ALTER INDEX', 'DROP INDEX',
))
# sys.dm_tran_database_transactions.database_transaction_state: 4 = has generated log records,
# 5 = prepared, 12 = being committed. 1 and 3 (not initialised, no log records yet) have not written.
WRITTEN_TRANSACTION_STATES = frozenset((4, 5, 12))

# Errors that mean the login lacks a permission (the message names the permission we needed).
PERMISSION_ERRORS = frozenset((229, 262, 297, 300, 916, 5011, 6102, 15151, 15247, 15562))
# The database is in use or locked: ALTER DATABASE could not get exclusive access.
IN_USE_ERRORS = frozenset((5061, 5070))
# pymssql reports the most severe message of a batch: a refused ALTER DATABASE (5011, severity
# 14) arrives as its generic 5069 "ALTER DATABASE statement failed" (severity 16).
ALTER_DATABASE_FAILED = 5069
GONE_SESSION = 6106            # KILL: "Process ID n is not an active process ID."
MISSING_OBJECT = 208           # "Invalid object name"
DUPLICATE_KEY = frozenset((2601, 2627))
LOGIN_FAILED = 18456

IDENTITY_SQL = 'SELECT @@SERVERNAME AS server_name, DB_NAME() AS database_name'
INFO_SQL = (
    "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128)) AS version, "
    "CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128)) AS edition, "
    "CAST(SERVERPROPERTY('EngineEdition') AS INT) AS engine_edition, "
    "@@SPID AS spid, DB_NAME() AS current_database, SUSER_SNAME() AS login_name, "
    "HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE') AS view_server_state, "
    "HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER ANY LOGIN') AS alter_any_login, "
    "HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER ANY CONNECTION') AS alter_any_connection"
)

# One row per user session: the client address from its connection, the running request and its
# statement, and what its transactions have written (log bytes, state).
SESSIONS_SQL = (
    "SELECT s.session_id, s.login_name, s.host_name, s.program_name, s.status, "
    "DB_NAME(s.database_id) AS database_name, s.open_transaction_count, "
    "c.client_net_address, c.client_tcp_port, r.command AS request_command, r.status AS request_status, "
    "LEFT(t.text, 4000) AS statement_text, tx.log_bytes, tx.max_state, "
    "DATEDIFF(SECOND, COALESCE(r.start_time, s.last_request_end_time, s.login_time), SYSDATETIME()) AS age_seconds, "
    "CASE WHEN s.session_id = @@SPID THEN 1 ELSE 0 END AS is_own "
    "FROM sys.dm_exec_sessions AS s "
    "OUTER APPLY (SELECT TOP (1) ec.client_net_address, ec.client_tcp_port FROM sys.dm_exec_connections AS ec "
    "WHERE ec.session_id = s.session_id ORDER BY ec.connect_time) AS c "
    "OUTER APPLY (SELECT TOP (1) er.command, er.status, er.start_time, er.sql_handle FROM sys.dm_exec_requests AS er "
    "WHERE er.session_id = s.session_id ORDER BY er.request_id) AS r "
    "OUTER APPLY sys.dm_exec_sql_text(r.sql_handle) AS t "
    "OUTER APPLY (SELECT SUM(dt.database_transaction_log_bytes_used) AS log_bytes, "
    "MAX(dt.database_transaction_state) AS max_state FROM sys.dm_tran_session_transactions AS st "
    "JOIN sys.dm_tran_database_transactions AS dt ON dt.transaction_id = st.transaction_id "
    "WHERE st.session_id = s.session_id) AS tx "
    "WHERE s.is_user_process = 1 ORDER BY s.session_id"
)

DATABASES_SQL = (
    "SELECT d.name, d.is_read_only, d.state_desc, d.user_access_desc, "
    "HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'ALTER') AS can_alter "
    "FROM sys.databases AS d WHERE d.database_id > %d AND d.is_distributor = 0 ORDER BY d.name"
    % SYSTEM_DATABASE_MAX_ID
)

# SQL logins, Windows logins and groups, Entra ID logins and groups.
LOGINS_SQL = (
    "SELECT p.name, p.is_disabled, p.type_desc FROM sys.server_principals AS p "
    "WHERE p.type IN ('S', 'U', 'G', 'E', 'X') ORDER BY p.name"
)

TOKEN_DATABASE_SQL = "SELECT d.is_read_only, d.user_access_desc FROM sys.databases AS d WHERE d.name = %s"

TABLE_COLUMNS = {
    'token': '(token NVARCHAR(200) NOT NULL PRIMARY KEY, written_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())',
    'document': '(doc_key NVARCHAR(255) NOT NULL PRIMARY KEY, document NVARCHAR(MAX) NOT NULL, '
                'updated_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())',
}
TABLE_HINTS = {
    'token': 'create it (create: true) on the source and include it in the DTS task.',
    'document': 'create it (create: true).',
}


# Literals that are secrets in other sessions' statements (CREATE/ALTER LOGIN, CREATE CREDENTIAL...).
SECRET_LITERALS = re.compile(r"(\b(?:OLD_)?PASSWORD\s*=\s*N?|\bSECRET\s*=\s*N?)'(?:[^']|'')*'", re.I)


def mask_statement(statement):
    return SECRET_LITERALS.sub(lambda match: match.group(1) + "'********'", statement) if statement else statement


def quote_name(name):
    """[name] with ] doubled, as QUOTENAME() does."""
    return '[' + name.replace(']', ']]') + ']'


def check_name(name, what):
    if not isinstance(name, str) or not name.strip() or len(name) > 128 or '\x00' in name:
        raise EngineError('%s %r is not a valid SQL Server name (1 to 128 characters).' % (what, name))
    return name


def clean_driver_message(message, server_text_only=False):
    """The server's text without FreeTDS's 'DB-Lib error message ...' boilerplate, one line.
    ``server_text_only``: drop FreeTDS's own lines too (they follow the server's message)."""
    if isinstance(message, bytes):
        message = message.decode('utf-8', 'replace')
    parts = re.split(r'DB-Lib error message \d+, severity \d+:\s*', str(message))
    if server_text_only and parts[0].strip():
        parts = parts[:1]
    lines = []
    for line in '\n'.join(parts).splitlines():
        line = line.strip()
        if line and line != 'General SQL Server error: Check messages from the SQL Server' and line not in lines:
            lines.append(line)
    return ' '.join(lines)


def error_number_and_text(exc):
    """(number, text) of a pymssql error. Cursor errors carry ``(number, message)``, connect errors
    ``((number, message),)``; driver errors (InterfaceError) a plain message. Numbers from 20000 on
    are FreeTDS's own (DB-Lib) errors, whose text is all in the DB-Lib lines."""
    args = exc.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    if args and isinstance(args[0], int):
        return args[0], clean_driver_message(args[1] if len(args) > 1 else '', server_text_only=args[0] < 20000)
    return None, clean_driver_message(' '.join(str(a) for a in args))


class SQLServerEngine(Engine):
    name = 'sqlserver'
    display_name = 'SQL Server'
    driver_package = 'pymssql'
    default_port = 1433
    change_kinds = ('database', 'login')
    principal = 'login'
    principals = 'application logins'

    def __init__(self, params, check_mode=False):
        super(SQLServerEngine, self).__init__(params, check_mode=check_mode)
        self._info = None

    # -- connection ---------------------------------------------------------------------------
    def tls_settings(self):
        """(pymssql ``encryption``, FreeTDS settings for a private freetds.conf section or None).

        pymssql exposes only the encryption level; certificate checks are FreeTDS settings
        (``ca file``, ``check certificate hostname``), so verify-ca/verify-full write a private
        freetds.conf section that the connection names. ``prefer`` maps to FreeTDS's ``request``
        (encrypt when the server offers it), which does fall back, unlike the other drivers."""
        mode = self.params.get('ssl_mode') or 'prefer'
        if self.params.get('client_cert') or self.params.get('client_key'):
            raise EngineError('SQL Server does not authenticate clients by certificate: remove client_cert and client_key.')
        ca_cert = self.params.get('ca_cert')
        if mode == 'disable':
            return 'off', None
        if mode == 'prefer':
            return 'request', None
        if mode == 'require' and not ca_cert:
            return 'require', None
        # verify-ca, verify-full, and require with a CA (as libpq does): check the certificate.
        if ca_cert and not os.path.isfile(ca_cert):
            raise EngineError('ca_cert %s is not a readable file.' % ca_cert)
        return 'require', {
            'host': self.params.get('login_host') or 'localhost',
            'encryption': 'require',
            'ca file': ca_cert or 'system',
            'check certificate hostname': 'yes' if mode == 'verify-full' else 'no',
        }

    def connect(self):
        if pymssql is None:
            raise MissingDriver('pymssql', PYMSSQL_IMPORT_ERROR)
        encryption, freetds = self.tls_settings()
        kwargs = dict(
            server=self.params.get('login_host') or 'localhost',
            port=str(self.params['login_port']),
            user=self.params.get('login_user'),
            password=self.params.get('login_password'),
            database=self.params.get('login_db') or 'master',
            login_timeout=int(self.params.get('connect_timeout') or 10),
            appname=APP_NAME,
            autocommit=True,
            encryption=encryption,
        )
        confdir = None
        saved_conf = os.environ.get('FREETDSCONF')
        try:
            if freetds:
                # FreeTDS reads $FREETDSCONF while it logs in: a section of our own, named as the server.
                confdir = tempfile.mkdtemp(prefix='dtsops-freetds-')
                section = 'dtsops_%s' % os.path.basename(confdir).rsplit('-', 1)[-1]
                path = os.path.join(confdir, 'freetds.conf')
                with open(path, 'w') as conf:
                    conf.write('[%s]\n' % section)
                    for key, value in freetds.items():
                        conf.write('\t%s = %s\n' % (key, value))
                os.environ['FREETDSCONF'] = path
                kwargs['server'] = section
            self.conn = pymssql.connect(**kwargs)
        except pymssql.Error as exc:
            raise EngineError(self._connect_message(exc)) from None
        finally:
            if confdir:
                if saved_conf is None:
                    os.environ.pop('FREETDSCONF', None)
                else:
                    os.environ['FREETDSCONF'] = saved_conf
                shutil.rmtree(confdir, ignore_errors=True)
        self._info = self.query(INFO_SQL)[0]

    def _connect_message(self, exc):
        number, text = error_number_and_text(exc)
        text = self.scrub(text)
        if number == LOGIN_FAILED:
            return '%s Check login_user and login_password (SQL Server error %d).' % (text, number)
        if number in (20009, 20002):
            return 'cannot reach the server: %s' % text
        return '%s%s' % (text, ' (SQL Server error %d)' % number if number else '')

    def server_info(self):
        info = self._info
        edition = info.get('edition') or ''
        engine_edition = info.get('engine_edition')
        flavour = {5: 'azure-sql-database', 8: 'azure-sql-managed-instance'}.get(engine_edition, 'sqlserver')
        return {
            'engine': self.name,
            'flavour': flavour,
            'version': info.get('version'),
            'version_info': version_numbers(info.get('version')),
            'edition': edition,
            'login': info.get('login_name'),
            'session_id': info.get('spid'),
        }

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """@@SERVERNAME (the instance, MACHINE\\INSTANCE; the logical server on Azure SQL
        Database) and the database connected to (login_db)."""
        row = self.query(IDENTITY_SQL)[0]
        return self.identity(row['server_name'], '@@SERVERNAME', row['database_name'])

    # -- statements ---------------------------------------------------------------------------
    def render(self, statement, params=None):
        """The statement exactly as sent: pymssql's own client-side quoting (N'...' literals)."""
        if params is None:
            return statement
        rendered = _mssql.substitute_params(statement, params)
        return rendered.decode('utf-8') if isinstance(rendered, bytes) else rendered

    def query(self, statement, params=None):
        """Rows of a read-only statement as dicts. Recorded once, however often it runs (polls)."""
        sql = self.render(statement, params)
        self.log(sql)
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except pymssql.Error as exc:
            raise self._error(exc, sql) from None
        finally:
            cursor.close()

    def execute(self, statement, params=None, write=True, privilege=None, shown=None):
        """Run a statement that changes the server (recorded; in check mode only recorded).
        ``shown``: the statement as recorded, when its parameters are too long to show."""
        sql = self.render(statement, params)
        if not self.log(shown or sql, write=True) and write:
            return
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
        except pymssql.Error as exc:
            raise self._error(exc, shown or sql, privilege) from None
        finally:
            cursor.close()

    def _error(self, exc, sql, privilege=None):
        number, text = error_number_and_text(exc)
        text = self.scrub(text)
        if number in PERMISSION_ERRORS and privilege:
            message = 'missing privilege %s for %s: %s (SQL Server error %d)' % (privilege, sql, text, number)
        else:
            message = '%s failed: %s%s' % (sql, text, ' (SQL Server error %d)' % number if number else '')
        error = EngineError(message)
        error.number = number
        return error

    def _require(self, permission):
        key = permission.lower().replace(' ', '_')
        if not self._info.get(key):
            raise EngineError('login_user %s lacks the server permission %s (GRANT %s TO [%s]).'
                              % (self._info.get('login_name'), permission, permission, self._info.get('login_name')))

    # -- sessions -----------------------------------------------------------------------------
    def sessions(self):
        # Without VIEW SERVER STATE the DMVs show only our own session: a server would look quiet.
        self._require('VIEW SERVER STATE')
        if self.server_info()['version_info'][0] < 11:
            raise NotSupported('listing sessions needs SQL Server 2012 or later (the server runs %s): the DMV columns '
                               'it reads are missing before 2012.' % self._info.get('version'))
        return [self._session(row) for row in self.query(SESSIONS_SQL)]

    @staticmethod
    def _session(row):
        command = (row.get('request_command') or '').strip().upper() or None
        log_bytes = row.get('log_bytes') or 0
        written = log_bytes > 0 or row.get('max_state') in WRITTEN_TRANSACTION_STATES
        open_transactions = row.get('open_transaction_count') or 0
        address, port = row.get('client_net_address'), row.get('client_tcp_port')
        if address and port:
            client = ('[%s]:%s' if ':' in address else '%s:%s') % (address, port)
        else:
            client = address
        return make_session(
            row['session_id'],
            user=row.get('login_name'),
            client=client,
            database=row.get('database_name'),
            state=row.get('request_status') or row.get('status'),
            command=mask_statement(row.get('statement_text')) or command,
            writing=written or command in WRITE_COMMANDS,
            idle=command is None and not open_transactions,
            own=bool(row.get('is_own')),
            age=row.get('age_seconds'),
            program=row.get('program_name'),
            host_name=row.get('host_name'),
            open_transactions=open_transactions,
            log_bytes=log_bytes,
        )

    def _end_session(self, session):
        """KILL one session; False when it was already gone."""
        session_id = session['id']
        valid = isinstance(session_id, int) and not isinstance(session_id, bool) or str(session_id).isdigit()
        if not valid:
            raise EngineError('%r is not a SQL Server session id (an integer).' % (session_id,))
        try:
            self.execute('KILL %d' % int(session_id), privilege='ALTER ANY CONNECTION')
        except EngineError as exc:
            if getattr(exc, 'number', None) == GONE_SESSION:
                return False
            raise
        return True

    # -- fencing ------------------------------------------------------------------------------
    def _record_extra(self):
        return {'check_mode': self.check_mode}

    def _principal(self, account):
        return check_name(account, self.principal).lower()

    def _is_login_user(self, account, principal):
        return principal == (self._info.get('login_name') or '').lower()

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        options = self.check_options(options, ('databases',))
        if scope == 'instance':
            return self._fence_instance(options.get('databases'), end_sessions, exclude_users)
        return self._fence_accounts(accounts, end_sessions, exclude_users)

    def _target_databases(self, databases=None):
        """Rows of the user databases to fence (all, or the named ones); checked before any change."""
        rows = self.query(DATABASES_SQL)
        if databases:
            by_name = dict((row['name'].lower(), row) for row in rows)
            missing = [name for name in databases if check_name(name, 'database').lower() not in by_name]
            if missing:
                raise EngineError('database %s not found among the user databases of %s (system databases cannot be fenced).'
                                  % (', '.join(missing), self.address))
            rows = [by_name[name.lower()] for name in databases]
            offline = [row['name'] for row in rows if row.get('state_desc') != 'ONLINE']
            if offline:
                raise EngineError('database %s is not ONLINE: it cannot be made read-only.' % ', '.join(offline))
        else:
            rows = [row for row in rows if row.get('state_desc') == 'ONLINE']
        denied = [row['name'] for row in rows if not row.get('is_read_only') and not row.get('can_alter')]
        if denied:
            raise EngineError('login_user %s lacks the permission ALTER on database %s (needed for ALTER DATABASE ... '
                              'SET READ_ONLY; db_owner has it).' % (self._info.get('login_name'), ', '.join(denied)))
        return rows

    def _fence_instance(self, databases, end_sessions, exclude_users):
        rows = self._target_databases(databases)
        names = set(row['name'] for row in rows)
        # ROLLBACK IMMEDIATE disconnects everyone using the database; without end_sessions NO_WAIT
        # fails at once instead of ending anyone.
        termination = 'ROLLBACK IMMEDIATE' if end_sessions else 'NO_WAIT'
        ended, lost, extra = [], [], {'termination': termination}
        if end_sessions and self._info.get('view_server_state'):
            excluded = set(u.lower() for u in exclude_users or ())
            for session in self.sessions():
                if session['database'] in names and not session['own']:
                    (lost if (session['user'] or '').lower() in excluded else ended).append(session)
        elif end_sessions:
            extra['ended_sessions_unknown'] = 'VIEW SERVER STATE is needed to list the sessions that were disconnected'
        plan = [{'kind': 'database', 'target': row['name'], 'before': READ_ONLY if row.get('is_read_only') else READ_WRITE,
                 'after': READ_ONLY} for row in rows]
        changes = self.apply_changes(plan, lambda change: self.execute(
            'ALTER DATABASE %s SET READ_ONLY WITH %s' % (quote_name(change['target']), termination), privilege='ALTER on the database'))
        if lost:
            # The termination clause cannot spare anyone: say whose sessions it ended.
            extra['excluded_sessions_disconnected'] = lost
        return self.new_record('instance', (), changes, ended, extra)

    def _logins(self, accounts):
        rows = self.query(LOGINS_SQL)
        by_name = dict((row['name'].lower(), row) for row in rows)
        missing = [name for name in accounts if name.lower() not in by_name]
        if missing:
            raise EngineError('login %s does not exist on %s (check the accounts; SQL Server logins are server-level '
                              'principals, not database users).' % (', '.join(missing), self.address))
        return [by_name[name.lower()] for name in accounts]

    def _fence_accounts(self, accounts, end_sessions, exclude_users):
        self._require('ALTER ANY LOGIN')
        if end_sessions:
            self._require('ALTER ANY CONNECTION')
            self._require('VIEW SERVER STATE')
        rows = self._logins(accounts)
        plan = [{'kind': 'login', 'target': row['name'], 'before': DISABLED if row.get('is_disabled') else ENABLED,
                 'after': DISABLED} for row in rows]
        changes = self.apply_changes(
            plan, lambda change: self.execute('ALTER LOGIN %s DISABLE' % quote_name(change['target']), privilege='ALTER ANY LOGIN'))
        ended = []
        if end_sessions:
            fenced = set(row['name'].lower() for row in rows)
            excluded = set(u.lower() for u in exclude_users or ())
            ended = self.end_fence_sessions(changes, lambda: [
                s for s in self.sessions()
                if not s['own'] and (s['user'] or '').lower() in fenced and (s['user'] or '').lower() not in excluded])
        return self.new_record('accounts', [row['name'] for row in rows], changes, ended)

    @staticmethod
    def _explain(exc):
        number = getattr(exc, 'number', None)
        if number in IN_USE_ERRORS:
            return ('%s. Sessions are using the database or hold locks on it: end them (end_sessions: true uses '
                    'WITH ROLLBACK IMMEDIATE) and try again' % exc)
        if number == ALTER_DATABASE_FAILED:
            return ('%s. SQL Server hides the reason behind this message: login_user lacks ALTER on the database, '
                    'or sessions kept it from changing state' % exc)
        return str(exc)

    def _change_error(self, exc, change=None, undo=False):
        error = super(SQLServerEngine, self)._change_error(exc, change, undo)
        return error if undo else EngineError(self._explain(error))

    def _restore(self, change, current=None):
        if change['kind'] == 'database':
            self.execute('ALTER DATABASE %s SET READ_WRITE WITH ROLLBACK IMMEDIATE' % quote_name(change['target']),
                         privilege='ALTER on the database')
        else:
            self.execute('ALTER LOGIN %s ENABLE' % quote_name(change['target']), privilege='ALTER ANY LOGIN')

    def unfence(self, record):
        return self.unfence_changes(self.check_record(record))

    def _current(self, changes):
        # Names compare as the server does: case-insensitively.
        found = {}
        kinds = set(change['kind'] for change in changes)
        if 'database' in kinds:
            for row in self.query(DATABASES_SQL):
                found[('database', row['name'].lower())] = READ_ONLY if row.get('is_read_only') else READ_WRITE
        if 'login' in kinds:
            for row in self.query(LOGINS_SQL):
                found[('login', row['name'].lower())] = DISABLED if row.get('is_disabled') else ENABLED
        return dict(((c['kind'], c['target']), found.get((c['kind'], c['target'].lower()))) for c in changes)

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record that, undone, sets the unfenced values whatever they were before (force unlock)."""
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            rows = self._target_databases((options or {}).get('databases'))
            changes = [{'kind': 'database', 'target': row['name'], 'before': READ_WRITE, 'after': READ_ONLY} for row in rows]
        else:
            rows = self._logins(accounts)
            changes = [{'kind': 'login', 'target': row['name'], 'before': ENABLED, 'after': DISABLED} for row in rows]
        return self.new_record(scope, accounts, changes, extra={'forced': True})

    def fence_state(self, scope, accounts=()):
        accounts = self.check_scope(scope, accounts)
        if scope == 'instance':
            return dict((row['name'], READ_ONLY if row.get('is_read_only') else READ_WRITE)
                        for row in self.query(DATABASES_SQL) if row.get('state_desc') == 'ONLINE')
        # Keys as the server spells the logins, like the change targets of a record.
        by_name = dict((row['name'].lower(), row) for row in self.query(LOGINS_SQL))
        state = {}
        for name in accounts:
            row = by_name.get(name.lower())
            state[row['name'] if row else name] = None if row is None else DISABLED if row.get('is_disabled') else ENABLED
        return state

    # -- tables of the catch-up token and of documents ----------------------------------------
    def _table(self, name, what):
        """'schema.table' or 'database.schema.table' -> (database, schema, table)."""
        parts = name.split('.') if isinstance(name, str) else []
        if len(parts) not in (2, 3) or not all(part.strip() for part in parts):
            raise EngineError('%s object %r must be schema.table or database.schema.table (names without dots).' % (what, name))
        if len(parts) == 2:
            parts.insert(0, self.params.get('login_db') or self._info.get('current_database'))
        return tuple(check_name(part, '%s object part' % what) for part in parts)

    @staticmethod
    def _qualified(parts):
        return '.'.join(quote_name(part) for part in parts)

    def _ensure_table(self, name, what, create):
        qualified = self._qualified(self._table(name, what))
        exists = self.query("SELECT OBJECT_ID(%s, N'U') AS object_id", (qualified,))[0]['object_id'] is not None
        if exists:
            return False
        if not create:
            raise EngineError('%s table %s does not exist on %s: %s' % (what, qualified, self.address, TABLE_HINTS[what]))
        # A primary key, so the table is no heap (log-based DTS modes need one).
        self.execute('CREATE TABLE %s %s' % (qualified, TABLE_COLUMNS[what]), privilege='CREATE TABLE and ALTER on the schema')
        return True

    def _write_in(self, database, what, write):
        """Run ``write`` in ``database``, also when the instance fence made it READ_ONLY.
        Returns True when the database had to be opened for it."""
        rows = self.query(TOKEN_DATABASE_SQL, (database,))
        if not rows:
            raise EngineError('database %s of the %s table does not exist on %s.' % (database, what, self.address))
        if not rows[0].get('is_read_only'):
            write()
            return False
        self._write_read_only(database, what, write, rows[0].get('user_access_desc'))
        return True

    def _write_read_only(self, database, what, write, user_access):
        """The instance fence made the database READ_ONLY, and nobody can write there. Open it to
        privileged users only (RESTRICTED_USER: db_owner, dbcreator, sysadmin), write, and close it
        again, so no application session can write in between."""
        quoted = quote_name(database)
        restricted = user_access == 'MULTI_USER'
        steps = []
        try:
            if restricted:
                self.execute('ALTER DATABASE %s SET RESTRICTED_USER WITH ROLLBACK IMMEDIATE' % quoted, privilege='ALTER on the database')
                steps.append('restricted')
            self.execute('ALTER DATABASE %s SET READ_WRITE WITH ROLLBACK IMMEDIATE' % quoted, privilege='ALTER on the database')
            steps.append('read_write')
            write()
        finally:
            errors = []
            if 'read_write' in steps:
                try:
                    self.execute('ALTER DATABASE %s SET READ_ONLY WITH ROLLBACK IMMEDIATE' % quoted, privilege='ALTER on the database')
                except EngineError as exc:
                    errors.append(str(exc))
            if 'restricted' in steps:
                try:
                    self.execute('ALTER DATABASE %s SET MULTI_USER' % quoted, privilege='ALTER on the database')
                except EngineError as exc:
                    errors.append(str(exc))
            if errors:
                raise EngineError('the %s write left database %s changed, restore it by hand: %s' % (what, database, '; '.join(errors)))

    def _read_table(self, name, what, statement, params):
        qualified = self._qualified(self._table(name, what))
        try:
            return self.query(statement % qualified, params)
        except EngineError as exc:
            if getattr(exc, 'number', None) == MISSING_OBJECT:
                raise EngineError('%s table %s does not exist on %s%s' % (
                    what, qualified, self.address, ' (yet).' if what == 'token' else ': %s' % TABLE_HINTS[what])) from None
            raise

    # -- catch-up proof -----------------------------------------------------------------------
    def ensure_token_object(self, name, create=False):
        return self._ensure_table(name, 'token', create)

    def write_token(self, name, token):
        parts = self._table(name, 'token')
        qualified = self._qualified(parts)
        if self._write_in(parts[0], 'token', lambda: self._insert_token('INSERT INTO %s (token) VALUES (%%s)' % qualified, token)):
            return '%s (read-only database opened to privileged users for the write)' % qualified
        return qualified

    def _insert_token(self, insert, token):
        try:
            self.execute(insert, (token,), privilege='INSERT on the token table')
        except EngineError as exc:
            if getattr(exc, 'number', None) not in DUPLICATE_KEY:   # written before: a retry
                raise

    def read_token(self, name, token):
        rows = self._read_table(name, 'token', 'SELECT COUNT(*) AS seen FROM %s WHERE token = %%s', (token,))
        return bool(rows[0]['seen'])

    # -- documents ----------------------------------------------------------------------------
    def ensure_document_object(self, name, create=False):
        return self._ensure_table(name, 'document', create)

    def save_document(self, name, key, document):
        parts = self._table(name, 'document')
        qualified = self._qualified(parts)
        text = encode_document(document)
        # One batch; the locks keep a concurrent save from inserting the same key in between.
        upsert = ('UPDATE %s WITH (UPDLOCK, SERIALIZABLE) SET document = %%s, updated_at = SYSUTCDATETIME() WHERE doc_key = %%s; '
                  'IF @@ROWCOUNT = 0 INSERT INTO %s (doc_key, document) VALUES (%%s, %%s)' % (qualified, qualified))
        shown = self.render(upsert, (document_placeholder(text), key, key, document_placeholder(text)))
        self._write_in(parts[0], 'document', lambda: self.execute(upsert, (text, key, key, text), shown=shown,
                                                                  privilege='INSERT and UPDATE on the document table'))
        return qualified

    def load_document(self, name, key):
        rows = self._read_table(name, 'document', 'SELECT document FROM %s WHERE doc_key = %%s', (key,))
        return decode_document(rows[0]['document'], 'document %s in %s' % (key, name)) if rows else None

    def delete_document(self, name, key):
        parts = self._table(name, 'document')
        statement = 'DELETE FROM %s WHERE doc_key = %%s' % self._qualified(parts)
        self._write_in(parts[0], 'document', lambda: self.execute(statement, (key,), privilege='DELETE on the document table'))
