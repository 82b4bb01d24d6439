"""``rollback_window``: the way back beside the way there, per engine. One rehearsal per run
(tests/rehearsal, as ``make demo ROLLBACK=1``): the switchover, writes on the destination, the
rollback through the reverse task, writes on the source again, every write verified. Per engine, the
application-observed gap of each direction (last acknowledged write on the old side -> first on the
new one, from the load journal) and the role's window (fence -> point of no return, from each
journal). The emulator's ``fast`` profile, as ``write_window``: the figures are the role's and the
databases' own time on this machine. ``DTSOPS_BENCH_ROLLBACK_RUNS`` runs per engine (default 1),
``DTSOPS_BENCH_ENGINES`` the engines (default mysql,postgresql,redis).
"""

import os
import shutil
import statistics
import tempfile
import time

from bench import Row, Skip, benchmark

ENGINES = [engine for engine in os.environ.get('DTSOPS_BENCH_ENGINES', 'mysql,postgresql,redis').split(',') if engine]
RUNS = int(os.environ.get('DTSOPS_BENCH_ROLLBACK_RUNS', '1'))


def _there_and_back(engine):
    """One switchover and its rollback on the rehearsal: the verification result."""
    from rehearsal.environment import Rehearsal
    directory = tempfile.mkdtemp(prefix='dtsops-bench-rollback-')
    rehearsal = Rehearsal(engine, directory, copy_seconds=1.0, apply_rate=None)
    try:
        rehearsal.up()
        rc = rehearsal.switchover()
        if rc == 0:
            rehearsal.write_on_destination(writes=5, stop=False)
            rc = rehearsal.rollback()
            if rc == 0:
                rehearsal.write_on_source(writes=5, after=time.time())
        result = rehearsal.verify(timeout=60)
        if rc != 0 or not result['ok'] or not result['rolled_back']:
            raise RuntimeError('%s switchover and rollback failed (rc %s): %s' % (engine, rc, '; '.join(result['problems'])))
        return result
    finally:
        rehearsal.down()
        shutil.rmtree(directory, ignore_errors=True)


@benchmark('rollback_window', 'the rollback beside the switchover on the rehearsal, per engine: the application-observed write gap '
                              'and the role\'s write-unavailable window of each direction (DTS profile fast)')
def rollback_window():
    try:
        import rehearsal  # noqa: F401  pylint: disable=unused-import
    except ImportError as exc:
        raise Skip('the rehearsal (tests/rehearsal) is not importable: %s' % exc)
    rows = []
    for engine in ENGINES:
        results = [_there_and_back(engine) for dummy in range(RUNS)]
        figures = (
            ('switchover: application write gap', [r['application_gap_seconds'] for r in results]),
            ('rollback: application write gap', [r['rollback']['application_gap_seconds'] for r in results]),
            ('switchover: role window', [r['write_unavailable_seconds'] for r in results]),
            ('rollback: role window', [r['rollback']['write_unavailable_seconds'] for r in results]),
        )
        for name, values in figures:
            rows.append(Row('%s %s' % (engine, name), statistics.median(values), 's',
                            note='%d run%s: %s' % (len(values), '' if len(values) == 1 else 's', ' '.join('%.2f' % v for v in values))))
    return rows
