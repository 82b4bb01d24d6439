"""Where the delay of a task's incremental phase comes from.

A task asks its *delay source* for the delay (ms) at a given running time of the incremental
phase, and tells it about lifecycle events. The built-in source is a scripted profile. The
interface is small on purpose: a source backed by real replication between local databases can
compute the delay from a real backlog and pause or resume a real applier in the hooks, without
any change to the task model (see the ``replication`` package, which does exactly that).
"""


class DelaySource(object):
    """Interface of a delay source. Subclasses implement ``delay_ms`` and may use the hooks.

    ``elapsed`` is the running time of the incremental phase in emulator seconds: it starts at 0
    when the phase begins (or when a reverse task's writer starts) and does not advance while the
    task is paused. Hooks are called with the task and the emulator time of the event, under the
    emulator's lock; they must be quick.
    """

    kind = None
    # Whether to_dict() can be saved in a state file and given back to delay_source().
    saveable = False

    def delay_ms(self, job, elapsed):
        raise NotImplementedError

    def paused_delay_ms(self, job, now):
        """The delay while the task is paused (or a reverse task waits for its writer); None
        lets the task model derive it (growing with the clock, or frozen)."""
        return None

    def checkpoint(self, job, now, delay_ms):
        """The incremental checkpoint (UNIX seconds) at ``now``; None lets the task derive it
        from the delay (``now - delay``)."""
        return None

    def begun(self, job, at):
        """The task was started for the first time (StartDtsJob, or a reverse task's creation):
        a real source starts capturing changes here."""

    def started(self, job, at):
        """The incremental phase (or a reverse task's writer) began."""

    def paused(self, job, at):
        """The task was suspended."""

    def resumed(self, job, at):
        """The task was resumed after a pause."""

    def stopped(self, job, at):
        """The task finished, failed or was released: stop any real work."""

    def reverse_source(self, job):
        """The delay source of a reverse task created from ``job`` (CreateReverseDtsJob), or None
        for the emulator's reverse delay profile."""
        return None

    def to_dict(self):
        """A JSON-safe description; sources that can be saved in a state file (``saveable``)
        return a dict that ``delay_source()`` accepts back."""
        return {'kind': self.kind or type(self).__name__}


class ProfileDelay(DelaySource):
    """A scripted delay: points ``(seconds since the incremental phase began, delay_ms)``,
    linear between points, the first value before the first point and the last value after the
    last one. ``[(0, 20000), (10, 0)]`` drains 20 s of delay in 10 s and then stays caught up."""

    kind = 'profile'
    saveable = True

    def __init__(self, points):
        self.points = self._validate(points)

    @staticmethod
    def _validate(points):
        if isinstance(points, (int, float)) and not isinstance(points, bool):
            points = [(0, points)]
        try:
            pairs = [(float(at), float(value)) for at, value in points]
        except (TypeError, ValueError):
            raise ValueError('a delay profile is a list of (seconds, delay_ms) pairs, got %r' % (points,)) from None
        if not pairs:
            raise ValueError('a delay profile needs at least one (seconds, delay_ms) point')
        for index, (at, value) in enumerate(pairs):
            if at < 0 or value < 0:
                raise ValueError('delay profile point %d %r: seconds and delay_ms must not be negative' % (index, (at, value)))
            if index and at < pairs[index - 1][0]:
                raise ValueError('delay profile point %d %r: seconds must not decrease' % (index, (at, value)))
        return pairs

    def delay_ms(self, job, elapsed):
        points = self.points
        if elapsed <= points[0][0]:
            return int(round(points[0][1]))
        for (at0, value0), (at1, value1) in zip(points, points[1:]):
            if elapsed <= at1:
                if at1 == at0:
                    return int(round(value1))
                return int(round(value0 + (value1 - value0) * (elapsed - at0) / (at1 - at0)))
        return int(round(points[-1][1]))

    def to_dict(self):
        return {'kind': self.kind, 'points': [[at, value] for at, value in self.points]}

    def __repr__(self):
        return 'ProfileDelay(%r)' % (self.points,)


def delay_source(spec):
    """A DelaySource from what users write: a source object, a profile (list of pairs), a
    constant number of ms, or a dict saved by ``to_dict()``."""
    if isinstance(spec, DelaySource):
        return spec
    if spec is None:
        return ProfileDelay([(0, 0)])
    if isinstance(spec, dict):
        kind = spec.get('kind', 'profile')
        if kind == 'replication':
            # Imported here: the drivers it needs are only loaded when a state file asks for it.
            from .replication import ReplicationSource
            return ReplicationSource.from_dict(spec)
        if kind != 'profile':
            raise ValueError('unknown delay source kind %r (known: profile, replication)' % (kind,))
        return ProfileDelay(spec.get('points'))
    return ProfileDelay(spec)
