"""The Redis keeper is a file of its own: the engine reads its source back (from a zip too, as
AnsiballZ packs module_utils), and the source runs alone, without module_utils or redis-py."""

import json
import os
import socket
import subprocess
import sys
import zipfile

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import redis as redis_engine
from ansible_collections.dtsops.switchover.plugins.module_utils.engines import redis_keeper

MODULE_UTILS = os.path.dirname(os.path.dirname(os.path.abspath(redis_keeper.__file__)))
PACKAGE = 'ansible_collections/dtsops/switchover/plugins/module_utils'


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_the_engine_runs_the_keeper_file():
    with open(redis_keeper.__file__) as handle:
        assert redis_engine.keeper_source() == handle.read()


def test_the_keeper_imports_nothing_of_the_collection():
    source = redis_engine.keeper_source()
    assert 'ansible' not in source.replace('an Ansible module', '') and 'import redis' not in source


def test_the_source_runs_alone_and_never_shows_the_password(tmp_path):
    config = dict(host='127.0.0.1', port=closed_port(), timeout=2, user=None, password='keeper-Pa55', client_name='k',
                  pause_ms=1000, renew=0.2, lease_until=0, state_file=str(tmp_path / 'keeper.json'))
    # No PYTHONPATH and cwd=/: nothing of the collection can be imported, as when the engine starts it.
    env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONPATH')
    process = subprocess.run([sys.executable, '-c', redis_engine.keeper_source(), 'nonce'], input=json.dumps(config) + '\n',
                             capture_output=True, text=True, env=env, cwd='/', timeout=30, check=False)
    assert process.returncode == 1, process.stderr
    assert process.stdout.startswith('error ') and 'refused' in process.stdout.lower()
    assert 'keeper-Pa55' not in process.stdout + process.stderr
    assert not os.path.exists(config['state_file'])


def test_the_source_is_read_back_from_a_zip(tmp_path):
    """As AnsiballZ runs a module: the collection's module_utils in a zip (with __init__.py at
    each level), imported through zipimport."""
    archive = tmp_path / 'ansiballz_payload.zip'
    with zipfile.ZipFile(str(archive), 'w') as payload:
        parts = PACKAGE.split('/')
        for depth in range(1, len(parts) + 1):
            payload.writestr('/'.join(parts[:depth]) + '/__init__.py', '')
        payload.writestr(PACKAGE + '/engines/__init__.py', '')
        for name in ('base.py', 'redis.py', 'redis_keeper.py'):
            with open(os.path.join(MODULE_UTILS, 'engines', name)) as handle:
                payload.writestr(PACKAGE + '/engines/' + name, handle.read())
    script = ('import sys; sys.path.insert(0, %r)\n'
              'from ansible_collections.dtsops.switchover.plugins.module_utils.engines import redis\n'
              'assert ".zip" in redis.redis_keeper.__file__, redis.redis_keeper.__file__\n'
              'sys.stdout.write(redis.keeper_source())\n' % str(archive))
    env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONPATH')
    process = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60,
                             check=False)
    assert process.returncode == 0, process.stderr
    with open(redis_keeper.__file__) as handle:
        assert process.stdout == handle.read()
