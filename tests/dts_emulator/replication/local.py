"""A source and a destination server of one engine (tests/localdb), prepared as the endpoints of a
task that replicates for real: binlog / logical WAL on both sides (the reverse task reads the
destination), and a migration account with what the replicator needs.

    with LocalPair('mysql', database='shop') as pair:
        emu = Emulator(replication={'credentials': pair.credentials}).start()
        job = emu.add_job(source=pair.endpoint('source'), destination=pair.endpoint('destination'))
"""

import secrets
import threading

from localdb import MariaDBServer, PostgreSQLServer, RedisServer

MIGRATION_USER = 'dts_migration'
ENGINE_NAMES = {'mysql': 'MySQL', 'postgresql': 'PostgreSQL', 'redis': 'Redis'}


def new_server(engine, **kwargs):
    """A throwaway server configured as a DTS endpoint (not started)."""
    if engine == 'mysql':
        # Column names in the binlog; both sides log, so either can be a source.
        return MariaDBServer(log_bin=True, extra_config=['binlog_row_metadata=FULL'] + list(kwargs.pop('extra_config', ())), **kwargs)
    if engine == 'postgresql':
        return PostgreSQLServer(wal_level='logical', **kwargs)
    if engine == 'redis':
        return RedisServer(**kwargs)
    raise ValueError('engine must be mysql, postgresql or redis, got %r' % (engine,))


class LocalPair(object):
    """``engine``: mysql (MariaDB), postgresql or redis. ``database``: the migrated database
    (created on the source; for PostgreSQL on both sides, owned by ``owner`` when given)."""

    def __init__(self, engine, database='shop'):
        self.engine = engine
        self.database = database if engine != 'redis' else None
        self.source = new_server(engine)
        self.destination = new_server(engine)
        self.migration_user = MIGRATION_USER
        self.migration_password = secrets.token_urlsafe(12)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        errors = []

        def start(server):
            try:
                server.start()
            except Exception as error:  # pylint: disable=broad-except
                errors.append(error)

        # Both servers start at once: initdb / install-db take most of the time.
        threads = [threading.Thread(target=start, args=(server,)) for server in (self.source, self.destination)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]
        try:
            for server in (self.source, self.destination):
                self._migration_account(server)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for server in (self.source, self.destination):
            server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _migration_account(self, server):
        user, password = self.migration_user, self.migration_password
        if self.engine == 'mysql':
            server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            # Binlog reading, the full copy, writing any migrated database and the progress table.
            server.execute("GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX "
                           "ON *.* TO %s@'%%'", (user,))
        elif self.engine == 'postgresql':
            # What DTS asks of a self-managed PostgreSQL: a superuser that may replicate.
            server.execute('CREATE ROLE %s LOGIN SUPERUSER REPLICATION PASSWORD %%s' % user, (password,))
        else:
            server.command('ACL', 'SETUSER', user, 'on', '>' + password, '~*', '&*', '+@all')

    # -- endpoints ----------------------------------------------------------------------------

    def endpoint(self, side, password=True):
        """The add_job() endpoint of ``side`` ('source' or 'destination') for the migration account."""
        server = self.source if side == 'source' else self.destination
        spec = {'engine': ENGINE_NAMES[self.engine], 'host': '127.0.0.1', 'port': server.port, 'user': self.migration_user}
        if self.database:
            spec['database'] = self.database
        if password:
            spec['password'] = self.migration_password
        return spec

    @property
    def credentials(self):
        """``{'user@127.0.0.1:port': password}`` for Emulator(replication={'credentials': ...})."""
        return {'%s@127.0.0.1:%d' % (self.migration_user, server.port): self.migration_password
                for server in (self.source, self.destination)}

    def create_database(self, owner=None):
        """The migrated database: on the source (MySQL, PostgreSQL) and, for PostgreSQL, empty on the
        destination too (its structure comes with the task)."""
        if self.engine == 'mysql':
            self.source.create_database(self.database)
        elif self.engine == 'postgresql':
            for server in (self.source, self.destination):
                server.create_database(self.database, owner=owner)
