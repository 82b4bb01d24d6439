"""The rollback and what comes after it, through ansible-playbook on real MariaDB and the DTS
emulator: the summary and the artifacts say "rolled back" with the reverse task's final state and
what to do next; finalize is refused after a rollback and while one is unfinished."""

import json
import os

import ansible_runner

from harness import BUILD_ROOT, run_playbook
# The unit of the switchover tests: the rollback starts from its completed switchover.
from test_switchover_role import can_write, inventory, journal, traffic, unit  # pylint: disable=unused-import


def _finalize_refused(unit, emulator, reverse_id, words):
    run = run_playbook('dtsops.switchover.finalize', inventory({'unit1': unit['vars']}))
    assert run.rc != 0, run
    assert words in run.task('Refuse to finalize a switchover that was rolled back')['msg'], run
    assert 'Traceback' not in run.stdout + run.stderr
    # Nothing was done: both tasks stay, the migration account keeps its writes, no finalize journal.
    assert not emulator.job(reverse_id).released and not emulator.job(unit['job'].job_id).released
    assert can_write(unit['migration'])
    assert not os.path.exists(os.path.join(str(unit['state_dir']), 'unit1.finalize.json'))
    return run


def test_a_rollback_says_rolled_back_and_finalize_is_refused_after_it(unit, emulator, tmp_path):
    assert run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']})).rc == 0
    reverse_id = journal(unit)['data']['reverse_job_id']
    # Through ansible-runner, as AWX runs it: set_stats becomes the job's artifacts.
    private = tmp_path / 'runner'
    (private / 'inventory').mkdir(parents=True)
    (private / 'inventory' / 'hosts.json').write_text(json.dumps(inventory({'unit1': unit['vars']})))
    result = ansible_runner.run(private_data_dir=str(private), playbook='dtsops.switchover.rollback', quiet=True,
                                envvars={'ANSIBLE_COLLECTIONS_PATH': BUILD_ROOT})
    output = result.stdout.read()
    assert result.rc == 0, output
    assert journal(unit, kind='.rollback')['outcome'] == 'completed'
    assert emulator.job(reverse_id).status == 'Suspending'
    assert can_write(unit['app']), 'the application account writes to the source again'

    stats = [event for event in result.events if event['event'] == 'playbook_on_stats'][-1]
    artifacts = stats['event_data']['artifact_data']['switchover']['unit1']
    assert artifacts['outcome'] == 'completed' and artifacts['result'] == 'rolled back'
    assert artifacts['reverse_job_id'] == reverse_id and artifacts['reverse_status'] == 'Suspending'
    assert 'create a new migration task from the source to the destination' in artifacts['next']
    assert unit['job'].job_id in artifacts['next']
    assert float(artifacts['write_unavailable_seconds']) > 0
    assert 'unit1: rolled back; ' in output
    assert 'reverse task %s Suspending' % reverse_id in output
    assert unit['vars']['switchover_dts']['access_key_secret'] not in output

    run = _finalize_refused(unit, emulator, reverse_id, 'was rolled back: the applications run on the source')
    assert 'cannot be resumed' in run.task('Refuse to finalize a switchover that was rolled back')['msg']


def test_finalize_is_refused_while_a_rollback_is_unfinished(unit, emulator, tmp_path):
    assert run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']})).rc == 0
    reverse_id = journal(unit)['data']['reverse_job_id']
    # A failure right after the rollback's point of no return leaves it unfinished.
    failing = tmp_path / 'fail.yml'
    failing.write_text('- name: Fail after the point of no return\n  ansible.builtin.fail:\n    msg: injected by the test\n')
    broken = dict(unit['vars'], switchover_hooks={'after_rollback_switch_traffic': str(failing)})
    run = run_playbook('dtsops.switchover.rollback', inventory({'unit1': broken}))
    assert run.rc != 0 and 'failed after its point of no return' in run.task('Stop after the point of no return')['msg'], run
    assert journal(unit, kind='.rollback')['outcome'] == 'running'

    _finalize_refused(unit, emulator, reverse_id, 'has not finished')

    # The rollback run again completes the remaining phases; finalize stays refused.
    again = run_playbook('dtsops.switchover.rollback', inventory({'unit1': unit['vars']}))
    assert again.rc == 0, again
    assert journal(unit, kind='.rollback')['outcome'] == 'completed'
    assert traffic(unit)[-1] == 'start source %s' % unit['app'].database
    _finalize_refused(unit, emulator, reverse_id, 'was rolled back')


def test_a_rollback_that_aborts_keeps_the_switchover_and_finalize_may_follow(unit, emulator, tmp_path):
    assert run_playbook('dtsops.switchover.switchover', inventory({'unit1': unit['vars']})).rc == 0
    reverse_id = journal(unit)['data']['reverse_job_id']
    # A failure before the rollback's point of no return, after its fence.
    failing = tmp_path / 'fail.yml'
    failing.write_text('- name: Fail before the catch-up\n  ansible.builtin.fail:\n    msg: injected by the test\n')
    broken = dict(unit['vars'], switchover_hooks={'before_rollback_catch_up': str(failing)})
    run = run_playbook('dtsops.switchover.rollback', inventory({'unit1': broken}))
    assert run.rc != 0, run
    assert 'aborted before its point of no return' in run.task('Fail with the reason')['msg'], run
    record = journal(unit, kind='.rollback')
    assert record['outcome'] == 'aborted'
    assert record['data']['abort_done'] == ['destination fence lifted', 'traffic back on the destination']
    # The summary says what is true: the fence was lifted (not "may still be fenced").
    line = run.task('Write the report of this unit')['summary']
    assert line.startswith('unit1: rollback aborted; fence lifted; '), line
    assert traffic(unit)[-1] == 'start destination %s' % unit['destination_app'].database
    assert emulator.job(reverse_id).status.lower() == 'synchronizing'
    # The switchover stands: finalize may run.
    final = run_playbook('dtsops.switchover.finalize', inventory({'unit1': unit['vars']}))
    assert final.rc == 0, final
    assert emulator.job(reverse_id).released and emulator.job(unit['job'].job_id).released
