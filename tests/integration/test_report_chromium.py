"""The HTML report as a person sees it: rendered by headless Chromium (Debian's chromium), from
the journal of a real rehearsal (make demo). The browser's own layout says whether the two charts
are drawn and whether a label is cut off; the screenshot's pixels say whether the charts show."""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils import report as r

HERE = os.path.dirname(os.path.abspath(__file__))
JOURNAL = os.path.join(HERE, 'report_journals', 'shop-demo.json')
WINDOW = (1100, 1400)

# Runs in the page after load: the geometry of what the charts drew, as JSON in <pre id="probe">.
PROBE = '''<script>
window.addEventListener('load', function () {
  function box(e) { var b = e.getBoundingClientRect(); return {x: b.left + scrollX, y: b.top + scrollY, w: b.width, h: b.height}; }
  var charts = {};
  ['timeline', 'lag'].forEach(function (id) {
    var svg = document.querySelector('#' + id + ' svg');
    if (!svg) { charts[id] = null; return; }
    charts[id] = {
      svg: box(svg),
      bars: Array.prototype.map.call(svg.querySelectorAll('rect.bar'), box),
      bands: Array.prototype.map.call(svg.querySelectorAll('rect.role-window, rect.app-window, rect.paused'), box),
      curve: Array.prototype.map.call(svg.querySelectorAll('path.lag'), box),
      texts: Array.prototype.map.call(svg.querySelectorAll('text'), function (t) { var b = box(t); b.text = t.textContent; return b; })
    };
  });
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(charts);
  document.body.appendChild(pre);
});
</script></body>'''


def _chromium():
    """The browser, installed when missing and we may (root, apt-get); else the reason to skip."""
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        pytest.skip('chromium is not installed and cannot be installed here (not root or no apt-get): apt-get install chromium')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    install = subprocess.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-liberation'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, universal_newlines=True, check=False)
    found = shutil.which('chromium')
    if not found:
        pytest.skip('chromium is not installed and apt-get could not install it: %s' % install.stdout[-500:])
    return found


def _browse(chromium, tmp_path, page, *args):
    command = [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars',
               '--user-data-dir=%s' % (tmp_path / 'profile'), '--window-size=%d,%d' % WINDOW] + list(args) + ['file://%s' % page]
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG, as Chromium writes them."""
    with open(path, 'rb') as stream:
        data = stream.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, idat, header = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat += chunk
        pos += 12 + length
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6), header
    step = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * step
    rows, previous, i = [], bytearray(stride), 0
    for dummy in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b, c = previous[x], previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, step)])
        previous = line
    return width, height, rows


def _colours(rows, area):
    x0, y0 = int(area['x']), int(area['y'])
    return [pixel for row in rows[y0:y0 + int(area['h'])] for pixel in row[x0:x0 + int(area['w'])]]


def _near(pixels, rgb, tolerance=24):
    return sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tolerance for i in range(3)))


@pytest.fixture(scope='module')
def chromium():
    return _chromium()


@pytest.fixture
def rendered(chromium, tmp_path):
    with open(JOURNAL) as stream:
        journal = json.load(stream)
    files = r.run({'journal': journal, 'dest': str(tmp_path), 'formats': ['html']})['files']
    with open(files['html']) as stream:
        page = stream.read()
    probe_page = tmp_path / 'probe.html'
    probe_page.write_text(page.replace('</body>', PROBE, 1))
    dom = _browse(chromium, tmp_path, probe_page, '--dump-dom')
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    geometry = json.loads(html.unescape(found.group(1)))
    shot = tmp_path / 'report.png'
    _browse(chromium, tmp_path, files['html'], '--screenshot=%s' % shot)
    return {'journal': journal, 'geometry': geometry, 'screenshot': str(shot)}


def test_both_charts_are_drawn_with_every_phase_and_the_whole_curve(rendered):
    timeline, lag = rendered['geometry']['timeline'], rendered['geometry']['lag']
    assert timeline and lag, 'both charts are in the page'
    for chart in (timeline, lag):
        assert chart['svg']['w'] > 600 and chart['svg']['h'] > 100
    ran = [p for p in rendered['journal']['phases'].values() if p['status'] != 'skipped']
    assert len(timeline['bars']) == len(ran) and all(b['w'] >= 1.5 and b['h'] > 5 for b in timeline['bars'])
    assert len(timeline['bands']) == 2 and all(band['w'] > 5 for band in timeline['bands'])
    curve = lag['curve'][0]
    assert curve['w'] > 0.3 * lag['svg']['w'] and curve['h'] > 20
    # The charts share one time axis: the same tick labels at the same x.
    ticks = [[(t['text'], round(t['x'] + t['w'] / 2)) for t in chart['texts'] if re.match(r'^\d\d:\d\d:\d\dZ$', t['text'])]
             for chart in (timeline, lag)]
    assert len(ticks[0]) >= 3 and ticks[0] == ticks[1]


def test_no_label_is_cut_off(rendered):
    for name, chart in rendered['geometry'].items():
        frame = chart['svg']
        for text in chart['texts']:
            assert text['w'] > 0, (name, text)
            assert frame['x'] - 0.5 <= text['x'] and text['x'] + text['w'] <= frame['x'] + frame['w'] + 0.5, (name, text)
            assert frame['y'] - 0.5 <= text['y'] and text['y'] + text['h'] <= frame['y'] + frame['h'] + 0.5, (name, text)
    labels = [t['text'] for t in rendered['geometry']['timeline']['texts']]
    assert any(label.startswith('point of no return ') for label in labels)
    assert any(label.startswith('catch-up proof ') for label in labels) and any(label.startswith('fence ') for label in labels)


def test_the_screenshot_shows_the_charts(rendered):
    width, height, rows = _png_pixels(rendered['screenshot'])
    assert (width, height) == WINDOW
    timeline = _colours(rows, rendered['geometry']['timeline']['svg'])
    lag = _colours(rows, rendered['geometry']['lag']['svg'])
    # DTS steps in blue, database steps in green, the fence's red line; the lag curve in its blue.
    assert _near(timeline, (0x2e, 0x86, 0xc1)) > 200 and _near(timeline, (0x22, 0x99, 0x54)) > 100
    assert _near(timeline, (0xc0, 0x39, 0x2b), tolerance=40) > 20
    assert _near(lag, (0x24, 0x71, 0xa3)) > 150
    for pixels in (timeline, lag):
        assert sum(1 for p in pixels if p != (255, 255, 255)) > 0.05 * len(pixels)
