# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL and MariaDB (PyMySQL).

The flavour is read from the server, because the two differ where it matters here:

* instance fence: MySQL 5.7+ has ``super_read_only`` (set after ``read_only``, so that even
  SUPER / CONNECTION_ADMIN accounts cannot write); MariaDB has only ``read_only``, which accounts
  with READ_ONLY ADMIN (10.11: not SUPER any more) still pass.
* account lock state lives in ``mysql.user.account_locked`` (MySQL) or in the JSON of
  ``mysql.global_priv`` (MariaDB 10.4+).
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
import traceback

try:
    import pymysql
    from pymysql.converters import escape_item
    HAS_PYMYSQL = True
    PYMYSQL_IMPORT_ERROR = None
except ImportError:
    pymysql = None
    HAS_PYMYSQL = False
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    MissingDriver,
    NotSupported,
    client_host,
    decode_document,
    document_placeholder,
    encode_document,
    make_session,
    version_numbers,
)

# Threads of the server itself (not client sessions): event scheduler, replica threads.
SYSTEM_USERS = frozenset(['system user', 'event_scheduler'])
SYSTEM_COMMANDS = frozenset(['Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Register Slave'])
REPLICATION_COMMANDS = frozenset(['Binlog Dump', 'Binlog Dump GTID'])

# First keyword of a statement that changes data or schema.
WRITE_KEYWORDS = frozenset(['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'LOAD', 'CREATE', 'ALTER', 'DROP', 'TRUNCATE',
                            'RENAME', 'GRANT', 'REVOKE', 'CALL', 'HANDLER', 'IMPORT', 'OPTIMIZE', 'REPAIR'])
_LEADING_NOISE = re.compile(r'^(\s+|/\*.*?\*/|--[^\n]*\n|#[^\n]*\n|\()+', re.S)
_SECRETS = [
    re.compile(r"(IDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\")", re.I),
    re.compile(r"(PASSWORD\s*(?:=\s*)?\(?\s*)('(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\")", re.I),
]
_PRIVILEGE_HINT = re.compile(r'you need \(at least one of\) the (.+?) privilege', re.I)

# Seconds a fence statement waits for table locks and commits in progress (lock_wait_timeout).
LOCK_WAIT_TIMEOUT = 10

# Server error numbers we act on.
ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_DUP_ENTRY = 1062
ER_NO_SUCH_THREAD = 1094
ER_KILL_DENIED = 1095
ER_NO_SUCH_TABLE = 1146
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_OPTION_PREVENTS_STATEMENT = 1290
ER_CANNOT_USER = 1396
ER_ACCOUNT_LOCKED = (3118, 4151)
CR_CONN_HOST_ERROR = 2003
CR_SSL_CONNECTION_ERROR = 2026

DEFAULT_TOKEN_TABLE = 'dtsops_switchover_token'
TABLE_COLUMNS = {
    'token': '(token VARCHAR(128) NOT NULL PRIMARY KEY, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))',
    'document': '(doc_key VARCHAR(255) NOT NULL PRIMARY KEY, document LONGTEXT NOT NULL, '
                'updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))',
}
TABLE_HINTS = {
    'token': 'create it (create: true) and include it in the migration objects',
    'document': 'create it (create: true)',
}

# InnoDB's INNODB_TRX cache lifetime (trx0i_s.cc), with a margin; and when this process last read
# it, per server.
_TRX_CACHE_SECONDS = 0.11
_LAST_TRX_READ = {}


def is_write_statement(statement):
    """True when ``statement`` (a running query) changes data or schema."""
    if not statement:
        return False
    text = _LEADING_NOISE.sub('', statement)
    keyword = text.split(None, 1)[0].upper() if text.split() else ''
    if keyword == 'WITH':
        return bool(re.search(r'\b(INSERT|UPDATE|DELETE|REPLACE)\b', text, re.I))
    if keyword == 'SELECT':
        return bool(re.search(r'\bINTO\s+(OUT|DUMP)FILE\b', text, re.I))
    return keyword in WRITE_KEYWORDS


def mask_statement(statement):
    """A statement with passwords replaced by ********, for output."""
    if not statement:
        return statement
    for pattern in _SECRETS:
        statement = pattern.sub(lambda match: match.group(1) + "'********'", statement)
    return statement


def parse_account(text):
    """``user@host``, ``'user'@'host'`` or ``user`` (every host of that user) -> (user, host or None)."""
    text = (text or '').strip()
    quoted = re.match(r'''^(['`"])(.*)\1@(['`"])(.*)\3$''', text)
    if quoted:
        return quoted.group(2), quoted.group(4)
    quoted = re.match(r'''^(['`"])(.*)\1$''', text)
    if quoted:
        return quoted.group(2), None
    if '@' in text:
        user, host = text.rsplit('@', 1)
        return user.strip('\'"`'), host.strip('\'"`')
    return text, None


def account_name(user, host):
    return "'%s'@'%s'" % (user.replace("'", "''"), host.replace("'", "''"))


def host_matches(pattern, host):
    """MySQL account host pattern (``%``, ``_`` wildcards) against a client host."""
    if pattern in ('%', ''):
        return True
    regex = ''.join('.*' if char == '%' else '.' if char == '_' else re.escape(char) for char in pattern)
    return re.match('^%s$' % regex, host or '', re.I) is not None


def quote_identifier(name):
    return '`%s`' % name.replace('`', '``')


class MySQLEngine(Engine):
    name = 'mysql'
    display_name = 'MySQL'
    driver_package = 'PyMySQL'
    default_port = 3306
    default_user = 'root'
    change_kinds = ('global_variable', 'account_lock')
    principals = 'application accounts (user@host or user)'

    def __init__(self, params, check_mode=False):
        super(MySQLEngine, self).__init__(params, check_mode=check_mode)
        self._info = None
        self._thread_id = None

    # -- connection ---------------------------------------------------------------------------
    def _tls_options(self):
        mode = self.params.get('ssl_mode') or 'prefer'
        ca, cert, key = self.params.get('ca_cert'), self.params.get('client_cert'), self.params.get('client_key')
        if mode == 'disable':
            return {'ssl_disabled': True}
        if mode == 'prefer' and not (ca or cert):
            # PyMySQL uses TLS when the server offers it and falls back otherwise.
            return {}
        if mode in ('verify-ca', 'verify-full') and not ca:
            raise EngineError('ssl_mode %s needs ca_cert (the CA that signed the server certificate)' % mode)
        try:
            context = ssl.create_default_context(cafile=ca) if ca else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = mode == 'verify-full'
            # As libpq does: require with a CA file verifies the chain.
            context.verify_mode = ssl.CERT_REQUIRED if ca else ssl.CERT_NONE
            if cert:
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise EngineError('cannot load the TLS files (ca_cert, client_cert, client_key): %s' % exc)
        return {'ssl': context}

    def connect(self):
        if not HAS_PYMYSQL:
            raise MissingDriver(self.driver_package, PYMYSQL_IMPORT_ERROR)
        timeout = self.params.get('connect_timeout') or 10
        kwargs = dict(
            host=self.params.get('login_host') or 'localhost',
            port=int(self.params['login_port']),
            user=self.params['login_user'],
            password=self.params.get('login_password') or '',
            database=self.params.get('login_db') or None,
            connect_timeout=timeout,
            # Without it PyMySQL reads the server's greeting, and every answer, with no timeout: a
            # server that accepts connections but never answers would hang the module for ever.
            # The greeting and the login must come within connect_timeout (a server of another
            # engine says nothing: PostgreSQL and Redis wait for the client to speak first).
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
            charset='utf8mb4',
            defer_connect=True,
        )
        kwargs.update(self._tls_options())
        try:
            conn = pymysql.connect(**kwargs)
        except pymysql.err.MySQLError as exc:
            raise EngineError(self._connect_error(exc))
        try:
            conn.connect()
        except Exception as exc:  # any failure before a MySQL greeting means another protocol
            if self._not_mysql(conn, exc):
                raise self.not_this_engine()
            if isinstance(exc, pymysql.err.MySQLError):
                raise EngineError(self._connect_error(exc))
            if isinstance(exc, (OSError, ssl.SSLError)):
                raise EngineError(self.scrub('cannot connect: %s' % exc))
            raise
        self.conn = conn
        # Statements may wait for locks (LOCK_WAIT_TIMEOUT) longer than the login may take.
        # PyMySQL has one read timeout and no public setter for it.
        self.conn._read_timeout = timeout + LOCK_WAIT_TIMEOUT + 5  # pylint: disable=protected-access
        self._thread_id = self.conn.thread_id()
        if (self.params.get('ssl_mode') or 'prefer') in ('require', 'verify-ca', 'verify-full'):
            cipher = self._query_one("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            if not cipher or not cipher[1]:
                self.close()
                raise EngineError('ssl_mode %s: the server did not negotiate TLS; enable TLS on the server or lower ssl_mode'
                                  % self.params.get('ssl_mode'))
        return self

    def _connect_error(self, exc):
        code, message = _error_parts(exc)
        lowered = message.lower()
        if code == ER_ACCESS_DENIED:
            hint = 'access denied: check login_user and login_password'
        elif code in ER_ACCOUNT_LOCKED:
            hint = 'the account login_user is locked'
        elif code == ER_BAD_DB:
            hint = 'unknown database: check login_db'
        elif 'ssl' in lowered or 'certificate' in lowered or 'tls' in lowered or code == CR_SSL_CONNECTION_ERROR:
            hint = 'TLS problem: check ssl_mode, ca_cert, client_cert and client_key'
        elif code == CR_CONN_HOST_ERROR:
            hint = 'server unreachable: check login_host, login_port and that the server runs'
        else:
            hint = 'connection failed'
        return self.scrub('%s (MySQL error %s: %s)' % (hint, code, message))

    @staticmethod
    def _not_mysql(conn, exc):
        """Whether a failed connect reached a server that is not MySQL: the TCP connection was made
        (not error 2003) but no greeting came, and the server sent no MySQL error either."""
        if getattr(conn, 'server_version', None) is not None:
            return False
        code = _error_parts(exc)[0] if isinstance(exc, pymysql.err.MySQLError) else None
        return code is None or (code >= 2000 and code != CR_CONN_HOST_ERROR)

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """MySQL: @@server_uuid. MariaDB has no server UUID: @@hostname, @@port, @@datadir and
        @@server_id, which two running servers cannot all share. The database is login_db."""
        if self.server_info()['flavour'] == 'mysql':
            server_uuid, database = self._query_one('SELECT @@server_uuid, DATABASE()')
            return self.identity(server_uuid, '@@server_uuid', database)
        host, port, datadir, server_id, database = self._query_one('SELECT @@hostname, @@port, @@datadir, @@server_id, DATABASE()')
        return self.identity('%s:%s:%s (server_id %s)' % (host, port, datadir, server_id), '@@hostname:@@port:@@datadir (server_id)', database)

    # -- statements ---------------------------------------------------------------------------
    @staticmethod
    def render(statement, args=None):
        """The statement with its arguments inlined, as the server would see it (for output)."""
        if args is None:
            return statement
        return statement % tuple(escape_item(arg, 'utf8mb4') for arg in args)

    def execute(self, statement, args=None, write=False, shown=None):
        """Run one statement and return its rows. ``write``: it changes the server, so it is
        always recorded and skipped in check mode; reads are recorded once each. ``shown``: the
        statement as recorded, when its arguments are too long to show (a document)."""
        if not self.log(shown or self.render(statement, args), write):
            return []
        with self.conn.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall()) if cursor.description else []

    def _query_one(self, statement, args=None):
        rows = self.execute(statement, args)
        return rows[0] if rows else None

    def _failure(self, statement, exc, doing=None):
        """An EngineError for a statement the server refused, naming a missing privilege.
        ``doing`` (e.g. 'fence failed') leads the message."""
        code, message = _error_parts(exc)
        hint = _PRIVILEGE_HINT.search(message)
        lead = '%s: ' % doing if doing else ''
        if hint:
            return EngineError('%smissing privilege %s for login_user (%s refused: MySQL error %s: %s)'
                               % (lead, hint.group(1), statement, code, message))
        return EngineError(self.scrub('%s%s failed (MySQL error %s: %s)' % (lead, statement, code, message)))

    # -- server -------------------------------------------------------------------------------
    def server_info(self):
        if self._info is None:
            version, comment = self._query_one('SELECT VERSION(), @@version_comment')
            flavour = 'mariadb' if 'mariadb' in ('%s %s' % (version, comment)).lower() else 'mysql'
            numbers = version_numbers(version)
            has_super_read_only = bool(self.execute("SHOW GLOBAL VARIABLES LIKE 'super_read_only'"))
            if flavour == 'mariadb':
                account_lock = numbers >= [10, 4, 2]
            else:
                account_lock = numbers >= [5, 7, 6]
            self._info = {
                'engine': self.name,
                'flavour': flavour,
                'version': version,
                'version_info': numbers,
                'version_comment': comment,
                'super_read_only': has_super_read_only,
                'account_lock': account_lock,
            }
        return dict(self._info)

    # -- sessions -----------------------------------------------------------------------------
    SESSIONS_SQL = (
        'SELECT p.ID, p.USER, p.HOST, p.DB, p.COMMAND, p.TIME, p.STATE, p.INFO, '
        't.trx_id, t.trx_state, t.trx_rows_modified, t.trx_is_read_only, '
        'TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) '
        'FROM information_schema.PROCESSLIST p '
        'LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID'
    )

    def sessions(self):
        # InnoDB refreshes INNODB_TRX only when it was last read more than 0.1 s ago: a sooner
        # read shows the transactions as they were then, and would miss a writer that began since.
        wait = _TRX_CACHE_SECONDS - (time.monotonic() - _LAST_TRX_READ.get(self.address, float('-inf')))
        if wait > 0:
            time.sleep(wait)
        try:
            rows = self.execute(self.SESSIONS_SQL)
        except pymysql.err.MySQLError as exc:
            raise self._failure('SELECT ... FROM information_schema.PROCESSLIST, INNODB_TRX', exc,
                                'cannot list sessions')
        finally:
            _LAST_TRX_READ[self.address] = time.monotonic()
        result = []
        for (thread_id, user, host, database, command, seconds, state, info,
             trx_id, trx_state, rows_modified, trx_read_only, trx_age) in rows:
            if user in SYSTEM_USERS or command in SYSTEM_COMMANDS:
                continue
            in_trx = trx_id is not None
            running = command not in ('Sleep',) and command not in REPLICATION_COMMANDS
            writing = bool(rows_modified) or (running and command == 'Query' and is_write_statement(info))
            if command == 'Sleep':
                session_state = 'idle in transaction' if in_trx else 'idle'
            else:
                session_state = 'active'
            transaction = None
            if in_trx:
                transaction = {
                    'state': trx_state,
                    'rows_modified': int(rows_modified or 0),
                    'read_only': bool(trx_read_only),
                    'age': int(trx_age) if trx_age is not None else None,
                }
            result.append(make_session(
                id=int(thread_id), user=user, client=host, database=database, state=session_state,
                command=mask_statement(info) if info else command, writing=writing,
                idle=command == 'Sleep' and not in_trx, own=int(thread_id) == self._thread_id,
                age=int(seconds) if seconds is not None else None,
                server_command=command, server_state=state, transaction=transaction,
                replication=command in REPLICATION_COMMANDS,
            ))
        return result

    def _end_session(self, session):
        if session['id'] == self._thread_id:
            return False
        statement = 'KILL CONNECTION %d' % int(session['id'])
        try:
            self.execute(statement, write=True)
        except pymysql.err.MySQLError as exc:
            code = _error_parts(exc)[0]
            if code == ER_NO_SUCH_THREAD:  # ended meanwhile
                return False
            if code == ER_KILL_DENIED:
                raise EngineError('cannot end session %s of %s: missing privilege CONNECTION ADMIN (MariaDB 10.5+; '
                                  'MySQL 8: CONNECTION_ADMIN; older: SUPER) for login_user' % (session['id'], session.get('user')))
            raise self._failure(statement, exc, 'cannot end session %s' % session['id'])
        return True

    def _wait_gone(self, ids, timeout=10.0):
        """KILL only flags the thread (it may roll back for a while): wait, bounded, until it is gone."""
        statement = 'SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (%s)' % ', '.join(str(int(i)) for i in ids)
        deadline = time.monotonic() + timeout
        while self.execute(statement) and time.monotonic() < deadline:
            time.sleep(0.02)

    # -- fencing ------------------------------------------------------------------------------
    def _global_values(self, info):
        names = ['read_only'] + (['super_read_only'] if info['super_read_only'] else [])
        row = self._query_one('SELECT %s' % ', '.join('@@GLOBAL.%s' % name for name in names))
        return dict((name, 'ON' if int(value) else 'OFF') for name, value in zip(names, row))

    def _resolve_accounts(self, accounts, info):
        """[(user, host, 'locked'|'unlocked')] for the given account specs; EngineError if one is missing."""
        if not info['account_lock']:
            raise NotSupported('ACCOUNT LOCK needs MySQL 5.7.6+ or MariaDB 10.4.2+ (server: %s %s); use scope instance'
                               % (info['flavour'], info['version']))
        wanted = [parse_account(spec) for spec in accounts]
        users = sorted(set(user for user, dummy in wanted))
        if info['flavour'] == 'mariadb':
            statement = ("SELECT User, Host, JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv "
                         "WHERE Host <> '' AND User IN (%s)" % ', '.join(['%s'] * len(users)))
        else:
            statement = 'SELECT User, Host, account_locked FROM mysql.user WHERE User IN (%s)' % ', '.join(['%s'] * len(users))
        try:
            rows = self.execute(statement, users)
        except pymysql.err.MySQLError as exc:
            raise self._failure(self.render(statement, users), exc, 'cannot read the accounts (SELECT on mysql.%s is needed)'
                                % ('global_priv' if info['flavour'] == 'mariadb' else 'user'))
        found = {}
        for user, host, locked in rows:
            found.setdefault(user, []).append((host, str(locked).upper() in ('1', 'TRUE', 'Y')))
        resolved, missing = [], []
        for (user, host), spec in zip(wanted, accounts):
            hosts = [(h, locked) for h, locked in found.get(user, []) if host is None or h == host]
            if not hosts:
                missing.append(spec if host is not None else '%s (any host)' % user)
            for h, locked in sorted(hosts):
                entry = (user, h, 'locked' if locked else 'unlocked')
                if entry not in resolved:
                    resolved.append(entry)
        if missing:
            raise EngineError('account(s) not found on %s: %s; check the accounts option (SELECT User, Host FROM mysql.user '
                              'lists them)' % (self.address, ', '.join(missing)))
        return resolved

    def _principal(self, account):
        return parse_account(account)[0]

    def _plan(self, scope, accounts, info):
        if scope == 'instance':
            values = self._global_values(info)
            return [{'kind': 'global_variable', 'target': name, 'before': value, 'after': 'ON'}
                    for name, value in values.items()]
        return [{'kind': 'account_lock', 'target': account_name(user, host), 'user': user, 'host': host,
                 'before': state, 'after': 'locked'} for user, host, state in self._resolve_accounts(accounts, info)]

    def _set(self, change, value):
        if change['kind'] == 'global_variable':
            self.execute('SET GLOBAL %s = %s' % (change['target'], value), write=True)
        else:
            self.execute('ALTER USER %%s@%%s ACCOUNT %s' % ('LOCK' if value == 'locked' else 'UNLOCK'),
                         (change['user'], change['host']), write=True)

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        del options  # MySQL has no engine options
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        info = self.server_info()
        plan = self._plan(scope, accounts, info)
        if any(change['before'] != change['after'] for change in plan) and not self.check_mode:
            # SET GLOBAL read_only waits for table locks and commits in progress: bound it.
            self.execute('SET SESSION lock_wait_timeout = %d' % LOCK_WAIT_TIMEOUT)
        changes = self.apply_changes(plan, lambda change: self._set(change, change['after']))
        ended = []
        if end_sessions:
            ended = self.end_fence_sessions(changes, lambda: self._fence_victims(scope, changes, exclude_users))
        return self.new_record(scope, accounts, changes, ended)

    @staticmethod
    def _describe(change, value):
        if change['kind'] == 'global_variable':
            return 'SET GLOBAL %s = %s' % (change['target'], value)
        return 'ALTER USER %s ACCOUNT %s' % (change['target'], 'LOCK' if value == 'locked' else 'UNLOCK')

    def _fence_victims(self, scope, changes, exclude_users):
        excluded = set(exclude_users or ())
        sessions = [s for s in self.sessions() if not s['own'] and s['user'] not in excluded and not s['replication']]
        if scope == 'instance':
            # read_only makes their commit fail anyway; ending them releases their locks now.
            return [s for s in sessions if s['writing']]
        hosts = {}
        for change in changes:
            hosts.setdefault(change['user'], []).append(change['host'])
        victims = []
        for session in sessions:
            patterns = hosts.get(session['user'])
            if patterns and any(host_matches(pattern, client_host(session['client'])) for pattern in patterns):
                victims.append(session)
        return victims

    def _restore(self, change, current=None):
        self._set(change, change['before'])

    def _undo_statement(self, change):
        return self._describe(change, change['before'])

    def _change_error(self, exc, change=None, undo=False):
        if change is None or not isinstance(exc, pymysql.err.MySQLError):
            return super(MySQLEngine, self)._change_error(exc, change, undo)
        if undo:
            return self._failure(self._describe(change, change['before']), exc)
        return self._failure(self._describe(change, change['after']), exc, 'fence failed')

    def _current(self, changes):
        info = self.server_info()
        current = {}
        if any(change['kind'] == 'global_variable' for change in changes):
            # super_read_only of a server without it reads as absent: nothing to restore there.
            current.update((('global_variable', name), value) for name, value in self._global_values(info).items())
        for change in changes:
            if change['kind'] == 'account_lock':
                current[('account_lock', change['target'])] = self._account_state(change['user'], change['host'], info)
        return current

    def unfence(self, record):
        return self.unfence_changes(self.check_record(record))

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record whose undo sets the unfenced values whatever they were before (an unlock
        after the real record was lost): read_only (and super_read_only) OFF, or the accounts
        unlocked."""
        accounts = self.check_scope(scope, accounts)
        info = self.server_info()
        if scope == 'instance':
            changes = [{'kind': 'global_variable', 'target': name, 'before': 'OFF', 'after': 'ON'}
                       for name in self._global_values(info)]
        else:
            changes = [{'kind': 'account_lock', 'target': account_name(user, host), 'user': user, 'host': host,
                        'before': 'unlocked', 'after': 'locked'} for user, host, dummy in self._resolve_accounts(accounts, info)]
        return self.new_record(scope, accounts, changes, extra={'forced': True})

    def _account_state(self, user, host, info):
        if info['flavour'] == 'mariadb':
            statement = "SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = %s AND Host = %s"
        else:
            statement = 'SELECT account_locked FROM mysql.user WHERE User = %s AND Host = %s'
        row = self._query_one(statement, (user, host))
        if row is None:
            return None
        return 'locked' if str(row[0]).upper() in ('1', 'TRUE', 'Y') else 'unlocked'

    def fence_state(self, scope, accounts=()):
        accounts = self.check_scope(scope, accounts)
        info = self.server_info()
        if scope == 'instance':
            return self._global_values(info)
        return dict((account_name(user, host), state) for user, host, state in self._resolve_accounts(accounts, info))

    # -- tables of the catch-up token and of documents ----------------------------------------
    def _table(self, name, what):
        if '.' in name:
            schema, table = name.split('.', 1)
        else:
            schema, table = self.params.get('login_db'), name
        if not schema or not table:
            raise EngineError('name the %s table as database.table (or set login_db): got %r' % (what, name))
        return schema, table, '%s.%s' % (quote_identifier(schema), quote_identifier(table))

    @contextlib.contextmanager
    def _writable(self):
        """Lift super_read_only around a write of the admin connection (read_only stays ON, so
        only accounts that bypass read_only could write meanwhile)."""
        info = self.server_info()
        lifted = False
        if info['super_read_only'] and self._global_values(info)['super_read_only'] == 'ON':
            self.execute('SET GLOBAL super_read_only = OFF', write=True)
            lifted = True
        try:
            yield
        finally:
            if lifted:
                self.execute('SET GLOBAL super_read_only = ON', write=True)

    def _write_failure(self, statement, exc, qualified, what, doing='write'):
        code = _error_parts(exc)[0]
        if code == ER_OPTION_PREVENTS_STATEMENT:
            return EngineError('the server is read-only and login_user cannot write the %s into %s: grant it READ_ONLY ADMIN '
                               '(MariaDB 10.11+; SUPER before) or CONNECTION_ADMIN (MySQL 8; SUPER on 5.7)' % (what, qualified))
        if code in (ER_NO_SUCH_TABLE, ER_BAD_DB):
            return EngineError('%s table %s does not exist on %s: %s' % (what, qualified, self.address, TABLE_HINTS[what]))
        return self._failure(statement, exc, 'cannot %s the %s' % (doing, what))

    def _ensure_table(self, name, what, create):
        schema, table, qualified = self._table(name, what)
        if self.execute('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s', (schema, table)):
            return False
        if not create:
            raise EngineError('%s table %s.%s does not exist on %s: %s' % (what, schema, table, self.address, TABLE_HINTS[what]))
        statement = 'CREATE TABLE IF NOT EXISTS %s %s ENGINE=InnoDB' % (qualified, TABLE_COLUMNS[what])
        try:
            with self._writable():
                self.execute(statement, write=True)
        except pymysql.err.MySQLError as exc:
            raise self._write_failure(statement, exc, qualified, what)
        return True

    # -- catch-up token -----------------------------------------------------------------------
    def ensure_token_object(self, name, create=False):
        return self._ensure_table(name or DEFAULT_TOKEN_TABLE, 'token', create)

    def write_token(self, name, token):
        schema, table, qualified = self._table(name or DEFAULT_TOKEN_TABLE, 'token')
        statement = 'INSERT INTO %s (token) VALUES (%%s)' % qualified
        try:
            with self._writable():
                self.execute(statement, (token,), write=True)
        except pymysql.err.MySQLError as exc:
            if _error_parts(exc)[0] != ER_DUP_ENTRY:  # written before: the token is there, as wanted
                raise self._write_failure(self.render(statement, (token,)), exc, qualified, 'token')
        return '%s.%s on %s' % (schema, table, self.address)

    def read_token(self, name, token):
        qualified = self._table(name or DEFAULT_TOKEN_TABLE, 'token')[2]
        try:
            return bool(self.execute('SELECT 1 FROM %s WHERE token = %%s' % qualified, (token,)))
        except pymysql.err.MySQLError as exc:
            if _error_parts(exc)[0] in (ER_NO_SUCH_TABLE, ER_BAD_DB):  # not replicated yet
                return False
            raise self._failure('SELECT FROM %s' % qualified, exc, 'cannot read the token')

    # -- documents ----------------------------------------------------------------------------
    def ensure_document_object(self, name, create=False):
        return self._ensure_table(name, 'document', create)

    def _document_statement(self, name, statement, key, document=None):
        """Run a statement on the document table (it writes when given a document, or when it
        is a DELETE); the document shows as its size in the statements."""
        qualified = self._table(name, 'document')[2]
        statement = statement % qualified
        args = (key,) if document is None else (key, encode_document(document))
        shown = self.render(statement, args[:1] + tuple(document_placeholder(arg) for arg in args[1:]))
        write = document is not None or statement.startswith('DELETE')
        try:
            if not write:
                return self.execute(statement, args, shown=shown)
            with self._writable():
                return self.execute(statement, args, write=True, shown=shown)
        except pymysql.err.MySQLError as exc:
            raise self._write_failure(shown, exc, qualified, 'document', 'write' if write else 'read')

    def save_document(self, name, key, document):
        self._document_statement(name, 'INSERT INTO %s (doc_key, document) VALUES (%%s, %%s) '
                                       'ON DUPLICATE KEY UPDATE document = VALUES(document)', key, document)
        return '%s on %s' % (self._table(name, 'document')[2], self.address)

    def load_document(self, name, key):
        rows = self._document_statement(name, 'SELECT document FROM %s WHERE doc_key = %%s', key)
        return decode_document(rows[0][0], 'document %s in %s' % (key, name)) if rows else None

    def delete_document(self, name, key):
        self._document_statement(name, 'DELETE FROM %s WHERE doc_key = %%s', key)


def _error_parts(exc):
    args = getattr(exc, 'args', ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return None, str(exc)
