"""The switchover, rollback and finalize playbooks end to end: ansible-playbook runs the
collection's playbooks against the DTS emulator (through the real SDK) and a real MariaDB.

These tests prove the orchestration: phases, journal, abort, resume, reports. The source and
the destination are two databases of one MariaDB server and the token table is shared by both,
so the catch-up token is visible on the destination as soon as it is written: real replication
and the proof that it carried every write are the subject of the rehearsal tests.
"""

import json
import os
import signal
import subprocess

import pymysql
import pytest

from harness import ANSIBLE_PLAYBOOK, BUILD_ROOT, local_inventory, run_playbook
from polling import wait_for

TOKEN_DB = 'dtsops_token'


@pytest.fixture
def unit(emulator, dts_options, mariadb, mariadb_apps, tmp_path):
    """One migration unit: a forward task in incremental migration, an application account on
    the source, the migration account, a traffic hand-off that writes what it did to a file."""
    app, destination_app = mariadb_apps.make(2)
    migration = mariadb_apps.make(1)[0]
    mariadb.execute('CREATE DATABASE IF NOT EXISTS %s' % TOKEN_DB)
    job = emulator.add_job(name='orders-%s' % app.user, status='Migrating', phase='incremental', delay=[(0, 3000), (1, 0)],
                           source={'ip': '127.0.0.1', 'port': mariadb.port, 'database': app.database},
                           destination={'ip': '127.0.0.1', 'port': mariadb.port, 'database': destination_app.database})
    traffic_log = tmp_path / 'traffic.log'
    tasks_dir = tmp_path / 'traffic'
    tasks_dir.mkdir()
    for action in ('stop', 'start'):
        (tasks_dir / ('%s.yml' % action)).write_text(
            '- name: Record the traffic action\n'
            '  ansible.builtin.shell: echo "%s {{ switchover_target_role }} {{ switchover_target.login_db }}" >> %s\n'
            '  changed_when: true\n' % (action, traffic_log))
    source = dict(mariadb.params, login_db=app.database)
    destination = dict(mariadb.params, login_db=destination_app.database)
    host_vars = {
        'switchover_job_id': job.job_id,
        'switchover_dts': dts_options,
        'switchover_source': source,
        'switchover_destination': destination,
        'switchover_app_accounts': [app.user],
        'switchover_migration_account': migration.user,
        'switchover_token_object': '%s.token' % TOKEN_DB,
        'switchover_token_create': True,
        'switchover_traffic': {'method': 'tasks', 'hosts': 'apps', 'stop_tasks': str(tasks_dir / 'stop.yml'),
                               'start_tasks': str(tasks_dir / 'start.yml')},
        'switchover_state_dir': str(tmp_path / 'state'),
        'switchover_poll_interval': 0.2,
    }
    return {'job': job, 'app': app, 'destination_app': destination_app, 'migration': migration, 'vars': host_vars,
            'traffic_log': traffic_log, 'state_dir': tmp_path / 'state'}


def inventory(units):
    """units: {name: host_vars}; the units in dts_units, one local application host in apps."""
    inv = local_inventory(dict(units, app1={}))
    hosts = inv['all']['hosts']
    inv['all']['children'] = {
        'dts_units': {'hosts': dict((name, None) for name in units)},
        'apps': {'hosts': {'app1': None}},
    }
    inv['all']['hosts'] = hosts
    return inv


def journal(unit, name='unit1', kind=''):
    with open(os.path.join(str(unit['state_dir']), '%s%s.json' % (name, kind))) as stream:
        return json.load(stream)


def can_write(app):
    """True when the application account can insert into its table; False with the server's
    refusal (account locked, read-only)."""
    try:
        conn = app.connect()
    except pymysql.err.OperationalError:
        return False
    try:
        with conn.cursor() as cursor:
            cursor.execute('INSERT INTO items (v) VALUES (%s)', ('probe',))
        conn.commit()
        return True
    except pymysql.err.OperationalError:
        return False
    finally:
        conn.close()


def reverse_tasks(emulator, unit, released=False):
    """The reverse tasks created from this unit's forward task (the emulator is shared by tests)."""
    return [job for job in emulator.jobs(released=True) if getattr(job, 'reverse_of', None) == unit['job'].job_id
            and (released or not job.released)]


def traffic(unit):
    return unit['traffic_log'].read_text().split('\n')[:-1] if unit['traffic_log'].exists() else []


def test_switchover_completes_and_arms_the_reverse_task(unit, emulator):
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run

    record = journal(unit)
    assert record['outcome'] == 'completed'
    assert record['point_of_no_return'] is not None
    reverse_id = record['data']['reverse_job_id']
    assert emulator.job(reverse_id).status.lower() == 'synchronizing'
    assert emulator.job(unit['job'].job_id).status == 'Suspending'
    # The vendor's order: the reverse instance is created (and prechecked) while the forward task
    # runs, before writes are fenced; inside the window only the pause and the writer start.
    phases = record['phases']
    assert phases['arm_reverse']['finished'] < phases['stop_traffic']['started'] < phases['fence']['started']
    assert phases['pause_forward']['finished'] <= phases['start_reverse']['started'] < phases['switch_traffic']['started']
    assert record['data']['reverse_method'] == 'reverse_api'
    actions = [r['action'] for r in emulator.requests if r['action'] in ('CreateReverseDtsJob', 'SuspendDtsJob', 'StartReverseWriter')
               and r['params'].get('DtsJobId') in (unit['job'].job_id, reverse_id)]
    assert actions == ['CreateReverseDtsJob', 'SuspendDtsJob', 'StartReverseWriter']

    # Stray writes of the application to the old source are refused; the migration account works.
    assert not can_write(unit['app'])
    assert can_write(unit['migration'])
    assert traffic(unit) == ['stop source %s' % unit['app'].database, 'start destination %s' % unit['destination_app'].database]

    assert record['data']['caught_up']['token']
    reports = os.listdir(str(unit['state_dir'] / 'reports'))
    assert sorted(name.rsplit('.', 1)[1] for name in reports) == ['html', 'json', 'md']
    report = json.load(open(str(unit['state_dir'] / 'reports' / [n for n in reports if n.endswith('.json')][0])))
    assert report['write_unavailable']['seconds'] == round(record['point_of_no_return'] - record['data']['window_start'], 3) > 0

    # A second run finds the finished journal and changes nothing.
    again = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again
    assert 'Nothing to do' in again.stdout
    assert len(reverse_tasks(emulator, unit, released=True)) == 1


def test_instance_scope_and_stable_window_reopen_the_source(unit, emulator, mariadb):
    unit['vars'].update(switchover_fence_scope='instance', switchover_catch_up='stable_window', switchover_stable_window=1,
                        switchover_app_accounts=[])
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    record = journal(unit)
    assert record['phases']['reopen_source']['status'] == 'done'
    assert record['data']['fence']['scope'] == 'instance'
    # The vendor's procedure: the source takes writes again for the reverse task.
    assert mariadb.execute('SELECT @@GLOBAL.read_only')[0][0] == 0
    assert can_write(unit['app'])


def test_a_task_without_incremental_migration_runs_to_its_end_behind_the_fence(unit, emulator, mariadb, mariadb_apps):
    # The vendor's other path: traffic stopped and writes fenced before the task starts, then the
    # task runs to its end, and the reverse task is armed from the finished task.
    job = emulator.add_job(name='full-%s' % unit['app'].user, status='NotStarted', incremental=False,
                           durations={'precheck': 0.2, 'structure': 0.2, 'full': 0.5},
                           source={'ip': '127.0.0.1', 'port': mariadb.port, 'database': unit['app'].database},
                           destination={'ip': '127.0.0.1', 'port': mariadb.port, 'database': unit['destination_app'].database})
    unit['vars']['switchover_job_id'] = job.job_id
    # Without incremental migration there is no reverse instance: method auto configures a task.
    unit['vars']['switchover_reverse'] = {'source_password': 'src-pw', 'destination_password': 'dst-pw'}
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    record = journal(unit)
    statuses = dict((phase, entry['status']) for phase, entry in record['phases'].items())
    assert statuses == {'preflight': 'done', 'wait_undelayed': 'skipped', 'arm_reverse': 'done', 'stop_traffic': 'done', 'fence': 'done',
                        'verify_sessions': 'done', 'catch_up': 'skipped', 'run_full_migration': 'done', 'verify_data': 'skipped',
                        'pause_forward': 'skipped',
                        'reopen_source': 'skipped', 'start_reverse': 'done', 'switch_traffic': 'done', 'release_forward': 'skipped'}
    assert record['phases']['fence']['started'] < record['phases']['run_full_migration']['started']
    assert emulator.job(job.job_id).status == 'Finished'
    assert record['data']['reverse_method'] == 'configure'
    assert record['phases']['start_reverse']['result']['precheck_in_window'] is True
    assert emulator.job(record['data']['reverse_job_id']).status == 'Migrating'


ABORT_PHASES = ['wait_undelayed', 'arm_reverse', 'stop_traffic', 'fence', 'verify_sessions', 'catch_up', 'pause_forward',
                'start_reverse', 'switch_traffic']
# After the writer of the reverse instance started, DTS does not start the forward task again.
WRITER_STARTED = ('start_reverse', 'switch_traffic')


@pytest.mark.parametrize('phase', ABORT_PHASES)
def test_failure_before_the_point_of_no_return_aborts_cleanly(unit, emulator, tmp_path, phase):
    hook = tmp_path / 'fail.yml'
    hook.write_text('- name: Fail here\n  ansible.builtin.fail:\n    msg: injected failure\n')
    unit['vars']['switchover_hooks'] = {'after_' + phase if phase != 'switch_traffic' else 'before_' + phase: str(hook)}
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0
    assert 'Aborted unit1 before the point of no return' in run.stdout, run

    record = journal(unit)
    assert record['outcome'] == 'aborted'
    assert record['point_of_no_return'] is None
    assert can_write(unit['app']), 'the source must take writes again after an abort'
    if phase in WRITER_STARTED:
        assert emulator.job(unit['job'].job_id).status == 'Suspending'
        assert 'left paused: DTS does not resume a task after the writer of its reverse instance started' in run.stdout, run
    else:
        assert emulator.job(unit['job'].job_id).status == 'Migrating', 'the forward task must run again'
    assert reverse_tasks(emulator, unit) == [], 'the reverse task must be released'
    if phase not in ('wait_undelayed', 'arm_reverse'):
        assert traffic(unit)[-1] == 'start source %s' % unit['app'].database
    else:
        assert traffic(unit) == []
    assert record['data']['abort_reason'].endswith('injected failure')


def test_failure_after_the_point_of_no_return_keeps_going_forward(unit, emulator, tmp_path):
    hook = tmp_path / 'fail.yml'
    hook.write_text('- name: Fail here\n  ansible.builtin.fail:\n    msg: injected failure\n')
    unit['vars']['switchover_hooks'] = {'after_switch_traffic': str(hook)}
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0
    assert 'unit1 failed after the point of no return (applications may already write to the destination)' in run.stdout, run
    assert 'Nothing was rolled back' in run.stdout, run
    assert journal(unit)['outcome'] == 'running'
    assert not can_write(unit['app'])

    unit['vars']['switchover_hooks'] = {}
    again = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again
    assert journal(unit)['outcome'] == 'completed'
    assert traffic(unit)[-1].startswith('start destination')


def test_a_run_whose_disk_was_lost_resumes_from_the_journal_in_the_database(unit, emulator, mariadb, tmp_path):
    # As on AWX: the job's disk does not survive it. The journal is also kept in a database, so
    # the next run, on an empty disk, resumes past the point of no return instead of starting over.
    import shutil  # pylint: disable=import-outside-toplevel

    hook = tmp_path / 'fail.yml'
    hook.write_text('- name: Fail here\n  ansible.builtin.fail:\n    msg: injected failure\n')
    store = dict(mariadb.params, login_db=None, object='%s.switchover_journal' % TOKEN_DB, create=True)
    unit['vars'].update(switchover_journal_store=store, switchover_hooks={'after_switch_traffic': str(hook)})
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0 and 'failed after the point of no return' in run.stdout and 'Nothing was rolled back' in run.stdout, run
    run_id = journal(unit)['run_id']
    shutil.rmtree(str(unit['state_dir']))

    unit['vars']['switchover_hooks'] = {}
    again = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again
    record = journal(unit)
    assert (record['run_id'], record['attempt'], record['outcome']) == (run_id, 2, 'completed')
    assert len(reverse_tasks(emulator, unit, released=True)) == 1
    stored = json.loads(mariadb.execute("SELECT document FROM %s.switchover_journal WHERE doc_key = 'unit1/unit1.json'" % TOKEN_DB)[0][0])
    assert stored['outcome'] == 'completed'


def test_write_budget_aborts_when_spent(unit, emulator, tmp_path):
    # A hook after the fence outlasts the budget: the next phase does not start, the run aborts and
    # the source takes writes again. (Waits after the fence are capped at what is left of the budget;
    # the fault matrix in tests/faults shows that case with its timings.)
    hook = tmp_path / 'slow.yml'
    hook.write_text('- name: Outlast the budget\n  ansible.builtin.pause:\n    seconds: 4\n')
    unit['vars'].update(switchover_write_budget=3, switchover_hooks={'after_fence': str(hook)})
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0
    record = journal(unit)
    assert record['outcome'] == 'aborted', run
    assert 'verify_sessions' not in record['phases']
    assert 'The write-unavailable budget of 3 s is spent' in record['data']['abort_reason']
    assert record['data']['abort_reason'].endswith('before verify_sessions')
    assert can_write(unit['app'])
    assert record['data']['window_end'] > record['data']['window_start']


def test_a_stable_window_longer_than_the_budget_is_refused_before_anything_changes(unit, emulator):
    unit['vars'].update(switchover_catch_up='stable_window', switchover_stable_window=60, switchover_write_budget=30)
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0
    assert 'switchover_write_budget (30 s) must be longer than switchover_stable_window (60 s)' in run.stdout
    assert can_write(unit['app'])
    assert emulator.job(unit['job'].job_id).status == 'Migrating'


def _kill_when_started(unit, tmp_path, phase):
    """Run the switchover and kill -9 it (with its whole process group) right before ``phase``;
    a hook holds the run there (a window step's hook runs before the step is recorded)."""
    hook = tmp_path / 'hang.yml'
    marker = tmp_path / 'hanging'
    hook.write_text('- name: Say that the run hangs here\n  ansible.builtin.file:\n    path: %s\n    state: touch\n'
                    '- name: Hang\n  ansible.builtin.pause:\n    seconds: 120\n' % marker)
    unit['vars']['switchover_hooks'] = {'before_' + phase: str(hook)}
    inv_path = tmp_path / 'inventory.json'
    inv_path.write_text(json.dumps(inventory({'unit1': unit['vars']})))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    proc = subprocess.Popen([ANSIBLE_PLAYBOOK, '-i', str(inv_path), 'dtsops.switchover.switchover'], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def started():
        return marker.exists()

    try:
        wait_for(started, 'the run to reach %s' % phase, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    unit['vars']['switchover_hooks'] = {}


def test_resume_after_the_controller_is_killed(unit, emulator, tmp_path):
    _kill_when_started(unit, tmp_path, 'catch_up')
    assert not can_write(unit['app']), 'the fence is in place while the run is dead'

    again = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again
    record = journal(unit)
    assert record['outcome'] == 'completed' and record['attempt'] == 2
    assert 'Resuming run' in again.stdout
    assert len(reverse_tasks(emulator, unit, released=True)) == 1


def test_a_resumed_run_does_not_switch_without_a_running_reverse_task(unit, emulator, tmp_path):
    # Killed right before the point of no return; meanwhile the reverse task failed. The next
    # run must not start the applications on the destination: there would be no way back.
    _kill_when_started(unit, tmp_path, 'switch_traffic')
    reverse = reverse_tasks(emulator, unit)
    assert len(reverse) == 1
    emulator.fail_job(reverse[0].job_id, 'DTS-31009: Write to target failed.')

    again = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert again.rc != 0
    record = journal(unit)
    assert record['outcome'] == 'aborted' and record['point_of_no_return'] is None, again
    assert ('The reverse task %s is Failed (phase failed; DTS-31009: Write to target failed.). Without it there is no way back, '
            'so the applications stay on the source' % reverse[0].job_id) in record['data']['abort_reason'], record['data']['abort_reason']
    assert not any(line.startswith('start destination') for line in traffic(unit))
    assert traffic(unit)[-1] == 'start source %s' % unit['app'].database
    assert can_write(unit['app'])
    assert reverse_tasks(emulator, unit) == []


def test_two_units_in_one_run(unit, emulator, mariadb, mariadb_apps, dts_options, tmp_path):
    second_app, second_destination = mariadb_apps.make(2)
    job = emulator.add_job(name='second', status='Migrating', phase='incremental', delay=0,
                           source={'ip': '127.0.0.1', 'port': mariadb.port, 'database': second_app.database},
                           destination={'ip': '127.0.0.1', 'port': mariadb.port, 'database': second_destination.database})
    second = dict(unit['vars'], switchover_job_id=job.job_id, switchover_app_accounts=[second_app.user],
                  switchover_source=dict(mariadb.params, login_db=second_app.database),
                  switchover_destination=dict(mariadb.params, login_db=second_destination.database))
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars'], 'unit2': second}))
    assert run.rc == 0, run
    assert journal(unit, 'unit1')['outcome'] == 'completed'
    assert journal(unit, 'unit2')['outcome'] == 'completed'
    assert not can_write(unit['app']) and not can_write(second_app)


def test_check_mode_changes_nothing_and_prints_the_plan(unit, emulator):
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}), check=True)
    assert run.rc == 0, [(r['task'], r['result'].get('msg')) for r in run.failed]
    plan = run.task('Show the plan with live values', 'unit1')['msg']
    assert any(line.startswith('preflight: unit matches the task') and 'task %s Migrating/incremental' % unit['job'].job_id in line
               for line in plan), plan
    # The reverse task is planned before the fence, with the method DTS offers for MariaDB.
    assert any(line.startswith('arm_reverse: create the reverse instance of %s' % unit['job'].job_id) for line in plan), plan
    assert [line.split(':')[0] for line in plan].index('arm_reverse') < [line.split(':')[0] for line in plan].index('fence'), plan
    assert any('ACCOUNT LOCK' in line for line in plan), plan
    assert not os.path.exists(str(unit['state_dir']))
    assert emulator.job(unit['job'].job_id).status == 'Migrating'
    assert can_write(unit['app'])
    changing = [r['action'] for r in emulator.requests if r['action'] not in ('DescribeDtsJobDetail', 'DescribeDtsJobs')]
    assert changing == []


def test_rollback_then_switchover_state(unit, emulator):
    assert run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']})).rc == 0
    reverse_id = journal(unit)['data']['reverse_job_id']
    run = run_playbook('dtsops.switchover.rollback', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    record = journal(unit, kind='.rollback')
    assert record['outcome'] == 'completed'
    assert emulator.job(reverse_id).status == 'Suspending'
    assert can_write(unit['app']), 'the application account writes to the source again'
    assert traffic(unit)[-2:] == ['stop destination %s' % unit['destination_app'].database, 'start source %s' % unit['app'].database]


def test_finalize_releases_tasks_and_fences_the_migration_account(unit, emulator):
    assert run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']})).rc == 0
    reverse_id = journal(unit)['data']['reverse_job_id']
    run = run_playbook('dtsops.switchover.finalize', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    assert emulator.job(reverse_id).released and emulator.job(unit['job'].job_id).released
    assert not can_write(unit['migration'])
    again = run_playbook('dtsops.switchover.finalize', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again


def test_ansible_runner_publishes_the_artifacts(unit, tmp_path):
    """AWX and AAP run playbooks through ansible-runner; set_stats becomes the job's artifacts."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    private = tmp_path / 'runner'
    (private / 'inventory').mkdir(parents=True)
    (private / 'inventory' / 'hosts.json').write_text(json.dumps(inventory({'unit1': unit['vars']})))
    result = ansible_runner.run(private_data_dir=str(private), playbook='dtsops.switchover.switchover', quiet=True,
                                envvars={'ANSIBLE_COLLECTIONS_PATH': BUILD_ROOT})
    assert result.rc == 0, result.stdout.read()
    stats = [event for event in result.events if event['event'] == 'playbook_on_stats'][-1]
    artifacts = stats['event_data']['artifact_data']['switchover']['unit1']
    assert artifacts['outcome'] == 'completed'
    assert artifacts['reverse_job_id']
    assert float(artifacts['write_unavailable_seconds']) > 0
    assert os.path.exists(artifacts['journal'])


def test_fast_cut_over_moves_the_applications_right_after_the_catch_up_proof(unit, emulator):
    unit['vars']['switchover_cutover'] = 'fast'
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    record = journal(unit)
    phases = record['phases']
    assert phases['catch_up']['finished'] <= phases['switch_traffic']['started']
    assert record['point_of_no_return'] < phases['pause_forward']['started'] < phases['start_reverse']['started']
    reverse_id = record['data']['reverse_job_id']
    assert emulator.job(reverse_id).status.lower() == 'synchronizing'
    # The writer replays the destination from the point of no return: the applications' first writes.
    assert emulator.calls('StartReverseWriter')[-1]['params']['CheckPoint'] == str(int(record['point_of_no_return']))
    assert traffic(unit)[-1] == 'start destination %s' % unit['destination_app'].database


def test_arm_in_window_creates_the_reverse_task_behind_the_fence(unit, emulator):
    unit['vars']['switchover_reverse'] = {'arm': 'in_window'}
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    phases = journal(unit)['phases']
    assert phases['catch_up']['finished'] <= phases['arm_reverse']['started'] < phases['pause_forward']['started']


def test_a_refused_reverse_instance_without_passwords_fails_before_the_fence(unit, emulator):
    refusal = {'err_code': 'OperationDenied', 'err_message': 'The job type does not support reverse job.', 'http_status_code': 200}
    emulator.add_fault(action='CreateReverseDtsJob', kind='business_error', job_id=unit['job'].job_id, **refusal)
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc != 0
    record = journal(unit)
    assert record['outcome'] == 'aborted' and 'fence' not in record['phases'], run
    assert 'falls back to method configure, which needs source_password and destination_password' in record['data']['abort_reason']
    assert traffic(unit) == [] and can_write(unit['app'])
    assert emulator.job(unit['job'].job_id).status == 'Migrating'
    assert reverse_tasks(emulator, unit) == []


def test_a_failed_precheck_of_the_reverse_task_aborts_before_anything_is_fenced(unit, emulator, tmp_path):
    # The precheck is stretched so that it can be failed while the role waits for it.
    unit['job'].durations['reverse_precheck'] = 60
    inv_path = tmp_path / 'inventory.json'
    inv_path.write_text(json.dumps(inventory({'unit1': unit['vars']})))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=BUILD_ROOT, ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    proc = subprocess.Popen([ANSIBLE_PLAYBOOK, '-i', str(inv_path), 'dtsops.switchover.switchover'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        reverse = wait_for(lambda: reverse_tasks(emulator, unit), 'the reverse task to be created', timeout=120)[0]
        emulator.fail_job(reverse.job_id, 'DTS-1020042: precheck failed: the source account lacks privileges.', status='PrecheckFailed')
        output = proc.communicate(timeout=300)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    record = journal(unit)
    assert record['outcome'] == 'aborted' and 'fence' not in record['phases'] and 'stop_traffic' not in record['phases'], output
    assert 'precheck failed: the source account lacks privileges' in record['data']['abort_reason']
    assert emulator.job(unit['job'].job_id).status == 'Migrating'
    assert reverse_tasks(emulator, unit) == [] and can_write(unit['app'])


def test_data_verification_runs_behind_the_fence_after_the_catch_up_proof(unit, emulator):
    # Source and destination share the token table here, so the comparison finds it consistent;
    # what a difference does is tested on two servers in test_db_compare_servers.py.
    unit['vars'].update(switchover_verify='checksum', switchover_verify_objects=['%s.token' % TOKEN_DB])
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']}))
    assert run.rc == 0, run
    record = journal(unit)
    phases = record['phases']
    assert phases['catch_up']['finished'] <= phases['verify_data']['started'] < phases['pause_forward']['started']
    assert record['data']['window_start'] < phases['verify_data']['started'] < record['point_of_no_return']
    assert record['data']['verify_data']['consistent'] is True
    assert record['data']['verify_data']['method'] == 'checksum'
