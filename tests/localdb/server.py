"""What every throwaway server shares: a private directory, a free loopback port, a child process
that is always torn down, and a watchdog that kills it if this interpreter dies without stopping it."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# Runs in its own process. It waits on a pipe from the interpreter that started it: a clean stop
# writes 'x'; EOF without it means that interpreter died, so the process group (when given) is
# killed and the directory removed (atexit handlers never run on SIGKILL or os._exit).
_WATCHDOG = r'''
import os, shutil, signal, sys, time
pgid, path = int(sys.argv[1]), sys.argv[2]
signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    clean = sys.stdin.buffer.read(1) == b'x'
except Exception:
    clean = False
if not clean:
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.2)
    shutil.rmtree(path, ignore_errors=True)
'''


class Watchdog(object):
    """Removes ``path``, after killing the process group ``pgid`` when given, if this interpreter
    dies before disarm()."""

    def __init__(self, path, pgid=0):
        self.process = subprocess.Popen([sys.executable, '-c', _WATCHDOG, str(pgid), path], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def disarm(self):
        try:
            self.process.stdin.write(b'x')
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


# Lines of a server or tool log that state the error (MariaDB, PostgreSQL, Redis styles).
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|PANIC|error|Fatal|Could not|Can't)\b")

_RUNNING = set()
_RUNNING_LOCK = threading.Lock()


class LocalServerError(Exception):
    """A throwaway server could not be started; the message carries the end of its log."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _stop_all():
    with _RUNNING_LOCK:
        servers = list(_RUNNING)
    for server in servers:
        server.stop()


atexit.register(_stop_all)


class LocalServer(object):
    """Base class: subclasses implement _prepare() (once per directory), _command() and _ready().

    ``extra_config``: engine configuration lines appended to the generated configuration.
    ``max_connections``: raise the connection limit (benchmarks open thousands).
    ``tls``: generate a CA, a server and a client certificate (see :mod:`localdb.tls`) and serve TLS.
    """

    engine = None
    display_name = None
    start_timeout = 30
    stop_signal = signal.SIGTERM
    port_attempts = 5

    def __init__(self, extra_config=(), max_connections=None, tls=False):
        self.extra_config = list(extra_config)
        self.max_connections = max_connections
        self.tls = tls
        self.tls_files = None
        self.port = None
        self.basedir = None
        self.process = None
        self.log_path = None
        self._watchdog = None
        self._log = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self):
        if self.process is not None:
            return self
        self.basedir = tempfile.mkdtemp(prefix='localdb-%s-' % self.engine)
        try:
            self._own_basedir()
            if self.tls:
                from localdb.tls import make_tls_files
                self.tls_files = make_tls_files(os.path.join(self.basedir, 'tls'), owner=self._run_as())
            self._prepare()
            last_error = None
            for dummy in range(self.port_attempts):
                self.port = free_port()
                try:
                    self._launch()
                    return self
                except _PortTaken as exc:
                    last_error = exc
            raise LocalServerError('%s: no free port after %d attempts: %s' % (self.display_name, self.port_attempts, last_error))
        except BaseException:
            self.stop()
            raise

    def stop(self):
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        self._kill_process()
        self._stop_watchdog()
        if self.basedir:
            shutil.rmtree(self.basedir, ignore_errors=True)
            self.basedir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    # -- for subclasses -----------------------------------------------------------------------
    def _run_as(self):
        """The (uid, gid) the server process runs as, or None for the current user."""
        return None

    def _own_basedir(self):
        owner = self._run_as()
        if owner:
            os.chown(self.basedir, *owner)

    def _prepare(self):
        raise NotImplementedError

    def _command(self):
        raise NotImplementedError

    def _ready(self):
        """True when the server accepts our admin connection."""
        raise NotImplementedError

    def path(self, *parts):
        return os.path.join(self.basedir, *parts)

    def run_tool(self, command, what):
        """Run a preparation tool (initdb, install-db) as the server's user; its output goes to the log."""
        owner = self._run_as()
        kwargs = dict(user=owner[0], group=owner[1], extra_groups=[]) if owner else {}
        with open(self.path('prepare.log'), 'ab') as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.basedir, check=False, **kwargs)
        if result.returncode != 0:
            raise LocalServerError('%s: %s failed (exit %s):\n%s' % (self.display_name, what, result.returncode,
                                                                     self._excerpt(self.path('prepare.log'))))

    # -- internals ----------------------------------------------------------------------------
    def _launch(self):
        self.log_path = self.path('server-%d.log' % self.port)
        owner = self._run_as()
        kwargs = dict(user=owner[0], group=owner[1], extra_groups=[]) if owner else {}
        self._log = open(self.log_path, 'ab')
        self.process = subprocess.Popen(self._command(), stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.basedir, start_new_session=True, **kwargs)
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        self._watchdog = Watchdog(self.basedir, pgid=self.process.pid)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                log, returncode = self._tail(self.log_path), self.process.returncode
                self._kill_process()
                self._stop_watchdog()
                if 'already in use' in log or 'Address in use' in log or 'Could not create server TCP listening socket' in log:
                    raise _PortTaken(log.strip().splitlines()[-1] if log.strip() else 'port taken')
                raise LocalServerError('%s exited during start (exit %s):\n%s' % (self.display_name, returncode, self._excerpt(self.log_path)))
            try:
                if self._ready():
                    return
            except Exception:  # not accepting connections yet
                pass
            if time.monotonic() > deadline:
                log = self._tail(self.log_path)
                raise LocalServerError('%s did not accept connections within %d s:\n%s' % (self.display_name, self.start_timeout, log))
            time.sleep(0.03)

    def _stop_watchdog(self):
        if self._watchdog is not None:
            self._watchdog.disarm()
            self._watchdog = None

    def _kill_process(self):
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, self.stop_signal)
                except OSError:
                    pass
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left in the group (a stuck server, helper processes) goes too.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @classmethod
    def _excerpt(cls, path, lines=12):
        """The error lines of a log, then its last lines: tools print their advice after the error
        (mariadb-install-db: some 25 lines), so a tail alone would hide the error itself."""
        text = cls._tail(path, lines=None)
        errors = [line for line in text.splitlines() if _ERROR_LINE.search(line)][:lines]
        tail = ''.join(text.splitlines(True)[-lines:])
        if not errors:
            return tail
        return 'errors:\n%s\nlast lines of the log:\n%s' % ('\n'.join(errors), tail)

    @staticmethod
    def _tail(path, lines=25):
        try:
            with open(path, 'rb') as stream:
                return b''.join(stream.readlines()[-lines if lines else 0:]).decode('utf-8', 'replace')
        except OSError:
            return ''

    def __repr__(self):
        return '<%s 127.0.0.1:%s %s>' % (type(self).__name__, self.port, 'running' if self.running else 'stopped')


class _PortTaken(Exception):
    pass
