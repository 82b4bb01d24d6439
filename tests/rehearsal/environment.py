"""A rehearsal environment: a source and a destination server, the DTS emulator replicating
between them for real, the application writing, and the inventory an operator would write.

    with Rehearsal('mysql', state_dir) as rehearsal:      # up() ... down(), also on failure
        rehearsal.switchover()                              # ansible-playbook dtsops.switchover.switchover
        rehearsal.write_on_destination()
        result = rehearsal.verify()

Files in ``state_dir``: inventory.yml, ansible.cfg, traffic/{stop,start}.yml (the traffic task
files), load/ (control, status and journal of the load generator), emulator/ (its state file and
log), switchover/ (the role's journal and reports), switchover.log (the playbook's output).
"""

import json
import os
import signal
import subprocess
import sys
import time

import yaml

from dts_emulator import Emulator
from dts_emulator.profiles import PROFILES
from dts_emulator.replication.local import LocalPair

from . import load as load_module
from .kits import ACK, DATABASE, KITS
from .verify import verify

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
# .../ansible_collections/dtsops/switchover -> the directory that holds ansible_collections
BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
BIN = os.path.dirname(sys.executable)

ACCESS_KEY_ID = 'LTAI5tRehearsalKey001'
ACCESS_KEY_SECRET = 'rehearsal-secret-4b2d9e'
REGION = 'cn-hangzhou'
DURATIONS = {'precheck': 0.2, 'structure': 0.2, 'full': 1.0, 'reverse_precheck': 0.2}
# CreateReverseDtsJob does not serve these engines: the role's method auto configures a reverse
# migration task, which needs the passwords DTS never returns.
CONFIGURE_ENGINES = ('postgresql', 'redis')
CUTOVERS = ('armed', 'fast')
REVERSE_ARMS = ('before_fence', 'in_window')
PROXY_VARIABLES = ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy')
APP_HOST = 'loadgen'

STOP_TASKS = '''---
# Stop the application's writes to {{{{ switchover_target_role }}}} (the rehearsal's load generator).
- name: Name this request
  ansible.builtin.set_fact:
    rehearsal_request: "stop-{{{{ now(utc=true).timestamp() }}}}-{{{{ 1000000 | random }}}}"

- name: Tell the load generator to stop writing
  ansible.builtin.copy:
    dest: {control}
    content: "{{{{ {{'action': 'stop', 'request': rehearsal_request}} | to_json }}}}\\n"
    mode: "0600"

- name: Wait until no writer writes any more
  ansible.builtin.wait_for:
    path: {status}
    search_regex: '"done": "{{{{ rehearsal_request }}}}"'
    timeout: 60
'''

START_TASKS = '''---
# Start the application's writes against {{{{ switchover_target_role }}}} (the rehearsal's load generator).
- name: Name this request
  ansible.builtin.set_fact:
    rehearsal_request: "start-{{{{ now(utc=true).timestamp() }}}}-{{{{ 1000000 | random }}}}"

- name: Tell the load generator where to write
  ansible.builtin.copy:
    dest: {control}
    content: "{{{{ {{'action': 'start', 'target': switchover_target_role, 'request': rehearsal_request}} | to_json }}}}\\n"
    mode: "0600"

- name: Wait until the writers write there
  ansible.builtin.wait_for:
    path: {status}
    search_regex: '"done": "{{{{ rehearsal_request }}}}"'
    timeout: 60
'''


class RehearsalError(Exception):
    pass


def clean_environment(extra=None):
    environment = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
    environment['ALIBABA_CLOUD_ECS_METADATA_DISABLED'] = 'true'
    environment.update(extra or {})
    return environment


class Rehearsal(object):
    """``engine``: mysql (MariaDB), postgresql or redis. ``catch_up``: the role's catch-up mode,
    token or stable_window (``stable_window`` seconds). ``apply_latency``: seconds every change
    waits in the emulator, as over a WAN. ``copy_seconds``: how long the task's full migration
    lasts (the application writes meanwhile, so incremental migration starts behind), and
    ``apply_rate``: transactions the destination takes per second (None: as fast as it can), which
    sets how fast that backlog drains. ``poll_interval``: the role's switchover_poll_interval.
    ``dts_profile``: the emulator's latency profile (fast, realistic), its figures times
    ``time_scale``. ``cutover`` and ``reverse_arm``: the role's switchover_cutover and
    switchover_reverse.arm. ``out``: a stream for progress lines (None: quiet)."""

    def __init__(self, engine, state_dir, catch_up='token', stable_window=2, apply_latency=0.05, copy_seconds=1.0, apply_rate=None,
                 poll_interval=0.5, out=None, dts_profile='fast', time_scale=1.0, cutover='armed', reverse_arm='before_fence'):
        if engine not in KITS:
            raise RehearsalError('engine must be one of %s, got %r' % (', '.join(sorted(KITS)), engine))
        if catch_up not in ('token', 'stable_window'):
            raise RehearsalError('catch_up must be token or stable_window, got %r' % (catch_up,))
        if dts_profile not in PROFILES:
            raise RehearsalError('dts_profile must be one of %s, got %r' % (', '.join(sorted(PROFILES)), dts_profile))
        if not time_scale or float(time_scale) <= 0:
            raise RehearsalError('time_scale must be a number > 0, got %r' % (time_scale,))
        if cutover not in CUTOVERS or reverse_arm not in REVERSE_ARMS:
            raise RehearsalError('cutover must be one of %s and reverse_arm one of %s, got %r and %r'
                                 % (', '.join(CUTOVERS), ', '.join(REVERSE_ARMS), cutover, reverse_arm))
        self.dts_profile = dts_profile
        self.time_scale = float(time_scale)
        self.cutover = cutover
        self.reverse_arm = reverse_arm
        self.engine = engine
        self.state_dir = os.path.abspath(state_dir)
        self.catch_up = catch_up
        self.stable_window = stable_window
        self.apply_latency = apply_latency
        self.copy_seconds = copy_seconds
        self.apply_rate = apply_rate or None
        self.poll_interval = poll_interval
        self.out = out
        self.pair = None
        self.kit = None
        self.emulator = None
        self.job = None
        self.load = None
        self.playbook = None
        self.switchover_seconds = None
        self.rollback_rc = None
        self.rollback_seconds = None
        self._emulator_log = None

    def server_directories(self):
        """The throwaway servers' directories (removed when they stop)."""
        if self.pair is None:
            return []
        return [server.basedir for server in (self.pair.source, self.pair.destination) if server.basedir]

    def say(self, message):
        if self.out is not None:
            self.out.write(message + '\n')
            self.out.flush()

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    # -- up -----------------------------------------------------------------------------------

    def up(self):
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self):
        previous = self.path('switchover')
        if os.path.isdir(previous) and os.listdir(previous):
            # The role would resume (or call finished) the journal of an earlier rehearsal's unit.
            os.rename(previous, previous + time.strftime('-%Y%m%dT%H%M%SZ', time.gmtime(os.path.getmtime(previous))))
        for directory in ('load', 'emulator', 'switchover', 'traffic'):
            os.makedirs(self.path(directory), exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.say('Starting a %s source and destination on loopback...' % KITS[self.engine].display)
        self.pair = LocalPair(self.engine).start()
        self.say('Source 127.0.0.1:%d, destination 127.0.0.1:%d (migration account %s).'
                 % (self.pair.source.port, self.pair.destination.port, self.pair.migration_user))
        self.kit = KITS[self.engine](self.pair.source.params, self.pair.destination.params, self.pair.migration_user)
        self.kit.prepare()

        self._emulator_log = open(self.path('emulator', 'emulator.log'), 'a')
        # fast: the rehearsal's own short durations; otherwise the profile's (scaled), but the copy as asked.
        durations = dict(DURATIONS, full=self.copy_seconds) if self.dts_profile == 'fast' else {'structure': 0.2, 'full': self.copy_seconds}
        self.emulator = Emulator(accounts={ACCESS_KEY_ID: ACCESS_KEY_SECRET}, region=REGION, durations=durations,
                                 profile=self.dts_profile, latency_scale=self.time_scale,
                                 state_file=self.path('emulator', 'state.json'), log=self._emulator_log,
                                 replication={'credentials': self.pair.credentials, 'apply_latency': self.apply_latency,
                                              'apply_rate': self.apply_rate}).start()
        password = self.pair.migration_password
        self.job = self.emulator.add_job(name=DATABASE, source=self.kit.endpoint('source', password),
                                         destination=self.kit.endpoint('destination', password),
                                         db_object=json.dumps({DATABASE: {'name': DATABASE, 'all': True}}))
        # The application writes from before the task starts: the copy and the backlog are real.
        self.load = load_module.LoadGenerator(self.kit, self.path('load')).start('source')
        self.emulator.model.start(self.job)
        self.say('DTS emulator 127.0.0.1:%d (profile %s, scale %g): task %s started: precheck, structure, full copy (%s s), '
                 'then incremental migration.' % (self.emulator.port, self.dts_profile, self.time_scale, self.job.job_id, self.copy_seconds))
        # The playbook may start now: it waits for the incremental phase and for the backlog to drain.
        self._wait(lambda: self.emulator.replication_status(self.job.job_id)['capturing'], 60, 'the task to start')
        self._write_files()

    def _wait(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.job is not None and self.job.stage == 'failed':
                raise RehearsalError('the DTS task failed: %s' % self.job.error_message)
            if time.monotonic() > deadline:
                raise RehearsalError('timed out after %d s waiting for %s' % (timeout, what))
            time.sleep(0.05)

    def _write_files(self):
        paths = {'control': self.path('load', 'control.json'), 'status': self.path('load', 'status.json')}
        for name, template in (('stop', STOP_TASKS), ('start', START_TASKS)):
            with open(self.path('traffic', '%s.yml' % name), 'w') as stream:
                stream.write(template.format(**paths))
        with open(self.path('inventory.yml'), 'w') as stream:
            stream.write('# The rehearsal unit, written as an operator writes it from the README.\n')
            yaml.safe_dump(self.inventory(), stream, sort_keys=False, default_flow_style=False)
        with open(self.path('ansible.cfg'), 'w') as stream:
            stream.write('[defaults]\ncollections_path = %s\ninventory = %s\nretry_files_enabled = false\n'
                         % (BUILD_ROOT, self.path('inventory.yml')))

    def inventory(self):
        local = {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}
        unit = {
            'switchover_job_id': self.job.job_id,
            'switchover_dts': {'access_key_id': ACCESS_KEY_ID, 'access_key_secret': ACCESS_KEY_SECRET, 'region': REGION,
                               'endpoint': self.emulator.endpoint, 'protocol': 'http'},
        }
        unit.update(self.kit.role_variables())
        unit.update({
            'switchover_fence_scope': 'accounts',
            'switchover_catch_up': self.catch_up,
            'switchover_token_create': True,
            'switchover_stable_window': self.stable_window,
            'switchover_max_delay': 1,
            'switchover_poll_interval': self.poll_interval,
            'switchover_traffic': {'method': 'tasks', 'hosts': 'rehearsal_apps', 'stop_tasks': self.path('traffic', 'stop.yml'),
                                   'start_tasks': self.path('traffic', 'start.yml')},
            'switchover_state_dir': self.path('switchover'),
            'switchover_cutover': self.cutover,
            'switchover_reverse': self.reverse_settings(),
        })
        return {'all': {'children': {
            'dts_units': {'vars': dict(local), 'hosts': {DATABASE: unit}},
            'rehearsal_apps': {'vars': dict(local), 'hosts': {APP_HOST: None}},
        }}}

    def reverse_settings(self):
        reverse = {'method': 'auto', 'arm': self.reverse_arm}
        if self.engine in CONFIGURE_ENGINES:
            # The reverse task reads the destination and writes the source with the migration account.
            reverse.update(source_password=self.pair.migration_password, destination_password=self.pair.migration_password)
        return reverse

    # -- the switchover -----------------------------------------------------------------------

    def playbook_command(self, playbook='switchover'):
        return [os.path.join(BIN, 'ansible-playbook'), 'dtsops.switchover.%s' % playbook, '-i', self.path('inventory.yml')]

    def switchover(self, echo=False):
        """Run the switchover playbook; its output goes to switchover.log (and to ``out`` with echo)."""
        rc, self.switchover_seconds = self._playbook('switchover', echo)
        return rc

    def rollback(self, echo=False):
        """Run the rollback playbook (the way back through the reverse task); output in rollback.log."""
        self.rollback_rc, self.rollback_seconds = self._playbook('rollback', echo)
        return self.rollback_rc

    def _playbook(self, playbook, echo):
        environment = clean_environment({'ANSIBLE_CONFIG': self.path('ansible.cfg'), 'ANSIBLE_COLLECTIONS_PATH': BUILD_ROOT,
                                         'ANSIBLE_LOCAL_TEMP': self.path('ansible-tmp'), 'ANSIBLE_HOME': self.path('ansible-home')})
        if not echo:
            environment['ANSIBLE_NOCOLOR'] = '1'
        self.say('Running: %s' % ' '.join(self.playbook_command(playbook)))
        started = time.monotonic()
        with open(self.path('%s.log' % playbook), 'w') as log:
            process = subprocess.Popen(self.playbook_command(playbook), cwd=self.state_dir, env=environment, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
            if playbook == 'switchover':
                self.playbook = process
            try:
                for line in process.stdout:
                    log.write(line)
                    if echo and self.out is not None:
                        self.out.write(line)
                        self.out.flush()
                rc = process.wait()
            finally:
                if process.poll() is None:
                    # Interrupted: the playbook must not outlive the rehearsal.
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
        return rc, round(time.monotonic() - started, 1)

    def write_on_destination(self, writes=20, timeout=60, stop=True):
        """Let the application write ``writes`` times per writer on the destination (the role
        started it there), then stop it (unless ``stop`` is false: a rollback comes next)."""
        self.write_on('destination', writes, timeout)
        if stop:
            self.stop_load()

    def write_on_source(self, writes=20, timeout=60, after=None):
        """After a rollback: ``writes`` acknowledged writes per writer on the source since ``after``
        (a time.time()), then the application stops."""
        self.write_on('source', writes, timeout, after)
        self.stop_load()

    def write_on(self, side, writes, timeout, after=None):
        def enough():
            done = {}
            for entry in load_module.read_journal(self.load.journal_path):
                if entry['side'] == side and entry['outcome'] == ACK and entry['t'] >= (after or 0):
                    done[entry['writer']] = done.get(entry['writer'], 0) + 1
            return all(done.get(writer, 0) >= writes for writer in load_module.CONTROLLED)
        self._wait(enough, timeout, 'the application to write on the %s' % side)

    def stop_load(self):
        if self.load is not None:
            self.load.stop()

    def verify(self, timeout=60):
        self.stop_load()
        return verify(self.kit, self.load.journal_path, self.path('switchover'), catch_up=self.catch_up, timeout=timeout,
                      playbook_rc=self.playbook.returncode if self.playbook else None, switchover_seconds=self.switchover_seconds,
                      task_status=self.task_status, dts_waits=self.emulator.dts_waits() if self.emulator else None,
                      time_scale=self.time_scale, dts_profile=self.dts_profile, rollback_rc=self.rollback_rc,
                      rollback_seconds=self.rollback_seconds)

    def task_status(self, job_id):
        job = self.emulator.job(job_id)
        return job.status, job.delay_ms

    def settings(self):
        """What `python -m rehearsal verify` needs from another process (environment.json)."""
        return {'engine': self.engine, 'catch_up': self.catch_up, 'kit': self.kit.settings(), 'job_id': self.job.job_id,
                'emulator': self.emulator.endpoint, 'state_dir': self.state_dir, 'dts_profile': self.dts_profile,
                'time_scale': self.time_scale, 'cutover': self.cutover, 'reverse_arm': self.reverse_arm}

    # -- down ---------------------------------------------------------------------------------

    def down(self):
        """Stop everything that up() started; safe to call twice and after a partial up()."""
        errors = []
        for step in (self.stop_load, self._stop_emulator, self._stop_servers):
            try:
                step()
            except Exception as error:  # pylint: disable=broad-except
                errors.append(error)
        if errors:
            raise errors[0]

    def _stop_emulator(self):
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()
        if self._emulator_log is not None:
            self._emulator_log.close()
            self._emulator_log = None

    def _stop_servers(self):
        pair, self.pair = self.pair, None
        if pair is not None:
            pair.stop()

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False
