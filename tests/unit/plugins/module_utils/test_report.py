from ansible_collections.dtsops.switchover.plugins.module_utils import journal as j
from ansible_collections.dtsops.switchover.plugins.module_utils import report as r


def _journal():
    journal = j.new_journal('orders', now=1000.0)
    j.set_phase(journal, 'wait_undelayed', 'started', now=1000.0)
    j.set_phase(journal, 'wait_undelayed', 'done', now=1010.0)
    j.set_phase(journal, 'fence', 'started', now=1020.0)
    j.set_phase(journal, 'fence', 'done', now=1020.4)
    journal['point_of_no_return'] = 1022.9
    j.merge_data(journal, {
        'job_id': 'fwd1', 'reverse_job_id': 'rev1', 'catch_up_mode': 'token',
        'caught_up': {'token': 'tok-1', 'latency': 0.7},
        'fence': {'scope': 'accounts', 'changes': [{'kind': 'account_lock', 'target': "'app'@'%'", 'before': False, 'after': True}],
                  'ended_sessions': [{'id': 7, 'user': 'app', 'client': '10.0.0.5:5000', 'command': 'UPDATE t SET a=1 | x'}]},
        'fenced_accounts': ['app'],
        'lag_samples': [{'time': 1000.0, 'delay_ms': 12000}, {'time': 1005.0, 'delay_ms': 3000}, {'time': 1010.0, 'delay_ms': 0}],
    })
    j.finish(journal, 'completed', 'switched', now=1030.0)
    return journal


def test_window_is_fence_to_point_of_no_return():
    report = r.build_report(_journal())
    assert report['write_unavailable'] == {'start': 1020.0, 'end': 1022.9, 'seconds': 2.9}
    assert [p['phase'] for p in report['phases']] == ['wait_undelayed', 'fence']
    assert report['tasks'] == {'forward': 'fwd1', 'reverse': 'rev1', 'forward_released': False}


def test_window_after_abort_ends_when_source_reopened():
    journal = _journal()
    journal['point_of_no_return'] = None
    journal['data']['window_end'] = 1025.0
    assert r.write_unavailable_window(journal) == (1020.0, 1025.0, 5.0)


def test_markdown_has_summary_timeline_and_escaped_sessions():
    text = r.render_markdown(r.build_report(_journal()))
    assert '# Switchover of orders: completed' in text
    assert '| Write-unavailable window | 2.9 s |' in text
    assert 'Token `tok-1`' in text
    assert "account_lock `'app'@'%'`: False -> True" in text
    assert 'UPDATE t SET a=1 \\| x' in text
    assert 'delay from 12.0 s down to 0.0 s' in text


def test_html_has_inline_chart_with_markers_and_escapes():
    journal = _journal()
    journal['message'] = '<script>'
    page = r.render_html(r.build_report(journal))
    assert page.count('<svg') == 1 and 'point of no return' in page
    assert '<script>' not in page and '&lt;script&gt;' in page


def test_chart_without_samples_says_so():
    assert 'No lag samples' in r.lag_svg([])
