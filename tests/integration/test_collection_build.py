"""The collection as ansible-galaxy builds it: local state (the rehearsal's inventories with their
passwords, the venv, test output, caches, benchmark notes) stays out of the tarball."""

import os
import shutil
import subprocess
import sys
import tarfile
import uuid

from harness import COLLECTION_ROOT

ANSIBLE_GALAXY = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
# Made up at run time: a literal would be found in this very file, which ships.
PASSWORD = 'pw-%s' % uuid.uuid4().hex

# What a working checkout holds besides the collection after make demo / rehearsal / test / bench.
LOCAL_STATE = {
    '.rehearsal/inventory.yml': 'all:\n  vars:\n    login_password: %s\n' % PASSWORD,
    '.rehearsal/switchover/reports/unit.json': '{}',
    '.venv/bin/python': '',
    '.venv/.ready': '',
    'tests/output/junit/sanity.xml': '',
    '.pytest_cache/v/cache/lastfailed': '{}',
    '.ansible/collections/x': '',
    '.mypy_cache/x': '',
    'plugins/modules/__pycache__/switchover_report.cpython-311.pyc': '',
    'build/ansible_collections/x': '',
    'dtsops-switchover-0.9.0.tar.gz': '',
    'changelogs/.plugin-cache.yaml': '',
    'roles/switchover/tasks/report.yml.swp': '',
    'roles/switchover/tasks/report.yml~': '',
}
LEFT_OUT = ('.rehearsal', '.venv', 'tests/output', '.pytest_cache', '.ansible', '.mypy_cache', 'build', '.ci', 'BENCHMARKS.md',
            'Makefile', '.gitignore', '.ansible-lint', 'changelogs/.plugin-cache.yaml')


def test_the_built_collection_holds_no_local_state(tmp_path):
    source = tmp_path / 'switchover'
    shutil.copytree(COLLECTION_ROOT, str(source), ignore=shutil.ignore_patterns('.git'))
    for path, content in LOCAL_STATE.items():
        target = source / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    (source / 'BENCHMARKS.md').write_text('# local figures\n')

    out = tmp_path / 'out'
    run = subprocess.run([ANSIBLE_GALAXY, 'collection', 'build', '--output-path', str(out), str(source)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert run.returncode == 0, run.stdout
    tarballs = os.listdir(str(out))
    assert len(tarballs) == 1 and tarballs[0].startswith('dtsops-switchover-'), tarballs

    with tarfile.open(str(out / tarballs[0])) as tarball:
        names = tarball.getnames()
        for member in tarball.getmembers():
            if member.isfile():
                assert PASSWORD.encode() not in tarball.extractfile(member).read(), member.name
    leaked = sorted(name for name in names for prefix in LEFT_OUT if name == prefix or name.startswith(prefix + '/'))
    leaked += sorted(name for name in names if name.endswith(('.pyc', '.tar.gz', '.swp', '~')) or '__pycache__' in name)
    assert leaked == []
    # And what a user needs is there.
    for needed in ('MANIFEST.json', 'FILES.json', 'README.md', 'plugins/modules/switchover_report.py',
                   'plugins/modules/switchover_fleet_report.py', 'plugins/module_utils/report.py', 'roles/switchover/tasks/report.yml',
                   'playbooks/switchover.yml', 'meta/runtime.yml'):
        assert needed in names
