"""Benchmarks of dtsops.switchover (not tests): ``python -m bench --output BENCHMARKS.md``.

A benchmark is a function in a ``bench/bench_*.py`` module, registered with :func:`benchmark`,
that returns a list of :class:`Row`. The runner (``bench/__main__.py``) imports every such module,
runs the benchmarks, prints one table and writes it as Markdown. Add a benchmark by adding a
module; nothing else needs to change.
"""

import collections
import statistics
import time

BENCHMARKS = collections.OrderedDict()


class Skip(Exception):
    """Raised by a benchmark that cannot run here (a missing server binary, for example)."""


class Row(object):
    """One figure. ``target`` is the limit it must stay under (or over, with ``higher_is_better``);
    without a target the row is informative only."""

    def __init__(self, name, figure, unit, target=None, higher_is_better=False, note=''):
        self.name = name
        self.figure = float(figure)
        self.unit = unit
        self.target = None if target is None else float(target)
        self.higher_is_better = higher_is_better
        self.note = note

    @property
    def ratio(self):
        """figure / target: below 1 is within the target for lower-is-better figures."""
        if not self.target:
            return None
        return self.figure / self.target

    @property
    def verdict(self):
        if self.target is None:
            return 'info'
        met = self.figure >= self.target if self.higher_is_better else self.figure <= self.target
        return 'pass' if met else 'FAIL'

    def target_text(self):
        if self.target is None:
            return ''
        return '%s %s %s' % ('>=' if self.higher_is_better else '<', fmt(self.target), self.unit)

    def as_dict(self):
        return {'name': self.name, 'figure': self.figure, 'unit': self.unit, 'target': self.target,
                'ratio': self.ratio, 'verdict': self.verdict, 'note': self.note}


def benchmark(name, description):
    """Register ``function() -> [Row]`` under ``name`` (unique), with a one-line description."""
    def register(function):
        if name in BENCHMARKS:
            raise ValueError('benchmark %r registered twice' % name)
        BENCHMARKS[name] = (description, function)
        return function
    return register


def fmt(value):
    """Figures with three significant digits, without scientific notation for usual ranges."""
    if value == 0:
        return '0'
    if abs(value) >= 100:
        return '%.0f' % value
    if abs(value) >= 10:
        return '%.1f' % value
    if abs(value) >= 1:
        return '%.2f' % value
    return '%.3g' % value


def timed(function, repeat=5, warmup=1):
    """Run ``function`` ``warmup + repeat`` times; return (median, min, max) of the timed runs in
    seconds, and the last return value."""
    value = None
    for dummy in range(warmup):
        value = function()
    times = []
    for dummy in range(repeat):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times), value
