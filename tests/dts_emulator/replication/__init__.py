"""Real replication for emulated DTS tasks whose endpoints are local servers.

``Emulator(replication=True)`` (or a dict of :class:`ReplicationManager` options) gives every task
between two local MariaDB/MySQL, PostgreSQL or Redis servers (``Ip`` on loopback, the same engine
on both sides) a :class:`ReplicationSource` as its delay source. The task model stays as it is;
the source turns its lifecycle into real work:

- StartDtsJob (or the creation of a reverse task) starts the capture: the structure and full copy
  when the task has them, then reading the source's change stream into an ordered queue;
- the incremental phase applies the queue to the destination in commit order; SuspendDtsJob stops
  after the transaction in flight (the backlog grows), StartDtsJob continues from the checkpoint;
- StartReverseWriter lets a reverse task write what it captured since it was created;
- StopDtsJob / DeleteDtsJob stop it and drop what it created on the servers;
- ``Delay`` is the age of the oldest change not yet applied (plus ``apply_latency``);
- the position of the last applied change is saved in the state file (and with the data on the
  destination): a restarted emulator continues from it, nothing lost or applied twice.

Each engine tags what it writes (see base.TAG_PREFIX), and a task skips changes written by its own
other direction, so a forward task and its reverse task never replay each other's writes.

Passwords are never saved: they come from ``add_job(source={..., 'password': ...})``, from
ConfigureDtsJob's endpoint passwords, or from ``credentials`` (``{'user@host:port': password}``),
which is what a restarted emulator uses.
"""

import json
import threading
import time

from ..delay import DelaySource
from .base import TAG_PREFIX, Endpoint, ReplicationError, Replicator, Unit

__all__ = ['TAG_PREFIX', 'Endpoint', 'ReplicationError', 'ReplicationManager', 'ReplicationSource', 'Replicator', 'Unit', 'engine_of']

ENGINES = {'mysql': 'mysql', 'mariadb': 'mysql', 'polardb': 'mysql', 'postgresql': 'postgresql', 'postgres': 'postgresql',
           'pgsql': 'postgresql', 'redis': 'redis'}
LOCAL_HOSTS = ('127.0.0.1', 'localhost', '::1')
# Stages in which a task reads its source (a task that never started, failed or finished does not).
CAPTURING_STAGES = ('precheck', 'precheck_pass', 'structure', 'full', 'incremental')
MASKED = '******'


def engine_of(endpoint):
    """'mysql', 'postgresql' or 'redis' for an endpoint in DTS spelling; None for other engines."""
    return ENGINES.get(str(endpoint.get('EngineName') or '').lower())


def _is_local(endpoint):
    return str(endpoint.get('Ip') or '') in LOCAL_HOSTS and endpoint.get('Port')


def _replicator_class(engine):
    # Each engine's driver is imported only when a task needs it.
    if engine == 'mysql':
        from .mysql import MySQLReplicator
        return MySQLReplicator
    if engine == 'postgresql':
        from .postgresql import PostgreSQLReplicator
        return PostgreSQLReplicator
    from .redis import RedisReplicator
    return RedisReplicator


class ReplicationSource(DelaySource):
    """The delay source of a task that replicates for real. Its hooks only stop the applier (a
    pause must be a clean cut) and wake the manager, which does the slow work outside the
    emulator's lock."""

    kind = 'replication'
    saveable = True

    def __init__(self, manager=None, state=None):
        self.manager = manager
        self.state = dict(state or {})
        self.replicator = None
        self.reported_error = None
        self.pending_error = None

    @classmethod
    def from_dict(cls, spec):
        return cls(state={key: value for key, value in spec.items() if key != 'kind'})

    def delay_ms(self, job, elapsed):
        replicator = self.replicator
        return replicator.backlog_ms() if replicator is not None else 0

    def paused_delay_ms(self, job, now):
        return self.delay_ms(job, None)

    def _wake(self):
        if self.manager is not None:
            self.manager.wake()

    def begun(self, job, at):
        if self.manager is not None:
            self.manager.begin(job, self)

    def started(self, job, at):
        self._wake()

    def resumed(self, job, at):
        self._wake()

    def paused(self, job, at):
        replicator = self.replicator
        if replicator is not None:
            replicator.hold()

    def stopped(self, job, at):
        self.paused(job, at)
        self._wake()

    def reverse_source(self, job):
        return ReplicationSource(manager=self.manager) if self.manager is not None else None

    def close(self):
        """Stop the replicator's threads and keep its state (the emulator stops)."""
        replicator, self.replicator = self.replicator, None
        if replicator is not None:
            replicator.close()
            self.state.update(replicator.state())

    def to_dict(self):
        replicator = self.replicator
        state = dict(self.state)
        if replicator is not None:
            state.update(replicator.state())
        state['kind'] = self.kind
        return state

    def __repr__(self):
        return 'ReplicationSource(%r)' % (self.to_dict(),)


class ReplicationManager(object):
    """Keeps each replicating task's replicator in step with the task (a small reconcile loop
    every ``interval`` seconds, and at once after a lifecycle hook), fails the task when its
    replicator fails, and saves the checkpoints in the emulator's state file.

    ``credentials``: ``{'user@host:port': password}`` for the endpoints' accounts (needed after a
    restart). ``apply_latency``: seconds every change waits before it is applied (a WAN).
    ``apply_rate``: at most this many transactions applied per second (a slow destination).
    """

    interval = 0.05
    save_interval = 0.5
    OPTIONS = ('credentials', 'apply_latency', 'apply_rate')

    @classmethod
    def from_options(cls, emulator, options):
        """From the ``replication`` option of the Emulator: True or a dict of OPTIONS."""
        options = options if isinstance(options, dict) else {}
        unknown = sorted(set(options) - set(cls.OPTIONS))
        if unknown:
            raise ValueError('unknown replication option(s): %s (known: %s)' % (', '.join(unknown), ', '.join(cls.OPTIONS)))
        return cls(emulator, **options)

    def __init__(self, emulator, credentials=None, apply_latency=0.0, apply_rate=None):
        if apply_latency is None or float(apply_latency) < 0:
            raise ValueError('apply_latency must be a number of seconds >= 0, got %r' % (apply_latency,))
        if apply_rate is not None and float(apply_rate) <= 0:
            raise ValueError('apply_rate must be a number of transactions per second > 0, got %r' % (apply_rate,))
        if not isinstance(credentials or {}, dict):
            raise ValueError("credentials must map 'user@host:port' to a password")
        self.emulator = emulator
        self.credentials = dict(credentials or {})
        self.apply_latency = float(apply_latency)
        self.apply_rate = apply_rate
        self._thread = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_save = 0.0

    @property
    def model(self):
        return self.emulator.model

    def source_for(self, job):
        """A ReplicationSource for a task between two local servers of one supported engine."""
        engine = engine_of(job.source)
        if engine is None or engine_of(job.destination) != engine:
            return None
        if not (_is_local(job.source) and _is_local(job.destination)):
            return None
        return ReplicationSource(manager=self)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name='dts-replication', daemon=True)
        self._thread.start()

    def stop(self):
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=60)
        for job in self.model.all(include_released=True):
            if isinstance(job.delay_source, ReplicationSource):
                job.delay_source.close()
        self.emulator.save_state()

    def wake(self):
        self._wake.set()

    def begin(self, job, source):
        """The task starts (under the emulator's lock). A task without a copy captures from this
        very moment: its start position is fixed before the API call returns."""
        try:
            if source.replicator is None:
                source.replicator = self._create(job, source)
            if not (job.structure or job.full):
                source.replicator.prepare_now()
        except Exception as error:  # pylint: disable=broad-except
            source.pending_error = str(error) if isinstance(error, ReplicationError) else '%s: %s' % (type(error).__name__, error)
        self.wake()

    def _run(self):
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
            except Exception as error:  # pylint: disable=broad-except
                # The loop must outlive one bad task; the task itself reports through its error.
                if self.emulator.log is not None:
                    self.emulator.log.write('dts_emulator: replication: %s: %s\n' % (type(error).__name__, error))
            self._wake.wait(self.interval)

    # -- reconcile ----------------------------------------------------------------------------

    def tick(self):
        replicators = []
        for job in self.model.all(include_released=True):
            source = job.delay_source
            if not isinstance(source, ReplicationSource):
                continue
            source.manager = self
            self._reconcile(job, source)
            if source.replicator is not None:
                replicators.append(source.replicator)
        dirty = [replicator for replicator in replicators if replicator.dirty]
        if dirty and time.monotonic() - self._last_save > self.save_interval:
            self._last_save = time.monotonic()
            for replicator in dirty:
                replicator.dirty = False    # before the save: a later change is saved next time
            self.emulator.save_state()

    def _wanted(self, job):
        """(capture, apply) as the task's state wants them now; call under the model's lock."""
        job._advance(self.model.clock())  # pylint: disable=protected-access
        stage = job._stage                 # pylint: disable=protected-access
        capture = not job.released and stage in CAPTURING_STAGES
        return capture, capture and stage == 'incremental' and job._paused_at is None  # pylint: disable=protected-access

    def _reconcile(self, job, source):
        with self.model.lock:
            capture, dummy = self._wanted(job)
            finished = job.released or job._stage == 'finished'  # pylint: disable=protected-access
        replicator = source.replicator
        if finished:
            if not source.state.get('released'):
                source.close()
                if source.state.get('prepared') or source.state.get('position'):
                    self._release(job, source)
                source.state['released'] = True
                self.emulator.save_state()
            return
        if not capture:
            if replicator is not None:
                replicator.stop_capture()
            return
        if source.pending_error:
            error, source.pending_error = source.pending_error, None
            source.reported_error = error
            self._fail(job, error)
            return
        if replicator is not None and replicator.error:
            if source.reported_error != replicator.error:
                source.reported_error = replicator.error
                self._fail(job, replicator.error)
                return
            # The task failed because of this error and was started again: continue from the checkpoint.
            source.close()
            source.reported_error = None
            replicator = None
        if replicator is None:
            try:
                replicator = source.replicator = self._create(job, source)
            except ReplicationError as error:
                source.reported_error = str(error)
                self._fail(job, str(error))
                return
        replicator.start_capture()
        with self.model.lock:
            dummy, apply = self._wanted(job)
            replicator.set_apply(apply)

    def _fail(self, job, message):
        if self.emulator.log is not None:
            try:
                self.emulator.log.write('%s replication of task %s failed: %s\n'
                                        % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), job.job_id, message))
                self.emulator.log.flush()
            except (OSError, ValueError):
                pass
        try:
            self.model.fail(job, message, status='MigrationFailed' if job.job_type == 'MIGRATION' else 'Failed')
        except ValueError:
            pass    # it finished meanwhile

    def _release(self, job, source):
        try:
            replicator = self._create(job, source)
        except ReplicationError:
            return
        try:
            replicator.release()
        except Exception:  # pylint: disable=broad-except
            pass    # best effort: the servers may be gone already

    # -- construction -------------------------------------------------------------------------

    def _create(self, job, source):
        engine = engine_of(job.source)
        endpoints = [Endpoint(side['Ip'], side['Port'], side.get('UserName'), self._password(job, name, side), side.get('DatabaseName'))
                     for name, side in (('source', job.source), ('destination', job.destination))]
        return _replicator_class(engine)(job.job_id, endpoints[0], endpoints[1], objects=self._objects(job), state=source.state,
                                         structure=job.structure, full=job.full, apply_latency=self.apply_latency,
                                         related=lambda: self._related(job), writer_from=self._writer_from(job),
                                         apply_rate=self.apply_rate)

    def _password(self, job, name, side):
        user = side.get('UserName') or ''
        key = '%s@%s:%s' % (user, side['Ip'], side['Port'])
        password = job.secrets.get(name)
        if password is None:
            value = job.params.get('SourceEndpointPassword' if name == 'source' else 'DestinationEndpointPassword')
            password = value if value and value != MASKED else None
        if password is None:
            password = self.credentials.get(key)
        if password is None:
            raise ReplicationError('no password for the %s account %s: give it to add_job (%s={"password": ...}), ConfigureDtsJob, '
                                   'or the replication credentials' % (name, key, name))
        self.credentials.setdefault(key, password)
        return password

    @staticmethod
    def _objects(job):
        try:
            objects = list(json.loads(job.db_object or '{}'))
        except (TypeError, ValueError):
            objects = []
        if not objects and job.source.get('DatabaseName'):
            objects = [job.source['DatabaseName']]
        return objects

    @staticmethod
    def _writer_from(job):
        raw = job.writer_checkpoint if job.reverse_of else job.params.get('Checkpoint')
        if not raw or not str(raw).isdigit():
            return None
        value = int(raw)
        return value // 1000 if value > 10 ** 11 else value

    def _related(self, job):
        """This task and every task between the same servers the other way round: their writes
        must not come back (the reverse task, however it was created)."""
        def address(side):
            return (str(side.get('Ip')), str(side.get('Port')))
        ours = (address(job.destination), address(job.source))
        related = {job.job_id}
        for other in list(self.model._jobs.values()):  # pylint: disable=protected-access
            if (address(other.source), address(other.destination)) == ours:
                related.add(other.job_id)
        return related

    # -- status -------------------------------------------------------------------------------

    def status(self, job):
        source = job.delay_source
        if not isinstance(source, ReplicationSource):
            raise ValueError('task %s does not replicate (its endpoints are not two local servers of one supported engine)' % job.job_id)
        if source.replicator is not None:
            return source.replicator.status()
        state = source.state
        return {'engine': state.get('engine'), 'job_id': job.job_id, 'position': state.get('position'), 'prepared': bool(state.get('prepared')),
                'applied': state.get('applied', 0), 'skipped': state.get('skipped', 0), 'queued': 0, 'pending': 0, 'backlog_ms': 0,
                'capturing': False, 'applying': False, 'idle_seconds': None, 'error': source.reported_error or source.pending_error,
                'released': bool(state.get('released'))}
