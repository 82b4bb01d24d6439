"""A DB-API 2.0 connection whose server is a Python model (the base of the SQL Server and Oracle fakes).

The fakes of the servers that cannot run here (SQL Server, Oracle, MongoDB) are reached through the
real drivers' entry points: ``pymssql.connect`` and ``oracledb.connect`` are patched to return
these connections, and MongoDB is a socket server speaking the wire protocol (``mongo``) so the
real pymongo runs unmodified. Each model understands only the statements it was written for,
answers them from its state, raises the driver's own exception classes with the server's error
numbers and texts, and logs every statement or command it received, so tests assert the exact
sequence.
"""

import re


class FakeCursor(object):
    """The cursor surface the engines use: execute, description, rowcount, fetchall, fetchone, close."""

    def __init__(self, connection):
        self.connection = connection
        self.description = None
        self.rowcount = -1
        self._rows = []
        self.closed = False
        self.input_sizes = {}

    def setinputsizes(self, **sizes):
        """Recorded on the connection, so that tests see how a bind was sent (a CLOB)."""
        self.input_sizes = sizes
        self.connection.input_sizes.append(sizes)

    def execute(self, statement, parameters=None, **keyword_parameters):
        if self.closed or self.connection.closed:
            raise self.connection.server.closed_error()
        params = parameters if parameters is not None else (keyword_parameters or None)
        columns, rows, rowcount = self.connection.server.handle(statement, params, self.connection)
        self.description = [(name, None, None, None, None, None, None) for name in columns] if columns else None
        self._rows = [tuple(row) for row in rows]
        self.rowcount = rowcount if rowcount is not None else len(self._rows)

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class FakeConnection(object):
    """A connection to a model server; ``session`` is the server-side session id it got."""

    def __init__(self, server, session, **attributes):
        self.server = server
        self.session = session
        self.closed = False
        self.commits = 0
        self.rollbacks = 0
        self.input_sizes = []
        for name, value in attributes.items():
            setattr(self, name, value)

    def cursor(self):
        if self.closed:
            raise self.server.closed_error()
        return FakeCursor(self)

    def commit(self):
        self.commits += 1
        self.server.committed(self)

    def rollback(self):
        self.rollbacks += 1
        self.server.rolled_back(self)

    def close(self):
        if not self.closed:
            self.closed = True
            self.server.disconnected(self)


class ModelServer(object):
    """Dispatches statements to handlers by regular expression and logs them.

    Subclasses list ``HANDLERS`` as ``(pattern, method name)``; a handler returns
    ``(columns, rows, rowcount)``. A statement no handler knows raises the driver's syntax error,
    so an engine cannot send anything the model was not written for. ``fail(pattern, error)``
    makes the next matching statements raise ``error()`` instead (``times=None``: always).
    """

    HANDLERS = ()

    def __init__(self):
        self.log = []
        self.failures = []
        self.connections = []

    # -- what subclasses provide ---------------------------------------------------------------
    def render(self, statement, params):
        return statement if not params else '%s %r' % (statement, params)

    def syntax_error(self, statement):
        raise NotImplementedError

    def closed_error(self):
        raise NotImplementedError

    def is_write(self, statement):
        return not re.match(r'\s*SELECT\b', statement, re.I)

    def committed(self, connection):
        pass

    def rolled_back(self, connection):
        pass

    def disconnected(self, connection):
        pass

    # -- dispatch ------------------------------------------------------------------------------
    def fail(self, pattern, error, times=1):
        """The next ``times`` statements matching ``pattern`` raise ``error()`` (before any effect)."""
        self.failures.append([re.compile(pattern, re.S), error, times])

    def handle(self, statement, params, connection):
        self.log.append(self.render(statement, params))
        for failure in self.failures:
            pattern, error, times = failure
            if (times is None or times > 0) and pattern.search(statement):
                if times is not None:
                    failure[2] -= 1
                raise error()
        for pattern, method in self.HANDLERS:
            match = re.match(pattern, statement, re.S)
            if match:
                return getattr(self, method)(match, params, connection)
        raise self.syntax_error(statement)

    @property
    def writes(self):
        """The statements received that change something (everything but SELECT)."""
        return [statement for statement in self.log if self.is_write(statement)]

    def reset_log(self):
        del self.log[:]
