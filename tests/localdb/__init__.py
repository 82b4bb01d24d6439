"""Throwaway database servers for tests, the local rehearsal and benchmarks.

Each server runs the real binaries installed on this machine on 127.0.0.1, on a port the OS
picks, with its data in a temporary directory that is removed on stop::

    from localdb import MariaDBServer
    with MariaDBServer(log_bin=True) as server:
        server.params            # admin connection options for the collection's modules
        app = server.create_account('app', grants=['ALL ON app.*'])

A server is stopped by stop(), by leaving the ``with`` block, at interpreter exit, and (by a
watchdog process) when the interpreter that started it dies without stopping it.
"""

from localdb.server import LocalServerError, free_port
from localdb.mariadb import MariaDBServer
from localdb.postgresql import PostgreSQLServer
from localdb.redis import RedisServer

__all__ = ['LocalServerError', 'MariaDBServer', 'PostgreSQLServer', 'RedisServer', 'free_port']
