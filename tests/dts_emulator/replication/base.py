"""The engine-independent part of a replicator: a capture thread that reads the source's changes
into an ordered queue, and an apply thread that writes them to the destination in that order.

A *unit* is one source transaction (or, for Redis, a run of commands) with the source position
just after it and its commit time. The applier writes each unit in one destination transaction
together with the replicator's progress record, so a unit is applied exactly once even across
restarts, and the reverse direction can recognise (and skip) what a replicator wrote.

The delay is the age of the oldest unit not yet applied (0 when the queue is empty): a real
backlog, plus ``apply_latency`` seconds that every unit waits before it may be applied (a WAN).
``apply_rate`` caps the units applied per second (a slow destination): a backlog then drains at
the difference between that rate and the source's, as after a full copy.
"""

import collections
import threading
import time

# Every replicator tags what it writes with this prefix and its task id: a MySQL progress table
# dts_emulator.progress, PostgreSQL replication origins dts_emulator_<id>, Redis keys
# dts_emulator:progress:<id>.
TAG_PREFIX = 'dts_emulator'


class ReplicationError(Exception):
    """A replication failure the task reports as its ErrorMessage; never holds a password."""


class Endpoint(object):
    """Where one side of a task lives, with the migration account's credentials."""

    def __init__(self, host, port, user, password, database=None):
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.database = database

    @property
    def address(self):
        return '%s:%d' % (self.host, self.port)

    def __repr__(self):
        return '<Endpoint %s@%s/%s>' % (self.user, self.address, self.database or '')


class Unit(object):
    """One change set to apply atomically. ``position`` is the source position right after it;
    ``skip`` units (the other direction's own writes, empty transactions) only move the position."""

    __slots__ = ('position', 'commit_time', 'changes', 'skip', 'tag')

    def __init__(self, position, commit_time, changes=(), skip=False, tag=None):
        self.position = position
        self.commit_time = commit_time
        self.changes = list(changes)
        self.skip = skip
        self.tag = tag

    def __repr__(self):
        return '<Unit %r %d change(s)%s>' % (self.position, len(self.changes), ' skip' if self.skip else '')


class Replicator(object):
    """Replication of one task. Engines implement:

    ``prepare()``: the structure and full copy when the task has them, returning the source
    position the incremental phase starts from (without them: the current position);
    ``stream(position, stop, emit)``: read changes after ``position`` until ``stop`` is set,
    calling ``emit(unit)`` in commit order (return at least every half second to check ``stop``);
    ``connect_destination()`` and ``apply(connection, unit)``: write one unit and the progress
    record in one destination transaction; ``destination_progress()``: the position the
    destination has recorded, or None; ``release()``: drop what the task created on the servers
    (slots, publications) once it is finished or released.
    """

    engine = None
    hold_timeout = 60

    def __init__(self, job_id, source, destination, objects=(), state=None, structure=True, full=True, apply_latency=0.0,
                 related=None, writer_from=None, apply_rate=None):
        state = state or {}
        self.job_id = job_id
        self.source = source
        self.destination = destination
        self.objects = list(objects)
        self.structure = structure
        self.full = full
        self.apply_latency = float(apply_latency or 0)
        self.apply_rate = float(apply_rate) if apply_rate else None
        self._next_slot = 0.0
        self.related = related or (lambda: {job_id})
        # Units committed before this UNIX time are not written (StartReverseWriter's CheckPoint).
        self.writer_from = writer_from
        self.position = state.get('position')
        self.prepared = bool(state.get('prepared'))
        self.applied = int(state.get('applied', 0))
        self.skipped = int(state.get('skipped', 0))
        self.error = None
        self.dirty = False
        # When a unit was last applied or skipped (monotonic): how long the replicator has been idle.
        self._progress_at = time.monotonic()
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._apply_enabled = False
        self._in_flight = False
        self._closing = False
        self._capture_thread = None
        self._capture_stop = None
        self._apply_thread = None

    # -- what engines implement ---------------------------------------------------------------

    def prepare(self):
        raise NotImplementedError

    def stream(self, position, stop, emit):
        raise NotImplementedError

    def connect_destination(self):
        raise NotImplementedError

    def apply(self, connection, unit):
        raise NotImplementedError

    def destination_progress(self):
        return None

    def release(self):
        """Drop the task's objects on the servers (nothing by default)."""

    def abandon(self):
        """Close what prepare() left for stream() when the stream never starts."""

    @staticmethod
    def close_connection(connection):
        try:
            connection.close()
        except Exception:  # pylint: disable=broad-except
            pass

    # -- state --------------------------------------------------------------------------------

    def state(self):
        """What a state file keeps: enough to continue from the last applied unit."""
        with self._cond:
            return {'engine': self.engine, 'position': self.position, 'prepared': self.prepared, 'applied': self.applied,
                    'skipped': self.skipped}

    def status(self):
        with self._cond:
            return {'engine': self.engine, 'job_id': self.job_id, 'position': self.position, 'prepared': self.prepared,
                    'applied': self.applied, 'skipped': self.skipped, 'queued': len(self._queue),
                    'pending': sum(1 for unit in self._queue if not unit.skip),
                    'backlog_ms': self._backlog_ms(time.time()), 'capturing': self.capturing, 'applying': self._apply_enabled,
                    'idle_seconds': round(time.monotonic() - self._progress_at, 3),
                    'error': self.error, 'source': self.source.address, 'destination': self.destination.address}

    @property
    def capturing(self):
        return self._capture_thread is not None and self._capture_thread.is_alive()

    def backlog_ms(self):
        with self._cond:
            return self._backlog_ms(time.time())

    def _backlog_ms(self, now):
        for unit in self._queue:
            if not unit.skip:
                return max(0, int((now - unit.commit_time) * 1000))
        return 0

    def _fail(self, error):
        message = str(error) if isinstance(error, ReplicationError) else '%s: %s' % (type(error).__name__, error)
        with self._cond:
            if self.error is None:
                self.error = message
            self._apply_enabled = False
            self._cond.notify_all()

    # -- capture ------------------------------------------------------------------------------

    def prepare_now(self):
        """Fix the start position at once (a reverse task captures from its creation on: the
        caller must not return before the position is known)."""
        if not self.prepared:
            position = self.prepare()
            with self._cond:
                self.position = position
                self.prepared = True
                self.dirty = True

    def start_capture(self):
        """Start reading the source (idempotent). After a stop it reads again from the last
        applied position: whatever was queued is read again, nothing is lost."""
        if self.capturing or self.error:
            return
        self._capture_stop = threading.Event()
        self._capture_thread = threading.Thread(target=self._capture_main, args=(self._capture_stop,),
                                                name='dts-capture-%s' % self.job_id, daemon=True)
        self._capture_thread.start()
        self._ensure_applier()

    def stop_capture(self):
        thread, stop = self._capture_thread, self._capture_stop
        if thread is None:
            return
        self.hold()   # the queue is dropped below: nothing may be half applied
        stop.set()
        thread.join(timeout=30)
        self._capture_thread = None
        with self._cond:
            self._queue.clear()

    def _capture_main(self, stop):
        try:
            progress = self.destination_progress() if self.prepared else None
            if progress is not None and progress != self.position:
                # The destination's record is written with the data: it wins over a stale state file.
                with self._cond:
                    self.position = progress
                    self.dirty = True
            if not self.prepared:
                position = self.prepare()
                with self._cond:
                    self.position = position
                    self.prepared = True
                    self.dirty = True
            self.stream(self.position, stop, self._emit)
        except Exception as error:  # pylint: disable=broad-except
            if not stop.is_set():
                self._fail(error)

    def _emit(self, unit):
        if unit.tag is not None and unit.tag in self.related():
            unit.skip = True      # written by this task's other direction: never replayed back
        with self._cond:
            self._queue.append(unit)
            self._cond.notify_all()

    # -- apply --------------------------------------------------------------------------------

    def _ensure_applier(self):
        if self._apply_thread is None or not self._apply_thread.is_alive():
            self._closing = False
            self._apply_thread = threading.Thread(target=self._apply_main, name='dts-apply-%s' % self.job_id, daemon=True)
            self._apply_thread.start()

    def set_apply(self, enabled):
        """Apply queued units (True) or stop after the unit in flight (False, waits for it)."""
        if enabled:
            with self._cond:
                self._apply_enabled = not self.error
                self._cond.notify_all()
        else:
            self.hold()

    def hold(self, timeout=None):
        """Stop applying; return once no unit is being written (a pause is a clean cut)."""
        deadline = time.monotonic() + (self.hold_timeout if timeout is None else timeout)
        with self._cond:
            self._apply_enabled = False
            self._cond.notify_all()
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return not self._in_flight

    def _next_unit(self):
        """Wait for a unit that may be applied now; None when closing."""
        with self._cond:
            while True:
                if self._closing:
                    return None
                if self._apply_enabled and self.prepared and self._queue:
                    unit = self._queue[0]
                    wait = 0 if unit.skip else max(unit.commit_time + self.apply_latency - time.time(),
                                                   self._next_slot - time.monotonic())
                    if wait <= 0:
                        self._in_flight = True
                        if self.apply_rate and not unit.skip:
                            self._next_slot = max(self._next_slot, time.monotonic()) + 1.0 / self.apply_rate
                        return unit
                    self._cond.wait(min(wait, 0.5))
                else:
                    self._cond.wait(0.5)

    def _apply_main(self):
        connection = None
        try:
            while True:
                unit = self._next_unit()
                if unit is None:
                    return
                skip = unit.skip or (self.writer_from is not None and unit.commit_time < self.writer_from)
                try:
                    if not skip:
                        if connection is None:
                            connection = self.connect_destination()
                        self.apply(connection, unit)
                except Exception as error:  # pylint: disable=broad-except
                    if connection is not None:
                        self.close_connection(connection)
                        connection = None
                    with self._cond:
                        self._in_flight = False
                    self._fail(error)
                    continue
                with self._cond:
                    if self._queue and self._queue[0] is unit:
                        self._queue.popleft()
                    self.position = unit.position
                    if skip:
                        self.skipped += 1
                    else:
                        self.applied += 1
                    self._progress_at = time.monotonic()
                    self.dirty = True
                    self._in_flight = False
                    self._cond.notify_all()
        finally:
            if connection is not None:
                self.close_connection(connection)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self):
        """Stop applying and reading; the state stays usable to continue later."""
        self.hold()
        self.stop_capture()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._apply_thread is not None:
            self._apply_thread.join(timeout=30)
            self._apply_thread = None
        self.abandon()
