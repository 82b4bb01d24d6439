"""A SQL Server model behind the real pymssql API: ``pymssql.connect`` patched to ``FakeSQLServer.connect``.

Errors are the ones pymssql raises, built as pymssql builds them: cursor errors are
``OperationalError``/``ProgrammingError``/``IntegrityError(number, message)`` chosen by number as
pymssql's Cursor.execute does, connect errors ``OperationalError((number, message),)``; the
message is the text of the most severe server message followed by FreeTDS's DB-Lib lines, and
for a batch with several messages (a refused ALTER DATABASE: 5011 then 5069) only the most
severe one survives, as in pymssql's message handler.
"""

import os
import re

import pymssql
from pymssql import _mssql

from .dbapi import FakeConnection, ModelServer

NAME = r'\[((?:[^\]]|\]\])+)\]'
QUALIFIED = NAME + r'\.' + NAME + r'\.' + NAME
LITERAL = r"N'((?:[^']|'')*)'"

PROGRAMMING_ERRORS = (102, 207, 208, 2812, 4104)
INTEGRITY_ERRORS = (515, 547, 2601, 2627)


def unbracket(name):
    return name.replace(']]', ']')


def unquote(literal):
    return literal.replace("''", "'")


def dblib(severity):
    return 'DB-Lib error message 20018, severity %d:\nGeneral SQL Server error: Check messages from the SQL Server\n' % severity


def server_error(number, text, severity=16):
    """The exception pymssql's Cursor.execute raises for a server error."""
    cls = (pymssql.ProgrammingError if number in PROGRAMMING_ERRORS else
           pymssql.IntegrityError if number in INTEGRITY_ERRORS else pymssql.OperationalError)
    return cls(number, (text + dblib(severity)).encode('utf-8'))


def login_error(number, text, host, severity=14):
    """The exception pymssql.connect raises when the server refuses the login."""
    failed = 'DB-Lib error message 20002, severity 9:\nAdaptive Server connection failed (%s)\n' % host
    return pymssql.OperationalError((number, (text + dblib(severity) + failed + failed).encode('utf-8')),)


class FakeSQLServer(ModelServer):
    """Databases, logins, sessions, permissions and token tables of one SQL Server instance."""

    HANDLERS = (
        (r"SELECT CAST\(SERVERPROPERTY\('ProductVersion'\) AS NVARCHAR\(128\)\) AS version, ", 'q_info'),
        (r'SELECT @@SERVERNAME AS server_name, DB_NAME\(\) AS database_name$', 'q_identity'),
        (r'SELECT s\.session_id, s\.login_name, .* FROM sys\.dm_exec_sessions AS s .*WHERE s\.is_user_process = 1 '
         r'ORDER BY s\.session_id$', 'q_sessions'),
        (r"SELECT d\.name, d\.is_read_only, d\.state_desc, d\.user_access_desc, HAS_PERMS_BY_NAME\(d\.name, 'DATABASE', "
         r"'ALTER'\) AS can_alter FROM sys\.databases AS d WHERE d\.database_id > 4 AND d\.is_distributor = 0 "
         r"ORDER BY d\.name$", 'q_databases'),
        (r"SELECT p\.name, p\.is_disabled, p\.type_desc FROM sys\.server_principals AS p WHERE p\.type IN "
         r"\('S', 'U', 'G', 'E', 'X'\) ORDER BY p\.name$", 'q_logins'),
        (r"SELECT d\.is_read_only, d\.user_access_desc FROM sys\.databases AS d WHERE d\.name = " + LITERAL + '$',
         'q_database'),
        (r'ALTER DATABASE ' + NAME + r' SET (READ_ONLY|READ_WRITE|RESTRICTED_USER|MULTI_USER)'
         r'(?: WITH (ROLLBACK IMMEDIATE|NO_WAIT))?$', 'x_alter_database'),
        (r'ALTER LOGIN ' + NAME + r' (DISABLE|ENABLE)$', 'x_alter_login'),
        (r'KILL (\d+)$', 'x_kill'),
        (r"SELECT OBJECT_ID\(" + LITERAL + r", N'U'\) AS object_id$", 'q_object_id'),
        (r'CREATE TABLE ' + QUALIFIED + r' \(token NVARCHAR\(200\) NOT NULL PRIMARY KEY, written_at DATETIME2 '
         r'NOT NULL DEFAULT SYSUTCDATETIME\(\)\)$', 'x_create_table'),
        (r'INSERT INTO ' + QUALIFIED + r' \(token\) VALUES \(' + LITERAL + r'\)$', 'x_insert'),
        (r'SELECT COUNT\(\*\) AS seen FROM ' + QUALIFIED + r' WHERE token = ' + LITERAL + '$', 'q_seen'),
        (r'CREATE TABLE ' + QUALIFIED + r' \(doc_key NVARCHAR\(255\) NOT NULL PRIMARY KEY, document NVARCHAR\(MAX\) NOT NULL, '
         r'updated_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME\(\)\)$', 'x_create_document_table'),
        (r'UPDATE ' + QUALIFIED + r' WITH \(UPDLOCK, SERIALIZABLE\) SET document = ' + LITERAL + r', updated_at = '
         r'SYSUTCDATETIME\(\) WHERE doc_key = ' + LITERAL + r'; IF @@ROWCOUNT = 0 INSERT INTO ' + QUALIFIED +
         r' \(doc_key, document\) VALUES \(' + LITERAL + ', ' + LITERAL + r'\)$', 'x_upsert_document'),
        (r'SELECT document FROM ' + QUALIFIED + r' WHERE doc_key = ' + LITERAL + '$', 'q_document'),
        (r'DELETE FROM ' + QUALIFIED + r' WHERE doc_key = ' + LITERAL + '$', 'x_delete_document'),
    )

    def __init__(self, version='16.0.4135.4', edition='Enterprise Edition: Core-based Licensing (64-bit)',
                 engine_edition=3, admin='switchover_admin', password='Adm1n-pa55'):
        super(FakeSQLServer, self).__init__()
        self.version = version
        self.edition = edition
        self.engine_edition = engine_edition
        self.server_name = 'SQLHOST01\\PROD'     # @@SERVERNAME
        self.admin = admin
        self.passwords = {admin: password}
        self.permissions = {'VIEW SERVER STATE', 'ALTER ANY LOGIN', 'ALTER ANY CONNECTION'}
        self.privileged = {admin}          # members of sysadmin/dbcreator/db_owner: pass RESTRICTED_USER
        self.databases = {}
        self.logins = {admin: {'disabled': False, 'type': 'SQL_LOGIN'}}
        self.sessions = {}
        self.tables = {}
        self.schemas = set()
        self.connect_calls = []
        self.freetds_conf = None
        self.disconnected_sessions = []
        self._next_spid = 51

    # -- set-up helpers ------------------------------------------------------------------------
    def add_database(self, name, read_only=False, state='ONLINE', user_access='MULTI_USER', can_alter=True):
        self.databases[name] = {'read_only': read_only, 'state': state, 'user_access': user_access, 'can_alter': can_alter}
        self.schemas.add((name.lower(), 'dbo'))

    def add_login(self, name, password='app-pa55', disabled=False, type_desc='SQL_LOGIN'):
        self.logins[name] = {'disabled': disabled, 'type': type_desc}
        self.passwords[name] = password

    def add_session(self, login, database='master', address='10.0.0.5', port=50001, status='sleeping', command=None,
                    request_status=None, statement=None, open_transactions=0, log_bytes=None, max_state=None,
                    program='app', age=3):
        spid = self._next_spid
        self._next_spid += 1
        self.sessions[spid] = {
            'session_id': spid, 'login_name': login, 'host_name': 'apphost', 'program_name': program, 'status': status,
            'database_name': database, 'open_transaction_count': open_transactions, 'client_net_address': address,
            'client_tcp_port': port, 'request_command': command, 'request_status': request_status,
            'statement_text': statement, 'log_bytes': log_bytes, 'max_state': max_state, 'age_seconds': age,
        }
        return spid

    def add_table(self, database, schema, table, tokens=()):
        self.tables[(database.lower(), schema.lower(), table.lower())] = list(tokens)

    # -- the driver surface ----------------------------------------------------------------------
    def connect(self, **kwargs):
        """Stands in for pymssql.connect: checks the login like the server, opens a session."""
        self.connect_calls.append(dict(kwargs))
        path = os.environ.get('FREETDSCONF')
        self.freetds_conf = open(path).read() if path and os.path.exists(path) else None
        user, host = kwargs.get('user'), kwargs.get('server')
        if user not in self.passwords or kwargs.get('password') != self.passwords[user]:
            raise login_error(18456, "Login failed for user '%s'." % user, host)
        if self.logins.get(user, {}).get('disabled'):
            raise login_error(18470, "Login failed for user '%s'. Reason: The account is disabled." % user, host)
        database = kwargs.get('database') or 'master'
        if database != 'master' and database not in self.databases:
            raise login_error(4060, 'Cannot open database "%s" requested by the login. The login failed.' % database, host)
        spid = self.add_session(user, database=database, address='127.0.0.1', port=40000 + self._next_spid,
                                program=kwargs.get('appname'))
        connection = FakeConnection(self, spid, database=database, user=user)
        self.connections.append(connection)
        return connection

    def render(self, statement, params):
        if not params:
            return statement
        rendered = _mssql.substitute_params(statement, params)
        return rendered.decode('utf-8') if isinstance(rendered, bytes) else rendered

    def handle(self, statement, params, connection):
        return super(FakeSQLServer, self).handle(self.render(statement, params), None, connection)

    def syntax_error(self, statement):
        return server_error(102, "Incorrect syntax near '%s'." % statement.split()[-1][:40], 15)

    def closed_error(self):
        return pymssql.InterfaceError('Connection is closed.')

    def disconnected(self, connection):
        self.sessions.pop(connection.session, None)

    # -- queries ---------------------------------------------------------------------------------
    def q_info(self, match, params, connection):
        row = {
            'version': self.version, 'edition': self.edition, 'engine_edition': self.engine_edition,
            'spid': connection.session, 'current_database': connection.database, 'login_name': connection.user,
            'view_server_state': int('VIEW SERVER STATE' in self.permissions),
            'alter_any_login': int('ALTER ANY LOGIN' in self.permissions),
            'alter_any_connection': int('ALTER ANY CONNECTION' in self.permissions),
        }
        return list(row), [list(row.values())], None

    def q_identity(self, match, params, connection):
        return ['server_name', 'database_name'], [[self.server_name, connection.database]], None

    def q_sessions(self, match, params, connection):
        columns = ['session_id', 'login_name', 'host_name', 'program_name', 'status', 'database_name',
                   'open_transaction_count', 'client_net_address', 'client_tcp_port', 'request_command',
                   'request_status', 'statement_text', 'log_bytes', 'max_state', 'age_seconds', 'is_own']
        rows = []
        for spid, session in sorted(self.sessions.items()):
            # Without VIEW SERVER STATE the DMVs show the caller's own session only.
            if 'VIEW SERVER STATE' not in self.permissions and spid != connection.session:
                continue
            row = dict(session, is_own=int(spid == connection.session))
            rows.append([row[name] for name in columns])
        return columns, rows, None

    def q_databases(self, match, params, connection):
        columns = ['name', 'is_read_only', 'state_desc', 'user_access_desc', 'can_alter']
        rows = [[name, int(db['read_only']), db['state'], db['user_access'], int(db['can_alter'])]
                for name, db in sorted(self.databases.items(), key=lambda item: item[0].lower())]
        return columns, rows, None

    def q_logins(self, match, params, connection):
        columns = ['name', 'is_disabled', 'type_desc']
        return columns, [[name, int(login['disabled']), login['type']] for name, login in sorted(self.logins.items())], None

    def q_database(self, match, params, connection):
        db = self._database(unquote(match.group(1)))
        rows = [[int(db['read_only']), db['user_access']]] if db else []
        return ['is_read_only', 'user_access_desc'], rows, None

    def q_object_id(self, match, params, connection):
        parts = re.match(QUALIFIED + '$', unquote(match.group(1)))
        key = tuple(unbracket(part).lower() for part in parts.groups())
        return ['object_id'], [[1001 if key in self.tables else None]], None

    def q_seen(self, match, params, connection):
        key, token = self._table(match)
        if key not in self.tables:
            raise server_error(208, "Invalid object name '%s'." % '.'.join(key))
        return ['seen'], [[self.tables[key].count(token)]], None

    # -- changes ---------------------------------------------------------------------------------
    def _database(self, name):
        for db_name, db in self.databases.items():
            if db_name.lower() == name.lower():
                return db
        return None

    @staticmethod
    def _table(match):
        """(database, schema, table) lower-cased, and the token literal when the statement has one."""
        key = tuple(unbracket(match.group(i)).lower() for i in (1, 2, 3))
        return key, unquote(match.group(4)) if match.lastindex > 3 else None

    def _disconnect(self, database, connection, spare=()):
        for spid, session in list(self.sessions.items()):
            if spid != connection.session and (session['database_name'] or '').lower() == database.lower() \
                    and session['login_name'] not in spare:
                self.disconnected_sessions.append(self.sessions.pop(spid))

    def x_alter_database(self, match, params, connection):
        name, option, termination = unbracket(match.group(1)), match.group(2), match.group(3)
        db = self._database(name)
        if db is None or not db['can_alter']:
            # 5011 (severity 14) is followed by 5069 (severity 16): pymssql keeps the second.
            raise server_error(5069, 'ALTER DATABASE statement failed.')
        others = [s for spid, s in self.sessions.items() if spid != connection.session
                  and (s['database_name'] or '').lower() == name.lower()]
        if option in ('READ_ONLY', 'READ_WRITE', 'RESTRICTED_USER') and others:
            if termination == 'NO_WAIT':
                raise server_error(5070, "Database state cannot be changed while other users are using the database '%s'" % name)
            if termination is None:
                raise AssertionError('ALTER DATABASE without a termination clause waits for ever: %s' % option)
        if option == 'READ_ONLY':
            db['read_only'] = True
            self._disconnect(name, connection)
        elif option == 'READ_WRITE':
            db['read_only'] = False
            self._disconnect(name, connection)
        elif option == 'RESTRICTED_USER':
            db['user_access'] = 'RESTRICTED_USER'
            self._disconnect(name, connection, spare=self.privileged)
        else:
            db['user_access'] = 'MULTI_USER'
        return None, [], 0

    def x_alter_login(self, match, params, connection):
        name, action = unbracket(match.group(1)), match.group(2)
        if 'ALTER ANY LOGIN' not in self.permissions or name not in self.logins:
            raise server_error(15151, "Cannot alter the login '%s', because it does not exist or you do not have permission." % name)
        self.logins[name]['disabled'] = action == 'DISABLE'
        return None, [], 0

    def x_kill(self, match, params, connection):
        spid = int(match.group(1))
        if 'ALTER ANY CONNECTION' not in self.permissions:
            raise server_error(6102, 'User does not have permission to use the KILL statement.', 14)
        if spid == connection.session:
            raise server_error(6104, 'Cannot use KILL to kill your own process.')
        if spid not in self.sessions:
            raise server_error(6106, 'Process ID %d is not an active process ID.' % spid)
        self.disconnected_sessions.append(self.sessions.pop(spid))
        return None, [], 0

    def _writable(self, database):
        db = self._database(database)
        if db is None:
            raise server_error(911, "Database '%s' does not exist. Make sure that the name is entered correctly." % database)
        if db['read_only']:
            raise server_error(3906, 'Failed to update database "%s" because the database is read-only.' % database)

    def x_create_table(self, match, params, connection):
        key = self._table(match)[0]
        self._writable(key[0])
        if (key[0], key[1]) not in self.schemas:
            raise server_error(2760, 'The specified schema name "%s" either does not exist or you do not have permission to use it.' % key[1])
        if key in self.tables:
            raise server_error(2714, "There is already an object named '%s' in the database." % key[2])
        self.tables[key] = []
        return None, [], 0

    def x_insert(self, match, params, connection):
        key, token = self._table(match)
        if key not in self.tables:
            raise server_error(208, "Invalid object name '%s'." % '.'.join(key))
        self._writable(key[0])
        if token in self.tables[key]:
            raise server_error(2627, "Violation of PRIMARY KEY constraint 'PK__%s'. Cannot insert duplicate key in object "
                                     "'%s.%s'. The duplicate key value is (%s)." % (key[2], key[1], key[2], token), 14)
        self.tables[key].append(token)
        return None, [], 1

    # -- document tables (doc_key -> document) ---------------------------------------------------
    def x_create_document_table(self, match, params, connection):
        self.x_create_table(match, params, connection)
        self.tables[self._table(match)[0]] = {}
        return None, [], 0

    def _document_table(self, key):
        if key not in self.tables:
            raise server_error(208, "Invalid object name '%s'." % '.'.join(key))
        return self.tables[key]

    def x_upsert_document(self, match, params, connection):
        key = self._table(match)[0]
        table = self._document_table(key)
        self._writable(key[0])
        document, doc_key = unquote(match.group(4)), unquote(match.group(5))
        table[doc_key] = document
        return None, [], 1

    def q_document(self, match, params, connection):
        key, doc_key = self._table(match)
        table = self._document_table(key)
        return ['document'], [[table[doc_key]]] if doc_key in table else [], None

    def x_delete_document(self, match, params, connection):
        key, doc_key = self._table(match)
        table = self._document_table(key)
        self._writable(key[0])
        return None, [], int(table.pop(doc_key, None) is not None)
