"""``reverse_orders``: the write-unavailable window under the emulator's ``realistic`` DTS profile,
per engine, for the three orders of the reverse task side by side:

* ``armed``: ``switchover_cutover: armed``, ``switchover_reverse.arm: before_fence`` (the default):
  the reverse task is created and prechecked before the fence; the window holds the pause, the
  writer start (or, for a configured task, its start and precheck), then the point of no return;
* ``fast``: ``switchover_cutover: fast``: the applications move right after the catch-up proof, the
  pause and the writer start follow (only with a reverse instance, so MySQL here);
* ``in_window``: ``switchover_reverse.arm: in_window``: the manual procedure's order, the reverse task
  created and prechecked inside the window, before the pause.

Two figures per run, both at real scale (see docs/benchmarks.md for the derivation): the role's window
(fence -> point of no return, from the journal) and the application's write gap (last acknowledged
write on the source -> first on the destination, from the rehearsal's load journal). The profile's
durations are assumptions (docs/emulator.md); the runs take them at ``DTSOPS_BENCH_TIME_SCALE``
(default 0.1) and convert back. ``DTSOPS_BENCH_ORDER_RUNS`` runs per order and engine (default 1);
``DTSOPS_BENCH_ENGINES`` the engines (default mysql,postgresql,redis).
"""

import os
import shutil
import statistics
import tempfile

from bench import Row, Skip, benchmark

ENGINES = [engine for engine in os.environ.get('DTSOPS_BENCH_ENGINES', 'mysql,postgresql,redis').split(',') if engine]
RUNS = int(os.environ.get('DTSOPS_BENCH_ORDER_RUNS', '1'))
TIME_SCALE = float(os.environ.get('DTSOPS_BENCH_TIME_SCALE', '0.1'))
# name: (switchover_cutover, switchover_reverse.arm)
ORDERS = (('armed', ('armed', 'before_fence')), ('fast', ('fast', 'before_fence')), ('in_window', ('armed', 'in_window')))
# The fast cutover needs a reverse instance (CreateReverseDtsJob): the rehearsal's MariaDB speaks as MySQL.
FAST_ENGINES = ('mysql',)


def _switchover(engine, cutover, arm):
    """One realistic switchover on the rehearsal: its verification result."""
    from rehearsal.environment import Rehearsal
    directory = tempfile.mkdtemp(prefix='dtsops-bench-orders-')
    rehearsal = Rehearsal(engine, directory, copy_seconds=1.0, apply_rate=None, dts_profile='realistic', time_scale=TIME_SCALE,
                          cutover=cutover, reverse_arm=arm)
    try:
        rehearsal.up()
        rc = rehearsal.switchover()
        if rc == 0:
            rehearsal.write_on_destination(writes=5)
        result = rehearsal.verify(timeout=60)
        if rc != 0 or not result['ok'] or result['real_scale']['write_unavailable_seconds'] is None:
            raise RuntimeError('%s %s/%s switchover failed (rc %s): %s' % (engine, cutover, arm, rc, '; '.join(result['problems'])))
        return result
    finally:
        rehearsal.down()
        shutil.rmtree(directory, ignore_errors=True)


def _note(results):
    first = results[0]
    reverse = first.get('reverse') or {}
    armed = ''
    if 'from_fence_seconds' in reverse:
        offset = reverse['from_fence_seconds']
        armed = '; reverse (%s) armed %.1f s %s the fence' % (reverse.get('method'), abs(offset), 'before' if offset < 0 else 'after')
    return ('measured at scale %g: window %s s, app gap %s s; emulated DTS time in the window %s s%s'
            % (TIME_SCALE, ' '.join('%.2f' % r['write_unavailable_seconds'] for r in results),
               ' '.join('%.2f' % r['application_gap_seconds'] for r in results),
               ' '.join('%.2f' % r['real_scale']['dts_in_window_seconds'] for r in results), armed))


@benchmark('reverse_orders', 'write-unavailable window under the realistic DTS profile (assumed durations, run at %gx and converted '
                             'back to real scale), per engine: reverse task armed before the fence (armed), fast cutover, and the '
                             'reverse task armed in the window (in_window); the role\'s window and the application\'s write gap'
           % TIME_SCALE)
def reverse_orders():
    try:
        import rehearsal  # noqa: F401  pylint: disable=unused-import
    except ImportError as exc:
        raise Skip('the rehearsal (tests/rehearsal) is not importable: %s' % exc)
    rows = []
    for engine in ENGINES:
        for order, (cutover, arm) in ORDERS:
            if order == 'fast' and engine not in FAST_ENGINES:
                continue    # no reverse instance for this engine: the role refuses the fast cutover
            results = [_switchover(engine, cutover, arm) for dummy in range(RUNS)]
            window = statistics.median(r['real_scale']['write_unavailable_seconds'] for r in results)
            gap = statistics.median(r['real_scale']['application_gap_seconds'] for r in results)
            dts = statistics.median(r['real_scale']['dts_in_window_seconds'] for r in results) / TIME_SCALE
            rows += [
                Row('%s realistic, %s: role window (real scale)' % (engine, order), window, 's', note=_note(results)),
                Row('%s realistic, %s: application write gap (real scale)' % (engine, order), gap, 's'),
                # The profile's part of the window: independent of the machine's load, unlike the rest.
                Row('%s realistic, %s: DTS time in the window (real scale)' % (engine, order), dts, 's',
                    note='the rest of the window is the role and the databases, at the speed of this machine'),
            ]
    return rows
