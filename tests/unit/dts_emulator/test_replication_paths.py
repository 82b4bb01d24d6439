"""Replication through the other ways a task comes to be: ConfigureDtsJob with endpoint passwords
(the real SDK), the emulator as a process restarted from its state file; MySQL DDL; a Redis
source whose backlog no longer holds the checkpoint."""

import json
import os
import signal
import subprocess
import sys

import pytest

from alibabacloud_dts20200101 import models as dts_models

from dts_emulator import Emulator, EmulatorClient
from dts_emulator.replication.local import LocalPair
from emulator_sdk import AK, REGION, SECRET, sdk
from polling import wait_for
from test_replication import DURATIONS, Workload, wait_caught_up

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules['dts_emulator'].__file__)))


@pytest.fixture(scope='module')
def mysql_pair():
    with LocalPair('mysql') as started:
        yield started


@pytest.fixture
def emulator(mysql_pair):
    emu = Emulator(accounts={AK: SECRET}, region=REGION, durations=DURATIONS, replication=True).start()
    yield emu
    for job in emu.jobs():
        emu.model.delete(job)
    emu.stop()


def test_mysql_ddl_replicates_and_account_statements_do_not(emulator, mysql_pair):
    workload = Workload(mysql_pair)
    workload.prepare()
    for server in (mysql_pair.source, mysql_pair.destination):
        server.execute("CREATE USER IF NOT EXISTS app_ddl@'%' IDENTIFIED BY 'app-password'")
    job = emulator.add_job(name=workload.name, source=workload.endpoint('source'), destination=workload.endpoint('destination'))
    emulator.model.start(job)
    wait_caught_up(emulator, job, workload, 'the copy')

    source = mysql_pair.source
    conn = source.connect(database=workload.name)
    try:
        with conn.cursor() as cursor:
            cursor.execute('CREATE TABLE extra (id INT PRIMARY KEY, note VARCHAR(20))')
            cursor.execute("INSERT INTO extra VALUES (1, 'after ddl')")
            # The switchover's own fence: binlogged, never replicated.
            cursor.execute("ALTER USER app_ddl@'%' ACCOUNT LOCK")
            cursor.execute('ALTER TABLE extra ADD COLUMN added INT DEFAULT 7')
            cursor.execute("INSERT INTO extra (id, note) VALUES (2, 'after alter')")
    finally:
        conn.close()
    wait_for(lambda: emulator.replication_status(job.job_id)['pending'] == 0
             and mysql_pair.destination.execute('SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s '
                                                "AND TABLE_NAME = 'extra'", (workload.name,))[0][0] == 1
             and len(mysql_pair.destination.execute('SELECT * FROM `%s`.extra' % workload.name)) == 2, what='the DDL and its rows')
    assert mysql_pair.destination.execute('SELECT id, note, added FROM `%s`.extra ORDER BY id' % workload.name) == (
        (1, 'after ddl', 7), (2, 'after alter', 7))
    locked = "SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'app_ddl'"
    assert source.execute(locked)[0][0] in ('1', 'true')
    assert mysql_pair.destination.execute(locked)[0][0] in (None, '0', 'false')


def test_configure_path_replicates_with_the_endpoint_passwords(emulator, mysql_pair):
    """CreateDtsInstance + ConfigureDtsJob (incremental only) + StartDtsJob, as the reverse task's
    configure method does: the passwords come with ConfigureDtsJob."""
    workload = Workload(mysql_pair)
    workload.prepare()
    # Incremental only: the structure and rows are already on the destination.
    mysql_pair.destination.execute('CREATE DATABASE `%s`' % workload.name)
    for statement in ('CREATE TABLE `%s`.ledger (side VARCHAR(16), n INT)', 'CREATE TABLE `%s`.counter (id INT PRIMARY KEY, n INT)'):
        mysql_pair.destination.execute(statement % workload.name)
    mysql_pair.destination.execute('INSERT INTO `%s`.ledger SELECT * FROM (SELECT %%s, 1 UNION ALL SELECT %%s, 2 UNION ALL SELECT %%s, 3) AS t'
                                   % workload.name, ('source', 'source', 'source'))
    mysql_pair.destination.execute('INSERT INTO `%s`.counter VALUES (1, 3)' % workload.name)
    client = sdk(emulator)
    created = client.create_dts_instance(dts_models.CreateDtsInstanceRequest(type='MIGRATION', pay_type='PostPaid', region_id=REGION,
                                                                             source_region=REGION, destination_region=REGION)).body
    source, destination = mysql_pair.source, mysql_pair.destination
    client.configure_dts_job(dts_models.ConfigureDtsJobRequest(
        dts_instance_id=created.instance_id, dts_job_name=workload.name, job_type='MIGRATION', region_id=REGION,
        source_endpoint_instance_type='OTHER', source_endpoint_engine_name='MySQL', source_endpoint_ip='127.0.0.1',
        source_endpoint_port=str(source.port), source_endpoint_user_name=mysql_pair.migration_user,
        source_endpoint_password=mysql_pair.migration_password, source_endpoint_database_name=workload.name,
        destination_endpoint_instance_type='OTHER', destination_endpoint_engine_name='MySQL', destination_endpoint_ip='127.0.0.1',
        destination_endpoint_port=str(destination.port), destination_endpoint_user_name=mysql_pair.migration_user,
        destination_endpoint_password=mysql_pair.migration_password, destination_endpoint_data_base_name=workload.name,
        structure_initialization=False, data_initialization=False, data_synchronization=True,
        db_list=json.dumps({workload.name: {'name': workload.name, 'all': True}})))
    client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id=created.job_id, region_id=REGION))
    job = emulator.job(created.job_id)
    # Captured from StartDtsJob on: this write arrives even though incremental migration starts later.
    workload.write('source')
    wait_caught_up(emulator, job, workload, 'the configured task')
    assert workload.ledger('destination') == [('source', n) for n in range(1, 5)]
    assert mysql_pair.migration_password not in json.dumps(emulator.job(job.job_id).to_dict()['source'])


class EmulatorProcess(object):
    def __init__(self, directory, config):
        self.directory = str(directory)
        self.config_path = os.path.join(self.directory, 'config.json')
        with open(self.config_path, 'w') as stream:
            json.dump(config, stream)
        self.process = None

    def start(self):
        port_file = json.load(open(self.config_path))['port_file']
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = {key: value for key, value in os.environ.items() if 'proxy' not in key.lower()}
        env['PYTHONPATH'] = os.pathsep.join([PACKAGE_PARENT, os.path.dirname(PACKAGE_PARENT), env.get('PYTHONPATH', '')])
        self.process = subprocess.Popen([sys.executable, '-m', 'dts_emulator', '--config', self.config_path], env=env,
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.directory, 'stderr.log'), 'a'))
        wait_for(lambda: os.path.exists(port_file) or self.process.poll() is not None, what='the emulator process')
        assert self.process.poll() is None, open(os.path.join(self.directory, 'stderr.log')).read()
        return EmulatorClient('127.0.0.1:%s' % open(port_file).read().strip())

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(60) == 0
        self.process = None


def test_process_mode_replicates_and_continues_after_a_restart(mysql_pair, tmp_path):
    workload = Workload(mysql_pair)
    workload.prepare()
    state_file = str(tmp_path / 'state.json')
    process = EmulatorProcess(tmp_path, {'port_file': str(tmp_path / 'port'), 'state_file': state_file, 'durations': DURATIONS,
                                         'accounts': {AK: SECRET}, 'replication': {'credentials': mysql_pair.credentials}})
    try:
        control = process.start()
        job = control.add_job(name=workload.name, status='Migrating', phase='incremental',
                              source=dict(workload.endpoint('source'), password=None), destination=workload.endpoint('destination'))

        def caught_up_remotely():
            status = control.replication_status(job['job_id'])
            assert status['error'] is None, status
            return status['pending'] == 0 and workload.same()

        workload.write('source')
        wait_for(caught_up_remotely, what='the task in the emulator process')
        process.stop()
        assert mysql_pair.migration_password not in open(state_file).read()

        workload.write('source')
        control = process.start()
        wait_for(caught_up_remotely, what='the change made while the emulator was down')
        assert [n for dummy, n in workload.ledger('destination')] == [1, 2, 3, 4, 5]
        assert control.replication_status(job['job_id'])['applied'] >= 1
    finally:
        process.stop()


def test_redis_source_that_lost_the_checkpoint_fails_the_task_clearly(tmp_path):
    with LocalPair('redis') as pair:
        workload = Workload(pair)
        workload.prepare()
        # The smallest backlog Redis allows: a few kilobytes written while the emulator is down overflow it.
        pair.source.command('CONFIG', 'SET', 'repl-backlog-size', '16384')
        state_file = str(tmp_path / 'state.json')
        emu = Emulator(durations=DURATIONS, state_file=state_file, replication={'credentials': pair.credentials}).start()
        job = emu.add_job(name='cache', source=workload.endpoint('source'), destination=workload.endpoint('destination'))
        emu.model.start(job)
        wait_caught_up(emu, job, workload, 'the copy')
        emu.stop()
        client = pair.source.connect()
        for index in range(64):
            client.set('%s:filler:%d' % (workload.name, index), 'x' * 1024)
        client.close()

        again = Emulator(durations=DURATIONS, state_file=state_file, replication={'credentials': pair.credentials})
        again.load_state()
        again.start()
        try:
            job = again.job(job.job_id)
            wait_for(lambda: job.status == 'MigrationFailed', what='the task to fail')
            assert 'no longer holds offset' in job.error_message and 'repl-backlog-size' in job.error_message
        finally:
            again.model.delete(job)
            again.stop()


def test_postgresql_task_started_again_after_its_source_crashed_loses_nothing():
    """The source crashes (kill -9) while the task holds a backlog it captured but did not apply; the
    task fails. Once the source is back, StartDtsJob continues from the checkpoint (what was applied),
    not from the server's current position: every write arrives once, those held when it crashed and
    those made before the task started again (docs/faults.md: the rollback's destination crash)."""
    with LocalPair('postgresql') as pair:
        workload = Workload(pair)
        workload.prepare()
        emu = Emulator(durations=DURATIONS, replication={'credentials': pair.credentials}).start()
        job = emu.add_job(name=workload.name, source=workload.endpoint('source'), destination=workload.endpoint('destination'))
        try:
            emu.model.start(job)
            wait_caught_up(emu, job, workload, 'the copy')
            emu.model.suspend(job)
            wait_for(lambda: job.status == 'Suspending', what='the pause')
            for dummy in range(20):
                workload.write('source')
            wait_for(lambda: emu.replication_status(job.job_id)['pending'] >= 20, what='the capture of the held writes')
            server = pair.source
            os.killpg(server.process.pid, signal.SIGKILL)
            server._kill_process()  # pylint: disable=protected-access
            server._stop_watchdog()  # pylint: disable=protected-access
            wait_for(lambda: job.status == 'MigrationFailed', what='the task to fail with its source')
            server._launch()  # pylint: disable=protected-access
            for dummy in range(10):
                workload.write('source')
            emu.model.start(job)
            wait_caught_up(emu, job, workload, 'every write')
            assert workload.ledger('destination') == [('source', n) for n in range(1, 34)]
            assert workload.counter('destination') == 33
        finally:
            emu.model.delete(job)
            emu.stop()


@pytest.mark.parametrize('replication, message', [
    ({'apply_latency': -1}, 'apply_latency must be a number of seconds >= 0, got -1'),
    ({'apply_rate': 0}, 'apply_rate must be a number of transactions per second > 0, got 0'),
    ({'latency': 1}, 'unknown replication option(s): latency (known: credentials, apply_latency, apply_rate)'),
    ({'credentials': ['dts:secret']}, "credentials must map 'user@host:port' to a password"),
])
def test_bad_replication_options_are_refused_clearly(tmp_path, replication, message):
    config = tmp_path / 'config.json'
    config.write_text(json.dumps({'replication': replication}))
    env = {key: value for key, value in os.environ.items() if 'proxy' not in key.lower()}
    env['PYTHONPATH'] = os.pathsep.join([PACKAGE_PARENT, env.get('PYTHONPATH', '')])
    result = subprocess.run([sys.executable, '-m', 'dts_emulator', '--config', str(config)], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == 'dts_emulator: %s\n' % message


def test_the_snapshot_master_answers_a_loading_replica_as_redis_does():
    """The one-shot master that hands the source's snapshot to a Redis destination: a replica that
    takes long to load sends bare newlines, and any answer to them breaks its link ("Master using
    the inline protocol. Desync?")."""
    import socket
    import threading

    from dts_emulator.replication.redis import RedisReplicator, encode

    snapshot = b'REDIS0010-not-really-an-rdb'
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(10)
    done = threading.Event()
    served = threading.Thread(target=RedisReplicator._serve_snapshot, args=(listener, snapshot, done),  # pylint: disable=protected-access
                              daemon=True)
    served.start()
    replica = socket.create_connection(listener.getsockname(), timeout=5)
    try:
        def ask(*args):
            replica.sendall(encode(*args))
            return replica.recv(4096)

        assert ask('PING') == b'+PONG\r\n'
        assert ask('REPLCONF', 'listening-port', '6380') == b'+OK\r\n'
        replica.sendall(encode('PSYNC', '?', '-1'))
        expected = b'+FULLRESYNC ' + b'0' * 40 + b' 0\r\n$%d\r\n' % len(snapshot) + snapshot
        received = b''
        while len(received) < len(expected):
            received += replica.recv(4096)
        assert received == expected
        # Loading: newlines, then acknowledgements. None of them gets an answer, and a quiet
        # replica keeps its link until the destination is detached.
        replica.sendall(b'\n\n' + encode('REPLCONF', 'ACK', '0'))
        replica.settimeout(1.5)
        with pytest.raises(socket.timeout):
            replica.recv(4096)
        done.set()
        served.join(timeout=10)
        assert not served.is_alive()
    finally:
        done.set()
        replica.close()
        listener.close()
        served.join(timeout=10)
