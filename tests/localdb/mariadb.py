"""A throwaway MariaDB server: mariadb-install-db into a temporary directory, then mariadbd on
127.0.0.1 with a random root password."""

import os
import secrets
import shutil

import pymysql

from localdb.server import LocalServer, LocalServerError


def _binary(*names):
    for name in names:
        path = shutil.which(name) or shutil.which(name, path='/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin')
        if path:
            return path
    raise LocalServerError('none of %s found: install mariadb-server' % ', '.join(names))


class MariaDBServer(LocalServer):
    """``log_bin``: binary log in ROW format with a ``server_id`` (what a DTS source needs).
    ``server_id``: defaults to the port, so two servers never share one."""

    engine = 'mysql'
    display_name = 'MariaDB'

    def __init__(self, extra_config=(), max_connections=None, tls=False, log_bin=False, server_id=None):
        super(MariaDBServer, self).__init__(extra_config=extra_config, max_connections=max_connections, tls=tls)
        self.log_bin = log_bin
        self.server_id = server_id
        self.password = secrets.token_urlsafe(12)

    @property
    def socket(self):
        return self.path('mysqld.sock')

    @property
    def params(self):
        """Admin connection options, as the collection's modules take them."""
        return {'engine': 'mysql', 'login_host': '127.0.0.1', 'login_port': self.port, 'login_user': 'root',
                'login_password': self.password, 'login_db': None}

    def _prepare(self):
        # A private tmpdir: servers share /tmp otherwise, and two mariadb-install-db runs at once
        # delete each other's #sql-temptable-* files ("Unknown table 'mysql.tmp_user_sys'").
        os.makedirs(self.path('tmp'), exist_ok=True)
        self.run_tool([_binary('mariadb-install-db', 'mysql_install_db'), '--no-defaults', '--datadir=%s' % self.path('data'),
                       '--tmpdir=%s' % self.path('tmp'), '--user=%s' % _user(), '--auth-root-authentication-method=normal',
                       '--skip-test-db'],
                      'mariadb-install-db')
        # Runs at every start: root gets a password on every host it exists for.
        with open(self.path('init.sql'), 'w') as stream:
            for host in ('localhost', '127.0.0.1'):
                stream.write("ALTER USER 'root'@'%s' IDENTIFIED BY '%s';\n" % (host, self.password))

    def _config(self):
        lines = [
            '[mariadbd]',
            'datadir=%s' % self.path('data'),
            'tmpdir=%s' % self.path('tmp'),
            'socket=%s' % self.socket,
            'pid-file=%s' % self.path('mysqld.pid'),
            'port=%d' % self.port,
            'bind-address=127.0.0.1',
            'user=%s' % _user(),
            'skip-name-resolve',
            'init-file=%s' % self.path('init.sql'),
            'innodb_buffer_pool_size=32M',
            'innodb_log_file_size=16M',
            'innodb_flush_log_at_trx_commit=2',
            'performance_schema=OFF',
            'log-error=%s' % self.log_path,
        ]
        if self.max_connections:
            lines += ['max_connections=%d' % self.max_connections, 'thread_cache_size=%d' % min(self.max_connections, 1000)]
        if self.log_bin:
            lines += ['log_bin=%s' % self.path('binlog'), 'binlog_format=ROW', 'binlog_row_image=FULL',
                      'server_id=%d' % (self.server_id or self.port)]
        elif self.server_id:
            lines.append('server_id=%d' % self.server_id)
        if self.tls_files:
            lines += ['ssl-ca=%s' % self.tls_files['ca'], 'ssl-cert=%s' % self.tls_files['server_cert'],
                      'ssl-key=%s' % self.tls_files['server_key']]
        lines += list(self.extra_config)
        return '\n'.join(lines) + '\n'

    def _command(self):
        config = self.path('my-%d.cnf' % self.port)
        with open(config, 'w') as stream:
            stream.write(self._config())
        return [_binary('mariadbd', 'mysqld'), '--defaults-file=%s' % config]

    def _ready(self):
        self.connect().close()
        return True

    # -- helpers for tests --------------------------------------------------------------------
    def connect(self, user='root', password=None, database=None, **kwargs):
        """A PyMySQL connection (autocommit) over TCP; root with the admin password by default."""
        if password is None and user == 'root':
            password = self.password
        kwargs.setdefault('connect_timeout', 5)
        # A metadata lock left by a test must end in an error, never in a hang.
        kwargs.setdefault('init_command', 'SET SESSION lock_wait_timeout = 60')
        if not self.tls:
            # PyMySQL otherwise builds an SSL context (loading the CA store) for every connection:
            # three times slower, which matters when a benchmark opens thousands.
            kwargs.setdefault('ssl_disabled', True)
        return pymysql.connect(host='127.0.0.1', port=self.port, user=user, password=password or '', database=database,
                               autocommit=True, **kwargs)

    def execute(self, sql, args=None):
        """Run one statement as root and return all rows."""
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall()
        finally:
            conn.close()

    def create_account(self, user, password=None, host='%', grants=()):
        """Create ``user``@``host`` with ``grants`` (e.g. ``['ALL ON app.*']``); returns its connection options."""
        password = password or secrets.token_urlsafe(10)
        self.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        for grant in grants:
            self.execute('GRANT %s TO %%s@%%s' % grant, (user, host))
        return self.account_params(user, password)

    def kill_sessions(self, user):
        """End every session of ``user`` (their open transactions would block DROP DATABASE)."""
        for (thread_id,) in self.execute('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s', (user,)):
            try:
                self.execute('KILL CONNECTION %d' % thread_id)
            except pymysql.err.OperationalError:  # ended meanwhile
                pass

    def drop_account(self, user, host=None):
        """End the sessions of ``user`` and drop it on ``host``, or on every host it exists for."""
        self.kill_sessions(user)
        hosts = [host] if host is not None else [row[0] for row in self.execute(
            "SELECT Host FROM mysql.user WHERE User = %s", (user,))]
        for each in hosts:
            self.execute("DROP USER IF EXISTS %s@%s", (user, each))

    def account_params(self, user, password, database=None):
        params = dict(self.params, login_user=user, login_password=password, login_db=database)
        return params

    def create_database(self, name):
        self.execute('CREATE DATABASE `%s`' % name.replace('`', '``'))

    def drop_database(self, name):
        self.execute('DROP DATABASE IF EXISTS `%s`' % name.replace('`', '``'))

    def reset_instance_state(self):
        """Undo server-wide fences a failed test may have left (read_only)."""
        self.execute('SET GLOBAL read_only = OFF')


def _user():
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name
