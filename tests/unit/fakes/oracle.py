"""An Oracle model behind the real python-oracledb API: ``oracledb.connect`` patched to ``FakeOracle.connect``.

Errors are built the way the thin driver builds a server error (``oracledb.errors._Error`` from
the server's "ORA-nnnnn: text", raised as its ``exc_type``), so the engine sees the real exception
classes, codes, full codes and the help URL the driver adds. Inserts are private to their
connection until commit, as in Oracle.
"""

import re

from oracledb import errors as oracle_errors

from .dbapi import FakeConnection, ModelServer

QUOTED = r'"([^"]+)"'
TABLE = QUOTED + r'\.' + QUOTED

# v$session.command codes
COMMANDS = {'SELECT': 3, 'INSERT': 2, 'UPDATE': 6, 'DELETE': 7, 'PL/SQL EXECUTE': 47, None: 0}


def oracle_error(code, text):
    """The exception oracledb raises for the server error ORA-<code>."""
    error = oracle_errors._Error('ORA-%05d: %s' % (code, text), code=code)
    return error.exc_type(error)


def driver_error(number, **args):
    """The exception oracledb raises for its own error DPY-<number>."""
    return oracle_errors._create_exception(number, **args)


class FakeOracle(ModelServer):
    """Users, privileges, sessions, restricted mode and token tables of one Oracle database
    (a PDB of a CDB by default: ``con_id=3``; ``con_id=0`` is a non-CDB)."""

    HANDLERS = (
        (r"SELECT SYS_CONTEXT\('USERENV', 'SID'\) AS sid, SYS_CONTEXT\('USERENV', 'SESSION_USER'\) AS session_user, "
         r"SYS_CONTEXT\('USERENV', 'CURRENT_SCHEMA'\) AS current_schema, (SYS_CONTEXT\('USERENV', 'CON_NAME'\)|NULL) "
         r"AS con_name, (SYS_CONTEXT\('USERENV', 'CON_ID'\)|0) AS con_id FROM dual$", 'q_context'),
        (r'SELECT privilege FROM session_privs$', 'q_privileges'),
        (r'SELECT banner FROM v\$version$', 'q_banner'),
        (r'SELECT dbid, name FROM v\$database$', 'q_database'),
        (r'SELECT logins FROM v\$instance$', 'q_logins'),
        (r"SELECT restricted FROM v\$pdbs WHERE con_id = SYS_CONTEXT\('USERENV', 'CON_ID'\)$", 'q_pdb'),
        (r"SELECT s\.sid, s\.serial# AS serial, .* FROM v\$session s LEFT JOIN v\$transaction t ON t\.addr = s\.taddr "
         r"LEFT JOIN v\$sqlarea q ON q\.sql_id = s\.sql_id WHERE s\.type = 'USER' ORDER BY s\.sid$", 'q_sessions'),
        (r"SELECT grantee FROM dba_sys_privs WHERE privilege = 'RESTRICTED SESSION' UNION SELECT grantee FROM "
         r"dba_role_privs START WITH granted_role IN \(SELECT grantee FROM dba_sys_privs WHERE privilege = "
         r"'RESTRICTED SESSION'\) CONNECT BY NOCYCLE PRIOR grantee = granted_role$", 'q_restricted_users'),
        (r'SELECT username, account_status FROM dba_users WHERE username IN \((:u\d+(?:, :u\d+)*)\)$', 'q_users'),
        (r'ALTER SYSTEM (ENABLE|DISABLE) RESTRICTED SESSION$', 'x_restricted'),
        (r"ALTER SYSTEM KILL SESSION '(\d+),(\d+)' IMMEDIATE$", 'x_kill'),
        (r'ALTER USER ' + QUOTED + r' ACCOUNT (LOCK|UNLOCK)$', 'x_account'),
        (r'SELECT COUNT\(\*\) AS found FROM all_tables WHERE owner = :owner AND table_name = :name$', 'q_table'),
        (r'CREATE TABLE ' + TABLE + r' \(token VARCHAR2\(200\) NOT NULL PRIMARY KEY, written_at TIMESTAMP WITH TIME ZONE '
         r'DEFAULT SYSTIMESTAMP NOT NULL\)$', 'x_create_table'),
        (r'INSERT INTO ' + TABLE + r' \(token\) VALUES \(:token\)$', 'x_insert'),
        (r'SELECT COUNT\(\*\) AS seen FROM ' + TABLE + r' WHERE token = :token$', 'q_seen'),
        (r'CREATE TABLE ' + TABLE + r' \(doc_key VARCHAR2\(255\) NOT NULL PRIMARY KEY, document CLOB NOT NULL, '
         r'updated_at TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL\)$', 'x_create_document_table'),
        (r'MERGE INTO ' + TABLE + r' t USING \(SELECT :doc_key AS doc_key FROM dual\) s ON \(t\.doc_key = s\.doc_key\) '
         r'WHEN MATCHED THEN UPDATE SET t\.document = :document, t\.updated_at = SYSTIMESTAMP '
         r'WHEN NOT MATCHED THEN INSERT \(doc_key, document\) VALUES \(s\.doc_key, :document\)$', 'x_merge_document'),
        (r'SELECT document FROM ' + TABLE + r' WHERE doc_key = :doc_key$', 'q_document'),
        (r'DELETE FROM ' + TABLE + r' WHERE doc_key = :doc_key$', 'x_delete_document'),
    )

    def __init__(self, version='19.21.0.0.0', con_id=3, con_name='ORCLPDB1', service='ORCLPDB1',
                 admin='SWITCHOVER_ADMIN', password='Adm1n-pa55'):
        super(FakeOracle, self).__init__()
        self.version = version
        self.banner = 'Oracle Database 19c Enterprise Edition Release 19.0.0.0.0 - Production'
        self.con_id = con_id
        self.con_name = con_name
        self.dbid = 1234567890        # v$database.dbid
        self.service = service
        self.admin = admin
        self.users = {}
        self.sys_privs = []           # (grantee, privilege)
        self.role_privs = []          # (grantee, granted_role)
        self.catalog = True           # SELECT_CATALOG_ROLE: the v$ and dba_ views are visible
        self.restricted = False
        self.sessions = {}
        self.tables = {}
        self.pending = {}             # connection session -> [(table key, token)] not committed yet
        self.connect_calls = []
        self.killed = []
        self._next_sid = 100
        self.add_user(admin, password, privileges=('CREATE SESSION', 'ALTER SYSTEM', 'ALTER USER', 'RESTRICTED SESSION'))

    # -- set-up helpers ------------------------------------------------------------------------
    def add_user(self, name, password='app-pa55', status='OPEN', privileges=('CREATE SESSION',), roles=()):
        self.users[name] = {'password': password, 'status': status}
        self.sys_privs.extend((name, privilege) for privilege in privileges)
        self.role_privs.extend((name, role) for role in roles)

    def privileges_of(self, grantee):
        """System privileges held directly or through roles, as session_privs shows them."""
        held, todo, seen = set(), [grantee], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            held.update(privilege for who, privilege in self.sys_privs if who == name)
            todo.extend(role for who, role in self.role_privs if who == name)
        return held

    def add_session(self, username, status='INACTIVE', command=None, sql=None, transaction=False, undo_blocks=0,
                    undo_records=0, machine='apphost', port=40001, service=None, age=5):
        sid = self._next_sid
        self._next_sid += 1
        self.sessions[sid] = {
            'sid': sid, 'serial': sid * 7 + 3, 'username': username, 'osuser': 'app', 'machine': machine, 'port': port,
            'program': 'JDBC Thin Client', 'status': status, 'service_name': service or self.service,
            'command': COMMANDS.get(command, 0), 'last_call_et': age, 'taddr': 'A1B2C3D4' if transaction else None,
            'used_ublk': undo_blocks if transaction else None, 'used_urec': undo_records if transaction else None,
            'sql_text': sql,
        }
        return sid

    def add_table(self, owner, table, tokens=()):
        self.tables[(owner, table)] = list(tokens)

    # -- the driver surface ----------------------------------------------------------------------
    def connect(self, **kwargs):
        """Stands in for oracledb.connect: checks the service and the login like the listener and the server."""
        self.connect_calls.append(dict(kwargs))
        if kwargs.get('service_name') != self.service:
            raise driver_error(oracle_errors.ERR_INVALID_SERVICE_NAME, service_name=kwargs.get('service_name'),
                               host=kwargs.get('host'), port=kwargs.get('port'))
        user = (kwargs.get('user') or '').upper()
        if user not in self.users or self.users[user]['password'] != kwargs.get('password'):
            raise oracle_error(1017, 'invalid credential or not authorized; logon denied')
        if 'LOCKED' in self.users[user]['status'] and 'TIMED' not in self.users[user]['status']:
            raise oracle_error(28000, 'The account is locked.')
        if self.restricted and 'RESTRICTED SESSION' not in self.privileges_of(user):
            raise oracle_error(1035, 'ORACLE only available to users with RESTRICTED SESSION privilege')
        sid = self.add_session(user, status='ACTIVE', machine='controller', port=50000 + self._next_sid)
        connection = FakeConnection(self, sid, version=self.version, autocommit=True, user=user)
        self.connections.append(connection)
        return connection

    def syntax_error(self, statement):
        return oracle_error(900, 'invalid SQL statement')

    def closed_error(self):
        return driver_error(oracle_errors.ERR_NOT_CONNECTED)

    def disconnected(self, connection):
        self.sessions.pop(connection.session, None)
        self.pending.pop(connection.session, None)

    def committed(self, connection):
        for key, token in self.pending.pop(connection.session, []):
            self.tables[key].append(token)

    def rolled_back(self, connection):
        self.pending.pop(connection.session, None)

    def _dictionary(self, view):
        if not self.catalog:
            raise oracle_error(942, 'table or view does not exist')

    def _require(self, connection, privilege):
        if privilege not in self.privileges_of(connection.user):
            raise oracle_error(1031, 'insufficient privileges')

    # -- queries ---------------------------------------------------------------------------------
    def q_context(self, match, params, connection):
        if self.version.startswith('11.') and match.group(1) != 'NULL':
            raise oracle_error(2003, 'invalid USERENV parameter')
        row = [str(connection.session), connection.user, connection.user,
               self.con_name if match.group(1) != 'NULL' else None, str(self.con_id) if match.group(2) != '0' else 0]
        return ['SID', 'SESSION_USER', 'CURRENT_SCHEMA', 'CON_NAME', 'CON_ID'], [row], None

    def q_privileges(self, match, params, connection):
        return ['PRIVILEGE'], [[p] for p in sorted(self.privileges_of(connection.user))], None

    def q_database(self, match, params, connection):
        self._dictionary('v$database')
        return ['DBID', 'NAME'], [[self.dbid, 'ORCLCDB']], None

    def q_banner(self, match, params, connection):
        self._dictionary('v$version')
        return ['BANNER'], [[self.banner]], None

    def q_logins(self, match, params, connection):
        self._dictionary('v$instance')
        if self.con_id > 1:
            raise AssertionError('in a PDB the engine must read v$pdbs, not v$instance')
        return ['LOGINS'], [['RESTRICTED' if self.restricted else 'ALLOWED']], None

    def q_pdb(self, match, params, connection):
        self._dictionary('v$pdbs')
        return ['RESTRICTED'], [['YES' if self.restricted else 'NO']], None

    def q_sessions(self, match, params, connection):
        self._dictionary('v$session')
        columns = ['sid', 'serial', 'username', 'osuser', 'machine', 'port', 'program', 'status', 'service_name',
                   'command', 'last_call_et', 'taddr', 'used_ublk', 'used_urec', 'sql_text']
        rows = [[s[c] for c in columns] + [int(sid == connection.session)] for sid, s in sorted(self.sessions.items())]
        return [c.upper() for c in columns] + ['IS_OWN'], rows, None

    def q_restricted_users(self, match, params, connection):
        self._dictionary('dba_sys_privs')
        grantees = set(who for who, privilege in self.sys_privs if privilege == 'RESTRICTED SESSION')
        changed = True
        while changed:
            before = len(grantees)
            grantees.update(who for who, role in self.role_privs if role in grantees)
            changed = len(grantees) != before
        return ['GRANTEE'], [[g] for g in sorted(grantees)], None

    def q_users(self, match, params, connection):
        self._dictionary('dba_users')
        names = [params[name.strip()[1:]] for name in match.group(1).split(',')]
        rows = [[name, self.users[name]['status']] for name in names if name in self.users]
        return ['USERNAME', 'ACCOUNT_STATUS'], rows, None

    def q_table(self, match, params, connection):
        return ['FOUND'], [[int((params['owner'], params['name']) in self.tables)]], None

    def q_seen(self, match, params, connection):
        key = (match.group(1), match.group(2))
        if key not in self.tables:
            raise oracle_error(942, 'table or view does not exist')
        visible = self.tables[key] + [t for k, t in self.pending.get(connection.session, []) if k == key]
        return ['SEEN'], [[visible.count(params['token'])]], None

    # -- changes ---------------------------------------------------------------------------------
    def x_restricted(self, match, params, connection):
        self._require(connection, 'ALTER SYSTEM')
        self.restricted = match.group(1) == 'ENABLE'
        return None, [], 0

    def x_kill(self, match, params, connection):
        self._require(connection, 'ALTER SYSTEM')
        sid, serial = int(match.group(1)), int(match.group(2))
        if sid == connection.session:
            raise oracle_error(27, 'cannot kill current session')
        session = self.sessions.get(sid)
        if session is None or session['serial'] != serial:
            raise oracle_error(30, 'User session ID does not exist.')
        self.killed.append(self.sessions.pop(sid))
        return None, [], 0

    def x_account(self, match, params, connection):
        self._require(connection, 'ALTER USER')
        name, action = match.group(1), match.group(2)
        if name not in self.users:
            raise oracle_error(1918, "user '%s' does not exist" % name)
        status = self.users[name]['status'].replace(' & LOCKED(TIMED)', '').replace(' & LOCKED', '')
        status = status.replace('LOCKED(TIMED)', 'OPEN').replace('LOCKED', 'OPEN')
        if action == 'LOCK':
            status = 'LOCKED' if status == 'OPEN' else status + ' & LOCKED'
        self.users[name]['status'] = status
        return None, [], 0

    def x_create_table(self, match, params, connection):
        key = (match.group(1), match.group(2))
        if key[0] != connection.user:
            self._require(connection, 'CREATE ANY TABLE')
        if key in self.tables:
            raise oracle_error(955, 'name is already used by an existing object')
        self.tables[key] = []
        return None, [], 0

    def x_insert(self, match, params, connection):
        key = (match.group(1), match.group(2))
        if key not in self.tables:
            raise oracle_error(942, 'table or view does not exist')
        mine = [t for k, t in self.pending.get(connection.session, []) if k == key]
        if params['token'] in self.tables[key] + mine:
            raise oracle_error(1, 'unique constraint (%s.SYS_C008123) violated' % key[0])
        self.pending.setdefault(connection.session, []).append((key, params['token']))
        return None, [], 1

    def is_write(self, statement):
        return not re.match(r'\s*SELECT\b', statement)

    # -- document tables (doc_key -> document), committed at once -----------------------------
    def x_create_document_table(self, match, params, connection):
        self.x_create_table(match, params, connection)
        self.tables[(match.group(1), match.group(2))] = {}
        return None, [], 0

    def _document_table(self, match):
        key = (match.group(1), match.group(2))
        if key not in self.tables:
            raise oracle_error(942, 'table or view does not exist')
        return self.tables[key]

    def x_merge_document(self, match, params, connection):
        self._document_table(match)[params['doc_key']] = Lob(params['document'])
        return None, [], 1

    def q_document(self, match, params, connection):
        table = self._document_table(match)
        return ['DOCUMENT'], [[table[params['doc_key']]]] if params['doc_key'] in table else [], None

    def x_delete_document(self, match, params, connection):
        return None, [], int(self._document_table(match).pop(params['doc_key'], None) is not None)


class Lob(object):
    """What oracledb fetches from a CLOB column: an object to read() the text from."""

    def __init__(self, text):
        self.text = text

    def read(self):
        return self.text
