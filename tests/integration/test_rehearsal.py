"""``make demo`` for real (python -m rehearsal demo): throwaway servers, the DTS emulator
replicating between them, the application writing, ansible-playbook dtsops.switchover.switchover
with the operator's inventory, then every write checked. One run per engine and catch-up mode;
a run fails if a single acknowledged write is missing or duplicated. Also: Ctrl-C tears
everything down, and the up / verify / down form of ``make rehearsal``."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
# What the server says when the fence refuses the stray writer.
REFUSALS = {'mysql': 'account is locked', 'postgresql': 'is not permitted to log in', 'redis': 'no permissions to run'}
# The way back: a reverse instance (CreateReverseDtsJob) for MySQL, a configured incremental migration task for the others.
REVERSE = {'mysql': ('reverse_api', 'synchronizing'), 'postgresql': ('configure', 'Migrating'), 'redis': ('configure', 'Migrating')}


def environment():
    env = {key: value for key, value in os.environ.items() if 'proxy' not in key.lower()}
    env['PYTHONPATH'] = os.pathsep.join([BUILD_ROOT, os.path.join(COLLECTION_ROOT, 'tests')])
    return env


def rehearsal(*arguments, timeout=300, **kwargs):
    return subprocess.run([sys.executable, '-m', 'rehearsal'] + list(arguments), cwd=COLLECTION_ROOT, env=environment(),
                          capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def closed(port):
    with socket.socket() as sock:
        return sock.connect_ex(('127.0.0.1', port)) != 0


@pytest.mark.slow
@pytest.mark.parametrize('catch_up', ['token', 'stable_window'])
@pytest.mark.parametrize('engine', ['mysql', 'postgresql', 'redis'])
def test_switchover_keeps_every_acknowledged_write(engine, catch_up, tmp_path):
    result_path = tmp_path / 'result.json'
    # A short copy and no apply rate limit: the catch-up shape is for the demo, not for the proof.
    proc = rehearsal('demo', '--engine', engine, '--catch-up', catch_up, '--stable-window', '1', '--copy-seconds', '1',
                     '--apply-rate', '0', '--poll-interval', '0.2', '--quiet', '--json', str(result_path))
    assert result_path.exists(), proc.stdout + proc.stderr
    result = json.loads(result_path.read_text())
    assert proc.returncode == 0 and result['ok'], '%s\n%s\nproblems: %s' % (proc.stdout, proc.stderr, result['problems'])
    writes = result['writes']
    assert writes['lost'] == 0 and writes['duplicated'] == 0
    assert writes['acknowledged']['source'] > 100
    # The role moved the application: it wrote on the destination, and the reverse task brought it all back.
    assert writes['acknowledged']['destination'] >= 40
    assert writes['reverse_delivered'] == writes['acknowledged']['destination']
    # The stray writer met the fence: refused by the server, with the server's own words.
    assert writes['refused'] > 0
    assert all(REFUSALS[engine] in message for message in result['refusals']), result['refusals']
    assert result['outcome'] == 'completed' and result['catch_up'] == catch_up
    assert 0 < result['write_unavailable_seconds'] < 60
    assert result['lag']['samples'] >= 1 and result['lag']['curve_ms']
    assert result['tasks']['forward']['status'] == 'Suspending'
    method, status = REVERSE[engine]
    assert result['tasks']['reverse']['status'] == status
    # Armed before the fence, as the vendor's order allows.
    assert result['reverse']['method'] == method and result['reverse']['from_fence_seconds'] < 0
    assert 'before the fence, method %s' % method in proc.stdout
    # The application saw its writes stop no earlier than the fence and start again after the point of no return.
    assert result['application_gap_seconds'] >= result['write_unavailable_seconds'] > 0
    # A readable summary, without secrets; nothing left behind.
    assert 'OK: every acknowledged write arrived exactly once' in proc.stdout
    assert 'lost 0, duplicated 0' in proc.stdout
    assert 'rehearsal-secret' not in proc.stdout + proc.stderr
    assert not os.path.exists(result['state_dir'])
    assert len(result['server_directories']) == 2 and not any(os.path.exists(path) for path in result['server_directories'])


@pytest.mark.slow
def test_realistic_profile_gives_the_windows_at_real_scale(tmp_path):
    result_path = tmp_path / 'result.json'
    # The realistic profile at 2 % of its durations: a 90 s precheck takes 1.8 s.
    proc = rehearsal('demo', '--engine', 'mysql', '--dts-profile', 'realistic', '--time-scale', '0.02', '--copy-seconds', '1',
                     '--apply-rate', '0', '--poll-interval', '0.2', '--quiet', '--json', str(result_path))
    assert result_path.exists(), proc.stdout + proc.stderr
    result = json.loads(result_path.read_text())
    assert proc.returncode == 0 and result['ok'], '%s\n%s\nproblems: %s' % (proc.stdout, proc.stderr, result['problems'])
    assert (result['dts_profile'], result['time_scale']) == ('realistic', 0.02)
    real = result['real_scale']
    # Inside the window: at least the pause (5 s) and the writer start (15 s), at 2 %.
    assert real['dts_in_window_seconds'] >= 0.39
    assert real['write_unavailable_seconds'] == pytest.approx(result['write_unavailable_seconds'] + real['dts_in_window_seconds'] * 49, abs=0.01)
    assert real['application_gap_seconds'] >= real['write_unavailable_seconds']
    assert 'DTS profile realistic at 0.02x its durations' in proc.stdout
    assert re.search(r'write-unavailable [0-9.]+ s \(fence -> point of no return.*\n\s+at real scale [0-9.]+ s: DTS profile realistic ran at '
                     r'0.02x its durations', proc.stdout), proc.stdout


def interrupted_demo(signum):
    """Start a demo, send ``signum`` to its process group once the playbook runs; (exit status,
    output, ports it used, its state directory)."""
    proc = subprocess.Popen([sys.executable, '-m', 'rehearsal', 'demo', '--engine', 'redis', '--copy-seconds', '1'], cwd=COLLECTION_ROOT,
                            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output, ports, state_dirs = [], [], []
    try:
        for line in proc.stdout:
            output.append(line)
            ports += [int(port) for port in re.findall(r'127\.0\.0\.1:(\d+)', line)]
            state_dirs += re.findall(r'^Rehearsal files in (\S+) \(removed at the end\)', line)
            if line.startswith('TASK ['):
                break       # the playbook runs
        os.killpg(proc.pid, signum)
        output.append(proc.stdout.read())
        rc = proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = ''.join(output)
    assert len(ports) >= 3 and len(state_dirs) == 1, text     # source, destination, emulator
    return rc, text, ports, state_dirs[0]


def test_ctrl_c_tears_everything_down():
    # What a terminal does on Ctrl-C: SIGINT to the whole foreground group.
    rc, text, ports, state_dir = interrupted_demo(signal.SIGINT)
    assert rc == 130, text
    assert 'interrupted' in text and 'tearing everything down' in text
    assert all(closed(port) for port in ports)
    assert not os.path.exists(state_dir)


def test_a_killed_demo_leaves_nothing_behind():
    # kill -9 (a CI timeout): no cleanup code runs; the watchdogs stop the servers and remove the files.
    rc, text, ports, state_dir = interrupted_demo(signal.SIGKILL)
    assert rc == -signal.SIGKILL, text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (os.path.exists(state_dir) or not all(closed(port) for port in ports)):
        time.sleep(0.1)
    assert all(closed(port) for port in ports)
    assert not os.path.exists(state_dir)


def test_up_verify_down(tmp_path):
    state_dir = tmp_path / 'rehearsal'
    up = rehearsal('up', '--engine', 'redis', '--state-dir', str(state_dir), '--copy-seconds', '0.5', timeout=180)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert 'inventory    %s' % (state_dir / 'inventory.yml') in up.stdout
        assert 'tear down' in up.stdout and '-m rehearsal down --state-dir %s' % state_dir in up.stdout
        # The inventory an operator writes from the README.
        inventory = yaml.safe_load((state_dir / 'inventory.yml').read_text())
        units = inventory['all']['children']['dts_units']
        assert units['vars'] == {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}
        unit = units['hosts']['shop']
        assert unit['switchover_fence_scope'] == 'accounts' and unit['switchover_app_accounts'] == ['shop_app']
        assert unit['switchover_token_create'] is True and unit['switchover_traffic']['method'] == 'tasks'
        assert inventory['all']['children']['rehearsal_apps']['hosts'] == {'loadgen': None}
        # Nobody switched over: the check says so, and that no write was lost.
        again = rehearsal('up', '--engine', 'redis', '--state-dir', str(state_dir))
        assert again.returncode == 1 and 'already runs' in again.stderr
        time.sleep(0.5)
        checked = rehearsal('verify', '--state-dir', str(state_dir), '--json', str(tmp_path / 'result.json'))
        result = json.loads((tmp_path / 'result.json').read_text())
        assert checked.returncode == 1
        assert result['problems'] and all('switchover' in problem or 'report' in problem for problem in result['problems'])
        assert result['writes']['lost'] == 0 and result['writes']['duplicated'] == 0 and result['writes']['acknowledged']['source'] > 0
        # The writers stay stopped: a second check finds the same writes.
        second = rehearsal('verify', '--state-dir', str(state_dir), '--json', str(tmp_path / 'second.json'))
        assert second.returncode == 1
        assert json.loads((tmp_path / 'second.json').read_text())['writes'] == result['writes']
        environment_file = json.loads((state_dir / 'environment.json').read_text())
        ports = [environment_file['kit'][side]['login_port'] for side in ('source', 'destination')]
    finally:
        down = rehearsal('down', '--state-dir', str(state_dir))
    assert down.returncode == 0 and 'stopped' in down.stdout
    assert all(closed(port) for port in ports)
    assert sorted(os.listdir(str(state_dir))) in ([], ['switchover'])
    assert rehearsal('down', '--state-dir', str(state_dir)).stdout.startswith('No rehearsal runs in')
