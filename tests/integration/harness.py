"""Run playbooks through the real ansible-playbook, against the collection in the build tree,
and read every task result back (see plugins/callback/results_json.py)."""

import json
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION_ROOT)))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


class PlaybookRun(object):
    def __init__(self, rc, stdout, stderr, results):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = results

    def _named(self, record, name, host):
        # Tasks of a role are reported as '<role> : <name>'.
        return (record['task'] == name or record['task'].endswith(' : ' + name)) and (host is None or record['host'] == host)

    def task(self, name, host=None):
        """The last result of the task called ``name`` (on ``host``)."""
        for record in reversed(self.results):
            if self._named(record, name, host):
                return record['result']
        raise KeyError('no result for task %r; tasks seen: %s\n--- stdout ---\n%s' % (
            name, sorted(set(r['task'] for r in self.results)), self.stdout))

    def status(self, name, host=None):
        for record in reversed(self.results):
            if self._named(record, name, host):
                return record['status']
        raise KeyError(name)

    @property
    def failed(self):
        return [r for r in self.results if r['status'] == 'failed' and not r['result'].get('_ansible_ignore_errors')]

    def __repr__(self):
        # Failed tasks first: pytest shortens long messages in the middle.
        failures = '; '.join('%s: %s' % (r['task'], r['result'].get('msg')) for r in self.failed)
        return '<PlaybookRun rc=%s failed: %s>\n--- stdout ---\n%s\n--- stderr ---\n%s' % (self.rc, failures or 'none', self.stdout, self.stderr)


def local_inventory(hosts):
    """An inventory of local hosts: {'unit1': {vars}} -> inventory dict."""
    host_vars = {}
    for name, variables in hosts.items():
        merged = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
        merged.update(variables or {})
        host_vars[name] = merged
    return {'all': {'hosts': host_vars}}


def run_playbook(playbook, inventory=None, extra_vars=None, check=False, diff=False, verbosity=0,
                 env=None, timeout=900, workdir=None, args=()):
    """Run ``playbook`` (a path, an FQCN such as dtsops.switchover.switchover, or a list of plays)
    and return a PlaybookRun. ``inventory``: a dict as from local_inventory(), or a path."""
    workdir = workdir or tempfile.mkdtemp(prefix='dtsops-play-')
    if isinstance(playbook, list):
        path = os.path.join(workdir, 'playbook.yml')
        with open(path, 'w') as stream:
            yaml.safe_dump(playbook, stream, sort_keys=False)
        playbook = path
    if inventory is None:
        inventory = local_inventory({'localhost': {}})
    if isinstance(inventory, dict):
        inventory_path = os.path.join(workdir, 'inventory.yml')
        with open(inventory_path, 'w') as stream:
            yaml.safe_dump(inventory, stream, sort_keys=False)
    else:
        inventory_path = inventory
    results_path = os.path.join(workdir, 'results.jsonl')
    open(results_path, 'w').close()

    command = [ANSIBLE_PLAYBOOK, '-i', inventory_path, playbook]
    if extra_vars:
        vars_path = os.path.join(workdir, 'extra_vars.json')
        with open(vars_path, 'w') as stream:
            json.dump(extra_vars, stream)
        command += ['-e', '@' + vars_path]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    if verbosity:
        command.append('-' + 'v' * verbosity)
    command += list(args)

    environment = dict(os.environ)
    for var in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy'):
        environment.pop(var, None)
    environment.update({
        'ANSIBLE_COLLECTIONS_PATH': BUILD_ROOT,
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'plugins', 'callback'),
        'ANSIBLE_CALLBACKS_ENABLED': 'results_json',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'ANSIBLE_LOCAL_TEMP': os.path.join(workdir, 'tmp'),
        'ANSIBLE_HOME': os.path.join(workdir, 'ansible_home'),
        'ALIBABA_CLOUD_ECS_METADATA_DISABLED': 'true',
        'DTSOPS_TEST_RESULTS': results_path,
    })
    environment.update(env or {})
    proc = subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=timeout, check=False)
    results = []
    with open(results_path) as stream:
        for line in stream:
            results.append(json.loads(line))
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)
