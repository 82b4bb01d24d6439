import datetime
import json
import re

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as j
from ansible_collections.dtsops.switchover.plugins.module_utils import report as r

# The phases the role runs today (roles/switchover/tasks/plan.yml, rollback.yml, finalize.yml).
ROLE_PHASES = ['preflight', 'wait_undelayed', 'arm_reverse', 'stop_traffic', 'fence', 'verify_sessions', 'catch_up',
               'run_full_migration', 'verify_data', 'pause_forward', 'reopen_source', 'start_reverse', 'switch_traffic',
               'release_forward', 'abort', 'rollback_preflight', 'rollback_stop_traffic', 'rollback_fence', 'rollback_verify_sessions',
               'rollback_catch_up', 'rollback_pause_reverse', 'rollback_reopen_source', 'rollback_switch_traffic',
               'finalize_release_reverse', 'finalize_release_forward', 'finalize_revoke']


def _phase(journal, name, start, end, status='done', message=''):
    j.set_phase(journal, name, 'started', now=start)
    j.set_phase(journal, name, status, message=message, now=end)


def _journal(fast=False):
    """A completed switchover; with fast, the applications move before the pause (cutover fast)."""
    journal = j.new_journal('orders', now=1000.0)
    _phase(journal, 'preflight', 1000.0, 1001.0)
    j.set_phase(journal, 'run_full_migration', 'skipped', message='the task migrates incrementally', now=1001.1)
    j.set_phase(journal, 'release_forward', 'skipped', message='finalize.yml releases the task', now=1001.2)
    _phase(journal, 'wait_undelayed', 1001.5, 1010.0)
    _phase(journal, 'arm_reverse', 1010.0, 1015.0)
    _phase(journal, 'stop_traffic', 1019.0, 1019.5)
    _phase(journal, 'fence', 1020.0, 1020.4)
    _phase(journal, 'verify_sessions', 1020.5, 1020.8)
    _phase(journal, 'catch_up', 1020.9, 1021.6)
    if fast:
        _phase(journal, 'switch_traffic', 1021.7, 1023.0)
        _phase(journal, 'pause_forward', 1023.1, 1024.0)
        _phase(journal, 'start_reverse', 1024.1, 1025.0)
        journal['point_of_no_return'] = 1021.9
    else:
        _phase(journal, 'pause_forward', 1021.7, 1022.2)
        _phase(journal, 'start_reverse', 1022.3, 1022.8)
        _phase(journal, 'switch_traffic', 1022.85, 1024.5)
        journal['point_of_no_return'] = 1022.9
    j.merge_data(journal, {
        'job_id': 'fwd1', 'reverse_job_id': 'rev1', 'catch_up_mode': 'token', 'window_start': 1020.0,
        'caught_up': {'token': 'tok-1', 'latency': 0.7, 'write_time': 1020.9, 'seen_time': 1021.6},
        'fence': {'scope': 'accounts', 'changes': [{'kind': 'account_lock', 'target': "'app'@'%'", 'before': False, 'after': True}],
                  'ended_sessions': [{'id': 7, 'user': 'app', 'client': '10.0.0.5:5000', 'command': 'UPDATE t SET a=1 | x'}]},
        'fenced_accounts': ['app'],
        'source': {'engine': 'mysql', 'login_host': 'src', 'login_password': 'S3cret-src'},
        'lag_samples': [{'time': 1001.0, 'delay_ms': 12000}, {'time': 1005.0, 'delay_ms': 3000}, {'time': 1010.0, 'delay_ms': 0}],
    })
    j.finish(journal, 'completed', 'switched', now=1026.0)
    return journal


def _aborted(fenced, lifted=True):
    """An abort before the point of no return, before or after the fence."""
    journal = j.new_journal('billing', now=2000.0)
    _phase(journal, 'preflight', 2000.0, 2001.0)
    _phase(journal, 'wait_undelayed', 2001.0, 2005.0)
    data = {'job_id': 'fwd2', 'abort_reason': 'Fail here: injected failure'}
    if fenced:
        _phase(journal, 'stop_traffic', 2005.0, 2005.5)
        _phase(journal, 'fence', 2006.0, 2006.5)
        data.update(window_start=2006.0, fence={'scope': 'accounts', 'changes': []}, traffic_stopped=True)
        done = ['traffic back on the source'] + (['source fence lifted', 'reverse task released'] if lifted else [])
        data['reverse_job_id'] = 'rev2'
        errors = [] if lifted else ['lifting the fence on the source: Lost connection to server']
        data.update(abort_done=done, abort_errors=errors)
        if lifted:
            data['window_end'] = 2009.0
    else:
        data.update(abort_done=[], abort_errors=[])
    _phase(journal, 'abort', 2007.0, 2009.5, status='failed' if fenced and not lifted else 'done')
    j.merge_data(journal, data)
    if lifted:
        j.finish(journal, 'aborted', 'Fail here: injected failure', now=2010.0)
    return journal


def test_times_are_iso_8601_with_the_zone():
    stamp = r.iso(1796332351.345)
    assert stamp == '2026-12-03T21:12:31.345Z'
    assert datetime.datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp() == pytest.approx(1796332351.345)
    page = r.render_html(r.build_report(_journal())) + r.render_markdown(r.build_report(_journal()))
    assert not re.search(r'\d\dZ\.\d', page), 'no time with milliseconds after the zone'


def test_both_windows_in_words_from_the_phases_own_times():
    report = r.build_report(_journal())
    assert report['write_unavailable'] == {'start': 1020.0, 'end': 1022.9, 'seconds': 2.9}
    role, app = report['windows']['role'], report['windows']['application']
    assert (role['label'], role['seconds']) == ('write-unavailable window (fence to point of no return)', 2.9)
    assert app['label'] == 'application-observed window (traffic stopped to traffic started on the destination)'
    assert (app['start'], app['end'], app['seconds']) == (1019.0, 1024.5, 5.5)
    # cutover fast: switch_traffic runs before the pause; the window still ends when it ended.
    fast = r.build_report(_journal(fast=True))['windows']
    assert (fast['application']['end'], fast['application']['seconds'], fast['role']['seconds']) == (1023.0, 4.0, 1.9)
    assert report['fence_state'] == {'state': 'closed', 'summary': 'fence taken at 1970-01-01T00:17:00.000Z; '
                                                                   'the applications moved to the destination at the point of no return'}
    text = r.render_markdown(report)
    assert 'Scope: accounts. Fence taken at 1970-01-01T00:17:00.000Z; the applications moved' in text
    assert '**Write-unavailable window (fence to point of no return)**: 2.9 s (1970-01-01T00:17:00.000Z to' in text
    assert '**Application-observed window (traffic stopped to traffic started on the destination)**: 5.5 s' in text


def test_skipped_phases_are_listed_apart_from_those_that_ran():
    report = r.build_report(_journal())
    assert [p['phase'] for p in report['phases']] == ['preflight', 'wait_undelayed', 'arm_reverse', 'stop_traffic', 'fence',
                                                      'verify_sessions', 'catch_up', 'pause_forward', 'start_reverse', 'switch_traffic']
    assert [p['phase'] for p in report['skipped']] == ['run_full_migration', 'release_forward']
    text = r.render_markdown(report)
    table = text[text.index('## Timeline'):text.index('### Skipped phases')]
    assert 'Run the full migration' not in table
    assert '- Run the full migration to its end: the task migrates incrementally' in text[text.index('### Skipped phases'):]
    page = r.render_html(report)
    assert page.index('<h3>Skipped phases</h3>') > page.index('Start traffic on the destination (point of no return)</td>')


def test_every_phase_has_a_title_and_an_unknown_one_a_readable_one():
    for name in ROLE_PHASES:
        assert r.phase_title(name) != name and '_' not in r.phase_title(name)
    assert r.phase_title('arm_reverse') == 'Arm the reverse task'
    assert r.phase_title('start_reverse') == 'Start the reverse task'
    assert r.phase_title('verify_data') == 'Verify the data'
    assert r.phase_kind('arm_reverse') == 'dts' and r.phase_kind('fence') == 'database'
    journal = _journal()
    _phase(journal, 'warm_the_caches', 1025.0, 1025.5)
    report = r.build_report(journal)
    assert report['phases'][-1]['title'] == 'Warm the caches' and report['phases'][-1]['kind'] == 'other'
    assert '>Warm the caches<' in r.render_html(report)


@pytest.mark.parametrize('fenced,lifted,state,words', [
    (False, True, 'none', 'no fence was taken'),
    (True, True, 'lifted', 'fence lifted'),
    (True, False, 'fenced', 'source may still be fenced: lifting the fence on the source: Lost connection to server'),
])
def test_the_abort_summary_says_what_is_true_of_the_fence(fenced, lifted, state, words):
    report = r.build_report(_aborted(fenced, lifted))
    assert report['fence_state'] == {'state': state, 'summary': words}
    line = r.summary_line(report, {'html': '/r/billing.html'})
    assert words in line and 'not closed' not in line
    if not fenced:
        assert 'window' not in line and 'may still be fenced' not in line
        assert report['windows']['role']['note'] == 'no fence was taken'
        assert report['windows']['application']['note'] == 'traffic was not stopped'
    elif lifted:
        assert report['windows']['role']['label'] == 'write-unavailable window (fence to the source reopened by the abort)'
        assert report['windows']['role']['seconds'] == 3.0
        assert report['windows']['application']['label'] == 'application-observed window (traffic stopped to traffic back on the source)'
        assert 'may still be fenced' not in line and 'reverse task rev2 (released)' in line
    else:
        assert 'reverse task rev2;' in line
        assert report['windows']['role']['seconds'] is None
    for text in (r.render_markdown(report), r.render_html(report)):
        assert 'not closed' not in text
        assert words.capitalize() in text or words in text


def test_an_interrupted_run_with_a_fence_says_the_source_may_still_be_fenced():
    journal = _aborted(True)
    del journal['data']['abort_done'], journal['data']['window_end']
    journal['outcome'] = 'running'
    assert r.fence_state(journal)[1].startswith('source may still be fenced: the run did not finish')


def test_rollback_journal_names_its_sides():
    journal = j.new_journal('orders', now=1000.0)
    _phase(journal, 'rollback_preflight', 1000.0, 1001.0)
    _phase(journal, 'rollback_stop_traffic', 1001.0, 1002.0)
    _phase(journal, 'rollback_fence', 1002.0, 1003.0)
    _phase(journal, 'rollback_switch_traffic', 1004.0, 1005.0)
    journal['point_of_no_return'] = 1004.5
    j.merge_data(journal, {'window_start': 1002.0})
    report = r.build_report(journal)
    assert report['kind'] == 'rollback'
    assert report['windows']['application']['label'] == 'application-observed window (traffic stopped to traffic started on the source)'
    assert report['windows']['application']['seconds'] == 4.0
    assert r.render_markdown(report).startswith('# Rollback of orders: running')


def test_no_secret_in_any_output():
    report = r.build_report(_journal())
    assert report['source'] == {'engine': 'mysql', 'login_host': 'src'}
    for text in (r.render_json(report), r.render_markdown(report), r.render_html(report)):
        assert 'S3cret-src' not in text


def test_markdown_tables_are_aligned_for_a_terminal_and_escape_pipes():
    text = r.render_markdown(r.build_report(_journal()))
    assert 'UPDATE t SET a=1 \\| x' in text
    tables, current = [], []
    for line in text.split('\n'):
        if line.startswith('|'):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) == 2
    for table in tables:
        assert len(set(len(line) for line in table)) == 1, table
    chart = text[text.index('```text'):text.index('```', text.index('```text') + 3)]
    assert re.search(r'^fence +\|  +#+ +\|$', chart, re.M) and re.search(r'^write-unavailable \| +\^+ +\|$', chart, re.M)
    bars = [line for line in chart.split('\n') if line.endswith('|')]
    assert len(set(len(line) for line in bars)) == 1


def _svgs(page):
    return re.findall(r'<svg.*?</svg>', page, re.S)


def _texts(svg):
    """(x, anchor, text) of every label."""
    found = []
    for attrs, text in re.findall(r'<text([^>]*)>([^<]*)</text>', svg):
        x = re.search(r'\bx="([\d.-]+)"', attrs)
        anchor = re.search(r'text-anchor="(\w+)"', attrs)
        found.append((float(x.group(1)) if x else None, anchor.group(1) if anchor else 'start', text))
    return found


def test_timeline_chart_marks_the_moments_and_tells_dts_from_database_steps():
    report = r.build_report(_journal())
    timeline, lag = _svgs(r.render_html(report))
    assert len(re.findall(r'<rect class="bar dts"', timeline)) == 4
    assert len(re.findall(r'<rect class="bar database"', timeline)) == 3
    assert 'class="role-window"' in timeline and 'class="app-window"' in timeline
    labels = [text for dummy, dummy2, text in _texts(timeline)]
    for moment in ('fence 00:17:00Z', 'catch-up proof 00:17:01Z', 'point of no return 00:17:02Z'):
        assert moment in labels
    assert 'time (UTC, 1970-01-01)' in labels and 'phase' in labels
    assert 'DTS delay (s)' in [text for dummy, dummy2, text in _texts(lag)]
    # The role window band spans exactly the fence to the point of no return on the shared axis.
    axis = r.Axis(report)
    band = re.search(r'<rect class="role-window" x="([\d.]+)" y="\d+" width="([\d.]+)"', timeline)
    assert float(band.group(1)) == pytest.approx(axis.x(1020.0), abs=0.1)
    assert float(band.group(1)) + float(band.group(2)) == pytest.approx(axis.x(1022.9), abs=0.1)


def test_no_label_is_cut_off_even_at_the_right_edge():
    # A point of no return at the very end of the run: its label must turn left, not run off.
    journal = _journal()
    journal['point_of_no_return'] = journal['updated']
    report = r.build_report(journal)
    for svg in _svgs(r.render_html(report)):
        for x, anchor, text in _texts(svg):
            if x is None:
                continue
            width = r._text_width(text)  # pylint: disable=protected-access
            left, right = (x, x + width) if anchor == 'start' else (x - width, x) if anchor == 'end' else (x - width / 2, x + width / 2)
            assert left >= 0 and right <= r.WIDTH, (text, left, right)
    assert 'point of no return 00:17:06Z' in r.render_html(report)


def test_lag_chart_runs_on_the_whole_run_axis_with_the_proof_and_the_pause():
    report = r.build_report(_journal())
    dummy, lag = _svgs(r.render_html(report))
    axis = r.Axis(report)
    path = re.search(r'<path class="lag" d="([^"]+)"', lag).group(1)
    xs = [float(x) for x in re.findall(r'[ML]([\d.]+),', path)]
    assert xs[0] == pytest.approx(axis.x(1001.0), abs=0.1) and xs[-1] == pytest.approx(axis.x(1010.0), abs=0.1)
    assert 'class="lag unsampled"' in lag and '<circle class="proof"' in lag
    paused = re.search(r'<rect class="paused" x="([\d.]+)" y="\d+" width="([\d.]+)"', lag)
    assert float(paused.group(1)) == pytest.approx(axis.x(1022.2), abs=0.1)
    assert float(paused.group(1)) + float(paused.group(2)) == pytest.approx(axis.x(1026.0), abs=0.1)
    ticks = [text for dummy, dummy2, text in _texts(lag) if re.match(r'^\d\d:\d\d:\d\dZ$', text)]
    assert ticks[0] == '00:16:40Z' and ticks[-1] == '00:17:05Z'
    assert 'the task is paused from <span class="t">1970-01-01T00:17:02.200Z</span>' in r.render_html(report)


def test_html_escapes_what_the_journal_holds():
    journal = _journal()
    journal['message'] = '<script>'
    page = r.render_html(r.build_report(journal))
    assert '<script>' not in page and '&lt;script&gt;' in page


def test_charts_without_phases_or_samples_say_so():
    report = r.build_report(j.new_journal('empty', now=1.0))
    assert r.timeline_svg(report) == '<p>No phase ran.</p>'
    assert r.lag_svg(report) == '<p>No lag samples were recorded.</p>'


def _write(tmp_path, journal):
    path = tmp_path / ('%s.json' % journal['unit'])
    j.save(str(path), journal)
    return str(path)


def test_fleet_report_has_every_unit_with_both_windows_and_links(tmp_path):
    done = _write(tmp_path, _journal())
    aborted = _write(tmp_path, _aborted(False))
    reports = tmp_path / 'reports'
    unit_reports = r.run({'journal_path': done, 'dest': str(reports), 'formats': ['json', 'markdown', 'html']})['files']
    result = r.run_fleet({'units': [{'journal_path': done, 'reports': unit_reports},
                                    {'journal_path': aborted, 'reports': {}},
                                    {'journal_path': str(tmp_path / 'gone.json'), 'unit': 'gone', 'reports': {}}],
                          'dest': str(tmp_path / 'fleet'), 'name': 'fleet-test', 'formats': ['json', 'markdown', 'html']}, now=3000.0)
    assert result['summary'] == 'Switchover of 3 units: 1 aborted, 1 completed, 1 no journal; report %s' % result['files']['html']
    fleet = json.load(open(result['files']['json']))
    assert [(u['unit'], u['outcome']) for u in fleet['units']] == [('billing', 'aborted'), ('gone', 'no journal'), ('orders', 'completed')]
    orders = fleet['units'][2]
    assert (orders['windows']['role']['seconds'], orders['windows']['application']['seconds']) == (2.9, 5.5)
    assert orders['links']['html'] == '../reports/%s' % unit_reports['html'].rsplit('/', 1)[1]
    assert (tmp_path / 'fleet' / orders['links']['html']).exists()
    assert fleet['units'][0]['fence'] == 'no fence was taken' and fleet['units'][0]['fence_state'] == 'none'
    assert fleet['units'][0]['tasks']['reverse'] is None

    text = open(result['files']['markdown']).read()
    rows = [line for line in text.split('\n') if line.startswith('|')]
    assert len(rows) == 5 and len(set(len(line) for line in rows)) == 1 and len(rows[0]) < 100
    cells = [[cell.strip() for cell in row.split('|')[1:-1]] for row in rows]
    assert cells[2] == ['billing', 'aborted', 'none', 'none', 'none', 'not taken']
    assert cells[4] == ['[orders]', 'completed', '2.9 s', '5.5 s', 'rev1', 'taken, switched']
    assert '\n[orders]: ../reports/orders-' in text and '[billing]:' not in text
    assert '- billing: Fail here: injected failure' in text
    page = open(result['files']['html']).read()
    assert '<a href="../reports/orders-' in page and 'no fence was taken' in page and '1970-01-01T00:50:00.000Z' in page


def test_fleet_report_refuses_a_name_that_is_a_path(tmp_path):
    with pytest.raises(r.ReportError, match='is not a file name'):
        r.run_fleet({'units': [{'journal_path': str(tmp_path / 'a.json')}], 'dest': str(tmp_path), 'name': '../x',
                     'formats': ['json']})


def test_fleet_report_points_at_a_unit_that_may_still_be_fenced(tmp_path):
    stuck = _write(tmp_path, _aborted(True, lifted=False))
    result = r.run_fleet({'units': [{'journal_path': stuck}], 'dest': str(tmp_path), 'name': 'f', 'formats': ['markdown', 'html']})
    text = open(result['files']['markdown']).read()
    assert '| MAY STILL HOLD |' in text
    assert '- billing: source may still be fenced: lifting the fence on the source: Lost connection to server' in text
    assert '<span class="outcome-failed">source may still be fenced' in open(result['files']['html']).read()


def test_fleet_report_lists_a_unit_whose_journal_cannot_be_read(tmp_path):
    done = _write(tmp_path, _journal())
    broken = tmp_path / 'broken.json'
    broken.write_text('{"version": 1, "unit": ')
    result = r.run_fleet({'units': [{'journal_path': done}, {'journal_path': str(broken)}], 'dest': str(tmp_path), 'name': 'f',
                          'formats': ['markdown']})
    assert [(u['unit'], u['outcome']) for u in result['fleet']['units']] == [('broken', 'unreadable journal'), ('orders', 'completed')]
    assert '- broken: cannot read the journal %s: ' % broken in open(result['files']['markdown']).read()


def test_a_phase_that_did_not_finish_ends_where_the_next_one_began():
    journal = _aborted(True)
    j.set_phase(journal, 'verify_sessions', 'started', now=2006.6)
    report = r.build_report(journal)
    phase = [p for p in report['phases'] if p['phase'] == 'verify_sessions'][0]
    assert (phase['status'], phase['until']) == ('did not finish', 2007.0)
    timeline = _svgs(r.render_html(report))[0]
    axis = r.Axis(report)
    unfinished = re.search(r'<rect class="bar database unfinished" x="([\d.]+)" y="\d+" width="([\d.]+)"', timeline)
    assert float(unfinished.group(1)) + float(unfinished.group(2)) == pytest.approx(axis.x(2007.0), abs=0.1)
    assert '>Verify no session writes (did not finish)<' in timeline


def test_a_long_run_gets_the_windows_enlarged():
    # A wait of ten minutes before a window of seconds: on the run's axis the window is a sliver.
    journal = _journal()
    journal['created'] = 400.0
    j.set_phase(journal, 'wait_undelayed', 'started', now=401.0)
    report = r.build_report(journal)
    assert r.window_span(report) == (1018.0, 1024.5)
    page = r.render_html(report)
    whole, enlarged = _svgs(page)[0], _svgs(page)[1]
    assert page.index('<figure id="window">') < page.index('<figure id="lag">')

    def fence_width(svg):
        return float(re.search(r'<rect class="bar database" x="[\d.]+" y="\d+" width="([\d.]+)"', svg).group(1))
    assert fence_width(enlarged) > 20 * fence_width(whole)
    assert 'Preflight checks' in whole and 'Preflight checks' not in enlarged
    labels = [text for dummy, dummy2, text in _texts(enlarged)]
    assert 'fence 00:17:00Z' in labels and 'point of no return 00:17:02Z' in labels
    # The short run of the other tests needs no enlargement.
    assert r.window_span(r.build_report(_journal())) is None and 'id="window"' not in r.render_html(r.build_report(_journal()))
