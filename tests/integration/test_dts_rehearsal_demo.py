"""``python -m rehearsal dts``: the DTS steps of a switchover alone (the emulator as a process,
the steps through ansible-playbook, a readable summary, and nothing left behind)."""

import glob
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))


@pytest.mark.parametrize('engine, method, reverse, actions', [
    # A reverse instance: created while the migration task runs, its writer started after the pause.
    ('sqlserver', 'reverse_api', '(SYNC, synchronizing)',
     'dts:CreateReverseDtsJob, dts:DescribeDtsJobDetail, dts:DescribeDtsJobs, dts:StartReverseWriter, dts:SuspendDtsJob'),
    # No reverse instance for PostgreSQL: an incremental migration task, configured before the pause, started after it.
    ('postgresql', 'configure', '(MIGRATION, Migrating)',
     'dts:ConfigureDtsJob, dts:CreateDtsInstance, dts:DescribeDtsJobDetail, dts:DescribeDtsJobs, dts:StartDtsJob, dts:SuspendDtsJob'),
])
def test_the_dts_steps_run_and_clean_up(engine, method, reverse, actions):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), 'dtsops-demo-*')))
    environment = dict(os.environ)
    environment['PYTHONPATH'] = os.pathsep.join([os.path.join(COLLECTION_ROOT, 'tests'), environment.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, '-m', 'rehearsal', 'dts', '--engine', engine, '--stable-for', '0'], cwd=COLLECTION_ROOT,
                          env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('dtsops.switchover demo: the DTS steps of a switchover (engine %s), DTS emulator at 127.0.0.1:' % engine)
    text = proc.stdout
    assert ' by method %s while the migration task ran, in ' % method in text
    assert '  paused           Suspending at checkpoint ' in text
    assert '%s, started from ' % reverse in text
    assert '  run again        changed=False, same reverse task: True' in text
    assert '  RAM actions      %s\n' % actions in text
    assert 'rehearsal-secret' not in text and 'rehearsal-db-secret' not in text
    # The emulator was stopped and its directory removed.
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), 'dtsops-demo-*'))) == before


def test_demo_refuses_an_unknown_engine():
    environment = dict(os.environ)
    environment['PYTHONPATH'] = os.pathsep.join([os.path.join(COLLECTION_ROOT, 'tests'), environment.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, '-m', 'rehearsal', 'demo', '--engine', 'db2'], cwd=COLLECTION_ROOT, env=environment,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "argument --engine: invalid choice: 'db2'" in proc.stderr
