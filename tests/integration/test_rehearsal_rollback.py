"""``make demo ROLLBACK=1`` for real (python -m rehearsal demo --rollback): the switchover, writes on
the destination, the rollback through the reverse task (a configured migration task for Redis, the
fastest of the rehearsal's engines; the fault matrix rolls MariaDB's reverse instance back), writes
on the source again, and one verification of every write of the three periods."""

import json

import pytest

from test_rehearsal import rehearsal


@pytest.mark.slow
def test_switchover_then_rollback_keeps_every_acknowledged_write_where_it_belongs(tmp_path):
    result_path = tmp_path / 'result.json'
    proc = rehearsal('demo', '--engine', 'redis', '--rollback', '--copy-seconds', '1', '--apply-rate', '0', '--poll-interval', '0.2',
                     '--quiet', '--json', str(result_path), timeout=600)
    assert result_path.exists(), proc.stdout + proc.stderr
    result = json.loads(result_path.read_text())
    assert proc.returncode == 0 and result['ok'], '%s\n%s\nproblems: %s' % (proc.stdout, proc.stderr, result['problems'])
    assert result['rolled_back']
    writes = result['writes']
    assert writes['lost'] == 0 and writes['duplicated'] == 0
    # Each period had writes: on the destination (all back on the source), then on the source again.
    assert writes['acknowledged']['destination'] >= 40 and writes['reverse_delivered'] == writes['acknowledged']['destination']
    assert writes['acknowledged']['source_after_rollback'] >= 40
    back = result['rollback']
    assert back['outcome'] == 'completed' and back['playbook_rc'] == 0
    assert 0 < back['write_unavailable_seconds'] <= back['application_gap_seconds']
    assert 'create a new migration task' in back['next']
    # Both tasks paused: the forward one since the switch, the reverse one by the rollback.
    assert result['tasks']['forward']['status'] == 'Suspending' and result['tasks']['reverse']['status'] == 'Suspending'
    assert 'rollback          completed' in proc.stdout and 'way back          write-unavailable' in proc.stdout
