"""Clocks for the emulator: wall time (optionally accelerated) and a manual clock for tests.

Every clock is a callable returning UNIX seconds as a float. The emulator reads time only through
its clock, so task phases, delays and checkpoints are reproducible under a manual clock.
"""

import threading
import time


class ScaledClock(object):
    """Wall-clock time that runs ``scale`` times faster than real time.

    It starts at ``start`` (default: now), so checkpoints stay plausible UNIX timestamps. The
    process mode starts it at the last saved emulator time when that is later than now, so a
    restarted accelerated emulator never sees time run backwards.
    """

    def __init__(self, scale=1.0, start=None):
        if not scale or scale <= 0:
            raise ValueError('time_scale must be a positive number, got %r' % (scale,))
        self.scale = float(scale)
        self._start = time.time() if start is None else float(start)
        self._origin = time.monotonic()

    def __call__(self):
        return self._start + (time.monotonic() - self._origin) * self.scale


class ManualClock(object):
    """A clock that moves only when told: ``clock.advance(5)`` or ``clock.set(t)``."""

    def __init__(self, start=1700000000.0):
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self._now

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError('a manual clock only moves forward')
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now):
        with self._lock:
            if now < self._now:
                raise ValueError('a manual clock only moves forward')
            self._now = float(now)
            return self._now
