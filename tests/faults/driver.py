"""A rehearsal that faults can be injected into: the switchover playbook runs in its own process
group with hooks that stop it at chosen points, and the test kills it there, takes a server down,
restarts the DTS emulator or makes DTS misbehave. Afterwards it reads the servers' real settings
(fences left), every application write (lost or duplicated), the role's journal and the DTS tasks.

    with FaultRehearsal('mysql', tmp_dir) as rehearsal:
        run = rehearsal.run(points={'before_fence': rehearsal.kill})
        run = rehearsal.run()                      # resumes
        rehearsal.outcome(), rehearsal.fences_left(), rehearsal.writes()
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import time

import psycopg2
import pymysql
import redis as redis_py

from ansible_collections.dtsops.switchover.plugins.module_utils import procedure
from dts_emulator import Emulator
from rehearsal import environment as rehearsal_environment
from rehearsal.environment import Rehearsal, clean_environment
from rehearsal.verify import verify

HERE = os.path.dirname(os.path.abspath(__file__))
HOOK_SCRIPT = os.path.join(HERE, 'hooks', 'hook.py')
HOOK_FILES = {'before': os.path.join(HERE, 'hooks', 'before.yml'), 'after': os.path.join(HERE, 'hooks', 'after.yml')}
# The phases a rehearsal unit runs (accounts fence, catch-up proof, incremental task), from the
# role's own procedure; it records run_full_migration, reopen_source, verify_data and release_forward as skipped.
PHASES = tuple(name for name in procedure.order('switchover')
               if not procedure.skip_reason(name, {'incremental': True, 'scope': 'accounts', 'verify': 'none'}))
# The phases of the rollback of a rehearsal unit (rollback.yml).
ROLLBACK_PHASES = tuple(procedure.order('rollback'))


def is_step(point):
    """Whether the hook point (before_<phase>, after_<phase>) falls inside the window action: the
    action stops there itself (its step gate), a hook would cut its steps in two."""
    phase = point.split('_', 1)[1]
    return procedure.PHASES[procedure.base_name(phase)[0]].runs == procedure.STEP


PROBE_TIMEOUT = 5


class FaultTestError(Exception):
    """The fault test itself could not do what it was asked (not a finding about the role)."""


class Run(object):
    """One ansible-playbook run: exit status, output, and the hook points it passed (in order)."""

    def __init__(self, rc, output, points, killed_at):
        self.rc = rc
        self.output = output
        self.points = points
        self.killed_at = killed_at

    @property
    def killed(self):
        return self.killed_at is not None

    def __repr__(self):
        return '<Run rc=%s points=%s killed_at=%s>\n%s' % (self.rc, self.points, self.killed_at, self.output[-6000:])


class Control(object):
    """What a point handler may do to the run that waits at a hook point."""

    def __init__(self, rehearsal, process, point):
        self.rehearsal = rehearsal
        self.process = process
        self.point = point
        self.killed_at = None

    def kill(self, where=None):
        """kill -9 of ansible-playbook and every process under it (its forks run in sessions of
        their own, and the module processes under them): the controller dies as a whole."""
        kill_tree(self.process.pid)
        self.killed_at = where or self.point

    def module_running(self, module):
        """Whether a process of ``module`` (its AnsiballZ wrapper) runs under the playbook."""
        marker = ('AnsiballZ_%s.py' % module).encode()
        return any(marker in _cmdline(pid) for pid in descendants(self.process.pid))

    def step_running(self, phase):
        """Whether the window action runs the step ``phase`` (it says so in the hook directory)."""
        return _read(os.path.join(self.rehearsal.hook_dir, 'running')) == phase

    def running(self, phase, module):
        """Whether ``phase`` runs: a step of the window action, or the module of a task phase."""
        return self.step_running(phase) if is_step('before_' + phase) else self.module_running(module)

    def kill_when(self, condition, where, timeout=60, settle=0.0):
        """Let the run go on and kill it once ``condition()`` holds (checked every 5 ms), after
        ``settle`` more seconds. Raises FaultTestError when the run ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise FaultTestError('the run ended before the kill point %s' % where)
            if time.monotonic() > deadline:
                raise FaultTestError('the kill point %s did not come within %d s' % (where, timeout))
            time.sleep(0.005)
        time.sleep(settle)
        self.kill(where)


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as stream:
            return stream.read()
    except OSError:
        return b''


def descendants(root):
    """The pids of every process under ``root``."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as stream:
                    # pid (comm) state ppid ...: comm may hold spaces and parentheses.
                    ppid = int(stream.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def kill_tree(root):
    """SIGKILL ``root`` and every process under it. Each is stopped first, so that none forks
    or is reparented (and lost from the tree) before all are found."""
    stopped = []
    for dummy in range(5):
        tree = [pid for pid in [root] + descendants(root) if pid not in stopped]
        if not tree:
            break
        for pid in tree:
            _signal(pid, signal.SIGSTOP)
            stopped.append(pid)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


class FaultRehearsal(object):
    """A :class:`rehearsal.environment.Rehearsal` of ``engine`` in ``directory``, with what the
    fault tests need. ``connect_timeout``: the role's connect timeout to both servers (a server
    that is down makes every connection wait that long)."""

    def __init__(self, engine, directory, catch_up='token', stable_window=2, connect_timeout=3, write_budget=300):
        self.engine = engine
        self.directory = directory
        self.rehearsal = Rehearsal(engine, os.path.join(directory, 'rehearsal'), catch_up=catch_up, stable_window=stable_window,
                                   copy_seconds=0.5, apply_rate=None, poll_interval=0.2)
        self.connect_timeout = connect_timeout
        self.write_budget = write_budget
        self.hook_dir = os.path.join(directory, 'hook')
        self.baseline = None
        self.runs = 0
        self.stopped_servers = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def up(self):
        os.makedirs(self.hook_dir, exist_ok=True)
        self.rehearsal.up()
        if self.engine == 'postgresql':
            # The throwaway servers acknowledge commits before they are flushed (synchronous_commit
            # off): a crash would lose acknowledged writes that no production server loses.
            for server in (self.rehearsal.pair.source, self.rehearsal.pair.destination):
                server.execute('ALTER SYSTEM SET synchronous_commit = on')
                server.execute('SELECT pg_reload_conf()')
        self.baseline = self.fence_settings()
        return self

    def down(self):
        for side in list(self.stopped_servers):
            try:
                self.server_up(side)
            except Exception:  # pylint: disable=broad-except
                pass    # down() stops it anyway
        self.rehearsal.down()

    def __enter__(self):
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc):
        self.down()
        return False

    @property
    def kit(self):
        return self.rehearsal.kit

    @property
    def emulator(self):
        return self.rehearsal.emulator

    @property
    def job_id(self):
        return self.rehearsal.job.job_id

    def server(self, side):
        pair = self.rehearsal.pair
        return pair.source if side == 'source' else pair.destination

    # -- the playbook -------------------------------------------------------------------------

    def extra_vars(self, hooks):
        variables = {
            'switchover_hooks': {point: HOOK_FILES[point.split('_', 1)[0]] for point in hooks if not is_step(point)},
            'faults_hook_script': HOOK_SCRIPT,
            'faults_hook_dir': self.hook_dir,
            'switchover_write_budget': self.write_budget,
        }
        for side in ('source', 'destination'):
            variables['switchover_%s' % side] = dict(self.kit.admin[side], connect_timeout=self.connect_timeout)
        return variables

    def run(self, points=None, extra_vars=None, timeout=600, playbook='switchover'):
        """Run the switchover playbook (or ``playbook``: rollback). ``points``: {hook point: handler(control)}, hook points as
        ``before_<phase>`` / ``after_<phase>``; the run waits at each until its handler returns
        (and goes on unless the handler killed it)."""
        points = dict(points or {})
        self.runs += 1
        variables = self.extra_vars(points)
        variables.update(extra_vars or {})
        vars_path = os.path.join(self.directory, 'extra-vars-%d.json' % self.runs)
        with open(vars_path, 'w') as stream:
            json.dump(variables, stream)
        state_dir = self.rehearsal.state_dir
        environment = clean_environment({'ANSIBLE_CONFIG': os.path.join(state_dir, 'ansible.cfg'),
                                         'DTSOPS_SWITCHOVER_STEP_GATE': self.hook_dir,
                                         'DTSOPS_SWITCHOVER_STEP_POINTS': ','.join(point for point in points if is_step(point)),
                                         'ANSIBLE_COLLECTIONS_PATH': rehearsal_environment.BUILD_ROOT, 'ANSIBLE_NOCOLOR': '1',
                                         'ANSIBLE_LOCAL_TEMP': os.path.join(state_dir, 'ansible-tmp'),
                                         'ANSIBLE_HOME': os.path.join(state_dir, 'ansible-home')})
        at_path = os.path.join(self.hook_dir, 'at')
        log_path = os.path.join(self.directory, 'run-%d.log' % self.runs)
        passed, killed_at = [], None
        with open(log_path, 'w') as log:
            # Its own process group: kill -9 of the group is what a dead controller looks like.
            process = subprocess.Popen(self.rehearsal.playbook_command(playbook) + ['-e', '@' + vars_path], cwd=state_dir, env=environment,
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + timeout
            try:
                while process.poll() is None:
                    if time.monotonic() > deadline:
                        raise FaultTestError('the playbook did not end within %d s (%s)' % (timeout, log_path))
                    point = _read(at_path)
                    if point is None:
                        time.sleep(0.01)
                        continue
                    passed.append(point)
                    control = Control(self, process, point)
                    handler = points.get(point)
                    if handler is not None and killed_at is None:
                        handler(control)
                        killed_at = control.killed_at
                    if os.path.exists(at_path):
                        os.unlink(at_path)
                process.wait()
            finally:
                if process.poll() is None:
                    kill_tree(process.pid)
                    process.wait()
                if os.path.exists(at_path):
                    os.unlink(at_path)
        with open(log_path) as stream:
            output = stream.read()
        return Run(process.returncode, output, passed, killed_at)

    def release(self):
        """Let a run that waits at a hook point go on (for handlers that act while it runs)."""
        path = os.path.join(self.hook_dir, 'at')
        if os.path.exists(path):
            os.unlink(path)

    # -- faults -------------------------------------------------------------------------------

    def server_down(self, side, mode='crash'):
        """The ``side`` server goes down. ``crash``: its processes are killed (SIGKILL), so
        connections are refused, and server_up() starts it again on the same port and data
        (MariaDB and PostgreSQL recover from their logs). ``hang``: it stops answering (SIGSTOP),
        so connections wait for their timeout, as with a host that is cut off; server_up()
        resumes it (Redis keeps its data only this way: the rehearsal's Redis has no persistence)."""
        server = self.server(side)
        if mode == 'hang':
            os.killpg(server.process.pid, signal.SIGSTOP)
        elif mode == 'crash':
            os.killpg(server.process.pid, signal.SIGKILL)
            # Reaps the process and stops its watchdog; the data directory stays.
            server._kill_process()  # pylint: disable=protected-access
            server._stop_watchdog()  # pylint: disable=protected-access
        else:
            raise FaultTestError('server_down mode is crash or hang, not %r' % (mode,))
        self.stopped_servers[side] = mode

    def server_up(self, side):
        mode = self.stopped_servers.pop(side, None)
        server = self.server(side)
        if mode == 'hang':
            os.killpg(server.process.pid, signal.SIGCONT)
        elif mode == 'crash':
            server._launch()  # pylint: disable=protected-access

    def restart_failed_task(self, timeout=60, job_id=None):
        """Start the forward task (or ``job_id``: the reverse task) again when it failed, as an
        operator would (StartDtsJob goes on from the checkpoint): the emulator fails a task at once
        when a server goes away, where DTS retries the connection. Returns whether it had failed."""
        job_id = job_id or self.job_id
        job = self.emulator.job(job_id)
        if job.stage != 'failed':
            return False
        self.emulator.model.start(job)
        deadline = time.monotonic() + timeout
        while not self.emulator.replication_status(job_id)['capturing']:
            if time.monotonic() > deadline:
                raise FaultTestError('the task %s did not start again: %s' % (job_id, self.emulator.job(job_id).error_message))
            time.sleep(0.05)
        return True

    def wait_replication_idle(self, quiet=3.0, timeout=120):
        """With the application stopped: wait until every task that replicates has applied what it
        captured and applied nothing more for ``quiet`` seconds (a task started again after a server
        came back replays its backlog first). Returns the seconds waited, or None after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            busy = []
            for job in self.emulator.jobs():
                try:
                    status = self.emulator.replication_status(job.job_id)
                except ValueError:
                    continue    # the task does not replicate
                if status['capturing'] and status['applying'] and (status['pending'] or (status['idle_seconds'] or 0) < quiet):
                    busy.append(job.job_id)
            if not busy:
                return time.monotonic() - start
            time.sleep(0.2)
        return None

    def restart_emulator(self, down_for=1.0):
        """Stop the DTS emulator and start it again on the same port from its state file: the
        replication continues from the saved checkpoints."""
        old = self.rehearsal.emulator
        port = old.port
        old.stop()
        time.sleep(down_for)
        rehearsal = self.rehearsal
        emulator = Emulator(accounts={rehearsal_environment.ACCESS_KEY_ID: rehearsal_environment.ACCESS_KEY_SECRET},
                            region=rehearsal_environment.REGION,
                            durations=dict(rehearsal_environment.DURATIONS, full=rehearsal.copy_seconds), state_file=old.state_file,
                            log=old.log, port=port,
                            replication={'credentials': rehearsal.pair.credentials, 'apply_latency': rehearsal.apply_latency,
                                         'apply_rate': rehearsal.apply_rate})
        emulator.load_state()
        rehearsal.emulator = emulator.start()
        rehearsal.job = emulator.job(rehearsal.job.job_id)
        return emulator

    def set_apply_latency(self, seconds, job_id=None):
        """Changes now take ``seconds`` to reach the other side (the replicator of the forward task,
        or of ``job_id``: the reverse task during a rollback)."""
        replicator = getattr(self.emulator.job(job_id or self.job_id).delay_source, 'replicator', None)
        if replicator is None:
            raise FaultTestError('the task %s of %s does not replicate right now' % (job_id or self.job_id, self.engine))
        replicator.apply_latency = float(seconds)

    def reverse_job_id(self):
        """The reverse task the switchover armed (from its journal)."""
        return ((self.journal() or {}).get('data') or {}).get('reverse_job_id')

    # -- what is left ------------------------------------------------------------------------

    def journal(self, kind=''):
        """The unit's switchover journal, or with ``kind`` '.rollback' its rollback journal."""
        path = os.path.join(self.rehearsal.path('switchover'), 'shop%s.json' % kind)
        try:
            with open(path) as stream:
                return json.load(stream)
        except OSError:
            return None

    def outcome(self, kind=''):
        journal = self.journal(kind)
        return journal.get('outcome') if journal else None

    def archive_journal(self, name):
        """Move the finished journal and reports aside, so that the next run starts a new switchover."""
        directory = self.rehearsal.path('switchover')
        target = os.path.join(self.directory, 'journal-%s' % name)
        shutil.move(directory, target)
        os.makedirs(directory)
        return target

    def reverse_tasks(self):
        """Every reverse task ever created from the forward task (released ones too): reverse
        instances, and configured tasks from the forward task's destination to its source."""
        forward = self.emulator.job(self.job_id)

        def address(endpoint):
            return (endpoint.get('Ip'), str(endpoint.get('Port')))

        return [job for job in self.emulator.jobs(released=True) if job.job_id != self.job_id
                and (getattr(job, 'reverse_of', None) == self.job_id
                     or (address(job.source) == address(forward.destination) and address(job.destination) == address(forward.source)))]

    def fence_settings(self):
        """{side: {setting: value}}: what a fence changes, read from each server."""
        return {side: _SETTINGS[self.engine](self.kit.admin[side], self.kit.app_user) for side in ('source', 'destination')}

    def fences_left(self, completed, kept='source'):
        """Fence settings that differ from before the switchover, as sentences. A completed
        switchover keeps the application account fenced on the old source (by design: stray
        writes are refused there), a completed rollback on the destination it left (``kept``);
        anything else is a fence left behind."""
        now = self.fence_settings()
        left = []
        for side in ('source', 'destination'):
            for name, before in sorted(self.baseline[side].items()):
                after = now[side].get(name)
                if after == before:
                    continue
                if completed and side == kept and name == 'app_account':
                    continue
                left.append('%s %s: %r (before: %r)' % (side, name, after, before))
        if completed and now[kept]['app_account'] == self.baseline[kept]['app_account']:
            left.append('the application account is not fenced on the %s after a completed run' % kept)
        return left

    def writes(self, timeout=60):
        """(lost, duplicated, result): acknowledged writes missing where they belong, and writes
        stored twice, from the load generator's journal and both databases. The application goes
        on writing."""
        result = verify(self.kit, self.rehearsal.load.journal_path, self.rehearsal.path('switchover'), timeout=timeout)
        return result['writes']['lost'], result['writes']['duplicated'], result

    def log_tail(self, lines=40):
        paths = sorted(glob.glob(os.path.join(self.directory, 'run-*.log')), key=os.path.getmtime)
        if not paths:
            return ''
        with open(paths[-1]) as stream:
            return ''.join(stream.readlines()[-lines:])


def _read(path):
    try:
        with open(path) as stream:
            return stream.read().strip() or None
    except OSError:
        return None


# -- fence settings per engine ----------------------------------------------------------------

def _mysql_settings(options, app_user):
    conn = pymysql.connect(host='127.0.0.1', port=options['login_port'], user=options['login_user'], password=options['login_password'],
                           connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT)
    try:
        with conn.cursor() as cursor:
            cursor.execute('SELECT @@global.read_only')
            read_only = cursor.fetchone()[0]
            cursor.execute("SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = %s", (app_user,))
            locked = [str(row[0]).upper() in ('1', 'TRUE', 'Y') for row in cursor.fetchall()]
        return {'read_only': int(read_only), 'app_account': 'locked' if any(locked) else 'open'}
    finally:
        conn.close()


def _postgresql_settings(options, app_user):
    conn = psycopg2.connect(host='127.0.0.1', port=options['login_port'], user=options['login_user'], password=options['login_password'],
                            dbname='postgres', connect_timeout=PROBE_TIMEOUT, sslmode='disable')
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT setting FROM pg_settings WHERE name = 'default_transaction_read_only'")
            read_only = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM pg_file_settings WHERE name = 'default_transaction_read_only' AND setting = 'on'")
            pending = cursor.fetchone()[0]
            cursor.execute('SELECT rolcanlogin FROM pg_roles WHERE rolname = %s', (app_user,))
            can_login = cursor.fetchone()[0]
        return {'default_transaction_read_only': read_only, 'read_only_in_config': pending,
                'app_account': 'login' if can_login else 'nologin'}
    finally:
        conn.close()


def _redis_settings(options, app_user):
    client = redis_py.Redis(host='127.0.0.1', port=options['login_port'], username=options['login_user'],
                            password=options['login_password'], socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT,
                            decode_responses=True, protocol=2)
    try:
        user = client.execute_command('ACL', 'GETUSER', app_user)
        fields = dict(zip(user[::2], user[1::2]))
        keepers = [entry for entry in client.client_list() if entry.get('name', '').startswith('dtsops-switchover')]
        info = client.info('clients')
        return {'app_account': '%s %s' % (' '.join(fields.get('flags') or []), fields.get('commands')), 'keepers': len(keepers),
                'paused': info.get('paused_reason', 'none')}
    finally:
        client.close()


_SETTINGS = {'mysql': _mysql_settings, 'postgresql': _postgresql_settings, 'redis': _redis_settings}
