"""A throwaway Redis server on 127.0.0.1 without persistence; the ``default`` user has a password."""

import secrets
import shutil

import redis as redis_py

from localdb.server import LocalServer, LocalServerError

# Client names our engine gives its pause keepers (see plugins/module_utils/engines/redis.py).
KEEPER_NAME_PREFIX = 'dtsops-switchover-keeper-'


class RedisServer(LocalServer):

    engine = 'redis'
    display_name = 'Redis'

    def __init__(self, extra_config=(), max_connections=None, tls=False):
        super(RedisServer, self).__init__(extra_config=extra_config, max_connections=max_connections, tls=tls)
        self.password = secrets.token_urlsafe(12)
        self.binary = shutil.which('redis-server') or shutil.which('redis-server', path='/usr/bin:/usr/local/bin')
        if not self.binary:
            raise LocalServerError('redis-server not found: install redis-server')

    @property
    def params(self):
        return {'engine': 'redis', 'login_host': '127.0.0.1', 'login_port': self.port, 'login_user': 'default',
                'login_password': self.password, 'login_db': '0'}

    def _prepare(self):
        pass

    def _command(self):
        config = self.path('redis-%d.conf' % self.port)
        lines = [
            'bind 127.0.0.1',
            'dir %s' % self.basedir,
            'save ""',
            'appendonly no',
            'daemonize no',
            'requirepass %s' % self.password,
        ]
        if self.tls_files:
            # TLS on the main port; clients need not present a certificate.
            lines += ['port 0', 'tls-port %d' % self.port, 'tls-cert-file %s' % self.tls_files['server_cert'],
                      'tls-key-file %s' % self.tls_files['server_key'], 'tls-ca-cert-file %s' % self.tls_files['ca'],
                      'tls-auth-clients optional']
        else:
            lines.append('port %d' % self.port)
        if self.max_connections:
            lines.append('maxclients %d' % self.max_connections)
        lines += list(self.extra_config)
        with open(config, 'w') as stream:
            stream.write('\n'.join(lines) + '\n')
        return [self.binary, config]

    def _ready(self):
        client = self.connect()
        try:
            return client.ping()
        finally:
            client.close()

    # -- helpers for tests --------------------------------------------------------------------
    def connect(self, user='default', password=None, **kwargs):
        """A redis-py client (RESP2, str responses); the default user with the admin password by default."""
        if password is None and user == 'default':
            password = self.password
        kwargs.setdefault('socket_connect_timeout', 5)
        kwargs.setdefault('socket_timeout', 10)
        if self.tls_files:
            kwargs.setdefault('ssl', True)
            kwargs.setdefault('ssl_ca_certs', self.tls_files['ca'])
        return redis_py.Redis(host='127.0.0.1', port=self.port, username=user, password=password, decode_responses=True,
                              protocol=2, **kwargs)

    def command(self, *args):
        """Run one command as the admin and return the reply."""
        client = self.connect()
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def create_account(self, user, password=None, rules=('~*', '&*', '+@all')):
        """ACL SETUSER ``user`` on with ``rules``; returns its connection options."""
        password = password or secrets.token_urlsafe(10)
        self.command('ACL', 'SETUSER', user, 'reset', 'on', '>' + password, *rules)
        return self.account_params(user, password)

    def drop_account(self, user):
        self.command('ACL', 'DELUSER', user)

    def account_params(self, user, password):
        return dict(self.params, login_user=user, login_password=password)

    def reset_instance_state(self):
        """Undo server-wide fences a failed test may have left: our pause keepers and the pause."""
        client = self.connect()
        try:
            for line in client.execute_command('CLIENT', 'LIST').splitlines():
                fields = dict(part.split('=', 1) for part in line.split(' ') if '=' in part)
                if fields.get('name', '').startswith(KEEPER_NAME_PREFIX):
                    client.execute_command('CLIENT', 'KILL', 'ID', fields['id'])
            client.execute_command('CLIENT', 'UNPAUSE')
        finally:
            client.close()
