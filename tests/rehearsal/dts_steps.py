"""``python -m rehearsal dts --engine ENGINE``: the DTS steps of a switchover alone, for engines
that have no local server here (SQL Server, Oracle, MongoDB) or to look at the DTS side only. The
DTS emulator runs as a process with a migration task whose (scripted) delay drains; the steps of
rehearsal/dts_steps.yml run through ansible-playbook, and a summary is printed. Everything lives
in a temporary directory and is stopped at the end, also on failure."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, 'integration'))

from dts_emulator import EmulatorClient  # noqa: E402  pylint: disable=wrong-import-position
from harness import run_playbook  # noqa: E402  pylint: disable=wrong-import-position

ACCESS_KEY_ID = 'LTAI5tRehearsalKey001'
ACCESS_KEY_SECRET = 'rehearsal-secret-4b2d9e'
# The databases' password, for a configured reverse task (the endpoints are labels: nothing logs in).
REVERSE_PASSWORD = 'rehearsal-db-secret-7f1c'
REGION = 'cn-hangzhou'
# What DTS calls each engine, and its usual port (the endpoints are only labels in this demo).
ENGINES = {'mysql': ('MySQL', 3306), 'postgresql': ('PostgreSQL', 5432), 'sqlserver': ('MSSQL', 1433), 'oracle': ('Oracle', 1521),
           'redis': ('Redis', 6379), 'mongodb': ('MongoDB', 27017)}
PROXY_VARIABLES = ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy')


class Failure(Exception):
    pass


def emulator_config(workdir, engine):
    engine_name, port = ENGINES[engine]
    return {
        'host': '127.0.0.1', 'port': 0, 'port_file': os.path.join(workdir, 'emulator.port'),
        'accounts': {ACCESS_KEY_ID: ACCESS_KEY_SECRET}, 'region': REGION,
        'durations': {'precheck': 1, 'reverse_precheck': 1},
        'jobs': [{
            'name': 'orders', 'status': 'Migrating', 'phase': 'incremental',
            # 12 s behind at first, caught up after 6 s (the source's writes stop).
            'delay': [[0, 12000], [6, 0]],
            'source': {'instance_type': 'ECS', 'engine_name': engine_name, 'instance_id': 'i-bp1olddb0001', 'ip': '10.0.0.5',
                       'port': port, 'user_name': 'dts_migration', 'database_name': 'shop'},
            'destination': {'instance_type': 'RDS', 'engine_name': engine_name, 'instance_id': 'rm-bp1newdb0001', 'port': port,
                            'user_name': 'dts_migration', 'database_name': 'shop'},
            'db_object': json.dumps({'shop': {'name': 'shop', 'all': True}}),
        }],
    }


def start_emulator(workdir, engine):
    config_path = os.path.join(workdir, 'emulator.json')
    with open(config_path, 'w') as stream:
        json.dump(emulator_config(workdir, engine), stream, indent=2)
    environment = dict((key, value) for key, value in os.environ.items() if key not in PROXY_VARIABLES)
    environment['PYTHONPATH'] = os.pathsep.join(filter(None, [TESTS, environment.get('PYTHONPATH')]))
    log = open(os.path.join(workdir, 'emulator.log'), 'w')
    process = subprocess.Popen([sys.executable, '-m', 'dts_emulator', '--config', config_path], stdout=log, stderr=subprocess.STDOUT,
                               env=environment, cwd=workdir)
    log.close()
    port_file = os.path.join(workdir, 'emulator.port')
    deadline = time.monotonic() + 20
    while not os.path.exists(port_file):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_emulator(process)
            with open(os.path.join(workdir, 'emulator.log')) as stream:
                raise Failure('the DTS emulator did not start:\n' + stream.read())
        time.sleep(0.05)
    with open(port_file) as stream:
        return process, '127.0.0.1:%d' % int(stream.read())


def stop_emulator(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def seconds(value):
    return '%.1f s' % value if value is not None else '-'


def lag_curve(samples, points=8):
    """A few delays of the wait, evenly picked, first and last included."""
    delays = [sample.get('delay_ms') for sample in samples if sample.get('delay_ms') is not None]
    if len(delays) > points:
        step = (len(delays) - 1) / float(points - 1)
        delays = [delays[int(round(index * step))] for index in range(points)]
    return ' -> '.join('%g' % (delay / 1000.0) for delay in delays) + ' s'


def summary(engine, endpoint, run, requests):
    info = run.task('Read the migration task')
    undelayed = run.task('Wait until the migration task is not delayed')
    armed = run.task('Arm the reverse task while the migration task runs')
    paused = run.task('Pause the migration task')
    reverse = run.task('Start the reverse task at the pause checkpoint')
    again = run.task('Run the same steps again (nothing changes)')
    job, reverse_job = info['jobs'][0], reverse['job']
    counts = Counter(request['action'] for request in requests)
    lines = [
        'dtsops.switchover demo: the DTS steps of a switchover (engine %s), DTS emulator at %s' % (engine, endpoint),
        '',
        '  migration task   %s (%s), %s -> %s' % (job['job_id'], job['name'], job['source']['instance_id'], job['destination']['instance_id']),
        '  at the start     %s, phase %s, delay %s' % (job['status'], job['phase'], seconds(job['delay_seconds'])),
        '  not delayed      after %s and %d polls, held %s; lag %s'
        % (seconds(undelayed['waited']), undelayed['polls'], seconds(undelayed['held_for']), lag_curve(undelayed['samples'])),
        '  reverse armed    %s by method %s while the migration task ran, in %s'
        % (armed['job_id'], armed['method'], seconds(armed['waited'])),
        '  paused           %s at checkpoint %s (%s), changed=%s'
        % (paused['status'], paused['checkpoint'], paused['job']['checkpoint_time'], paused['changed']),
        '  reverse task     %s (%s, %s), started from %s, in %s'
        % (reverse['job_id'], reverse_job['job_type'], reverse_job['status'], paused['checkpoint'], seconds(reverse['waited'])),
        '                   %s -> %s' % (reverse_job['source']['instance_id'], reverse_job['destination']['instance_id']),
        '  run again        changed=%s, same reverse task: %s' % (again['changed'], again['job_id'] == reverse['job_id']),
        '',
        '  DTS API requests %d: %s' % (len(requests), ', '.join('%s %d' % item for item in sorted(counts.items()))),
        '  RAM actions      %s' % ', '.join('dts:%s' % action for action in sorted(counts)),
        '',
        'The database steps (fencing writes, the catch-up proof, moving the applications) are not part of these steps:',
        'python -m rehearsal demo runs a whole switchover with real servers (MariaDB, PostgreSQL, Redis).',
    ]
    return '\n'.join(lines)


def run(engine, keep=False, stable_for=2.0):
    workdir = tempfile.mkdtemp(prefix='dtsops-demo-')
    process = None
    try:
        process, endpoint = start_emulator(workdir, engine)
        control = EmulatorClient(endpoint)
        [job] = control.jobs()
        extra_vars = {'dts_access_key_id': ACCESS_KEY_ID, 'dts_access_key_secret': ACCESS_KEY_SECRET, 'dts_region': REGION,
                      'dts_endpoint': endpoint, 'dts_job_id': job['job_id'], 'stable_for': stable_for,
                      'dts_reverse_password': REVERSE_PASSWORD}
        os.mkdir(os.path.join(workdir, 'play'))
        run = run_playbook(os.path.join(HERE, 'dts_steps.yml'), extra_vars=extra_vars, workdir=os.path.join(workdir, 'play'))
        if run.rc != 0:
            failed = run.failed[0] if run.failed else {'task': '?', 'result': {'msg': run.stderr or run.stdout}}
            raise Failure('the playbook failed at "%s": %s' % (failed['task'], failed['result'].get('msg')))
        print(summary(engine, endpoint, run, control.requests))
        if keep:
            print('\nFiles kept in %s (emulator.log, play/).' % workdir)
        return 0
    except Failure as error:
        sys.stderr.write('rehearsal dts: %s\n' % error)
        return 1
    finally:
        if process is not None:
            stop_emulator(process)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
