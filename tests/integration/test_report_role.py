"""The role's reports in a real run of the playbook (DTS emulator, MariaDB): the summary line says
what is true of the fence, and one fleet report per run holds every unit, aborted ones too."""

import json
import os

import pytest

from harness import run_playbook
# unit is the fixture of the role tests.
from test_switchover_role import inventory, journal, unit  # noqa: F401  pylint: disable=unused-import


def _second_unit(unit, emulator, mariadb, mariadb_apps, tmp_path, fail_after):
    """A second unit in the same state directory whose run fails after ``fail_after``."""
    app, destination = mariadb_apps.make(2)
    job = emulator.add_job(name='second-%s' % app.user, status='Migrating', phase='incremental', delay=0,
                           source={'ip': '127.0.0.1', 'port': mariadb.port, 'database': app.database},
                           destination={'ip': '127.0.0.1', 'port': mariadb.port, 'database': destination.database})
    hook = tmp_path / 'fail.yml'
    hook.write_text('- name: Fail here\n  ansible.builtin.fail:\n    msg: injected failure\n')
    return dict(unit['vars'], switchover_job_id=job.job_id, switchover_app_accounts=[app.user],
                switchover_source=dict(mariadb.params, login_db=app.database),
                switchover_destination=dict(mariadb.params, login_db=destination.database),
                switchover_hooks={'after_' + fail_after: str(hook)})


@pytest.mark.parametrize('fail_after,fence', [
    ('wait_undelayed', 'no fence was taken'),
    ('verify_sessions', 'fence lifted'),
])
def test_one_fleet_report_per_run_with_every_unit_and_a_true_summary(unit, emulator, mariadb, mariadb_apps, tmp_path, fail_after, fence):
    second = _second_unit(unit, emulator, mariadb, mariadb_apps, tmp_path, fail_after)
    run = run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars'], 'unit2': second}))
    assert run.rc != 0
    assert journal(unit, 'unit1')['outcome'] == 'completed' and journal(unit, 'unit2')['outcome'] == 'aborted', \
        [(f['host'], f['task'], f['result'].get('msg')) for f in run.failed]

    completed, aborted = run.task('Write the report of this unit', 'unit1')['summary'], run.task('Write the report of this unit', 'unit2')['summary']
    assert completed.startswith('unit1: switchover completed; write-unavailable window (fence to point of no return) ')
    assert 'application-observed window (traffic stopped to traffic started on the destination)' in completed
    assert aborted.startswith('unit2: switchover aborted; %s;' % fence), aborted
    assert 'not closed' not in run.stdout and 'may still be fenced' not in run.stdout
    if fence == 'no fence was taken':
        assert 'window' not in aborted

    fleet_dir = unit['state_dir'] / 'fleet'
    files = sorted(os.listdir(str(fleet_dir)))
    assert [name.rsplit('.', 1)[1] for name in files] == ['html', 'json', 'md'], 'written once per run'
    assert run.task('Write the fleet report of this run')['summary'].startswith('Switchover of 2 units: 1 aborted, 1 completed; report ')
    fleet = json.load(open(str(fleet_dir / [n for n in files if n.endswith('.json')][0])))
    units = dict((u['unit'], u) for u in fleet['units'])
    assert sorted(units) == ['unit1', 'unit2']
    assert units['unit1']['windows']['role']['seconds'] > 0 and units['unit1']['windows']['application']['seconds'] > 0
    assert units['unit1']['tasks']['reverse'] == journal(unit, 'unit1')['data']['reverse_job_id']
    assert units['unit2']['fence'] == fence
    for name in ('unit1', 'unit2'):
        target = fleet_dir / units[name]['links']['html']
        assert target.exists() and target.name.startswith('%s-%s' % (name, units[name]['run_id']))
    page = open(str(fleet_dir / [n for n in files if n.endswith('.html')][0])).read()
    assert page.count('<a href="../reports/unit') == 2
    # The per-unit reports are where they were; the fleet report does not go among them.
    assert sorted(n.rsplit('.', 1)[1] for n in os.listdir(str(unit['state_dir'] / 'reports'))) == ['html', 'html', 'json', 'json', 'md', 'md']
