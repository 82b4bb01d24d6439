"""What the rehearsal proves, from the load generator's journal, both databases and the role's
report: every acknowledged write on the source is on the destination exactly once; every refused
write was refused by the server and is nowhere; writes on the destination after the switch reach
the source through the reverse task; the report has the write-unavailable window and the lag.

After a rollback (the unit's rollback journal reached its point of no return) the story has three
periods, told apart by the journals' times: writes on the source before the switch belong on both
sides; writes on the destination belong on both sides (back through the reverse task); writes on the
source after the rollback belong on the source only, since nothing carries them to the abandoned
destination (the forward task stays paused)."""

import collections
import glob
import json
import os
import time

from dts_emulator.profiles import overlap, unscaled

from .kits import ACK, FAILED, REFUSED, UNKNOWN
from .load import CONTROLLED, read_journal

LISTED = 5  # examples named per problem


def _journal_kind(path):
    for kind in ('rollback', 'finalize'):
        if path.endswith('.%s.json' % kind):
            return kind
    return 'switchover'


def _report(state_dir, kind='switchover'):
    """The role's JSON report and journal of the unit's newest run of ``kind`` (switchover,
    rollback), or (None, None)."""
    reports = []
    for path in sorted(glob.glob(os.path.join(state_dir, 'reports', '*.json')), key=os.path.getmtime):
        with open(path) as stream:
            document = json.load(stream)
        if document.get('kind', 'switchover') == kind:
            reports.append(document)
    journals = [path for path in glob.glob(os.path.join(state_dir, '*.json')) if os.path.isfile(path) and _journal_kind(path) == kind]
    journal = None
    if journals:
        with open(max(journals, key=os.path.getmtime)) as stream:
            journal = json.load(stream)
    return (reports[-1] if reports else None), journal


def rolled_back(state_dir):
    """The rollback journal when the unit rolled back (its point of no return passed), else None."""
    dummy, journal = _report(state_dir, 'rollback')
    return journal if journal and journal.get('point_of_no_return') else None


def _curve(samples, points=10):
    delays = [sample.get('delay_ms') for sample in samples if sample.get('delay_ms') is not None]
    if len(delays) > points:
        step = (len(delays) - 1) / float(points - 1)
        delays = [delays[int(round(index * step))] for index in range(points)]
    return delays


def _key(entry):
    return (entry['writer'], entry['n'], entry['side'])


def application_gap(acked):
    """(last acknowledged write on the source before the first on the destination, that first one): the
    write gap the application saw, or (None, None) when it never wrote on the destination. The stray
    writer is left out: it is not stopped with the applications, and writes on the source until the
    fence lands, after the window has opened."""
    mine = [entry for entry in acked if entry['writer'] in CONTROLLED]
    firsts = [entry['t'] for entry in mine if entry['side'] == 'destination']
    if not firsts:
        return None, None
    first = min(firsts)
    before = [entry['t'] for entry in mine if entry['side'] == 'source' and entry['t'] <= first]
    return (max(before) if before else None), first


def application_gap_back(acked):
    """The way back's gap: (last acknowledged write of an application writer on the destination, its
    first on the source after it), or (None, None). The stray writer is left out: it writes on the
    source as soon as the rollback lifts the source's fence, before the applications come back."""
    mine = [entry for entry in acked if entry['writer'] in CONTROLLED]
    lasts = [entry['t'] for entry in mine if entry['side'] == 'destination']
    if not lasts:
        return None, None
    last = max(lasts)
    after = [entry['t'] for entry in mine if entry['side'] == 'source' and entry['t'] >= last]
    return last, (min(after) if after else None)


def at_real_scale(span, dts_waits, time_scale):
    """A (start, end) span measured under a latency scale as it would be unscaled: the emulated DTS time
    inside it (prechecks, pauses, starts, API answers, from the emulator) counts 1/scale times; the rest
    (databases, Ansible, the role) is real time already. Returns (seconds, emulated seconds inside), or
    (None, None)."""
    start, end = span
    if start is None or end is None or dts_waits is None:
        return None, None
    inside = overlap([(wait['start'], wait['end']) for wait in dts_waits], float(start), float(end))
    return unscaled(float(end) - float(start), inside, time_scale), inside


def _reverse_armed(journal, fence):
    """How the role made the reverse task and when it armed it, in seconds from the fence (negative:
    before it), from the journal."""
    if not journal:
        return {}
    armed = {'method': (journal.get('data') or {}).get('reverse_method')}
    for name, entry in (journal.get('phases') or {}).items():
        if (name == 'arm_reverse' or name.endswith('_arm_reverse')) and fence is not None and (entry or {}).get('started'):
            armed['from_fence_seconds'] = round(float(entry['started']) - float(fence), 3)
            if entry.get('finished'):
                armed['seconds'] = round(float(entry['finished']) - float(entry['started']), 3)
    return armed


def verify(kit, journal_path, state_dir, catch_up=None, timeout=60, playbook_rc=None, switchover_seconds=None, task_status=None,
           dts_waits=None, time_scale=1.0, dts_profile='fast', rollback_rc=None, rollback_seconds=None):
    """A JSON-safe result: ``ok``, ``problems`` (sentences), and the figures. ``task_status(job_id)``
    gives (status, delay_ms) of a DTS task, for the summary. ``dts_waits``: the emulator's
    (Emulator.dts_waits()), to give the windows at real scale when its ``time_scale`` is not 1.
    ``rollback_rc``/``rollback_seconds``: of the rollback playbook, when the caller ran one."""
    entries = read_journal(journal_path)
    back = rolled_back(state_dir)
    forward_journal = _report(state_dir)[1] or {}
    periods = _periods(entries, forward_journal, back)
    by_outcome = collections.defaultdict(list)
    for entry in entries:
        by_outcome[entry['outcome']].append(entry)
    acked = by_outcome[ACK]
    acked_destination = [entry for entry in acked if entry['side'] == 'destination']

    # Replication needs a moment for the last writes: the reverse task for those on the destination,
    # the forward task for those on the source when it still runs (no switchover yet).
    deadline = time.monotonic() + timeout
    while True:
        source_rows, destination_rows = kit.rows('source'), kit.rows('destination')
        if all(source_rows[_key(entry)] and (destination_rows[_key(entry)] or periods[id(entry)] == 'after')
               for entry in acked) or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    problems = []

    def problem(what, keys):
        if keys:
            problems.append('%d %s, e.g. %s' % (len(keys), what, ', '.join('%s#%d(%s)' % key for key in list(keys)[:LISTED])))

    lost = [_key(e) for e in acked if e['side'] == 'source' and periods[id(e)] == 'before' and not destination_rows[_key(e)]]
    lost += [_key(e) for e in acked if e['side'] == 'source' and periods[id(e)] == 'before' and not source_rows[_key(e)]]
    lost_after = [_key(e) for e in acked if e['side'] == 'source' and periods[id(e)] != 'before' and not source_rows[_key(e)]]
    lost_back = [_key(e) for e in acked_destination if not source_rows[_key(e)] or not destination_rows[_key(e)]]
    duplicated = sorted(key for rows in (source_rows, destination_rows) for key, count in rows.items() if count > 1)
    stored_after_refusal = [_key(e) for e in by_outcome[REFUSED] + by_outcome[FAILED]
                            if source_rows[_key(e)] or destination_rows[_key(e)]]
    unknown_on_one_side = [_key(e) for e in by_outcome[UNKNOWN] if periods[id(e)] == 'before'
                           and bool(source_rows[_key(e)]) != bool(destination_rows[_key(e)])]
    # After the rollback nothing goes to the destination: the forward task stays paused.
    carried = [_key(e) for e in entries if e['side'] == 'source' and periods[id(e)] == 'after' and destination_rows[_key(e)]]
    while_fenced = [_key(e) for e in acked if periods[id(e)] == 'fenced']
    attempted = set(_key(e) for e in entries)
    phantoms = sorted(key for rows in (source_rows, destination_rows) for key in rows if key not in attempted)
    problem('acknowledged writes on the source missing on the destination (lost)', lost)
    problem('acknowledged writes on the source after the rollback missing there (lost)', lost_after)
    problem('acknowledged writes on the destination that did not reach the source through the reverse task', lost_back)
    problem('writes stored more than once (duplicated)', duplicated)
    problem('writes reported as refused that were stored anyway', stored_after_refusal)
    problem('writes of unknown outcome stored on one side only', unknown_on_one_side)
    problem('stored writes the application never made', phantoms)
    problem('writes made on the source after the rollback found on the abandoned destination', carried)
    problem('writes acknowledged on the source while the applications ran on the destination', while_fenced)
    last_source, last_destination = kit.last('source'), kit.last('destination')
    if back is None and last_source != last_destination:
        problems.append('the writers\' last numbers differ: source %s, destination %s' % (last_source, last_destination))
    if back is not None:
        # The sides part ways at the rollback: each side's last numbers are those of its newest row.
        for side, last, rows in (('source', last_source, source_rows), ('destination', last_destination, destination_rows)):
            newest = {}
            for writer, n, dummy in rows:
                newest[writer] = max(n, newest.get(writer, n))
            if last != newest:
                problems.append('the writers\' last numbers on the %s are %s, its newest writes %s (applied out of order)'
                                % (side, last, newest))

    report, journal = _report(state_dir)
    window = lag = None
    window_span = (None, None)
    outcome = journal.get('outcome') if journal else None
    if switchover_seconds is None and report and report.get('started') and report.get('finished'):
        switchover_seconds = round(float(report['finished']) - float(report['started']), 1)
    if playbook_rc not in (None, 0):
        problems.append('ansible-playbook exited with %s (see switchover.log)' % playbook_rc)
    if report is None:
        problems.append('the role wrote no report in %s' % os.path.join(state_dir, 'reports'))
    else:
        window = report['write_unavailable']['seconds']
        window_span = (report['write_unavailable'].get('start'), report['write_unavailable'].get('end'))
        samples = report.get('lag_samples') or []
        delays = [sample['delay_ms'] for sample in samples if sample.get('delay_ms') is not None]
        lag = {'samples': len(samples), 'curve_ms': _curve(samples), 'max_ms': max(delays) if delays else None}
        if window is None:
            problems.append('the report has no write-unavailable window')
        if not delays:
            problems.append('the report has no lag samples')
    if outcome != 'completed':
        problems.append('the switchover journal says %s, not completed' % (outcome or 'nothing'))
    rollback = _rollback_figures(state_dir, back, acked, problems, rollback_rc, rollback_seconds, dts_waits, time_scale)

    gap_span = application_gap(acked)
    gap = None if None in gap_span else round(gap_span[1] - gap_span[0], 3)
    real_window, window_dts = at_real_scale(window_span, dts_waits, time_scale)
    real_gap, gap_dts = at_real_scale(gap_span, dts_waits, time_scale)
    refusals = collections.Counter(entry['error'] for entry in by_outcome[REFUSED])
    tasks = {}
    if task_status is not None and journal:
        for name, job_id in (('forward', journal['data'].get('job_id')), ('reverse', journal['data'].get('reverse_job_id'))):
            if job_id:
                status, delay_ms = task_status(job_id)
                tasks[name] = {'job_id': job_id, 'status': status, 'delay_ms': delay_ms}
    return {
        'ok': not problems,
        'problems': problems,
        'engine': kit.engine,
        'catch_up': catch_up or (journal or {}).get('data', {}).get('catch_up_mode'),
        'outcome': outcome,
        'playbook_rc': playbook_rc,
        'switchover_seconds': switchover_seconds,
        'writes': {
            'attempted': len(entries),
            'acknowledged': {'source': len(acked) - len(acked_destination), 'destination': len(acked_destination),
                             'source_after_rollback': sum(1 for e in acked if periods[id(e)] == 'after')},
            'refused': len(by_outcome[REFUSED]),
            'failed_before_commit': len(by_outcome[FAILED]),
            'unknown_outcome': len(by_outcome[UNKNOWN]),
            'lost': len(lost) + len(lost_back) + len(lost_after),
            'duplicated': len(duplicated),
            'reverse_delivered': sum(1 for e in acked_destination if source_rows[_key(e)]),
        },
        'refusals': dict(refusals.most_common(3)),
        'write_unavailable_seconds': window,
        'application_gap_seconds': gap,
        'dts_profile': dts_profile,
        'time_scale': time_scale,
        # The same figures at real scale (equal to the measured ones at scale 1), and the emulated DTS
        # time that was inside each.
        'real_scale': {'write_unavailable_seconds': real_window, 'application_gap_seconds': real_gap,
                       'dts_in_window_seconds': window_dts, 'dts_in_gap_seconds': gap_dts},
        'reverse': _reverse_armed(journal, window_span[0]),
        'lag': lag,
        'tasks': tasks,
        'rolled_back': back is not None,
        'rollback': rollback,
    }


def _periods(entries, forward, back):
    """{id(entry): period} of every attempt: ``before`` the switch (or no rollback), ``after`` the
    rollback reopened the source, or ``fenced`` (on the source in between, while it was fenced)."""
    if back is None:
        return collections.defaultdict(lambda: 'before')
    switched = float(forward.get('point_of_no_return') or back.get('created') or 0)
    reopened = ((back.get('phases') or {}).get('rollback_reopen_source') or {}).get('started') or back['point_of_no_return']
    periods = {}
    for entry in entries:
        if entry['side'] != 'source' or entry['t'] <= switched:
            periods[id(entry)] = 'before'
        else:
            periods[id(entry)] = 'after' if entry['t'] >= float(reopened) else 'fenced'
    return periods


def _rollback_figures(state_dir, back, acked, problems, playbook_rc, seconds, dts_waits, time_scale):
    """The way back's figures from its report and the load's journal; None when the unit did not roll back."""
    if back is None:
        if playbook_rc not in (None, 0):
            problems.append('the rollback playbook exited with %s (see rollback.log)' % playbook_rc)
        return None
    report = _report(state_dir, 'rollback')[0]
    if playbook_rc not in (None, 0):
        problems.append('the rollback playbook exited with %s (see rollback.log)' % playbook_rc)
    if back.get('outcome') != 'completed':
        problems.append('the rollback journal says %s, not completed' % back.get('outcome'))
    window, span = None, (None, None)
    if report is None:
        problems.append('the role wrote no rollback report in %s' % os.path.join(state_dir, 'reports'))
    else:
        window = report['write_unavailable']['seconds']
        span = (report['write_unavailable'].get('start'), report['write_unavailable'].get('end'))
        if window is None:
            problems.append('the rollback report has no write-unavailable window')
        if seconds is None and report.get('started') and report.get('finished'):
            seconds = round(float(report['finished']) - float(report['started']), 1)
    gap_span = application_gap_back(acked)
    return {
        'outcome': back.get('outcome'),
        'playbook_rc': playbook_rc,
        'seconds': seconds,
        'write_unavailable_seconds': window,
        'application_gap_seconds': None if None in gap_span else round(gap_span[1] - gap_span[0], 3),
        'real_scale': {'write_unavailable_seconds': at_real_scale(span, dts_waits, time_scale)[0],
                       'application_gap_seconds': at_real_scale(gap_span, dts_waits, time_scale)[0]},
        'next': (report or {}).get('next', ''),
    }


def _seconds(value):
    return '-' if value is None else '%.2f s' % value


def _real(result, key, inside_key):
    """The figure at real scale, when measured under a latency scale."""
    scale = result.get('time_scale') or 1.0
    real = (result.get('real_scale') or {}).get(key)
    if scale == 1.0 or real is None:
        return ''
    return ('\n                    at real scale %s: DTS profile %s ran at %gx its durations; the %s of emulated DTS time inside '
            '(prechecks, pauses, starts, API answers) count %gx, the rest is real time'
            % (_seconds(real), result.get('dts_profile'), scale, _seconds(result['real_scale'][inside_key]), 1.0 / scale))


def _rollback_lines(result):
    back = result.get('rollback')
    if not back:
        return []
    scaled = dict(result, real_scale=dict(back['real_scale'], dts_in_window_seconds=None, dts_in_gap_seconds=None))
    real_window = _real(scaled, 'write_unavailable_seconds', 'dts_in_window_seconds').split(':')[0]
    real_gap = _real(scaled, 'application_gap_seconds', 'dts_in_gap_seconds').split(':')[0]
    lines = [
        '  rollback          %s in %s%s' % (back['outcome'], _seconds(back['seconds']),
                                            ' (ansible-playbook rc %s)' % back['playbook_rc'] if back['playbook_rc'] is not None else ''),
        '  way back          write-unavailable %s (fence on the destination -> applications may write on the source)%s'
        % (_seconds(back['write_unavailable_seconds']), real_window),
        '                    application gap %s (last acknowledged write on the destination -> first on the source)%s'
        % (_seconds(back['application_gap_seconds']), real_gap),
        '  after rollback    %d acknowledged on the source, none expected on the destination (the forward task stays paused)'
        % result['writes']['acknowledged'].get('source_after_rollback', 0),
    ]
    if back.get('next'):
        lines.append('  next              %s' % back['next'])
    return lines


def summary(result, title):
    """A short readable summary of a verification result."""
    writes = result['writes']
    lag = result['lag'] or {}
    curve = ' '.join('%.2f' % (ms / 1000.0) for ms in lag.get('curve_ms') or []) or '-'
    lines = [
        title,
        '',
        '  switchover        %s in %s%s, catch-up %s'
        % (result['outcome'], _seconds(result['switchover_seconds']),
           ' (ansible-playbook rc %s)' % result['playbook_rc'] if result['playbook_rc'] is not None else '', result['catch_up']),
        '  write-unavailable %s (fence -> point of no return: applications may write on the destination)%s'
        % (_seconds(result['write_unavailable_seconds']), _real(result, 'write_unavailable_seconds', 'dts_in_window_seconds')),
        '  application gap   %s (last acknowledged write on the source -> first on the destination)%s'
        % (_seconds(result.get('application_gap_seconds')), _real(result, 'application_gap_seconds', 'dts_in_gap_seconds')),
        '  lag (s)           %s  (%d samples, max %s)'
        % (curve, lag.get('samples', 0), _seconds(lag['max_ms'] / 1000.0) if lag.get('max_ms') is not None else '-'),
        '  acknowledged      %d on the source, %d on the destination (%d of them back on the source via the reverse task)'
        % (writes['acknowledged']['source'] - writes['acknowledged'].get('source_after_rollback', 0), writes['acknowledged']['destination'],
           writes['reverse_delivered']),
        '  refused           %d by the server%s' % (writes['refused'], (': ' + '; '.join(
            '%dx %s' % (count, message[:90]) for message, count in result['refusals'].items())) if result['refusals'] else ''),
        '  lost %d, duplicated %d, outcome unknown %d, failed before commit %d'
        % (writes['lost'], writes['duplicated'], writes['unknown_outcome'], writes['failed_before_commit']),
    ]
    reverse = result.get('reverse') or {}
    if 'from_fence_seconds' in reverse:
        offset = reverse['from_fence_seconds']
        lines.append('  reverse armed     %.2f s %s, method %s, arming took %s'
                     % (abs(offset), 'before the fence' if offset < 0 else 'after the fence (inside the window)', reverse.get('method'),
                        _seconds(reverse.get('seconds'))))
    lines.extend(_rollback_lines(result))
    for name, task in sorted(result['tasks'].items()):
        lines.append('  %-17s %s %s, delay %d ms' % (name + ' task', task['job_id'], task['status'], task['delay_ms']))
    lines.append('')
    if result['ok'] and result.get('rolled_back'):
        lines.append('OK: every acknowledged write is where it belongs, exactly once: source -> destination before the switch, '
                     'destination -> source through the reverse task, nothing carried to the destination after the rollback; '
                     'refused writes were refused by the server.')
    elif result['ok']:
        lines.append('OK: every acknowledged write arrived exactly once, in both directions; refused writes were refused by the server.')
    else:
        lines.append('FAILED:')
        lines.extend('  - ' + problem for problem in result['problems'])
    return '\n'.join(lines)
