"""The switchover's own figures:

* ``write_window``: the application-observed write gap (the applications' last acknowledged write on
  the source to their first on the destination, from the rehearsal's load journal) and the role's
  own window (fence to point of no return) of a real switchover on the local rehearsal, catch-up
  ``token`` against the vendor's ``stable_window`` of 60 s, p50 and p95 per engine, and how many
  times shorter the token makes the gap;
* ``wait_api_calls``: DTS API calls that dts_wait_undelayed makes in a 10-minute wait, through the
  real SDK against the emulator, on a virtual clock (the wait takes a second, not ten minutes);
* ``role_controller``: controller time of the whole role with nothing to wait for, 1 unit against
  20 units in one run (forks 25) and 100 units (forks 50), its task results and CPU time, with
  where the time goes (per-task overhead, module start-up).

``DTSOPS_BENCH_TOKEN_RUNS`` and ``DTSOPS_BENCH_WINDOW_RUNS`` set the switchovers per engine of
``write_window`` (default 5 with the token, 2 with the 60 s window); ``DTSOPS_BENCH_ENGINES`` the
engines (default mysql,postgresql,redis).
"""

import collections
import json
import math
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import Row, Skip, benchmark

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
BIN = os.path.dirname(sys.executable)
ENGINES = [engine for engine in os.environ.get('DTSOPS_BENCH_ENGINES', 'mysql,postgresql,redis').split(',') if engine]
TOKEN_RUNS = int(os.environ.get('DTSOPS_BENCH_TOKEN_RUNS', '5'))
WINDOW_RUNS = int(os.environ.get('DTSOPS_BENCH_WINDOW_RUNS', '2'))
STABLE_WINDOW = 60


def percentile(values, fraction):
    """Nearest-rank percentile (with few runs, p95 is the slowest run)."""
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(fraction * len(ordered))) - 1)]


def _clean_environment(extra=None):
    environment = {key: value for key, value in os.environ.items() if 'proxy' not in key.lower()}
    environment['ALIBABA_CLOUD_ECS_METADATA_DISABLED'] = 'true'
    environment.update(extra or {})
    return environment


# -- write-unavailable window -------------------------------------------------------------------

def _switchover_window(engine, catch_up):
    from rehearsal.environment import Rehearsal
    directory = tempfile.mkdtemp(prefix='dtsops-bench-window-')
    rehearsal = Rehearsal(engine, directory, catch_up=catch_up, stable_window=STABLE_WINDOW, copy_seconds=1.0, apply_rate=None)
    try:
        rehearsal.up()
        rc = rehearsal.switchover()
        result = rehearsal.verify(timeout=30)
        if rc != 0 or result['write_unavailable_seconds'] is None or result['application_gap_seconds'] is None:
            raise RuntimeError('%s %s switchover failed (rc %s): %s' % (engine, catch_up, rc, '; '.join(result['problems'])))
        return (result['write_unavailable_seconds'], result['application_gap_seconds'],
                result['writes']['lost'] + result['writes']['duplicated'])
    finally:
        rehearsal.down()
        shutil.rmtree(directory, ignore_errors=True)


@benchmark('write_window', 'application-observed write gap and role window of a real switchover on the rehearsal: catch-up token '
                           'against the vendor\'s %d s stable window, p50 and p95 per engine' % STABLE_WINDOW)
def write_window():
    try:
        import rehearsal  # noqa: F401  pylint: disable=unused-import
    except ImportError as exc:
        raise Skip('the rehearsal (tests/rehearsal) is not importable: %s' % exc)
    rows = []
    for engine in ENGINES:
        figures = {}
        for catch_up, runs in (('token', TOKEN_RUNS), ('stable_window', WINDOW_RUNS)):
            windows, gaps, wrong = [], [], 0
            for dummy in range(runs):
                window, gap, problems = _switchover_window(engine, catch_up)
                windows.append(window)
                gaps.append(gap)
                wrong += problems
            figures[catch_up] = (windows, gaps, wrong)
        token_windows, token_gaps, token_wrong = figures['token']
        window_windows, window_gaps, window_wrong = figures['stable_window']
        note = '%d runs: %s' % (len(token_gaps), ' '.join('%.2f' % value for value in token_gaps))
        if token_wrong or window_wrong:
            note += '; writes lost or duplicated: %d' % (token_wrong + window_wrong)
        token_gap = statistics.median(token_gaps)
        rows += [
            # The figure the applications feel: their last acknowledged write on the source to their
            # first on the destination (the rehearsal's load journal).
            Row('%s application gap, token, p50' % engine, token_gap, 's', target=1.5, note=note),
            Row('%s application gap, token, p95' % engine, percentile(token_gaps, 0.95), 's'),
            Row('%s role window (fence to point of no return), token, p50' % engine, statistics.median(token_windows), 's', target=0.5,
                note='%d runs: %s' % (len(token_windows), ' '.join('%.2f' % value for value in token_windows))),
            Row('%s application gap, stable_window %d s, p50' % (engine, STABLE_WINDOW), statistics.median(window_gaps), 's',
                note='%d runs: %s' % (len(window_gaps), ' '.join('%.1f' % value for value in window_gaps))),
            Row('%s application gap, stable_window / token (p50)' % engine, statistics.median(window_gaps) / token_gap, 'x', target=40,
                higher_is_better=True),
        ]
    return rows


# -- DTS API calls of a long wait ----------------------------------------------------------------

class VirtualTime(object):
    """A clock that only moves when the wait sleeps; the emulator's clock moves with it."""

    def __init__(self, emulator_clock):
        self.now = 1000.0
        self.emulator_clock = emulator_clock

    def monotonic(self):
        return self.now

    def wall(self):
        return self.emulator_clock()

    def sleep(self, seconds):
        self.now += seconds
        self.emulator_clock.advance(seconds)


def _calls_in_wait(profile, minutes=10, slice_seconds=30, poll_interval=2.0, max_delay=5.0):
    """DescribeDtsJobDetail calls of dts_wait_undelayed waiting ``minutes`` on a task whose delay
    follows ``profile``, in slices of ``slice_seconds`` as its action plugin runs it (0: one piece),
    with the role's poll interval. Returns (calls, polls, reached)."""
    from ansible_collections.dtsops.switchover.plugins.module_utils import dts
    from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import WaitTimeout
    from dts_emulator import Emulator
    from dts_emulator.clock import ManualClock

    clock = ManualClock()
    emulator = Emulator(accounts={'LTAIbenchwait': 'bench-secret'}, clock=clock).start()
    try:
        job = emulator.add_job(name='bench-wait', status='Migrating', phase='incremental', delay=profile)
        virtual = VirtualTime(clock)
        settings = dts.resolve_settings({'access_key_id': 'LTAIbenchwait', 'access_key_secret': 'bench-secret', 'region': 'cn-hangzhou',
                                         'endpoint': emulator.endpoint, 'protocol': 'http'}, environ={})
        client = dts.DtsClient(settings, clock=virtual.monotonic, sleep=virtual.sleep)
        check = dts.undelayed_check(int(max_delay * 1000))
        total, start, polls, reached = minutes * 60.0, virtual.now, 0, False
        while virtual.now - start < total:
            piece = total - (virtual.now - start) if not slice_seconds else min(slice_seconds, total - (virtual.now - start))
            try:
                dummy, outcome = client.watch(job.job_id, check, timeout=piece, poll_interval=poll_interval, clock=virtual.monotonic,
                                              wallclock=virtual.wall, sleep=virtual.sleep)
                polls += outcome.polls
                reached = True
                break
            except WaitTimeout as exc:
                polls += exc.result.polls
        return len(emulator.calls('DescribeDtsJobDetail')), polls, reached
    finally:
        emulator.stop()


@benchmark('wait_api_calls', 'DTS API calls of dts_wait_undelayed during a 10-minute wait (poll_interval 2 s as in the role, '
                             '30 s progress slices), real SDK against the emulator on a virtual clock')
def wait_api_calls():
    far = 3600 * 1000
    draining = [(0, 10 * 60 * 1000), (600, 0)]        # 10 minutes of lag drained over 10 minutes
    rows = []
    for label, profile in (('task far behind', far), ('lag draining to 0', draining)):
        calls, polls, reached = _calls_in_wait(profile)
        rows.append(Row('API calls in a 10 min wait, %s' % label, calls, 'calls', target=150,
                        note='%d polls in 30 s slices%s' % (polls, ', undelayed at the end' if reached else '')))
    calls, polls, reached = _calls_in_wait(far, slice_seconds=0)
    rows.append(Row('API calls in a 10 min wait, task far behind, one piece', calls, 'calls',
                    note='dtsops_progress_interval: 0 (no progress lines)'))
    return rows


# -- controller time of the role -----------------------------------------------------------------

TRAFFIC_TASKS = '''---
- name: Move the (absent) application
  ansible.builtin.debug:
    msg: "traffic {{ switchover_target_role }}"
'''


def _role_run(units, server, emulator, directory, timer_path, forks=25):
    """ansible-playbook dtsops.switchover.switchover over ``units`` units that wait for nothing;
    returns (seconds, CPU seconds of the controller and everything it started)."""
    traffic = os.path.join(directory, 'traffic.yml')
    with open(traffic, 'w') as stream:
        stream.write(TRAFFIC_TASKS)
    hosts = {}
    for index in range(units):
        # A database per unit: DTS tells reverse tasks apart by their endpoints and databases.
        database = 'bench_%d_%s' % (index, secrets.token_hex(3))
        server.create_database(database)
        account = 'app_%d_%s' % (index, secrets.token_hex(3))
        server.create_account(account, secrets.token_urlsafe(10), grants=['SELECT, INSERT ON %s.*' % database])
        # Source and destination are two databases of the one server (the unit check refuses one
        # server with one database); the token table is the source's, read from both.
        server.create_database(database + '_dst')
        endpoint = {'engine': 'MySQL', 'host': '127.0.0.1', 'port': server.port, 'user': 'dts_migration', 'database': database}
        job = emulator.add_job(name='bench-unit-%s' % database, status='Migrating', phase='incremental', delay=0,
                               durations={'reverse_precheck': 0.05}, source=endpoint, destination=dict(endpoint, database=database + '_dst'),
                               db_object=json.dumps({database: {'name': database, 'all': True}}))
        hosts['unit%02d' % index] = {
            'switchover_job_id': job.job_id,
            'switchover_source': dict(server.params, login_db=database), 'switchover_destination': dict(server.params, login_db=database + '_dst'),
            'switchover_app_accounts': [account], 'switchover_migration_account': 'dts_migration',
            'switchover_token_object': '%s.dtsops_token' % database, 'switchover_token_create': True,
            'switchover_traffic': {'method': 'tasks', 'hosts': 'localhost', 'stop_tasks': traffic, 'start_tasks': traffic},
            'switchover_poll_interval': 0.2,
        }
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory = {'all': {'hosts': {'localhost': dict(local)}, 'children': {'dts_units': {
        'vars': dict(local, switchover_state_dir=os.path.join(directory, 'state'),
                     switchover_dts={'access_key_id': 'LTAIbenchrole', 'access_key_secret': 'bench-role-secret', 'region': 'cn-hangzhou',
                                     'endpoint': emulator.endpoint, 'protocol': 'http'}),
        'hosts': hosts}}}}
    inventory_path = os.path.join(directory, 'inventory.json')
    with open(inventory_path, 'w') as stream:
        json.dump(inventory, stream)
    environment = _clean_environment({
        'ANSIBLE_COLLECTIONS_PATH': BUILD_ROOT, 'ANSIBLE_FORKS': str(forks), 'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback'), 'ANSIBLE_CALLBACKS_ENABLED': 'task_timer',
        'DTSOPS_BENCH_TIMES': timer_path, 'ANSIBLE_LOCAL_TEMP': os.path.join(directory, 'tmp'),
        'ANSIBLE_HOME': os.path.join(directory, 'home')})
    start, cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', inventory_path, 'dtsops.switchover.switchover'], cwd=directory,
                          env=environment, capture_output=True, text=True, check=False)
    seconds, cpu = time.monotonic() - start, _children_cpu() - cpu
    if proc.returncode != 0:
        failures = [line for line in proc.stdout.splitlines() if line.startswith(('fatal:', '[ERROR]'))]
        raise RuntimeError('the role failed for %d units: %s' % (units, ' | '.join(failures[:3]) or proc.stdout[-2000:]))
    return seconds, cpu


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _import_time(module):
    """Seconds a fresh interpreter spends importing ``module`` (python -X importtime), and the
    three slowest imports it pulls in directly."""
    proc = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'import %s' % module], env=_clean_environment(
        {'PYTHONPATH': BUILD_ROOT}), capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        # import time: self [us] | cumulative | imported package (indented two spaces per level)
        parts = line[len('import time:'):].split('|') if line.startswith('import time:') else []
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            rows.append((int(parts[1]), len(name) - len(name.lstrip()), name.strip()))
    own = [row for row in rows if row[2] == module]
    if not own:
        return 0.0, ''
    total, level = own[0][0], own[0][1]
    index = rows.index(own[0])
    # Children are listed before their parent, one level deeper, back to the previous line of the same level.
    children = []
    for cumulative, depth, name in reversed(rows[:index]):
        if depth <= level:
            break
        if depth == level + 2:
            children.append((cumulative, name))
    top = sorted(children, reverse=True)[:3]
    return total / 1e6, ', '.join('%s %.0f ms' % (name, cumulative / 1e3) for cumulative, name in top)


@benchmark('role_controller', 'controller time of the whole role with nothing to wait for (emulator tasks already undelayed, '
                              'one MariaDB as both sides), 1 unit against 20 units (forks 25) and 100 units (forks 50) in one run')
def role_controller():
    try:
        from dts_emulator import Emulator
        from localdb import MariaDBServer
    except ImportError as exc:
        raise Skip('the emulator or the throwaway servers are not importable: %s' % exc)
    directory = tempfile.mkdtemp(prefix='dtsops-bench-role-')
    server = MariaDBServer()
    emulator = Emulator(accounts={'LTAIbenchrole': 'bench-role-secret'})
    try:
        server.start()
        server.create_account('dts_migration', secrets.token_urlsafe(10), grants=['ALL ON *.*'])
        emulator.start()
        figures, cpu, timings = {}, {}, {}
        for units, forks in ((1, 25), (20, 25), (100, 50)):
            run_dir = os.path.join(directory, 'units-%d' % units)
            os.makedirs(run_dir)
            timer_path = os.path.join(run_dir, 'times.jsonl')
            figures[units], cpu[units] = _role_run(units, server, emulator, run_dir, timer_path, forks)
            with open(timer_path) as stream:
                timings[units] = [json.loads(line) for line in stream]
    finally:
        emulator.stop()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

    one = timings[1]
    per_name = collections.defaultdict(float)
    for entry in one:
        per_name[entry['task']] += entry['seconds']
    slowest = sorted(per_name.items(), key=lambda item: -item[1])[:4]
    module_tasks = [entry['seconds'] for entry in one if entry['seconds'] > 0.15]
    light_tasks = [entry['seconds'] for entry in one if entry['seconds'] <= 0.15]
    import_dts, top_dts = _import_time('ansible_collections.dtsops.switchover.plugins.module_utils.dts')
    import_db, top_db = _import_time('ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql')
    return [
        Row('role, 1 unit', figures[1], 's', note='%.1f s inside tasks' % sum(e['seconds'] for e in one)),
        Row('role, 1 unit: task results', len(one), 'tasks', target=45),
        Row('role, 20 units in one run', figures[20], 's', note='forks 25; %d task results' % len(timings[20])),
        Row('role, 20 units / 1 unit', figures[20] / figures[1], 'x', target=2),
        Row('role, 100 units in one run', figures[100], 's', note='forks 50; %d task results' % len(timings[100])),
        Row('role, 100 units / 1 unit', figures[100] / figures[1], 'x'),
        Row('role, CPU time of the controller and its modules, 1 unit', cpu[1], 'CPU s', target=1.5),
        Row('role, CPU time of the controller and its modules, 20 units', cpu[20], 'CPU s',
            note='%.1f CPU s per unit; on %d cores at least %.0f s of wall time'
            % (cpu[20] / 20, os.cpu_count() or 1, cpu[20] / (os.cpu_count() or 1))),
        Row('role, 1 unit: tasks that run a module (> 0.15 s)', len(module_tasks), 'tasks',
            note='median %.2f s, %.1f s in all' % (statistics.median(module_tasks), sum(module_tasks)) if module_tasks else ''),
        Row('role, 1 unit: light tasks (set_fact, include, skipped)', len(light_tasks), 'tasks',
            note='%.1f s in all' % sum(light_tasks)),
        Row('role, 1 unit: slowest task', slowest[0][1], 's', note='; '.join('%s %.2f s' % item for item in slowest)),
        Row('import of module_utils.dts (the SDK)', import_dts, 's', note=top_dts),
        Row('import of engines.mysql (PyMySQL)', import_db, 's', note=top_db),
    ]
