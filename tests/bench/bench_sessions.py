"""db_sessions_quiesced with thousands of real connections (throwaway MariaDB and PostgreSQL).

Opens CONNECTIONS connections to a fresh server: most idle, some running a long query (active),
some holding an open write transaction as the migration account (excluded, still classified), then
measures:

* the module's own work: ``engine.sessions()`` + ``classify_sessions()``, median of 5 runs;
* the module's ``main()`` in-process (connect, server version, listing, classification, JSON of
  every session), median of 3 runs;
* the module as a task of ``ansible-playbook``, from the task's start to its result (AnsiballZ,
  a new interpreter, the module), median of 3 runs, next to an ``ansible.builtin.ping`` task.

``DTSOPS_BENCH_CONNECTIONS`` changes the number of connections (default 2000).
"""

import concurrent.futures
import contextlib
import io
import json
import os
import secrets
import statistics
import threading
import time

from bench import Row, Skip, benchmark, timed

CONNECTIONS = int(os.environ.get('DTSOPS_BENCH_CONNECTIONS', '2000'))
ACTIVE = 20
WRITING = 100
TARGET = 1.0  # seconds, for each figure


def _servers():
    try:
        from localdb import MariaDBServer, PostgreSQLServer
    except ImportError as exc:
        raise Skip('the throwaway servers (tests/localdb) are not importable: %s' % exc)
    return MariaDBServer, PostgreSQLServer


class Load(object):
    """CONNECTIONS connections to ``server``: idle application sessions, active ones running a long
    query, and the migration account's open write transactions."""

    def __init__(self, kind, server, count):
        self.kind = kind
        self.server = server
        self.count = count
        self.connections = []
        self.threads = []
        self.app_password = secrets.token_urlsafe(10)
        self.dts_password = secrets.token_urlsafe(10)

    def prepare(self):
        server = self.server
        if self.kind == 'mariadb':
            server.create_database('bench')
            server.execute('CREATE TABLE bench.items (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB')
            server.create_account('bench_app', self.app_password, grants=['ALL ON bench.*'])
            server.create_account('bench_dts', self.dts_password, grants=['ALL ON bench.*'])
        else:
            server.create_account('bench_app', self.app_password)
            server.create_account('bench_dts', self.dts_password)
            server.execute('CREATE TABLE items (id SERIAL PRIMARY KEY, v TEXT)')
            server.execute('GRANT ALL ON items, items_id_seq TO bench_app, bench_dts')

    def _connect(self, user, password):
        if self.kind == 'mariadb':
            return self.server.connect(user=user, password=password, database='bench', connect_timeout=30)
        return self.server.connect(user=user, password=password, connect_timeout=30)

    def _open(self, role):
        if role == 'writing':
            conn = self._connect('bench_dts', self.dts_password)
            if self.kind == 'mariadb':
                conn.begin()
            else:
                conn.autocommit = False
            with conn.cursor() as cursor:
                cursor.execute('INSERT INTO items (v) VALUES (%s)', ('open-transaction',))
            return conn
        conn = self._connect('bench_app', self.app_password)
        if role == 'active':
            # A query that runs until the server stops: a session that is busy but does not write.
            statement = 'SELECT SLEEP(3600)' if self.kind == 'mariadb' else 'SELECT pg_sleep(3600)'
            thread = threading.Thread(target=_run_quietly, args=(conn, statement), daemon=True)
            thread.start()
            self.threads.append(thread)
        return conn

    def open(self):
        roles = ['writing'] * WRITING + ['active'] * ACTIVE + ['idle'] * (self.count - WRITING - ACTIVE)
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            self.connections = list(zip(roles, pool.map(self._open, roles)))

    def close(self):
        # Connections busy in a thread are left to the server's stop: closing them from here would
        # wait on the thread that reads their result.
        for role, conn in self.connections:
            if role != 'active':
                with contextlib.suppress(Exception):
                    conn.close()
        self.connections = []


def _run_quietly(conn, statement):
    with contextlib.suppress(Exception):  # ends with an error when the server stops
        with conn.cursor() as cursor:
            cursor.execute(statement)


def _module_in_process(params):
    """Run db_sessions_quiesced.main() here, as the unit tests do; returns its result."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.dtsops.switchover.plugins.modules import db_sessions_quiesced

    out = io.StringIO()
    with patch_module_args(params), contextlib.redirect_stdout(out):
        try:
            db_sessions_quiesced.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())


def _task_seconds(tasks, repeat=3):
    """Median wall time of each task (from its start to its result, as Ansible runs it), measured
    by the task_timer callback next to this file; returns ({task name: seconds}, the last run)."""
    import tempfile

    from integration import harness

    times = {}
    for dummy in range(repeat):
        workdir = tempfile.mkdtemp(prefix='dtsops-bench-')
        times_path = os.path.join(workdir, 'times.jsonl')
        env = {
            'ANSIBLE_CALLBACK_PLUGINS': os.pathsep.join([os.path.join(os.path.dirname(harness.__file__), 'plugins', 'callback'),
                                                         os.path.join(os.path.dirname(__file__), 'callback')]),
            'ANSIBLE_CALLBACKS_ENABLED': 'results_json,task_timer',
            'DTSOPS_BENCH_TIMES': times_path,
        }
        run = harness.run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], env=env, workdir=workdir)
        if run.rc != 0:
            raise RuntimeError('the benchmark playbook failed:\n%s' % run.stdout[-3000:])
        with open(times_path) as stream:
            for line in stream:
                record = json.loads(line)
                times.setdefault(record['task'], []).append(record['seconds'])
    return dict((name, statistics.median(values)) for name, values in times.items()), run


def _check_counts(counts, label):
    expected = {'own': 1, 'excluded': WRITING, 'writing': 0, 'active': ACTIVE, 'idle': CONNECTIONS - WRITING - ACTIVE}
    if counts != expected:
        raise RuntimeError('%s: classified %s, expected %s' % (label, counts, expected))


def _measure(kind):
    from ansible_collections.dtsops.switchover.plugins.module_utils import db
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import classify_sessions

    MariaDBServer, PostgreSQLServer = _servers()
    label = {'mariadb': 'MariaDB', 'postgresql': 'PostgreSQL'}[kind]
    server = (MariaDBServer if kind == 'mariadb' else PostgreSQLServer)(max_connections=CONNECTIONS + 100)
    rows = []
    with server:
        load = Load(kind, server, CONNECTIONS)
        load.prepare()
        start = time.perf_counter()
        load.open()
        opened = time.perf_counter() - start
        try:
            engine = db.engine_class(server.params['engine'])(server.params)
            engine.connect()
            try:
                def list_and_classify():
                    groups = classify_sessions(engine.sessions(), exclude_users=['bench_dts'])
                    return dict((name, len(sessions)) for name, sessions in groups.items())
                median, low, high, counts = timed(list_and_classify, repeat=5)
            finally:
                engine.close()
            _check_counts(counts, 'engine')
            rows.append(Row('%s %d connections: sessions() + classify' % (label, CONNECTIONS), median, 's', target=TARGET,
                            note='min %.3f, max %.3f; connections opened in %.1f s' % (low, high, opened)))

            params = dict(server.params, exclude_users=['bench_dts'], timeout=0)
            median, low, high, result = timed(lambda: _module_in_process(params), repeat=3)
            if result.get('failed') or not result.get('quiet'):
                raise RuntimeError('module run failed: %s' % result.get('msg'))
            _check_counts(result['counts'], 'module')
            rows.append(Row('%s %d connections: module main() in-process' % (label, CONNECTIONS), median, 's', target=TARGET,
                            note='min %.3f, max %.3f; %d sessions returned' % (low, high, len(result['sessions']))))

            task_args = dict(server.params, exclude_users=['bench_dts'], timeout=0)
            # The first task of a play pays one-time set-up: a warm-up task goes first.
            seconds, run = _task_seconds([{'name': 'warm-up', 'ansible.builtin.ping': {}},
                                          {'name': 'ping', 'ansible.builtin.ping': {}},
                                          {'name': 'quiesce', 'dtsops.switchover.db_sessions_quiesced': task_args}])
            _check_counts(run.task('quiesce')['counts'], 'playbook')
            rows.append(Row('%s %d connections: ansible-playbook task' % (label, CONNECTIONS), seconds['quiesce'], 's',
                            target=TARGET, note='task start to result; an ansible.builtin.ping task takes %.2f s' % seconds['ping']))
        finally:
            load.close()
    return rows


@benchmark('sessions_mariadb', 'db_sessions_quiesced: list and classify %d real MariaDB connections' % CONNECTIONS)
def sessions_mariadb():
    return _measure('mariadb')


@benchmark('sessions_postgresql', 'db_sessions_quiesced: list and classify %d real PostgreSQL connections' % CONNECTIONS)
def sessions_postgresql():
    return _measure('postgresql')
