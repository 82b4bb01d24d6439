# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a switchover journal into a report: a JSON document, Markdown, and HTML with an inline
SVG lag chart. Rendering is pure; run() reads the journal and writes the files."""

from __future__ import annotations

import html
import json
import os
import time

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils

PHASE_TITLES = {
    'preflight': 'Preflight checks',
    'wait_undelayed': 'Wait until the task is undelayed',
    'stop_traffic': 'Stop application traffic on the source',
    'fence': 'Fence writes on the source',
    'verify_sessions': 'Verify no session writes',
    'catch_up': 'Prove catch-up',
    'pause_forward': 'Pause the forward task',
    'reopen_source': 'Re-enable writes for the reverse task',
    'reverse_task': 'Create and start the reverse task',
    'switch_traffic': 'Start traffic on the destination (point of no return)',
    'release_forward': 'Release the forward task',
    'abort': 'Abort and restore the source',
}


def _iso(value):
    if value in (None, ''):
        return ''
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(value))) + ('.%03d' % int((float(value) % 1) * 1000))


def _seconds(value):
    return '' if value is None else '%.1f s' % value


def write_unavailable_window(journal):
    """(start, end, seconds): from the moment writes were fenced to the moment applications could
    write again (the destination at the point of no return, or the source after an abort)."""
    data = journal.get('data', {})
    start = data.get('window_start') or journal.get('phases', {}).get('fence', {}).get('started')
    end = journal.get('point_of_no_return') or data.get('window_end')
    if start is None:
        return None, None, None
    if end is None:
        return start, None, None
    return start, end, round(float(end) - float(start), 3)


def build_report(journal):
    """The report as a JSON-safe dict (also the content of the JSON report)."""
    data = journal.get('data', {})
    start, end, window = write_unavailable_window(journal)
    phases = []
    for name, entry in sorted(journal.get('phases', {}).items(), key=lambda item: item[1].get('started') or 0):
        phases.append({
            'phase': name,
            'title': PHASE_TITLES.get(name, name),
            'status': entry.get('status'),
            'started': entry.get('started'),
            'finished': entry.get('finished'),
            'elapsed': entry.get('elapsed'),
            'message': entry.get('message', ''),
        })
    fence = data.get('fence') or {}
    ended = list(fence.get('ended_sessions') or [])
    ended.extend(data.get('sessions_ended') or [])
    return {
        'unit': journal.get('unit'),
        'run_id': journal.get('run_id'),
        'attempts': journal.get('attempt', 1),
        'outcome': journal.get('outcome'),
        'message': journal.get('message', ''),
        'started': journal.get('created'),
        'finished': journal.get('updated'),
        'point_of_no_return': journal.get('point_of_no_return'),
        'write_unavailable': {'start': start, 'end': end, 'seconds': window},
        'tasks': {
            'forward': data.get('job_id'),
            'reverse': data.get('reverse_job_id'),
            'forward_released': bool(data.get('forward_released')),
        },
        'source': data.get('source'),
        'destination': data.get('destination'),
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
        'lag_samples': data.get('lag_samples') or [],
        'phases': phases,
        'events': journal.get('events', []),
    }


def lag_svg(samples, markers=(), width=720, height=220):
    """An inline SVG line chart of delay (seconds) over time, with vertical markers.

    ``samples``: dicts with ``time`` (UNIX s) and ``delay_ms``. ``markers``: (time, label) pairs.
    """
    points = [(float(s['time']), float(s['delay_ms']) / 1000.0) for s in samples
              if s.get('time') is not None and s.get('delay_ms') is not None]
    if not points:
        return '<p>No lag samples were recorded.</p>'
    points.sort()
    pad_left, pad_right, pad_top, pad_bottom = 52, 16, 14, 30
    t0 = min([p[0] for p in points] + [m[0] for m in markers if m[0] is not None])
    t1 = max([p[0] for p in points] + [m[0] for m in markers if m[0] is not None])
    span = max(t1 - t0, 1.0)
    top = max(max(p[1] for p in points), 1.0)
    plot_w = width - pad_left - pad_right
    plot_h = height - pad_top - pad_bottom

    def x(t):
        return pad_left + (t - t0) / span * plot_w

    def y(v):
        return pad_top + plot_h - v / top * plot_h

    path = ' '.join('%s%.1f,%.1f' % ('M' if i == 0 else 'L', x(t), y(v)) for i, (t, v) in enumerate(points))
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
        'aria-label="DTS delay over time">' % (width, height, width, height),
        '<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>' % (pad_left, pad_top, plot_w, plot_h),
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = top * fraction
        parts.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end">%.1f s</text>' % (pad_left - 6, y(value) + 4, value))
    parts.append('<text x="%d" y="%d" font-size="11">0 s</text>' % (pad_left, height - 8))
    parts.append('<text x="%d" y="%d" font-size="11" text-anchor="end">%.0f s</text>' % (width - pad_right, height - 8, span))
    for when, label in markers:
        if when is None:
            continue
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-dasharray="4 3"/>'
                     % (x(when), pad_top, x(when), pad_top + plot_h))
        parts.append('<text x="%.1f" y="%d" font-size="11" fill="#c0392b">%s</text>' % (x(when) + 3, pad_top + 12, html.escape(label)))
    parts.append('<path d="%s" fill="none" stroke="#2471a3" stroke-width="2"/>' % path)
    parts.append('</svg>')
    return ''.join(parts)


def _markers(report):
    window = report['write_unavailable']
    return [(window['start'], 'fence'), (report['point_of_no_return'], 'point of no return')]


def render_markdown(report):
    window = report['write_unavailable']
    lines = [
        '# Switchover of %s: %s' % (report['unit'], report['outcome']),
        '',
    ]
    if report['message']:
        lines += ['> %s' % report['message'], '']
    lines += [
        '| | |',
        '|---|---|',
        '| Run | %s (attempt %s) |' % (report['run_id'], report['attempts']),
        '| Started | %s |' % _iso(report['started']),
        '| Forward task | %s%s |' % (report['tasks']['forward'] or '', ' (released)' if report['tasks']['forward_released'] else ''),
        '| Reverse task | %s |' % (report['tasks']['reverse'] or 'not created'),
        '| Catch-up | %s |' % (report['catch_up']['mode'] or ''),
        '| Write-unavailable window | %s |' % (_seconds(window['seconds']) if window['seconds'] is not None
                                               else ('open since %s' % _iso(window['start']) if window['start'] else 'none')),
        '| Point of no return | %s |' % (_iso(report['point_of_no_return']) or 'not reached'),
        '',
        '## Timeline',
        '',
        '| Phase | Status | Started | Duration | Note |',
        '|---|---|---|---|---|',
    ]
    for phase in report['phases']:
        lines.append('| %s | %s | %s | %s | %s |' % (phase['title'], phase['status'], _iso(phase['started']),
                                                     _seconds(phase['elapsed']), phase['message'].replace('|', '\\|')))
    proof = report['catch_up']['proof']
    if proof:
        lines += ['', '## Catch-up proof', '',
                  'Token `%s` written on the source, seen on the destination after %s.' % (proof.get('token'), _seconds(proof.get('latency')))]
    fence = report['fence']
    lines += ['', '## Fence', '', 'Scope: %s.' % (fence['scope'] or 'none')]
    if fence['accounts']:
        lines.append('Fenced accounts: %s.' % ', '.join('`%s`' % a for a in fence['accounts']))
    for change in fence['changes']:
        lines.append('- %s `%s`: %s -> %s' % (change.get('kind'), change.get('target'), change.get('before'), change.get('after')))
    lines += ['', '## Sessions ended or blocked', '']
    if report['sessions']['ended']:
        lines += ['| Id | User | Client | Command |', '|---|---|---|---|']
        for session in report['sessions']['ended']:
            command = str(session.get('command') or '').replace('|', '\\|')[:80]
            lines.append('| %s | %s | %s | %s |' % (session.get('id'), session.get('user'), session.get('client'), command))
    else:
        lines.append('None.')
    samples = report['lag_samples']
    lines += ['', '## Lag', '']
    if samples:
        delays = [s['delay_ms'] for s in samples if s.get('delay_ms') is not None]
        lines.append('%d samples; delay from %.1f s down to %.1f s (max %.1f s). The HTML report has the chart.'
                     % (len(samples), delays[0] / 1000.0, delays[-1] / 1000.0, max(delays) / 1000.0) if delays else 'No delay values.')
    else:
        lines.append('No samples.')
    return '\n'.join(lines) + '\n'


def render_html(report):
    window = report['write_unavailable']
    esc = html.escape
    rows = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        esc(p['title']), esc(str(p['status'])), esc(_iso(p['started'])), esc(_seconds(p['elapsed'])), esc(p['message']))
        for p in report['phases'])
    ended = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        esc(str(s.get('id'))), esc(str(s.get('user'))), esc(str(s.get('client'))), esc(str(s.get('command') or '')[:120]))
        for s in report['sessions']['ended']) or '<tr><td colspan="4">None</td></tr>'
    changes = ''.join('<li>%s <code>%s</code>: %s &rarr; %s</li>' % (
        esc(str(c.get('kind'))), esc(str(c.get('target'))), esc(str(c.get('before'))), esc(str(c.get('after'))))
        for c in report['fence']['changes']) or '<li>none</li>'
    summary = [
        ('Run', '%s (attempt %s)' % (report['run_id'], report['attempts'])),
        ('Outcome', '%s %s' % (report['outcome'], report['message'])),
        ('Forward task', '%s%s' % (report['tasks']['forward'] or '', ' (released)' if report['tasks']['forward_released'] else '')),
        ('Reverse task', report['tasks']['reverse'] or 'not created'),
        ('Catch-up', report['catch_up']['mode'] or ''),
        ('Write-unavailable window', _seconds(window['seconds']) if window['seconds'] is not None else 'not closed'),
        ('Point of no return', _iso(report['point_of_no_return']) or 'not reached'),
    ]
    summary_rows = ''.join('<tr><th>%s</th><td>%s</td></tr>' % (esc(k), esc(str(v))) for k, v in summary)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Switchover of %(unit)s</title>'
        '<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}'
        'td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}</style></head><body>'
        '<h1>Switchover of %(unit)s: %(outcome)s</h1><table>%(summary)s</table>'
        '<h2>Lag</h2>%(chart)s<h2>Timeline</h2><table><tr><th>Phase</th><th>Status</th><th>Started</th><th>Duration</th>'
        '<th>Note</th></tr>%(rows)s</table><h2>Fence</h2><p>Scope: %(scope)s</p><ul>%(changes)s</ul>'
        '<h2>Sessions ended or blocked</h2><table><tr><th>Id</th><th>User</th><th>Client</th><th>Command</th></tr>%(ended)s</table>'
        '</body></html>\n' % {
            'unit': esc(str(report['unit'])), 'outcome': esc(str(report['outcome'])), 'summary': summary_rows,
            'chart': lag_svg(report['lag_samples'], _markers(report)), 'rows': rows,
            'scope': esc(str(report['fence']['scope'] or 'none')), 'changes': changes, 'ended': ended,
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
)
MUTUALLY_EXCLUSIVE = [('journal', 'journal_path')]
REQUIRED_ONE_OF = [('journal', 'journal_path')]


class ReportError(Exception):
    """The report cannot be written; the message says why."""


def run(params, check_mode=False):
    """Carry out the switchover_report module or action; returns its result."""
    journal = params.get('journal')
    if journal is None:
        try:
            journal = journal_utils.load(params['journal_path'])
        except journal_utils.JournalError as exc:
            raise ReportError(str(exc))
        if journal is None:
            raise ReportError('There is no journal at %s: nothing to report.' % params['journal_path'])
    if not journal.get('run_id') or not journal.get('unit'):
        raise ReportError('The journal has no unit or run_id: pass a journal written by switchover_journal.')

    report = build_report(journal)
    files = {}
    base = os.path.join(params['dest'], '%s-%s' % (journal['unit'], journal['run_id']))
    for fmt in params['formats']:
        extension, render = RENDERERS[fmt]
        files[fmt] = '%s.%s' % (base, extension)
        if not check_mode:
            try:
                os.makedirs(params['dest'], exist_ok=True)
                with open(files[fmt], 'w') as stream:
                    stream.write(render(report))
            except OSError as exc:
                raise ReportError('Cannot write the report %s: %s' % (files[fmt], exc))
    return dict(changed=not check_mode, report=report, files=files, write_unavailable_seconds=report['write_unavailable']['seconds'])
