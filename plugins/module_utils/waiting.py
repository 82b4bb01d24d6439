# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One polling loop for every wait of the collection.

A wait repeatedly calls a *probe* that reports an :class:`Observation`: is the goal reached,
can it never be reached (``terminal``), and the values seen (kept as samples for the report).
The loop runs on a monotonic deadline, backs off while the goal is far, and can require the
goal to *hold* for ``stable_for`` seconds before it returns.
"""

from __future__ import annotations

import time


class Observation(object):
    """What one probe saw.

    ``ready``: the goal holds right now. ``terminal``: a reason why the goal can never be reached
    (the wait stops at once). ``values``: a small flat dict kept as a sample. ``near``: the goal
    is close (for example a replication delay just above its limit), so the loop keeps polling at
    the base interval instead of backing off.
    """

    __slots__ = ('ready', 'terminal', 'values', 'near')

    def __init__(self, ready, values=None, terminal=None, near=False):
        self.ready = bool(ready)
        self.values = dict(values or {})
        self.terminal = terminal
        self.near = bool(near)


class WaitResult(object):
    """The outcome of a wait: how long it took, how many probes, and the samples."""

    def __init__(self):
        self.elapsed = 0.0
        self.polls = 0
        self.samples = []
        self.last = None
        self.held_for = 0.0

    def as_dict(self):
        return {
            'elapsed': round(self.elapsed, 3),
            'polls': self.polls,
            'held_for': round(self.held_for, 3),
            'samples': list(self.samples),
        }


class WaitError(Exception):
    """Base class: the wait ended without reaching its goal. ``result`` holds what was seen."""

    def __init__(self, message, result):
        super(WaitError, self).__init__(message)
        self.result = result


class WaitTimeout(WaitError):
    """The deadline passed before the goal was reached (and held)."""


class WaitAborted(WaitError):
    """The probe reported a state from which the goal can never be reached."""


class _Samples(object):
    """At most ``limit`` samples spread evenly over the whole wait, first and last included.

    When the buffer is full every other kept sample is dropped and only every ``stride``-th new
    sample is kept from then on, so a long wait keeps a curve of even resolution instead of a
    dense tail. The newest sample is always returned, kept or not: it is the final state.
    """

    def __init__(self, limit):
        self.limit = max(2, int(limit))
        self.kept = []
        self.stride = 1
        self.count = 0
        self.newest = None

    def add(self, sample):
        self.newest = sample
        if self.count % self.stride == 0:
            self.kept.append(sample)
            if len(self.kept) >= self.limit:
                # Keep indexes 0, 2, 4...: still one sample every ``stride`` polls, from poll 0.
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1

    def as_list(self):
        if self.newest is not None and (not self.kept or self.kept[-1] is not self.newest):
            return self.kept + [self.newest]
        return list(self.kept)


class Waiter(object):
    """Polls a probe until its goal holds for ``stable_for`` seconds, or fails.

    ``poll_interval`` is the base interval. While the goal is not reached (and the probe does not
    say it is near) the interval grows by ``backoff`` up to ``max_interval``; it returns to the
    base interval as soon as the goal is reached or near, so a stability window is watched closely.
    No sleep ever passes the deadline or the end of the stability window. ``on_progress(observation,
    result)`` is called at most every ``progress_every`` seconds (and once at the start), for long
    waits that must stay visible. During :meth:`wait`, ``deadline`` holds the monotonic time at
    which the wait ends, so a probe can bound its own retries by it.

    ``held_for`` continues an earlier wait that timed out while its goal held: when the first
    probe finds the goal reached, it counts as held for that long already (a wait split into
    slices, to report progress between them, keeps its stability window).
    """

    def __init__(self, timeout, poll_interval=5.0, stable_for=0.0, max_interval=None, backoff=1.5,
                 max_samples=240, on_progress=None, progress_every=30.0, held_for=0.0,
                 clock=time.monotonic, wallclock=time.time, sleep=time.sleep):
        if timeout is None or timeout < 0:
            raise ValueError('timeout must be zero or more seconds')
        if poll_interval is None or poll_interval <= 0:
            raise ValueError('poll_interval must be more than zero seconds')
        if stable_for is None or stable_for < 0:
            raise ValueError('stable_for must be zero or more seconds')
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self.stable_for = float(stable_for)
        self.max_interval = max(self.poll_interval, float(max_interval) if max_interval else 30.0)
        self.backoff = max(1.0, float(backoff))
        self.max_samples = max(2, int(max_samples))
        self.on_progress = on_progress
        self.progress_every = float(progress_every)
        self.held_before = max(0.0, float(held_for or 0.0))
        self.deadline = None
        self._clock = clock
        self._wallclock = wallclock
        self._sleep = sleep

    def remaining(self):
        """Seconds left before the deadline of the running wait (None outside a wait)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self._clock())

    def wait(self, probe):
        """Run the wait. Returns a :class:`WaitResult`; raises WaitTimeout or WaitAborted."""
        result = WaitResult()
        samples = _Samples(self.max_samples)
        start = self._clock()
        deadline = self.deadline = start + self.timeout
        interval = self.poll_interval
        ready_since = None
        last_progress = None
        try:
            while True:
                observation = probe()
                now = self._clock()
                result.polls += 1
                result.elapsed = now - start
                result.last = observation
                sample = {'t': round(now - start, 3), 'time': round(self._wallclock(), 3), 'ready': observation.ready}
                sample.update(observation.values)
                samples.add(sample)
                result.samples = samples.as_list()

                if self.on_progress and (last_progress is None or now - last_progress >= self.progress_every):
                    last_progress = now
                    self.on_progress(observation, result)

                if observation.terminal:
                    raise WaitAborted(observation.terminal, result)

                if observation.ready:
                    if ready_since is None:
                        ready_since = now - (self.held_before if result.polls == 1 else 0.0)
                        interval = self.poll_interval
                    result.held_for = now - ready_since
                    if result.held_for >= self.stable_for:
                        return result
                    next_check = min(now + interval, ready_since + self.stable_for)
                else:
                    ready_since = None
                    result.held_for = 0.0
                    if observation.near:
                        interval = self.poll_interval
                    next_check = now + interval
                    if not observation.near:
                        interval = min(self.max_interval, interval * self.backoff)

                if now >= deadline:
                    raise WaitTimeout('timed out after %s seconds' % _seconds(self.timeout), result)
                self._sleep(max(0.0, min(next_check, deadline) - now))
        finally:
            self.deadline = None


def _seconds(value):
    return ('%d' % value) if float(value).is_integer() else ('%.1f' % value)
