"""What the reports say of a rollback: "rolled back", its own window, the reverse task's final state
and what the operator must do next (a new forward task: the old one cannot be resumed)."""

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as j
from ansible_collections.dtsops.switchover.plugins.module_utils import report as r


def _phase(journal, name, start, end):
    j.set_phase(journal, name, 'started', now=start)
    j.set_phase(journal, name, 'done', now=end)


def _rollback(finished=True):
    journal = j.new_journal('orders', now=2000.0)
    for name, start in (('rollback_preflight', 2000.0), ('rollback_stop_traffic', 2001.0), ('rollback_fence', 2002.0),
                        ('rollback_verify_sessions', 2002.5), ('rollback_catch_up', 2003.0), ('rollback_pause_reverse', 2003.5),
                        ('rollback_reopen_source', 2004.5), ('rollback_switch_traffic', 2005.0)):
        _phase(journal, name, start, start + 0.4)
    journal['point_of_no_return'] = 2005.1
    j.merge_data(journal, {'job_id': 'fwd1', 'reverse_job_id': 'rev1', 'reverse_method': 'reverse_api', 'reverse_status': 'Suspending',
                           'window_start': 2002.0})
    if finished:
        j.finish(journal, 'completed', 'back on the source', now=2006.0)
    return journal


def test_a_completed_rollback_says_rolled_back_with_its_window_and_what_next():
    report = r.build_report(_rollback())
    assert report['result'] == 'rolled back'
    assert report['tasks']['reverse_status'] == 'Suspending'
    assert report['write_unavailable']['seconds'] == 3.1
    line = r.summary_line(report)
    assert line.startswith('orders: rolled back; ')
    assert 'completed' not in line
    assert 'write-unavailable window (fence to point of no return) 3.1 s' in line
    assert 'reverse task rev1 Suspending' in line
    assert 'create a new migration task (the forward task cannot be resumed)' in line
    # The report names both tasks and what DTS allows.
    assert 'the forward task fwd1 stays paused' in report['next']
    assert 'create a new migration task from the source to the destination' in report['next']
    assert 'release the old tasks fwd1 and rev1' in report['next']
    assert 'Do not run finalize.yml' in report['next']
    for text in (r.render_markdown(report), r.render_html(report)):
        assert 'completed (rolled back)' in text
        assert 'create a new migration task from the source to the destination' in text


def test_an_unfinished_rollback_gives_no_next_step_and_is_not_rolled_back():
    report = r.build_report(_rollback(finished=False))
    assert report['result'] == 'rollback running'
    assert report['next'] == ''
    assert r.summary_line(report).startswith('orders: rollback running; ')
    assert 'Next' not in r.render_markdown(report)


def test_a_switchover_keeps_its_wording():
    journal = j.new_journal('orders', now=1000.0)
    _phase(journal, 'preflight', 1000.0, 1001.0)
    j.finish(journal, 'completed', 'switched', now=1002.0)
    report = r.build_report(journal)
    assert report['result'] == 'switched over' and report['next'] == ''
    assert r.summary_line(report).startswith('orders: switchover completed; ')
