"""Process mode: python -m dts_emulator --config FILE, driven over HTTP, stopped by signals, restarted from its state file."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from alibabacloud_dts20200101 import models as dts_models
from alibabacloud_tea_openapi.exceptions import ThrottlingException

import dts_emulator
from dts_emulator import EmulatorClient
from emulator_sdk import sdk

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(dts_emulator.__file__)))
SECRET = 'process-secret-5d1f'


class Endpoint(object):
    """Enough of an Emulator for emulator_sdk.sdk(): the endpoint of the process."""

    def __init__(self, port):
        self.endpoint = '127.0.0.1:%d' % port


class EmulatorProcess(object):
    def __init__(self, directory, config):
        self.config_path = os.path.join(str(directory), 'config.json')
        self.stderr_path = os.path.join(str(directory), 'stderr-%d.log' % time.monotonic_ns())
        with open(self.config_path, 'w') as stream:
            json.dump(config, stream)
        env = {key: value for key, value in os.environ.items() if 'proxy' not in key.lower()}
        env['PYTHONPATH'] = os.pathsep.join([PACKAGE_PARENT, env.get('PYTHONPATH', '')])
        self._stderr = open(self.stderr_path, 'w')
        self.process = subprocess.Popen([sys.executable, '-m', 'dts_emulator', '--config', self.config_path], env=env,
                                        stdout=subprocess.DEVNULL, stderr=self._stderr)

    def wait_for_port(self, port_file, deadline=30):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError('the emulator exited with %s:\n%s' % (self.process.returncode, self.stderr()))
            if os.path.exists(port_file):
                with open(port_file) as stream:
                    return int(stream.read())
            time.sleep(0.05)
        raise AssertionError('no port file after %ss:\n%s' % (deadline, self.stderr()))

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()
        return self.process.returncode

    def stderr(self):
        with open(self.stderr_path) as stream:
            return stream.read()


@pytest.fixture
def processes():
    started = []

    def spawn(directory, config):
        process = EmulatorProcess(directory, config)
        started.append(process)
        return process
    yield spawn
    for process in started:   # also when a test failed
        process.stop(signal.SIGKILL)


def base_config(tmp_path, **overrides):
    config = {'port': 0, 'port_file': str(tmp_path / 'port'), 'accounts': {'AKPROC': SECRET}, 'region': 'cn-hangzhou'}
    config.update(overrides)
    return config


def describe(client, job_id):
    return client.describe_dts_job_detail(dts_models.DescribeDtsJobDetailRequest(dts_job_id=job_id)).body


def test_config_control_and_sigterm(tmp_path, processes):
    config = base_config(
        tmp_path,
        sts_tokens=[{'access_key_id': 'STS.proc', 'secret': 'sts-secret', 'token': 'sts-token'}],
        jobs=[{'name': 'orders', 'job_id': 'procjob00001', 'status': 'Migrating', 'phase': 'incremental', 'delay': [[0, 20000], [600, 0]]}],
        faults=[{'action': 'DescribeDtsJobDetail', 'kind': 'throttle', 'retry_after': 2}],
        not_found_style='gateway')
    process = processes(tmp_path, config)
    port = process.wait_for_port(config['port_file'])
    client = sdk(Endpoint(port), 'AKPROC', SECRET)

    with pytest.raises(ThrottlingException) as raised:   # the fault from the config
        describe(client, 'procjob00001')
    assert raised.value.retry_after == 2
    body = describe(client, 'procjob00001')
    assert body.status == 'Migrating' and body.delay > 0
    assert describe(sdk(Endpoint(port), 'STS.proc', 'sts-secret', token='sts-token'), 'procjob00001').success is True

    control = EmulatorClient('127.0.0.1:%d' % port)
    assert control.status()['jobs'] == 1
    added = control.add_job(name='billing', status='Suspending')
    assert describe(client, added['job_id']).status == 'Suspending'
    assert [entry['action'] for entry in control.requests] == ['DescribeDtsJobDetail'] * 4
    with pytest.raises(Exception) as raised:
        describe(client, 'nosuchjob')
    assert raised.value.code == 'Forbidden.InstanceNotFound'

    assert process.stop(signal.SIGTERM) == 0
    log = process.stderr()
    assert 'dts_emulator: listening on 127.0.0.1:%d' % port in log and log.rstrip().endswith('dts_emulator: stopped')
    request_lines = [line for line in log.splitlines() if ' POST DescribeDtsJobDetail ' in line]
    assert len(request_lines) == 5
    assert 'job=procjob00001 ak=AKPROC auth=acs3 -> 400 Throttling.User fault=throttle' in request_lines[0]
    assert '-> 403 Forbidden.InstanceNotFound' in request_lines[-1]
    assert SECRET not in log and 'sts-secret' not in log and 'sts-token' not in log
    assert not os.path.exists(config['port_file'])


def test_sigint_stops_cleanly(tmp_path, processes):
    config = base_config(tmp_path)
    process = processes(tmp_path, config)
    process.wait_for_port(config['port_file'])
    assert process.stop(signal.SIGINT) == 0
    assert 'dts_emulator: stopped' in process.stderr()


def test_restart_keeps_jobs_from_the_state_file(tmp_path, processes):
    config = base_config(tmp_path, state_file=str(tmp_path / 'state.json'), time_scale=50.0,
                         jobs=[{'name': 'orders', 'job_id': 'statejob0001', 'status': 'Migrating', 'phase': 'incremental'}])
    first = processes(tmp_path, config)
    port = first.wait_for_port(config['port_file'])
    client = sdk(Endpoint(port), 'AKPROC', SECRET)
    reverse = client.create_reverse_dts_job(dts_models.CreateReverseDtsJobRequest(dts_job_id='statejob0001')).body.dts_job_id
    client.suspend_dts_job(dts_models.SuspendDtsJobRequest(dts_job_id='statejob0001'))
    paused_checkpoint = describe(client, 'statejob0001').checkpoint
    doomed = EmulatorClient('127.0.0.1:%d' % port).add_job(name='doomed', status='Migrating')['job_id']
    client.configure_dts_job(dts_models.ConfigureDtsJobRequest(
        dts_job_name='configured', job_type='MIGRATION', source_endpoint_instance_type='RDS', destination_endpoint_instance_type='RDS',
        source_endpoint_password='never-saved', structure_initialization=False, data_initialization=False, data_synchronization=True,
        db_list='{}'))
    client.delete_dts_job(dts_models.DeleteDtsJobRequest(dts_job_id=doomed))
    clock_before = EmulatorClient('127.0.0.1:%d' % port).status()['time']
    assert first.stop() == 0
    with open(config['state_file']) as stream:
        assert 'never-saved' not in stream.read()

    second = processes(tmp_path, config)
    port = second.wait_for_port(config['port_file'])
    client = sdk(Endpoint(port), 'AKPROC', SECRET)
    control = EmulatorClient('127.0.0.1:%d' % port)
    assert control.status()['time'] >= clock_before   # an accelerated clock never runs backwards
    assert sorted(job['name'] for job in control.jobs()) == ['configured', 'orders', 'orders_reverse']   # config jobs not added again
    body = describe(client, 'statejob0001')
    assert body.status == 'Suspending' and body.checkpoint == paused_checkpoint
    saved_reverse = control.job(reverse)
    assert saved_reverse['reverse_of'] == 'statejob0001' and saved_reverse['job_type'] == 'SYNC'
    assert describe(client, doomed).status == 'Finished'   # released, still visible (released_status='finished')
    client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id='statejob0001'))
    assert describe(client, 'statejob0001').status == 'Migrating'
    assert second.stop() == 0


def test_time_scale_accelerates_the_phases(tmp_path, processes):
    config = base_config(tmp_path, time_scale=1000.0, durations={'precheck': 5, 'structure': 5, 'full': 10},
                         jobs=[{'name': 'fast', 'job_id': 'fastjob00001', 'delay': [[0, 60000], [60, 0]]}])
    process = processes(tmp_path, config)
    client = sdk(Endpoint(process.wait_for_port(config['port_file'])), 'AKPROC', SECRET)
    client.start_dts_job(dts_models.StartDtsJobRequest(dts_job_id='fastjob00001'))
    # 80 emulated seconds until caught up; a wait, not a timing assertion.
    end = time.monotonic() + 60
    while describe(client, 'fastjob00001').data_synchronization_status.status != 'Catched':
        assert time.monotonic() < end, 'the accelerated task never caught up'
        time.sleep(0.02)
    assert process.stop() == 0


@pytest.mark.parametrize('content, message', [
    ('{"port": 0, "colour": "blue"}', 'unknown key(s) in'),
    ('{"port": 0,', 'is not valid JSON'),
    ('[1, 2]', 'must hold a JSON object'),
    ('{"jobs": [{"status": "Running"}]}', "cannot create a task in status 'Running'"),
    ('{"faults": [{"kind": "explode"}]}', "unknown fault kind 'explode'"),
    ('{"not_found_style": "loud"}', "not_found_style must be 'business' or 'gateway'"),
])
def test_bad_config_exits_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / 'config.json'
    path.write_text(content)
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    result = subprocess.run([sys.executable, '-m', 'dts_emulator', '--config', str(path)], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith('dts_emulator: ') and message in result.stderr
    assert 'Traceback' not in result.stderr


def test_missing_config_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    result = subprocess.run([sys.executable, '-m', 'dts_emulator', '--config', str(tmp_path / 'absent.json')], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and 'cannot read the config file' in result.stderr and 'No such file or directory' in result.stderr


def test_state_file_in_process(tmp_path, clock):
    from dts_emulator import DelaySource, Emulator, ProfileDelay

    class Custom(DelaySource):
        kind = 'custom'

        def delay_ms(self, job, elapsed):
            return 4242

    path = str(tmp_path / 'state.json')
    first = Emulator(accounts={'AK': 'SK'}, clock=clock, state_file=path)
    custom = first.add_job(name='custom', status='Migrating', delay=Custom(), reverse_delay=ProfileDelay([(0, 900)]))
    profiled = first.add_job(name='profiled', status='Suspending', delay=[(0, 1000), (10, 0)])
    assert first.job(custom.job_id).delay_ms == 4242
    clock.advance(3)

    second = Emulator(accounts={'AK': 'SK'}, clock=clock, state_file=path)
    assert second.load_state() == clock() - 3   # the emulator time of the last save
    restored = second.job(custom.job_id)
    assert restored.status == 'Migrating' and restored.delay_ms == 0   # a custom source restarts as the default profile
    assert restored.reverse_delay == {'kind': 'profile', 'points': [[0.0, 900.0]]}
    assert second.job(profiled.job_id).status == 'Suspending' and second.job(profiled.job_id).delay_ms == 1000 + 3000
    assert Emulator(state_file=str(tmp_path / 'absent.json')).load_state() is None
