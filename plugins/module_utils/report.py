# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn switchover journals into reports: per unit a JSON document, Markdown, and HTML with two
inline SVG charts (the timeline and the lag) on one time axis; per run of the playbook a fleet
report with every unit on one page. Rendering is pure; run() and run_fleet() read the journals and
write the files."""

from __future__ import annotations

import datetime
import html
import json
import os
import re

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
from ansible_collections.dtsops.switchover.plugins.module_utils import procedure

# Phase -> (title, kind), from the procedure. The kind tells DTS steps from database steps in the
# charts and tables. reverse_task is the phase of journals written before the reverse task was armed
# in two phases.
PHASES = dict(procedure.titles(), reverse_task=('Create and start the reverse task', 'dts'), abort=('Abort and restore the source', 'abort'))
KINDS = {
    'check': ('Check', '#7f8c8d'),
    'dts': ('DTS step', '#2e86c1'),
    'database': ('Database step', '#229954'),
    'traffic': ('Application traffic', '#ca6f1e'),
    'abort': ('Abort', '#c0392b'),
    'other': ('Other step', '#8e44ad'),
}
# What each kind of run calls the two sides and its own name.
RUNS = {
    'switchover': {'title': 'Switchover', 'from': 'source', 'to': 'destination'},
    'rollback': {'title': 'Rollback', 'from': 'destination', 'to': 'source'},
    'finalize': {'title': 'Finalize', 'from': 'source', 'to': 'destination'},
}
# Connection keys that may hold a secret: never copied into a report.
SECRET_KEYS = ('password', 'secret', 'client_key', 'security_token', 'access_key')

ROLE_WINDOW = 'write-unavailable window (fence to point of no return)'
APP_WINDOW = 'application-observed window (traffic stopped to traffic started on the %s)'


def iso(value):
    """ISO 8601 in UTC with milliseconds and the zone: 2026-12-03T21:12:31.345Z."""
    if value in (None, ''):
        return ''
    stamp = datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
    return stamp.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (stamp.microsecond // 1000)


def _clock(value):
    return datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc).strftime('%H:%M:%SZ')


def _sentence(text):
    # Not str.capitalize(): it lowercases the rest, times included.
    return text[:1].upper() + text[1:]


def _seconds(value):
    return '' if value is None else '%.1f s' % value


def phase_title(name, kind='switchover'):
    if name == 'abort' and kind != 'switchover':
        return 'Abort the %s and restore the %s' % (kind, RUNS.get(kind, RUNS['switchover'])['from'])
    if name in PHASES:
        return PHASES[name][0]
    # A phase this version does not know (a newer role): still readable.
    return str(name).replace('_', ' ').strip().capitalize() or 'Unnamed phase'


def phase_kind(name):
    return PHASES[name][1] if name in PHASES else 'other'


def run_kind(journal):
    names = journal.get('phases') or {}
    for kind in ('rollback', 'finalize'):
        if any(str(name).startswith(kind + '_') for name in names):
            return kind
    return 'switchover'


def _span(start, end):
    seconds = None if start is None or end is None else round(float(end) - float(start), 3)
    return {'start': start, 'end': end, 'seconds': seconds}


def _phase(journal, suffix):
    for name, entry in (journal.get('phases') or {}).items():
        if name == suffix or name.endswith('_' + suffix):
            return entry
    return {}


def write_unavailable_window(journal):
    """(start, end, seconds): from the moment writes were fenced to the moment applications could
    write again (the other side at the point of no return, or the same side after an abort)."""
    data = journal.get('data') or {}
    start = data.get('window_start')
    if start is None:
        start = _phase(journal, 'fence').get('started')
    end = journal.get('point_of_no_return') or data.get('window_end')
    if start is None:
        return None, None, None
    span = _span(start, end)
    return span['start'], span['end'], span['seconds']


def fence_state(journal):
    """(state, words): what is true of the fence, from the journal alone.

    none: no fence was taken; lifted: the abort lifted it; closed: the run reached its point of no
    return; fenced: it may still hold (an abort that could not lift it, or a run not finished)."""
    data = journal.get('data') or {}
    side = RUNS[run_kind(journal)]['from']
    if data.get('window_start') is None and not data.get('fence'):
        return 'none', 'no fence was taken'
    if journal.get('point_of_no_return'):
        return 'closed', 'fence taken at %s; the applications moved to the %s at the point of no return' % (
            iso(data.get('window_start')) or 'an unrecorded time', RUNS[run_kind(journal)]['to'])
    if any(str(done).endswith('fence lifted') for done in data.get('abort_done') or []):
        return 'lifted', 'fence lifted'
    errors = [str(error) for error in data.get('abort_errors') or [] if str(error).startswith('lifting the fence')]
    if errors:
        return 'fenced', '%s may still be fenced: %s' % (side, errors[0])
    if journal.get('outcome') == 'running':
        return 'fenced', '%s may still be fenced: the run did not finish (run the playbook again to continue it)' % side
    return 'fenced', '%s may still be fenced' % side


def windows(journal):
    """Both windows: the role's (fence to the point of no return, or to the reopening after an
    abort) and the one applications saw (traffic stopped to traffic started), from the phases'
    own times, whatever their order."""
    kind = run_kind(journal)
    sides = RUNS[kind]
    data = journal.get('data') or {}
    start, end, seconds = write_unavailable_window(journal)
    role = {'label': ROLE_WINDOW, 'start': start, 'end': end, 'seconds': seconds}
    if start is None:
        role['note'] = 'no fence was taken'
    elif end is None:
        role['note'] = 'open: %s' % fence_state(journal)[1]
    elif not journal.get('point_of_no_return'):
        role['label'] = 'write-unavailable window (fence to the %s reopened by the abort)' % sides['from']
        role['note'] = 'closed by the abort'

    stop = _phase(journal, 'stop_traffic')
    switch = _phase(journal, 'switch_traffic')
    app = {'label': APP_WINDOW % sides['to'], 'start': None, 'end': None, 'seconds': None}
    if not stop or stop.get('status') == 'skipped':
        app['note'] = 'traffic was not stopped'
        return {'role': role, 'application': app}
    app['start'] = stop.get('started')
    if switch.get('status') == 'done':
        app['end'] = switch.get('finished')
    elif any('traffic back' in str(done) for done in data.get('abort_done') or []):
        # The abort records no time of its own for the restart: the window's end is after it,
        # else the end of the abort bounds it.
        app['label'] = 'application-observed window (traffic stopped to traffic back on the %s)' % sides['from']
        app['end'] = data.get('window_end') or (journal.get('phases') or {}).get('abort', {}).get('finished')
    app['seconds'] = _span(app['start'], app['end'])['seconds']
    if app['end'] is None:
        app['note'] = 'open: traffic not started again'
    return {'role': role, 'application': app}


# What a finished run did, in words (other outcomes are said as they are).
RESULTS = {('switchover', 'completed'): 'switched over', ('rollback', 'completed'): 'rolled back', ('finalize', 'completed'): 'finalized'}


def run_result(kind, outcome):
    return RESULTS.get((kind, outcome), '%s %s' % (kind, outcome or 'not started'))


def next_steps(kind, journal):
    """What the operator must do next, when the run leaves a decision to them: after a rollback, how
    to try the switchover again (the forward task cannot simply be resumed)."""
    data = journal.get('data') or {}
    if kind != 'rollback' or journal.get('outcome') != 'completed':
        return ''
    forward, reverse = data.get('job_id') or 'the forward task', data.get('reverse_job_id') or 'the reverse task'
    # DTS documents this for a reverse instance ("cannot be directly started"); for a configured
    # reverse task it follows from the reverse writes now in the source's log, which the forward
    # task would copy again.
    return ('The applications run on the source; the reverse task %s is %s and the forward task %s stays paused. '
            'After the reverse task wrote to the source, DTS does not start the forward task again and the destination no longer '
            'follows the source. To switch over again: create a new migration task from the source to the destination (full and '
            'incremental, or incremental from a checkpoint), set switchover_job_id to it, archive this unit\'s journals '
            '(switchover_journal operation=archive), run switchover.yml, and release the old tasks %s and %s (DeleteDtsJob). '
            'Do not run finalize.yml for this switchover.'
            % (reverse, data.get('reverse_status') or 'paused', forward, forward, reverse))


def _public(connection):
    if not isinstance(connection, dict):
        return connection
    return {key: value for key, value in connection.items() if not any(word in str(key).lower() for word in SECRET_KEYS)}


def build_report(journal):
    """The report as a JSON-safe dict (also the content of the JSON report)."""
    data = journal.get('data') or {}
    kind = run_kind(journal)
    start, end, window = write_unavailable_window(journal)
    ran, skipped = [], []
    for name, entry in (journal.get('phases') or {}).items():
        phase = {
            'phase': name,
            'title': phase_title(name, kind),
            'kind': phase_kind(name),
            'status': entry.get('status'),
            'started': entry.get('started'),
            'finished': entry.get('finished'),
            'elapsed': entry.get('elapsed'),
            'message': entry.get('message', ''),
        }
        (skipped if entry.get('status') == 'skipped' else ran).append(phase)
    ran.sort(key=lambda phase: phase['started'] or 0)
    for index, phase in enumerate(ran):
        if phase['status'] == 'started':
            # A phase that never finished (a failure, a crash) lasted until the next one began.
            later = [p['started'] for p in ran[index + 1:] if p['started'] is not None]
            phase['until'] = min(later) if later else None
            phase['status'] = 'running' if journal.get('outcome') == 'running' and not later else 'did not finish'
    order = list(PHASES)
    skipped.sort(key=lambda phase: (order.index(phase['phase']) if phase['phase'] in order else len(order), phase['phase']))
    fence = data.get('fence') or {}
    ended = list(fence.get('ended_sessions') or [])
    ended.extend(data.get('sessions_ended') or [])
    state, words = fence_state(journal)
    return {
        'kind': kind,
        'result': run_result(kind, journal.get('outcome')),
        'next': next_steps(kind, journal),
        'unit': journal.get('unit'),
        'run_id': journal.get('run_id'),
        'attempts': journal.get('attempt', 1),
        'outcome': journal.get('outcome'),
        'message': journal.get('message', ''),
        'started': journal.get('created'),
        'finished': journal.get('updated'),
        'point_of_no_return': journal.get('point_of_no_return'),
        'write_unavailable': {'start': start, 'end': end, 'seconds': window},
        'windows': windows(journal),
        'fence_state': {'state': state, 'summary': words},
        'tasks': {
            'forward': data.get('job_id'),
            'reverse': data.get('reverse_job_id'),
            'reverse_status': data.get('reverse_status'),
            'forward_released': bool(data.get('forward_released')),
            'reverse_released': any('reverse task released' in str(done) for done in data.get('abort_done') or []),
        },
        'source': _public(data.get('source')),
        'destination': _public(data.get('destination')),
        'catch_up': {'mode': data.get('catch_up_mode'), 'proof': data.get('caught_up')},
        'fence': {
            'scope': fence.get('scope'),
            'accounts': data.get('fenced_accounts') or [],
            'changes': fence.get('changes') or [],
        },
        'sessions': {
            'ended': ended,
            'writing_at_verify': data.get('sessions_writing') or [],
        },
        'abort': {
            'reason': data.get('abort_reason'),
            'done': data.get('abort_done') or [],
            'errors': data.get('abort_errors') or [],
        },
        'lag_samples': data.get('lag_samples') or [],
        'phases': ran,
        'skipped': skipped,
        'events': journal.get('events', []),
    }


def _reverse(tasks, missing='none'):
    if not tasks.get('reverse'):
        return missing
    if tasks.get('reverse_released'):
        return '%s (released)' % tasks['reverse']
    return '%s%s' % (tasks['reverse'], ' %s' % tasks['reverse_status'] if tasks.get('reverse_status') else '')


def summary_line(report, files=None):
    """One line that says what is true: outcome, fence, both windows, reverse task, report."""
    windows_ = report['windows']
    rolled_back = report.get('result') == 'rolled back'
    parts = ['%s: %s' % (report['unit'], report['result'] if rolled_back else '%s %s' % (report['kind'], report['outcome']))]
    state = report['fence_state']
    if state['state'] in ('none', 'lifted', 'fenced'):
        parts.append(state['summary'])
    role = windows_['role']
    if role['seconds'] is not None:
        parts.append('%s %s' % (role['label'], _seconds(role['seconds'])))
    app = windows_['application']
    if app['seconds'] is not None:
        parts.append('%s %s' % (app['label'], _seconds(app['seconds'])))
    parts.append('reverse task %s' % _reverse(report['tasks']))
    if files:
        parts.append('report %s' % (files.get('html') or files.get('markdown') or files.get('json')))
    if rolled_back:
        parts.append('to switch over again, create a new migration task (the forward task cannot be resumed): see the report')
    return '; '.join(parts)


# -- charts -------------------------------------------------------------------------------------

WIDTH = 960
PAD_LEFT = 64
PAD_RIGHT = 24
CHAR_WIDTH = 6.4      # of the 11 px sans-serif labels, generous so that no label is cut off
LABEL_ROW = 15


def _text_width(text):
    return len(text) * CHAR_WIDTH + 4


def _nice_step(span, most=8):
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400):
        if span / step <= most:
            return step
    return span / most


class Axis(object):
    """The time axis both charts share, so that a moment sits at the same x in both."""

    def __init__(self, report, span=None):
        times = [report['started'], report['finished'], report['point_of_no_return']]
        for phase in report['phases']:
            times += [phase['started'], phase['finished']]
        times += [s.get('time') for s in report['lag_samples']]
        times = [float(t) for t in times if t not in (None, '')]
        self.t0 = min(times) if times else 0.0
        self.t1 = max(times) if times else 1.0
        if span:
            self.t0, self.t1 = span
        self.span = max(self.t1 - self.t0, 1.0)
        self.plot_w = WIDTH - PAD_LEFT - PAD_RIGHT

    def clip(self, when):
        return min(max(float(when), self.t0), self.t1)

    def covers(self, start, end):
        return float(end) >= self.t0 and float(start) <= self.t1

    def x(self, when):
        return PAD_LEFT + (float(when) - self.t0) / self.span * self.plot_w

    def ticks(self):
        step = _nice_step(self.span)
        first = (int(self.t0 // step) + 1) * step if self.t0 % step else self.t0
        tick, found = first, []
        while tick <= self.t1 + 1e-6:
            found.append(tick)
            tick += step
        return found

    def draw(self, top, bottom):
        """Grid lines, tick labels and the axis title below ``bottom``."""
        parts = ['<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>' % (PAD_LEFT, bottom, WIDTH - PAD_RIGHT, bottom)]
        for tick in self.ticks():
            x = self.x(tick)
            parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3"/>' % (x, top, x, bottom))
            parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555"/>' % (x, bottom, x, bottom + 4))
            parts.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, bottom + 16, _clock(tick)))
        date = datetime.datetime.fromtimestamp(self.t0, tz=datetime.timezone.utc).strftime('%Y-%m-%d')
        parts.append('<text class="axis" x="%.1f" y="%d" text-anchor="middle">time (UTC, %s)</text>'
                     % (PAD_LEFT + self.plot_w / 2.0, bottom + 32, date))
        return parts


def _label(x, y, text, css='', lo=PAD_LEFT, hi=WIDTH - PAD_RIGHT):
    """A label next to x that stays inside [lo, hi]: right of x when it fits, else left of it."""
    width = _text_width(text)
    if x + 4 + width <= hi:
        return '<text class="%s" x="%.1f" y="%.1f">%s</text>' % (css, x + 4, y, html.escape(text))
    if x - 4 - width >= lo:
        return '<text class="%s" x="%.1f" y="%.1f" text-anchor="end">%s</text>' % (css, x - 4, y, html.escape(text))
    return '<text class="%s" x="%.1f" y="%.1f">%s</text>' % (css, max(lo, hi - width), y, html.escape(text))


def _moments(report):
    """The marked moments: (time, label, css)."""
    found = []
    role = report['windows']['role']
    if role['start'] is not None:
        found.append((role['start'], 'fence %s' % _clock(role['start']), 'fence'))
    proof = report['catch_up']['proof'] or {}
    proof_time = proof.get('seen_time') or _phase_end(report, 'catch_up')
    if proof_time:
        found.append((proof_time, 'catch-up proof %s' % _clock(proof_time), 'proof'))
    if report['point_of_no_return']:
        found.append((report['point_of_no_return'], 'point of no return %s' % _clock(report['point_of_no_return']), 'pnr'))
    return found


def _phase_end(report, suffix):
    for phase in report['phases']:
        if (phase['phase'] == suffix or phase['phase'].endswith('_' + suffix)) and phase['status'] == 'done':
            return phase['finished']
    return None


def _draw_moments(axis, moments, top, bottom):
    """Dashed lines from the label rows above the plot down to its bottom, one row per label so
    that labels never overlap."""
    parts = []
    for row, (when, label, css) in enumerate(moments):
        x = axis.x(when)
        y = LABEL_ROW * (row + 1)
        parts.append('<line class="moment %s" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke-dasharray="4 3"/>' % (css, x, y + 3, x, bottom))
        parts.append(_label(x, y, label, 'moment-label %s' % css, lo=0, hi=WIDTH))
    return parts


def _band(axis, start, end, top, bottom, css, title):
    if start is None:
        return []
    end = axis.t1 if end is None else end
    if not axis.covers(start, end):
        return []
    x0, x1 = axis.x(axis.clip(start)), axis.x(axis.clip(end))
    return ['<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s</title></rect>'
            % (css, x0, top, max(x1 - x0, 1.0), bottom - top, html.escape(title))]


def _svg(height, label, parts):
    return ('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" '
            'aria-label="%s">%s</svg>' % (WIDTH, height, WIDTH, height, html.escape(label), ''.join(parts)))


def window_span(report):
    """(start, end) around both windows when they are too short a part of the run to be read on
    its axis (a long wait before the fence), else None."""
    windows_ = report['windows']
    times = [t for w in (windows_['role'], windows_['application']) for t in (w['start'], w['end']) if t is not None]
    axis = Axis(report)
    if not times or (max(times) - min(times)) > 0.15 * axis.span:
        return None
    margin = max(0.08 * (max(times) - min(times)), 1.0)
    return max(axis.t0, min(times) - margin), min(axis.t1, max(times) + margin)


def timeline_svg(report, span=None):
    """Phases as bars on the time axis; both windows shaded; fence, catch-up proof and point of no
    return marked; bar colours tell DTS steps from database steps. With ``span``, only that part
    of the run."""
    axis = Axis(report, span)
    phases = [p for p in report['phases']
              if axis.covers(p['started'] if p['started'] is not None else axis.t0, p['finished'] or p.get('until') or axis.t1)]
    if not phases:
        return '<p>No phase ran.</p>'
    moments = [moment for moment in _moments(report) if axis.t0 <= float(moment[0]) <= axis.t1]
    row_h, bar_h = 22, 14
    top = LABEL_ROW * len(moments) + 10
    bottom = top + row_h * len(phases) + 6
    height = bottom + 64
    windows_ = report['windows']
    parts = ['<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#ccc"/>' % (PAD_LEFT, top, axis.plot_w, bottom - top)]
    parts += _band(axis, windows_['application']['start'], windows_['application']['end'], top, bottom, 'app-window',
                   windows_['application']['label'])
    parts += _band(axis, windows_['role']['start'], windows_['role']['end'], top, bottom, 'role-window', windows_['role']['label'])
    parts += axis.draw(top, bottom)
    for row, phase in enumerate(phases):
        y = top + 4 + row * row_h
        start = axis.clip(phase['started'] if phase['started'] is not None else axis.t0)
        end = axis.clip(phase['finished'] or phase.get('until') or axis.t1)
        x0, x1 = axis.x(start), axis.x(end)
        width = max(x1 - x0, 2.0)
        css = 'bar %s%s' % (phase['kind'], {'failed': ' failed', 'did not finish': ' unfinished', 'running': ' open'}.get(phase['status'], ''))
        parts.append('<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d" rx="2"><title>%s: %s, %s</title></rect>'
                     % (css, x0, y, width, bar_h, html.escape(phase['title']), html.escape(str(phase['status'])),
                        html.escape(_seconds(phase['elapsed']) or 'not finished')))
        text = phase['title'] if phase['status'] == 'done' else '%s (%s)' % (phase['title'], phase['status'])
        text_w = _text_width(text)
        if x0 + width + 4 + text_w <= WIDTH - PAD_RIGHT:
            parts.append('<text class="phase" x="%.1f" y="%d">%s</text>' % (x0 + width + 4, y + 11, html.escape(text)))
        elif x0 - 4 - text_w >= PAD_LEFT:
            parts.append('<text class="phase" x="%.1f" y="%d" text-anchor="end">%s</text>' % (x0 - 4, y + 11, html.escape(text)))
        else:
            # Neither side has room (a bar across the whole run): over the bar, the halo keeps it readable.
            parts.append('<text class="phase" x="%.1f" y="%d">%s</text>' % (PAD_LEFT + 4, y + 11, html.escape(text)))
    parts += _draw_moments(axis, moments, top, bottom)
    parts.append('<text class="axis" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">phase</text>' % ((top + bottom) / 2.0))
    return _svg(height, 'Timeline of the %s of %s' % (report['kind'], report['unit']), parts)


def lag_svg(report):
    """DTS delay over the same time axis; the catch-up proof as a point; after the forward task is
    paused its delay means nothing, and the chart says so instead of ending silently."""
    samples = report['lag_samples']
    points = sorted((float(s['time']), float(s['delay_ms']) / 1000.0) for s in samples
                    if s.get('time') is not None and s.get('delay_ms') is not None)
    if not points:
        return '<p>No lag samples were recorded.</p>'
    axis = Axis(report)
    moments = _moments(report)
    top = LABEL_ROW * len(moments) + 10
    plot_h = 150
    bottom = top + plot_h
    height = bottom + 48
    proof = report['catch_up']['proof'] or {}
    proof_point = None
    if proof.get('seen_time') and proof.get('latency') is not None:
        proof_point = (float(proof['seen_time']), float(proof['latency']))
    highest = max([value for dummy, value in points] + [proof_point[1] if proof_point else 0.0])
    ceiling = max(1.0, float(_nice_step(highest, most=4)) * (int(highest // _nice_step(highest, most=4)) + 1))

    def y(value):
        return bottom - value / ceiling * plot_h

    parts = ['<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#ccc"/>' % (PAD_LEFT, top, axis.plot_w, plot_h)]
    paused = _phase_end(report, 'pause_forward') or _phase_end(report, 'pause_reverse')
    if paused:
        parts += _band(axis, paused, None, top, bottom, 'paused', 'the task is paused: its delay is no longer measured')
        if axis.x(axis.t1) - axis.x(paused) > _text_width('task paused') + 8:
            parts.append('<text class="note" x="%.1f" y="%d">task paused</text>' % (axis.x(paused) + 4, top + 14))
    parts += axis.draw(top, bottom)
    for fraction in (0.0, 0.5, 1.0):
        value = ceiling * fraction
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555"/>' % (PAD_LEFT - 4, y(value), PAD_LEFT, y(value)))
        parts.append('<text class="tick" x="%d" y="%.1f" text-anchor="end">%g s</text>' % (PAD_LEFT - 6, y(value) + 4, value))
    path = ' '.join('%s%.1f,%.1f' % ('M' if i == 0 else 'L', axis.x(t), y(v)) for i, (t, v) in enumerate(points))
    parts.append('<path class="lag" d="%s"/>' % path)
    if len(points) <= 200:
        # Dots: a curve flat on zero would hide in the axis.
        parts += ['<circle class="sample" cx="%.1f" cy="%.1f" r="2.5"/>' % (axis.x(t), y(v)) for t, v in points]
    if proof_point:
        last = points[-1]
        if proof_point[0] > last[0]:
            segment = (axis.x(last[0]), y(last[1]), axis.x(proof_point[0]), y(proof_point[1]))
            parts.append('<path class="lag unsampled" d="M%.1f,%.1f L%.1f,%.1f"/>' % segment)
        parts.append('<circle class="proof" cx="%.1f" cy="%.1f" r="4"/>' % (axis.x(proof_point[0]), y(proof_point[1])))
        parts.append(_label(axis.x(proof_point[0]) + 2, y(proof_point[1]) - 8, 'token seen after %.1f s' % proof_point[1], 'proof-label'))
    parts += _draw_moments(axis, moments, top, bottom)
    parts.append('<text class="axis" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">DTS delay (s)</text>'
                 % ((top + bottom) / 2.0))
    return _svg(height, 'DTS delay of the %s of %s' % (report['kind'], report['unit']), parts)


def lag_caption(report):
    """What the lag chart shows, in words (it may end before the run does, and must say why)."""
    words = ['Blue: the DTS delay of the task (DescribeDtsJobDetail), sampled while the role waited for it.']
    proof = report['catch_up']['proof'] or {}
    if proof.get('seen_time') and proof.get('latency') is not None:
        words.append('Green point: the catch-up token, seen on the destination %s after it was written; dashed: not sampled.'
                     % _seconds(proof['latency']))
    paused = _phase_end(report, 'pause_forward') or _phase_end(report, 'pause_reverse')
    if paused:
        words.append('Grey: the task is paused from %s, so it has no delay to measure; writes then go the other way.' % iso(paused))
    return ' '.join(words)


def _legend(report):
    kinds = []
    for phase in report['phases']:
        if phase['kind'] not in kinds:
            kinds.append(phase['kind'])
    items = ['<span class="key"><i style="background:%s"></i>%s</span>' % (KINDS[kind][1], KINDS[kind][0]) for kind in kinds]
    windows_ = report['windows']
    if windows_['role']['start'] is not None:
        items.append('<span class="key"><i class="role-window"></i>%s</span>' % html.escape(windows_['role']['label']))
    if windows_['application']['start'] is not None:
        items.append('<span class="key"><i class="app-window"></i>%s</span>' % html.escape(windows_['application']['label']))
    return '<p class="legend">%s</p>' % ' '.join(items)


CSS = (
    'body{font-family:sans-serif;margin:2em auto;max-width:62em;padding:0 1em;color:#222}'
    'table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}'
    'th{background:#f6f6f6}.num{text-align:right;white-space:nowrap}.muted{color:#666}.t{white-space:nowrap}'
    '.outcome-completed{color:#1e8449}.outcome-aborted,.outcome-failed{color:#b03a2e}.outcome-running{color:#b9770e}'
    'svg.chart{display:block;width:100%;max-width:960px;height:auto;margin:0.5em 0}'
    'svg text{font-family:sans-serif;font-size:11px;fill:#222}svg text.axis{font-size:12px;font-weight:bold}'
    'svg text.tick{fill:#444}svg text.phase{paint-order:stroke;stroke:#fff;stroke-width:3px}'
    '.role-window{fill:#e74c3c;fill-opacity:0.16}.app-window{fill:#f5b041;fill-opacity:0.22}'
    '.paused{fill:#aab7b8;fill-opacity:0.22}svg text.note{fill:#566573}'
    '.bar.check{fill:#7f8c8d}.bar.dts{fill:#2e86c1}.bar.database{fill:#229954}.bar.traffic{fill:#ca6f1e}'
    '.bar.abort{fill:#c0392b}.bar.other{fill:#8e44ad}.bar.failed{stroke:#c0392b;stroke-width:2}'
    '.bar.unfinished,.bar.open{fill-opacity:0.45;stroke:#333;stroke-dasharray:3 2}'
    '.moment{stroke-width:1.5}.moment.fence{stroke:#c0392b}.moment.proof{stroke:#1e8449}.moment.pnr{stroke:#6c3483}'
    'svg text.fence{fill:#c0392b}svg text.proof{fill:#1e8449}svg text.pnr{fill:#6c3483}'
    '.lag{fill:none;stroke:#2471a3;stroke-width:2}.lag.unsampled{stroke-dasharray:5 4;stroke-width:1.5}'
    'circle.sample{fill:#2471a3}circle.proof{fill:#1e8449}svg text.proof-label{fill:#1e8449}'
    '.legend .key{display:inline-block;margin-right:1.2em;font-size:90%}'
    '.legend i{display:inline-block;width:1em;height:0.8em;margin-right:0.3em;vertical-align:middle}'
    '.legend i.role-window{background:rgba(231,76,60,0.35)}.legend i.app-window{background:rgba(245,176,65,0.45)}'
)


ISO_TIME = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)')


def _nowrap(escaped):
    """Keep each time on one line (browsers break them at the hyphens)."""
    return ISO_TIME.sub(r'<span class="t">\1</span>', escaped)


def _window_text(window):
    if window['seconds'] is not None:
        return '%s (%s to %s)' % (_seconds(window['seconds']), iso(window['start']), iso(window['end']))
    if window['start'] is not None:
        return 'open since %s: %s' % (iso(window['start']), window.get('note', ''))
    return window.get('note') or 'none'


def _summary_rows(report):
    windows_ = report['windows']
    tasks = report['tasks']
    rows = [
        ('Run', '%s (attempt %s)' % (report['run_id'], report['attempts'])),
        ('Outcome', report['outcome'] + (' (rolled back)' if report.get('result') == 'rolled back' else '')
         + (': %s' % report['message'] if report['message'] else '')),
        ('Started', iso(report['started'])),
        ('Last update', iso(report['finished'])),
        ('Fence', report['fence_state']['summary']),
        (_sentence(windows_['role']['label']), _window_text(windows_['role'])),
        (_sentence(windows_['application']['label']), _window_text(windows_['application'])),
        ('Point of no return', iso(report['point_of_no_return']) or 'not reached'),
        ('Forward task', '%s%s' % (tasks['forward'] or 'unknown', ' (released)' if tasks['forward_released'] else '')),
        ('Reverse task', _reverse(tasks, 'not created')),
        ('Catch-up', report['catch_up']['mode'] or 'not recorded'),
    ]
    if report['abort']['reason']:
        errors = report['abort']['errors']
        restored = ', '.join(report['abort']['done']) or 'nothing'
        not_restored = ' Not restored: %s.' % '; '.join(errors) if errors else ''
        rows.append(('Abort', '%s. Restored: %s.%s' % (report['abort']['reason'], restored, not_restored)))
    if report.get('next'):
        rows.append(('Next', report['next']))
    return rows


def _md_cell(value):
    return str(value if value is not None else '').replace('|', '\\|').replace('\n', ' ')


def md_table(header, rows):
    """A pipe table padded to aligned columns: readable as plain text in a terminal, rendered as
    a table by ticket systems."""
    cells = [[_md_cell(c) for c in header]] + [[_md_cell(c) for c in row] for row in rows]
    widths = [max(3, max(len(row[i]) for row in cells)) for i in range(len(header))]
    lines = ['| %s |' % ' | '.join(cell.ljust(widths[i]) for i, cell in enumerate(cells[0])),
             '|%s|' % '|'.join('-' * (w + 2) for w in widths)]
    lines += ['| %s |' % ' | '.join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in cells[1:]]
    return lines


def text_timeline(report, columns=60):
    """The timeline as fixed-width text (a code block): bars per phase, the windows below."""
    if not report['phases']:
        return []
    axis = Axis(report)

    def col(when):
        return min(columns - 1, max(0, int((float(when) - axis.t0) / axis.span * columns)))

    def span_cells(start, end, char):
        cells = [' '] * columns
        first, last = col(start), col(axis.t1 if end is None else end)
        for i in range(first, last + 1):
            cells[i] = char
        return ''.join(cells)

    names = [p['phase'] for p in report['phases']] + ['write-unavailable', 'applications saw']
    width = max(len(name) for name in names)
    lines = ['%s  %s .. %s (%.1f s; one column = %.1f s)' % (' ' * width, _clock(axis.t0), _clock(axis.t1), axis.span, axis.span / columns)]
    marks = {'dts': '=', 'database': '#', 'traffic': '~', 'check': '-', 'abort': '!', 'other': '+'}
    for phase in report['phases']:
        start = phase['started'] if phase['started'] is not None else axis.t0
        lines.append('%s |%s|' % (phase['phase'].ljust(width), span_cells(start, phase['finished'], marks[phase['kind']])))
    windows_ = report['windows']
    for name, window in (('write-unavailable', windows_['role']), ('applications saw', windows_['application'])):
        if window['start'] is not None:
            lines.append('%s |%s|' % (name.ljust(width), span_cells(window['start'], window['end'], '^')))
    lines.append('%s  = DTS step, # database step, ~ application traffic, - check, ^ window' % (' ' * width))
    return lines


def render_markdown(report):
    title = RUNS[report['kind']]['title']
    lines = ['# %s of %s: %s' % (title, report['unit'], report['outcome']), '']
    # A list, not a table: the labels say in words what each window measures, too wide for a table
    # in a terminal.
    lines += ['- **%s**: %s' % (label, str(value).replace('\n', ' ')) for label, value in _summary_rows(report)]
    lines += ['', '## Timeline', '']
    rows = [(p['title'], p['status'], iso(p['started']), _seconds(p['elapsed']), p['message']) for p in report['phases']]
    # The note column only when a phase has one: a narrower table reads better in a terminal.
    width = 5 if any(row[4] for row in rows) else 4
    lines += md_table(('Phase', 'Status', 'Started', 'Duration', 'Note')[:width], [row[:width] for row in rows] or [('none', '', '', '')])
    chart = text_timeline(report)
    if chart:
        lines += ['', '```text'] + chart + ['```']
    if report['skipped']:
        lines += ['', '### Skipped phases', '']
        lines += ['- %s: %s' % (p['title'], p['message'] or 'not needed') for p in report['skipped']]
    proof = report['catch_up']['proof']
    if proof:
        lines += ['', '## Catch-up proof', '',
                  'Token `%s` written on the source, seen on the destination after %s.' % (proof.get('token'), _seconds(proof.get('latency')))]
    fence = report['fence']
    lines += ['', '## Fence', '', 'Scope: %s. %s.' % (fence['scope'] or 'none', _sentence(report['fence_state']['summary']))]
    if fence['accounts']:
        lines.append('Fenced accounts: %s.' % ', '.join('`%s`' % a for a in fence['accounts']))
    if fence['changes']:
        lines.append('')
    for change in fence['changes']:
        lines.append('- %s `%s`: %s -> %s' % (change.get('kind'), change.get('target'), change.get('before'), change.get('after')))
    lines += ['', '## Sessions ended or blocked', '']
    if report['sessions']['ended']:
        lines += md_table(('Id', 'User', 'Client', 'Command'),
                          [(s.get('id'), s.get('user'), s.get('client'), str(s.get('command') or '')[:80]) for s in report['sessions']['ended']])
    else:
        lines.append('None.')
    samples = report['lag_samples']
    lines += ['', '## Lag', '']
    delays = [s['delay_ms'] for s in samples if s.get('delay_ms') is not None]
    if delays:
        lines.append('%d samples from %s to %s; delay first %.1f s, last %.1f s, at most %.1f s. The HTML report has the chart.'
                     % (len(samples), iso(samples[0].get('time')), iso(samples[-1].get('time')),
                        delays[0] / 1000.0, delays[-1] / 1000.0, max(delays) / 1000.0))
    else:
        lines.append('No samples.')
    return '\n'.join(lines) + '\n'


def _html_table(header, rows, numeric=()):
    esc = html.escape
    head = ''.join('<th>%s</th>' % esc(h) for h in header)
    body = ''.join('<tr>%s</tr>' % ''.join('<td%s>%s</td>' % (' class="num"' if i in numeric else '', cell) for i, cell in enumerate(row))
                   for row in rows)
    return '<table><tr>%s</tr>%s</table>' % (head, body)


def _window_figure(report):
    span = window_span(report)
    if not span:
        return ''
    return ('<h3>The windows, enlarged</h3><figure id="window">%s<figcaption class="muted">%s to %s: the run is too long for '
            'the windows to be read on its axis.</figcaption></figure>' % (timeline_svg(report, span), _nowrap(iso(span[0])), _nowrap(iso(span[1]))))


def render_html(report):
    esc = html.escape
    title = '%s of %s' % (RUNS[report['kind']]['title'], report['unit'])
    summary = ''.join('<tr><th>%s</th><td>%s</td></tr>' % (esc(k), _nowrap(esc(str(v)))) for k, v in _summary_rows(report))
    phases = _html_table(('Phase', 'Kind', 'Status', 'Started', 'Duration', 'Note'), [
        (esc(p['title']), esc(KINDS[p['kind']][0]), esc(str(p['status'])), _nowrap(esc(iso(p['started']))), esc(_seconds(p['elapsed'])),
         esc(p['message'])) for p in report['phases']] or [('none', '', '', '', '', '')], numeric=(4,))
    skipped = ''
    if report['skipped']:
        skipped = '<h3>Skipped phases</h3><ul>%s</ul>' % ''.join(
            '<li>%s: <span class="muted">%s</span></li>' % (esc(p['title']), esc(p['message'] or 'not needed')) for p in report['skipped'])
    ended = _html_table(('Id', 'User', 'Client', 'Command'), [
        (esc(str(s.get('id'))), esc(str(s.get('user'))), esc(str(s.get('client'))), esc(str(s.get('command') or '')[:120]))
        for s in report['sessions']['ended']] or [('None', '', '', '')])
    changes = ''.join('<li>%s <code>%s</code>: %s &rarr; %s</li>' % (
        esc(str(c.get('kind'))), esc(str(c.get('target'))), esc(str(c.get('before'))), esc(str(c.get('after'))))
        for c in report['fence']['changes']) or '<li>none</li>'
    proof = report['catch_up']['proof'] or {}
    proof_text = ('<p>Token <code>%s</code> written on the source, seen on the destination after %s.</p>'
                  % (esc(str(proof.get('token'))), esc(_seconds(proof.get('latency'))))) if proof else ''
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><style>%(css)s</style></head><body>'
        '<h1>%(title)s: <span class="outcome-%(outcome)s">%(outcome)s</span></h1><table class="summary">%(summary)s</table>'
        '<h2>Timeline</h2>%(legend)s<figure id="timeline">%(timeline)s</figure>%(window)s'
        '<h2>Lag</h2><figure id="lag">%(lag)s<figcaption class="muted">%(lag_caption)s</figcaption></figure>'
        '<h2>Phases</h2>%(phases)s%(skipped)s'
        '<h2>Catch-up proof</h2>%(proof)s<p>Mode: %(mode)s.</p>'
        '<h2>Fence</h2><p>Scope: %(scope)s. %(fence_state)s.</p><ul>%(changes)s</ul>'
        '<h2>Sessions ended or blocked</h2>%(ended)s'
        '<p class="muted">Times are ISO 8601 in UTC.</p></body></html>\n' % {
            'title': esc(title), 'css': CSS, 'outcome': esc(str(report['outcome'])), 'summary': summary,
            'legend': _legend(report), 'timeline': timeline_svg(report), 'window': _window_figure(report),
            'lag': lag_svg(report), 'lag_caption': _nowrap(esc(lag_caption(report))),
            'phases': phases, 'skipped': skipped, 'proof': proof_text, 'mode': esc(str(report['catch_up']['mode'] or 'not recorded')),
            'scope': esc(str(report['fence']['scope'] or 'none')), 'fence_state': esc(_sentence(report['fence_state']['summary'])),
            'changes': changes, 'ended': ended,
        })


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + '\n'


RENDERERS = {
    'json': ('json', render_json),
    'markdown': ('md', render_markdown),
    'html': ('html', render_html),
}

ARGUMENT_SPEC = dict(
    journal_path=dict(type='path'),
    journal=dict(type='dict'),
    dest=dict(type='path', required=True),
    formats=dict(type='list', elements='str', choices=list(RENDERERS), default=list(RENDERERS)),
    publish=dict(type='bool', default=False),
)
MUTUALLY_EXCLUSIVE = [('journal', 'journal_path')]
REQUIRED_ONE_OF = [('journal', 'journal_path')]


class ReportError(Exception):
    """The report cannot be written; the message says why."""


def _write(dest, base, formats, render_args, renderers, check_mode):
    files = {}
    for fmt in formats:
        extension, render = renderers[fmt]
        files[fmt] = os.path.join(dest, '%s.%s' % (base, extension))
        if not check_mode:
            try:
                os.makedirs(dest, exist_ok=True)
                with open(files[fmt], 'w') as stream:
                    stream.write(render(*render_args))
            except OSError as exc:
                raise ReportError('Cannot write the report %s: %s' % (files[fmt], exc))
    return files


def _load(path):
    try:
        return journal_utils.load(path)
    except journal_utils.JournalError as exc:
        raise ReportError(str(exc))


def run(params, check_mode=False):
    """Carry out the switchover_report module or action; returns its result."""
    journal = params.get('journal')
    if journal is None:
        journal = _load(params['journal_path'])
        if journal is None:
            raise ReportError('There is no journal at %s: nothing to report.' % params['journal_path'])
    if not journal.get('run_id') or not journal.get('unit'):
        raise ReportError('The journal has no unit or run_id: pass a journal written by switchover_journal.')

    report = build_report(journal)
    base = '%s-%s' % (journal['unit'], journal['run_id'])
    files = _write(params['dest'], base, params['formats'], (report,), RENDERERS, check_mode)
    # Check mode writes nothing but says the files would be written.
    result = dict(changed=True, report=report, files=files, summary=summary_line(report, files),
                  write_unavailable_seconds=report['write_unavailable']['seconds'])
    if params.get('publish'):
        result.update(publish(journal, report, files, params.get('journal_path') or ''))
    return result


def publish(journal, report, files, journal_path):
    """What the role hands on: the unit's outcome as set_stats data (AWX workflows, ansible-runner
    artifacts) and, as a fact, what the fleet report needs of the unit."""
    unit = journal['unit']
    artifact = {
        'outcome': report['outcome'],
        'result': report['result'],
        'next': report['next'],
        'reverse_status': report['tasks'].get('reverse_status') or '',
        'job_id': report['tasks'].get('forward') or '',
        'reverse_job_id': report['tasks'].get('reverse') or '',
        'write_unavailable_seconds': report['write_unavailable']['seconds'],
        'application_window_seconds': report['windows']['application']['seconds'],
        'fence': report['fence_state']['summary'],
        'journal': journal_path,
        'report': files,
    }
    return {'ansible_stats': {'data': {'switchover': {unit: artifact}}, 'per_host': False, 'aggregate': True},
            'ansible_facts': {'switchover_fleet_unit': {'unit': unit, 'journal_path': journal_path, 'reports': files}}}


# -- the fleet report: every unit of one run of the playbook on one page ------------------------

def fleet_unit(entry, dest):
    """One row of the fleet report from {'journal_path', 'reports'} (reports: the unit report's
    files by format, linked relative to ``dest``)."""
    path = entry['journal_path']
    name = entry.get('unit') or os.path.basename(path).split('.')[0]
    try:
        journal = _load(path)
    except ReportError as exc:
        # One bad journal must not hide the other units: the row says what is wrong with it.
        return {'unit': name, 'outcome': 'unreadable journal', 'journal': path, 'message': str(exc), 'summary': str(exc),
                'reports': {}, 'links': {}}
    if journal is None:
        return {'unit': name, 'outcome': 'no journal', 'journal': path, 'summary': 'no journal at %s: the unit stopped before its run began' % path,
                'reports': {}, 'links': {}}
    report = build_report(journal)
    links = {}
    for fmt, target in (entry.get('reports') or {}).items():
        if target:
            links[fmt] = os.path.relpath(target, dest)
    return {
        'unit': report['unit'],
        'kind': report['kind'],
        'run_id': report['run_id'],
        'outcome': report['outcome'],
        'message': report['message'],
        'journal': path,
        'fence': report['fence_state']['summary'],
        'fence_state': report['fence_state']['state'],
        'windows': report['windows'],
        'point_of_no_return': report['point_of_no_return'],
        'tasks': report['tasks'],
        'phases': [{'phase': p['phase'], 'status': p['status'], 'elapsed': p['elapsed']} for p in report['phases']],
        'reports': dict(entry.get('reports') or {}),
        'links': links,
        'summary': summary_line(report),
    }


def build_fleet(entries, dest, generated):
    units = sorted((fleet_unit(entry, dest) for entry in entries), key=lambda unit: str(unit['unit']))
    outcomes = {}
    for unit in units:
        outcomes[unit['outcome']] = outcomes.get(unit['outcome'], 0) + 1
    role = [u['windows']['role']['seconds'] for u in units if u.get('windows') and u['windows']['role']['seconds'] is not None]
    app = [u['windows']['application']['seconds'] for u in units if u.get('windows') and u['windows']['application']['seconds'] is not None]
    kinds = sorted(set(u['kind'] for u in units if u.get('kind'))) or ['switchover']
    return {
        'kind': kinds[0] if len(kinds) == 1 else 'mixed',
        'generated': generated,
        'units': units,
        'outcomes': outcomes,
        'longest': {'write_unavailable_seconds': max(role) if role else None, 'application_seconds': max(app) if app else None},
    }


def _fleet_title(fleet):
    kind = RUNS.get(fleet['kind'], {'title': 'Run'})['title']
    return '%s of %d unit%s' % (kind, len(fleet['units']), '' if len(fleet['units']) == 1 else 's')


def _fleet_outcomes(fleet):
    return ', '.join('%d %s' % (count, outcome) for outcome, count in sorted(fleet['outcomes'].items())) or 'no unit'


# The fence in a word or two per unit for the fleet table; the unit's report has the sentence.
FENCE_WORDS = {'none': 'not taken', 'lifted': 'lifted', 'closed': 'taken, switched', 'fenced': 'MAY STILL HOLD'}


def _window_cell(window):
    if window.get('seconds') is not None:
        return _seconds(window['seconds'])
    return 'open' if window.get('start') is not None else 'none'


def _fleet_row(unit):
    if not unit.get('windows'):
        return (unit['outcome'], '-', '-', '-', '-')
    windows_ = unit['windows']
    return (
        unit['outcome'],
        _window_cell(windows_['role']),
        _window_cell(windows_['application']),
        _reverse(unit.get('tasks') or {}),
        FENCE_WORDS.get(unit.get('fence_state'), 'unknown'),
    )


def render_fleet_markdown(fleet):
    app_window = APP_WINDOW % RUNS.get(fleet['kind'], RUNS['switchover'])['to']
    lines = ['# %s: %s' % (_fleet_title(fleet), _fleet_outcomes(fleet)), '',
             'Written %s. Windows: the %s, and the %s.' % (iso(fleet['generated']), ROLE_WINDOW, app_window), '']
    rows, links = [], []
    for unit in fleet['units']:
        link = unit['links'].get('markdown') or unit['links'].get('html') or unit['links'].get('json')
        # Reference links keep the table narrow enough for a terminal.
        rows.append(('[%s]' % unit['unit'] if link else unit['unit'],) + _fleet_row(unit))
        if link:
            links.append('[%s]: %s' % (unit['unit'], link))
    lines += md_table(('Unit', 'Outcome', 'Write-unavailable', 'Applications saw', 'Reverse task', 'Fence'), rows)
    notes = [(unit['unit'], unit.get('message')) for unit in fleet['units'] if unit.get('message') and unit['outcome'] != 'completed']
    notes += [(unit['unit'], unit['fence']) for unit in fleet['units'] if unit.get('fence_state') == 'fenced']
    if notes:
        lines += ['', '## Units to look at', '']
        lines += ['- %s: %s' % (name, message) for name, message in notes]
    if links:
        lines += [''] + links
    return '\n'.join(lines) + '\n'


def render_fleet_html(fleet):
    esc = html.escape
    rows = []
    for unit in fleet['units']:
        link = unit['links'].get('html') or unit['links'].get('markdown') or unit['links'].get('json')
        name = '<a href="%s">%s</a>' % (esc(link), esc(str(unit['unit']))) if link else esc(str(unit['unit']))
        cells = _fleet_row(unit)
        outcome = '<span class="outcome-%s">%s</span>' % (esc(str(cells[0])).replace(' ', '-'), esc(str(cells[0])))
        message = '<br><span class="muted">%s</span>' % esc(unit['message']) if unit.get('message') and unit['outcome'] != 'completed' else ''
        # The sentence only where it needs reading; the unit's report has it in every case.
        fence = ('<span class="outcome-failed">%s</span>' % esc(unit['fence']) if unit.get('fence_state') == 'fenced'
                 else '<span title="%s">%s</span>' % (esc(unit.get('fence', '')), esc(cells[4])))
        rows.append((name, outcome + message) + tuple(esc(str(cell)) for cell in cells[1:4]) + (fence,))
    table = _html_table(('Unit', 'Outcome', 'Write-unavailable window (fence to point of no return)',
                         'Application-observed window (traffic stopped to traffic started)', 'Reverse task', 'Fence'),
                        rows or [('none', '', '', '', '', '')], numeric=(2, 3))
    longest = fleet['longest']
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><style>%(css)s</style></head><body>'
        '<h1>%(title)s: %(outcomes)s</h1><p>Written %(generated)s. Longest write-unavailable window %(role)s; longest window '
        'the applications saw %(app)s.</p>%(table)s<p class="muted">Times are ISO 8601 in UTC. Each unit links to its own report.</p>'
        '</body></html>\n' % {
            'title': esc(_fleet_title(fleet)), 'css': CSS, 'outcomes': esc(_fleet_outcomes(fleet)), 'generated': esc(iso(fleet['generated'])),
            'role': esc(_seconds(longest['write_unavailable_seconds']) or 'none'), 'app': esc(_seconds(longest['application_seconds']) or 'none'),
            'table': table,
        })


FLEET_RENDERERS = {
    'json': ('json', render_json),
    'markdown': ('md', render_fleet_markdown),
    'html': ('html', render_fleet_html),
}

FLEET_ARGUMENT_SPEC = dict(
    units=dict(type='list', elements='dict', required=True, options=dict(
        journal_path=dict(type='path', required=True),
        unit=dict(type='str'),
        reports=dict(type='dict', default={}),
    )),
    dest=dict(type='path', required=True),
    name=dict(type='str'),
    formats=dict(type='list', elements='str', choices=list(FLEET_RENDERERS), default=list(FLEET_RENDERERS)),
)


def run_fleet(params, check_mode=False, now=None):
    """Carry out the switchover_fleet_report module or action; returns its result."""
    generated = datetime.datetime.now(datetime.timezone.utc).timestamp() if now is None else now
    if not params['units']:
        raise ReportError('units is empty: pass one entry (journal_path) per unit of the run.')
    name = params.get('name') or 'fleet-%s' % datetime.datetime.fromtimestamp(generated, tz=datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    if os.sep in name or name.startswith('.'):
        raise ReportError('name %r is not a file name: give a name without "/" and not starting with ".".' % name)
    fleet = build_fleet(params['units'], params['dest'], generated)
    files = _write(params['dest'], name, params['formats'], (fleet,), FLEET_RENDERERS, check_mode)
    return dict(changed=True, fleet=fleet, files=files,
                summary='%s: %s; report %s' % (_fleet_title(fleet), _fleet_outcomes(fleet),
                                               files.get('html') or files.get('markdown') or files.get('json')))
