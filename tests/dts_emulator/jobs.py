"""The task model: DTS migration and synchronization tasks as time-driven state machines.

A task moves through *stages* on the emulator clock::

    not_configured -> not_started -> precheck -> structure -> full -> incremental
                                                      (skipped when not enabled)   -> finished
    any running stage -> failed (on demand)          StopDtsJob -> finished

Timed stages (precheck, structure, full) end after their duration; the incremental stage runs
until the task is stopped. A pause freezes the stage: its elapsed time, the delay profile's time
and the checkpoint stop while the task is ``Suspending``. Stage changes are computed exactly from
timestamps whenever a task is observed, so results do not depend on how often anyone polls.
"""

import random
import string
import threading
import time

from .delay import DelaySource, delay_source

TIMED_STAGES = ('precheck', 'precheck_pass', 'structure', 'full')
RUNNING_STAGES = ('structure', 'full', 'incremental')
STAGE_ORDER = ('not_configured', 'not_started', 'precheck', 'precheck_pass', 'structure', 'full', 'incremental', 'finished')
FAILED_STATUSES = ('Failed', 'MigrationFailed', 'PrecheckFailed', 'InitializeFailed')
# precheck_pass: how long PreCheckPass shows before the next module starts; pause, resume, writer:
# SuspendDtsJob -> Suspending, StartDtsJob (paused) -> running, StartReverseWriter -> running.
# These are the ``fast`` profile's values (profiles.py holds the others).
DEFAULT_DURATIONS = {'precheck': 1.0, 'structure': 1.0, 'full': 2.0, 'reverse_precheck': 1.0, 'precheck_pass': 0.0,
                     'pause': 0.0, 'resume': 0.0, 'writer': 0.0}
# Statuses a test can make a task report through the control API (emu.set_status): documented
# DescribeDtsJobDetail values the task model never reaches by itself.
INJECTABLE_STATUSES = ('Retrying', 'Modifying', 'Locked', 'Upgrade', 'Downgrade', 'PreCheckPass')
# CreateReverseDtsJob exists for these engines only, both sides of one engine [doc]:
# help.aliyun.com/en/dts/use-cases/use-the-reverse-task-creating-feature,
# alibabacloud.com/help/en/dts/user-guide/create-a-reverse-instance, alibabacloud.com/help/doc-detail/2638760.html
REVERSE_ENGINES = {'mysql': 'MySQL', 'sqlserver': 'SQL Server', 'mssql': 'SQL Server', 'mongodb': 'MongoDB'}
PAUSED_DELAY_MODES = ('grow', 'freeze')
JOB_TYPES = ('MIGRATION', 'SYNC')


class JobError(Exception):
    """An operation the task's state does not allow: answered as Success:false with ``code``."""

    def __init__(self, code, message):
        super(JobError, self).__init__(message)
        self.code = code
        self.message = message


class JobNotFound(KeyError):
    """No task (or a released one) with this id."""


def new_id(length=15, rng=random.SystemRandom()):
    # Shaped like real ids (i03e3zty16i****): lower-case letters and digits, starting with a letter.
    return rng.choice(string.ascii_lowercase) + ''.join(rng.choice(string.ascii_lowercase + string.digits) for dummy in range(length - 1))


def iso_time(epoch):
    """DTS's time format, yyyy-MM-ddTHH:mm:ssZ (UTC)."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch)) if epoch else None


def endpoint(spec, region):
    """An endpoint as DTS describes it (InstanceType, EngineName, InstanceID, Region, Ip, Port,
    UserName, DatabaseName). Keys may be given in DTS spelling or snake_case; Port is a string."""
    spec = dict(spec or {})
    aliases = {
        'instance_type': 'InstanceType', 'engine_name': 'EngineName', 'engine': 'EngineName', 'instance_id': 'InstanceID',
        'InstanceId': 'InstanceID', 'region': 'Region', 'ip': 'Ip', 'host': 'Ip', 'IP': 'Ip', 'port': 'Port',
        'user_name': 'UserName', 'user': 'UserName', 'database_name': 'DatabaseName', 'database': 'DatabaseName',
        'oracle_sid': 'OracleSID', 'role_name': 'RoleName', 'ssl_solution_enum': 'SslSolutionEnum',
    }
    result = {'InstanceType': 'OTHER', 'EngineName': 'MySQL', 'Region': region, 'SslSolutionEnum': 'DISABLE'}
    for key, value in spec.items():
        result[aliases.get(key, key)] = value
    if result.get('Port') is not None:
        result['Port'] = str(result['Port'])
    return {key: value for key, value in result.items() if value is not None}


def engine_family(endpoint_spec):
    """The engine of an endpoint as CreateReverseDtsJob knows it ('MySQL', 'SQL Server', 'MongoDB'), or None."""
    name = str(endpoint_spec.get('EngineName') or '').lower().replace(' ', '').replace('_', '')
    return REVERSE_ENGINES.get(name)


def _without_password(spec):
    """(endpoint spec without its password, the password or None)."""
    if not spec or 'password' not in spec:
        return spec, None
    spec = dict(spec)
    return spec, spec.pop('password')


class Job(object):
    """One DTS task. Read its state through the properties (they evaluate at the emulator's
    current time); change it only through the Emulator or the API."""

    def __init__(self, model, job_id, instance_id, name, job_type='MIGRATION', structure=True, full=True, incremental=True,
                 durations=None, delay=None, source=None, destination=None, region=None, created_at=0.0, reverse_of=None,
                 db_object=None, reserved=None, params=None, pay_type='PostPaid', job_class='small', reverse_delay=None):
        if job_type not in JOB_TYPES:
            raise ValueError('job_type must be one of %s, got %r' % (', '.join(JOB_TYPES), job_type))
        if not (structure or full or incremental):
            raise ValueError('a task needs at least one of structure, full or incremental')
        self._model = model
        self.job_id = job_id
        self.instance_id = instance_id
        self.name = name
        self.job_type = job_type
        self.structure = bool(structure)
        self.full = bool(full)
        self.incremental = bool(incremental)
        self.durations = dict(model.durations)
        for key, value in (durations or {}).items():
            if key not in DEFAULT_DURATIONS:
                raise ValueError('unknown duration %r (known: %s)' % (key, ', '.join(sorted(DEFAULT_DURATIONS))))
            if value is None or float(value) < 0:
                raise ValueError('duration %r must be a number of seconds >= 0, got %r' % (key, value))
            self.durations[key] = float(value)
        self.delay_source = delay_source(delay)
        self.reverse_delay = reverse_delay
        self.region = region or model.region
        self.source = endpoint(source, self.region)
        self.destination = endpoint(destination, self.region)
        self.created_at = float(created_at)
        self.reverse_of = reverse_of
        self.db_object = db_object if db_object is not None else '{}'
        self.reserved = reserved if reserved is not None else '{}'
        self.params = dict(params or {})
        # Endpoint passwords given to add_job(): kept in memory only, never shown or saved.
        self.secrets = {}
        self.pay_type = pay_type
        self.job_class = job_class
        self.released = False
        self.writer_started = reverse_of is None
        self.writer_checkpoint = None
        self.reverse_job_ids = []
        self._stage = 'not_started'
        self._stage_started = self.created_at
        self._reached = set()
        self._paused_at = None
        self._delay_at_pause = 0
        self._failed_status = None
        self._failed_in = None
        self._failed_at = None
        self._error_message = ''
        self._checkpoint = 0
        self._boot_time = None
        self._finished_at = None
        self._last_update = self.created_at
        # A transition that takes time: [kind, due time, checkpoint] with kind pause, resume or writer.
        self._pending = None
        # set_status(): [status, reads left or None]; stale reads: [detail, list item, reads left].
        self._injected = None
        self._stale = None

    # -- state machine ------------------------------------------------------------------------

    def _next_stage(self, stage):
        if stage == 'precheck' and not self.reverse_of:
            # A passed precheck shows PreCheckPass before the next module starts (the Terraform
            # provider waits for it after ConfigureDtsJob). A reverse task goes on capturing.
            return 'precheck_pass'
        following = {'precheck': ('structure', 'full', 'incremental'), 'precheck_pass': ('structure', 'full', 'incremental'),
                     'structure': ('full', 'incremental'), 'full': ('incremental',)}
        for candidate in following[stage]:
            if getattr(self, candidate):
                return candidate
        return 'finished'

    def _enter(self, stage, at):
        self._stage = stage
        self._stage_started = at
        self._reached.add(stage)
        self._last_update = at
        if stage == 'incremental':
            if not self.writer_started:
                # A reverse task captures changes but its writer waits for StartReverseWriter.
                self._paused_at = at
                self._delay_at_pause = 0
            else:
                self.delay_source.started(self, at)
        elif stage == 'finished':
            self._finished_at = at

    def _stage_end(self):
        """When the current timed stage ends (None: it is not timed, or it is paused)."""
        if self._paused_at is not None or self._stage not in TIMED_STAGES:
            return None
        key = 'reverse_precheck' if self._stage == 'precheck' and self.reverse_of else self._stage
        return self._stage_started + self.durations[key]

    def _advance(self, now):
        # Stage ends and pending transitions are applied in time order, each at its exact time.
        while not self.released:
            end = self._stage_end()
            due = self._pending[1] if self._pending is not None and self._pending[1] <= now else None
            if due is not None and (end is None or due <= end):
                self._complete_pending()
            elif end is not None and end <= now:
                self._enter(self._next_stage(self._stage), end)
            else:
                break
        if self._stage == 'incremental' and self._paused_at is None:
            delay = self._running_delay(now)
            checkpoint = self.delay_source.checkpoint(self, now, delay)
            if checkpoint is None:
                checkpoint = now - delay / 1000.0
            self._checkpoint = max(self._checkpoint, int(checkpoint))

    def _incremental_elapsed(self, now):
        return max(0.0, (self._paused_at if self._paused_at is not None else now) - self._stage_started)

    def _running_delay(self, now):
        return max(0, int(self.delay_source.delay_ms(self, self._incremental_elapsed(now))))

    def _delay(self, now):
        if self._stage != 'incremental':
            return 0
        if self._paused_at is None:
            return self._running_delay(now)
        measured = self.delay_source.paused_delay_ms(self, now)
        if measured is not None:
            return max(0, int(measured))
        if self._model.paused_delay == 'freeze':
            return self._delay_at_pause
        # Paused: nothing is applied while the source keeps moving, so the delay grows.
        return self._delay_at_pause + int((now - self._paused_at) * 1000)

    def _begin(self, now, checkpoint=None):
        """StartDtsJob on a task that never ran: precheck begins."""
        self._boot_time = now
        self._checkpoint = int(checkpoint) if checkpoint is not None else int(now)
        if self.reverse_of:
            self._model.waited(self, 'precheck', now, now + self.durations['reverse_precheck'])
        else:
            self._model.waited(self, 'precheck', now, now + self.durations['precheck'] + self.durations['precheck_pass'])
        self._enter('precheck', now)
        self.delay_source.begun(self, now)

    def _pause(self, now):
        self._delay_at_pause = self._delay(now)
        self._paused_at = now
        self._last_update = now
        if self._stage == 'incremental':
            self.delay_source.paused(self, now)

    def _resume(self, now):
        # Shift the stage start so the paused time does not count as progress.
        self._stage_started += now - self._paused_at
        self._paused_at = None
        self._last_update = now
        if self._stage == 'incremental':
            self.delay_source.resumed(self, now)

    def _complete_pending(self):
        kind, due, checkpoint = self._pending
        self._pending = None
        if kind == 'pause':
            self._pause(due)
        elif kind == 'resume':
            self._resume(due)
        else:
            self._start_writer(due, checkpoint)

    def _transition(self, kind, now, checkpoint=None):
        """Pause, resume or start the writer after the profile's duration (at once when it is 0)."""
        self._pending = [kind, now + self.durations[kind], checkpoint]
        self._model.waited(self, kind, now, self._pending[1])
        self._last_update = now
        self._advance(now)

    def _start_writer(self, now, checkpoint):
        self.writer_started = True
        self._stage_started = now
        self._paused_at = None
        self._last_update = now
        if checkpoint is not None:
            self._checkpoint = int(checkpoint)
        self.delay_source.started(self, now)

    def _fail(self, now, status, message):
        self._pending = None
        if self._stage == 'incremental' and self._paused_at is None:
            self.delay_source.paused(self, now)
        self._failed_in = 'precheck' if status == 'PrecheckFailed' else self._stage
        self._failed_status = status
        self._failed_at = now
        self._error_message = message
        self._paused_at = None
        self._stage = 'failed'
        self._last_update = now

    def _restart(self, now):
        """StartDtsJob on a failed task: a failed precheck runs again, a failed phase resumes."""
        stage = self._failed_in
        if stage in RUNNING_STAGES:
            self._stage = stage
            self._stage_started += now - self._failed_at
            if stage == 'incremental':
                self.delay_source.resumed(self, now)
        else:
            self._stage = 'precheck'
            self._stage_started = now
        self._failed_status = self._failed_in = self._failed_at = None
        self._error_message = ''
        self._last_update = now

    def _finish(self, now):
        self._pending = None
        if self._stage == 'incremental' and self._paused_at is None:
            self.delay_source.stopped(self, now)
        self._paused_at = None
        self._stage = 'finished'
        self._reached.add('finished')
        self._finished_at = now
        self._last_update = now

    # -- views (evaluated at the emulator's current time) -------------------------------------

    def _view(self, fn):
        with self._model.lock:
            now = self._model.clock()
            self._advance(now)
            return fn(now)

    @property
    def stage(self):
        """not_configured, not_started, precheck, structure, full, incremental, finished or failed."""
        return self._view(lambda now: self._stage)

    phase = stage

    @property
    def paused(self):
        """Suspended (also a reverse task whose writer has not started)."""
        return self._view(lambda now: self._paused_at is not None)

    @property
    def status(self):
        """The task status as DescribeDtsJobDetail reports it ('Released' once deleted)."""
        return self._view(lambda now: self._status(detail=True))

    @property
    def delay_ms(self):
        return self._view(self._delay)

    @property
    def checkpoint(self):
        return self._view(lambda now: self._checkpoint)

    @property
    def error_message(self):
        return self._view(lambda now: self._error_message)

    @property
    def caught_up(self):
        return self._view(lambda now: self._sync_status(now) == 'Catched')

    def _status(self, detail):
        if self.released:
            return 'Released'
        stage = self._stage
        if stage == 'failed':
            return self._failed_status
        if stage in RUNNING_STAGES and self._paused_at is not None:
            return 'Suspending'
        simple = {'not_configured': 'NotConfigured', 'not_started': 'NotStarted', 'precheck': 'Prechecking', 'precheck_pass': 'PreCheckPass',
                  'finished': 'Finished'}
        if stage in simple:
            return simple[stage]
        if self.job_type == 'MIGRATION':
            return 'Migrating'
        if stage == 'incremental':
            # DescribeDtsJobDetail documents the lower-case value, DescribeDtsJobs the capitalised one.
            return 'synchronizing' if detail else 'Synchronizing'
        return 'Initializing'

    def _sync_status(self, now):
        if self._stage == 'incremental':
            if self._paused_at is not None:
                return 'Suspending'
            return 'Catched' if self._running_delay(now) <= self._model.catched_threshold_ms else 'Migrating'
        if self._stage == 'failed' and self._failed_in == 'incremental':
            return 'Failed'
        if 'incremental' in self._reached:
            return 'Finished'
        return 'NotStarted'

    def _step_status(self, step, now):
        """Status and percent of precheck, structure or full (DescribeDtsJobs sub-objects)."""
        if self._stage == 'failed' and self._failed_in == step:
            return 'Failed', self._percent(step, self._failed_at)
        if self._stage == step:
            return ('Checking' if step == 'precheck' else 'Migrating'), self._percent(step, now)
        if step in self._reached:
            return 'Finished', 100
        return 'NotStarted', 0

    def _percent(self, step, now):
        key = 'reverse_precheck' if step == 'precheck' and self.reverse_of else step
        duration = self.durations[key]
        end = self._paused_at if self._paused_at is not None else now
        if duration <= 0:
            return 100
        return max(0, min(100, int((end - self._stage_started) * 100 / duration)))

    def to_dict(self):
        """A JSON-safe snapshot for assertions and the control interface."""
        def snapshot(now):
            return {
                'job_id': self.job_id, 'instance_id': self.instance_id, 'name': self.name, 'job_type': self.job_type,
                'region': self.region, 'status': self._status(detail=True), 'stage': self._stage, 'phase': self._stage,
                'paused': self._paused_at is not None, 'delay_ms': self._delay(now), 'checkpoint': self._checkpoint,
                'sync_status': self._sync_status(now), 'error_message': self._error_message, 'released': self.released,
                'structure': self.structure, 'full': self.full, 'incremental': self.incremental,
                'durations': dict(self.durations), 'delay': self.delay_source.to_dict(),
                'source': dict(self.source), 'destination': dict(self.destination),
                'reverse_of': self.reverse_of, 'reverse_job_ids': list(self.reverse_job_ids),
                'writer_started': self.writer_started, 'writer_checkpoint': self.writer_checkpoint,
                'params': dict(self.params), 'created_at': self.created_at,
                'pending': self._pending[0] if self._pending else None, 'injected_status': self._injected[0] if self._injected else None,
            }
        return self._view(snapshot)

    def __repr__(self):
        return '<Job %s %s %s>' % (self.job_id, self.name, self.status)

    # -- persistence --------------------------------------------------------------------------

    _STATE_FIELDS = ('job_id', 'instance_id', 'name', 'job_type', 'structure', 'full', 'incremental', 'durations', 'region',
                     'source', 'destination', 'created_at', 'reverse_of', 'db_object', 'reserved', 'pay_type', 'job_class',
                     'released', 'writer_started', 'writer_checkpoint', 'reverse_job_ids', 'reverse_delay',
                     '_stage', '_stage_started', '_paused_at', '_delay_at_pause', '_failed_status', '_failed_in', '_failed_at',
                     '_error_message', '_checkpoint', '_boot_time', '_finished_at', '_last_update', '_pending')

    def to_state(self):
        state = {field: getattr(self, field) for field in self._STATE_FIELDS}
        state['_reached'] = sorted(self._reached)
        # Only profiles and replication can be saved; other delay sources restart as the default profile.
        state['delay'] = self.delay_source.to_dict() if self.delay_source.saveable else None
        if isinstance(self.reverse_delay, DelaySource):
            state['reverse_delay'] = self.reverse_delay.to_dict() if self.reverse_delay.saveable else None
        # Secrets do not need to survive a restart.
        state['params'] = {key: ('******' if 'password' in key.lower() else value) for key, value in self.params.items()}
        return state

    @classmethod
    def from_state(cls, model, state):
        job = cls(model, state['job_id'], state['instance_id'], state['name'], job_type=state['job_type'],
                  structure=state['structure'], full=state['full'], incremental=state['incremental'], delay=state.get('delay'))
        for field in cls._STATE_FIELDS:
            if field in state:
                setattr(job, field, state[field])
        job.params = dict(state.get('params') or {})
        job._reached = set(state.get('_reached') or ())
        # A state file written before a duration existed gets the emulator's value for it.
        job.durations = dict(model.durations, **(state.get('durations') or {}))
        return job


class JobModel(object):
    """All tasks of one emulator and the operations on them. Thread-safe (one lock)."""

    def __init__(self, clock, region, durations=None, catched_threshold_ms=0, paused_delay='grow', reverse_delay=None,
                 on_change=None):
        if paused_delay not in PAUSED_DELAY_MODES:
            raise ValueError('paused_delay must be one of %s, got %r' % (', '.join(PAUSED_DELAY_MODES), paused_delay))
        self.clock = clock
        self.region = region
        self.durations = dict(DEFAULT_DURATIONS)
        for key, value in (durations or {}).items():
            if key not in DEFAULT_DURATIONS:
                raise ValueError('unknown duration %r (known: %s)' % (key, ', '.join(sorted(DEFAULT_DURATIONS))))
            self.durations[key] = float(value)
        self.catched_threshold_ms = int(catched_threshold_ms)
        self.paused_delay = paused_delay
        self.reverse_delay = reverse_delay
        self.lock = threading.RLock()
        # source_for(job) -> a DelaySource for a task that has no explicit delay, or None (the
        # emulator sets it when it replicates for real between local servers).
        self.source_for = None
        self._jobs = {}
        self._instances = {}   # CreateDtsInstance before ConfigureDtsJob: instance id -> job id
        self._on_change = on_change
        # What took emulated time (prechecks, pending transitions): for figures converted to real scale.
        self.waits = []

    def waited(self, job, what, start, end):
        if end > start:
            self.waits.append({'job_id': job.job_id, 'what': what, 'start': start, 'end': end})

    def changed(self):
        if self._on_change:
            self._on_change()

    # -- lookup -------------------------------------------------------------------------------

    def get(self, job_id, include_released=False):
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None or (job.released and not include_released):
                raise JobNotFound(job_id)
            job._advance(self.clock())
            return job

    def find(self, job_id=None, instance_id=None, include_released=False):
        """The live task named by DtsJobId, or by DtsInstanceId when no job id is given."""
        with self.lock:
            if job_id:
                return self.get(job_id, include_released=include_released)
            if instance_id:
                for job in self._jobs.values():
                    if job.instance_id == instance_id and (include_released or not job.released):
                        job._advance(self.clock())
                        return job
            raise JobNotFound(job_id or instance_id)

    def all(self, include_released=False):
        with self.lock:
            now = self.clock()
            jobs = [job for job in self._jobs.values() if include_released or not job.released]
            for job in jobs:
                job._advance(now)
            return jobs

    # -- creation -----------------------------------------------------------------------------

    def add(self, name='orders', job_type='MIGRATION', structure=True, full=True, incremental=True, status='NotStarted', phase=None,
            durations=None, delay=None, source=None, destination=None, job_id=None, instance_id=None, error_message=None,
            reverse_delay=None, db_object=None, region=None, params=None):
        """Create a task directly in a given state (see Emulator.add_job)."""
        with self.lock:
            now = self.clock()
            job_id = job_id or new_id()
            if job_id in self._jobs:
                raise ValueError('a task with id %r already exists' % (job_id,))
            secrets = {}
            source, secrets['source'] = _without_password(source)
            destination, secrets['destination'] = _without_password(destination)
            job = Job(self, job_id, instance_id or 'dts' + job_id, name, job_type=job_type, structure=structure, full=full,
                      incremental=incremental, durations=durations, delay=delay, source=source, destination=destination,
                      region=region, created_at=now, db_object=db_object, reverse_delay=reverse_delay, params=params)
            job.secrets = {side: password for side, password in secrets.items() if password is not None}
            if delay is None and self.source_for is not None:
                job.delay_source = self.source_for(job) or job.delay_source
            self._place(job, status, phase, now, error_message)
            self._jobs[job_id] = job
        self.changed()
        return job

    def _place(self, job, status, phase, now, error_message):
        key = (status or 'NotStarted').lower()
        enabled = [stage for stage in ('structure', 'full', 'incremental') if getattr(job, stage)]
        if phase is not None and phase not in ('precheck',) + RUNNING_STAGES:
            raise ValueError('phase must be one of precheck, structure, full, incremental, got %r' % (phase,))
        if phase in RUNNING_STAGES and phase not in enabled:
            raise ValueError('phase %r is not enabled for this task (enabled: %s)' % (phase, ', '.join(enabled)))
        if key == 'notconfigured':
            job._stage = 'not_configured'
        elif key == 'notstarted':
            job._stage = 'not_started'
        elif key == 'prechecking':
            job._begin(now)
        elif key in ('migrating', 'synchronizing', 'initializing', 'suspending'):
            if phase == 'precheck':
                raise ValueError("a %s task is past its precheck: use status='Prechecking', or phase structure, full or incremental" % status)
            stage = phase or enabled[-1]
            job._boot_time = now
            job._reached.update(['precheck'] + enabled[:enabled.index(stage)])
            if stage == 'incremental':
                # Already replicating: the checkpoint lags the clock by the current delay.
                job._checkpoint = int(now - job.delay_source.delay_ms(job, 0) / 1000.0)
            else:
                job._checkpoint = int(now)
            job._enter(stage, now)
            job.delay_source.begun(job, now)
            if key == 'suspending':
                job._pause(now)
        elif key == 'finished':
            job._boot_time = now
            job._checkpoint = int(now)
            job._reached.update(['precheck'] + enabled)
            job._finish(now)
        elif status in FAILED_STATUSES:
            stage = 'precheck' if status == 'PrecheckFailed' else (phase or enabled[-1])
            job._boot_time = now
            job._checkpoint = int(now)
            job._reached.update(['precheck'] + enabled[:enabled.index(stage)] if stage != 'precheck' else [])
            job._enter(stage, now)
            job._fail(now, status, error_message or 'DTS-070211: Connect Source DB failed. cause by [java.net.ConnectException: Connection refused]')
        else:
            raise ValueError('cannot create a task in status %r (use NotConfigured, NotStarted, Prechecking, Migrating, '
                             'Synchronizing, Suspending, Finished or one of %s)' % (status, ', '.join(FAILED_STATUSES)))

    # -- operations (the API and the control interface) ---------------------------------------

    def _changed_job(self, job):
        job._last_update = self.clock()
        self.changed()

    @staticmethod
    def _check_not_locked(job):
        if job._injected and job._injected[0] == 'Locked':
            raise JobError('OperationDenied.JobStatus', 'The task %s is Locked; no operation is allowed until it is unlocked.' % job.job_id)

    def _writer_started_on_reverse(self, forward):
        """The reverse task of ``forward`` whose writer started (even if released since), or None."""
        for job_id in forward.reverse_job_ids:
            reverse = self._jobs.get(job_id)
            if reverse is not None and (reverse.writer_started or (reverse._pending and reverse._pending[0] == 'writer')):
                return reverse
        return None

    def start(self, job):
        with self.lock:
            now = self.clock()
            job._advance(now)
            self._check_not_locked(job)
            stage = job._stage
            if job._pending and job._pending[0] == 'pause':
                raise JobError('OperationDenied.JobStatus', 'The task %s is being paused; start it once it is Suspending.' % job.job_id)
            if job._pending:
                return False  # already starting
            if stage == 'not_configured':
                raise JobError('OperationDenied.JobStatus', 'The task %s is not configured yet: call ConfigureDtsJob first.' % job.job_id)
            if stage == 'finished':
                raise JobError('OperationDenied.JobStatus', 'The task %s is Finished and cannot be started again; it can only be released.' % job.job_id)
            if stage == 'not_started':
                job._begin(now, job.params.get('Checkpoint') or None)
            elif stage == 'failed':
                job._restart(now)
            elif job._paused_at is not None:
                if not job.writer_started:
                    raise JobError('OperationDenied.ReverseWriterNotStarted',
                                   'The writer of reverse task %s has not started: call StartReverseWriter.' % job.job_id)
                reverse = self._writer_started_on_reverse(job)
                if reverse is not None:
                    # "After the reverse task is started, the original task cannot be directly started"
                    # (help.aliyun.com/en/dts/use-cases/use-the-reverse-task-creating-feature). The code is our choice.
                    raise JobError('OperationDenied.ReverseJobStarted',
                                   'The task %s cannot be started again: the writer of its reverse task %s has started.'
                                   % (job.job_id, reverse.job_id))
                job._transition('resume', now)
            else:
                return False  # already running
        self._changed_job(job)
        return True

    def suspend(self, job):
        with self.lock:
            now = self.clock()
            job._advance(now)
            self._check_not_locked(job)
            if job._pending and job._pending[0] == 'pause':
                return False
            if job._pending:
                raise JobError('OperationDenied.JobStatus', 'The task %s is being started; pause it once it runs.' % job.job_id)
            if job._paused_at is not None:
                return False
            if job._stage not in RUNNING_STAGES:
                raise JobError('OperationDenied.JobStatus', 'The task %s is %s; only a running task (Migrating or Synchronizing) can be paused.'
                               % (job.job_id, job._status(detail=True)))
            job._transition('pause', now)
        self._changed_job(job)
        return True

    def stop(self, job):
        with self.lock:
            now = self.clock()
            job._advance(now)
            if job._stage == 'finished':
                return False
            job._finish(now)
        self._changed_job(job)
        return True

    def delete(self, job):
        with self.lock:
            now = self.clock()
            job._advance(now)
            if job.released:
                return  # a released task that is still visible as Finished (released_status='finished')
            if job._stage == 'incremental' and job._paused_at is None:
                job.delay_source.stopped(job, now)
            job._pending = None
            job.released = True
        self._changed_job(job)

    def fail(self, job, message, status='Failed'):
        if status not in FAILED_STATUSES:
            raise ValueError('status must be one of %s, got %r' % (', '.join(FAILED_STATUSES), status))
        with self.lock:
            now = self.clock()
            job._advance(now)
            if job._stage in ('not_configured', 'not_started', 'finished'):
                raise ValueError('task %s is %s: only a started, unfinished task can fail' % (job.job_id, job._status(detail=True)))
            job._fail(now, status, message)
        self._changed_job(job)

    def set_delay(self, job, profile):
        source = delay_source(profile)
        with self.lock:
            job._advance(self.clock())
            job.delay_source = source
        self._changed_job(job)

    def create_reverse(self, forward):
        """CreateReverseDtsJob as documented (alibabacloud.com/help/doc-detail/2638760.html, "How it works";
        alibabacloud.com/help/en/dts/developer-reference/api-createreversedtsjob): on a forward task that runs with
        incremental sync in progress, one reverse task per forward task, MySQL/SQL Server/MongoDB only. The reverse
        task prechecks at once, then captures with its writer stopped (Suspending) until StartReverseWriter.
        The error codes are our choice: the docs name none for these refusals."""
        with self.lock:
            now = self.clock()
            forward._advance(now)
            self._check_not_locked(forward)
            engines = (engine_family(forward.source), engine_family(forward.destination))
            if engines[0] is None or engines[0] != engines[1]:
                raise JobError('OperationDenied.ReverseJobNotSupported',
                               'The task %s replicates %s to %s; reverse tasks (CreateReverseDtsJob) exist only for MySQL, SQL Server and '
                               'MongoDB. Create an incremental-only task from the destination to the source instead '
                               '(CreateDtsInstance + ConfigureDtsJob).' % (forward.job_id, forward.source.get('EngineName'),
                                                                           forward.destination.get('EngineName')))
            if forward._stage != 'incremental' or forward._paused_at is not None or forward._pending is not None:
                state = forward._status(detail=True)
                if forward._pending is not None:
                    state += ', being paused'
                elif forward._stage in ('structure', 'full') and forward._paused_at is None:
                    state += ', %s phase' % forward._stage
                raise JobError('OperationDenied.JobStatus',
                               'The task %s is %s; a reverse task can be created only while the forward task runs with incremental '
                               'synchronization in progress.' % (forward.job_id, state))
            existing = [job_id for job_id in forward.reverse_job_ids if not self._jobs[job_id].released]
            if existing:
                raise JobError('OperationDenied.ReverseJobExists',
                               'The task %s already has the reverse task %s; a task has one reverse task.' % (forward.job_id, existing[0]))
            job_id = new_id()
            reverse_delay = forward.delay_source.reverse_source(forward)
            if reverse_delay is None:
                reverse_delay = forward.reverse_delay if forward.reverse_delay is not None else self.reverse_delay
            job = Job(self, job_id, 'dts' + new_id(), forward.name + '_reverse', job_type='SYNC', structure=False, full=False,
                      incremental=True, durations=forward.durations, delay=reverse_delay, source=forward.destination,
                      destination=forward.source, region=forward.region, created_at=now, reverse_of=forward.job_id,
                      db_object=forward.db_object)
            job.secrets = {side: forward.secrets[other] for side, other in (('source', 'destination'), ('destination', 'source'))
                           if other in forward.secrets}
            job._begin(now, checkpoint=now)
            self._jobs[job_id] = job
            forward.reverse_job_ids.append(job_id)
        self.changed()
        return job

    def start_reverse_writer(self, job, checkpoint=None):
        with self.lock:
            now = self.clock()
            job._advance(now)
            if job.reverse_of is None:
                raise JobError('OperationDenied.NotReverseJob', 'The task %s is not a reverse task created by CreateReverseDtsJob.' % job.job_id)
            self._check_not_locked(job)
            if job._paused_at is None or job._stage != 'incremental' or job._pending is not None:
                raise JobError('OperationDenied.JobStatus', 'The reverse task %s is %s; StartReverseWriter needs it paused (Suspending).'
                               % (job.job_id, job._status(detail=True) + (', its writer starting' if job._pending else '')))
            forward = self._jobs.get(job.reverse_of)
            if forward is not None and not forward.released:
                forward._advance(now)
                if forward._stage in ('precheck', 'precheck_pass') + RUNNING_STAGES and forward._paused_at is None:
                    # "Starting it while the forward task runs can cause data inconsistency or instance failure"
                    # (alibabacloud.com/help/doc-detail/2638760.html); the writer needs the forward task paused.
                    raise JobError('OperationDenied.JobStatus',
                                   'The forward task %s is %s; pause it (SuspendDtsJob, until it is Suspending) before StartReverseWriter.'
                                   % (forward.job_id, forward._status(detail=True) + (', being paused' if forward._pending else '')))
            job.writer_checkpoint = checkpoint
            start = None
            if checkpoint is not None:
                # The docs disagree on the unit (seconds vs milliseconds): accept both.
                start = int(checkpoint) // 1000 if int(checkpoint) > 10 ** 11 else int(checkpoint)
            job._transition('writer', now, start)
        self._changed_job(job)

    def create_instance(self, params):
        with self.lock:
            job_id = params.get('JobId')
            if job_id:
                job = self.get(job_id)
                return job.instance_id, job.job_id, job
            instance_id = 'dts' + new_id()
            job_id = new_id()
            self._instances[instance_id] = job_id
            job = Job(self, job_id, instance_id, '', job_type=(params.get('Type') or 'MIGRATION').upper(), created_at=self.clock(),
                      region=params.get('SourceRegion') or params.get('RegionId') or self.region, params={'CreateDtsInstance': dict(params)})
            job._stage = 'not_configured'
            self._jobs[job_id] = job
        self.changed()
        return instance_id, job_id, job

    def configure(self, job, fields):
        """ConfigureDtsJob on an existing (not yet started) task or, with job None, a new one."""
        with self.lock:
            now = self.clock()
            if job is None:
                job_id = new_id()
                job = Job(self, job_id, 'dts' + job_id, fields['name'], job_type=fields['job_type'], created_at=now,
                          structure=fields['structure'], full=fields['full'], incremental=fields['incremental'])
                self._jobs[job_id] = job
            else:
                job._advance(now)
                if job._stage not in ('not_configured', 'not_started'):
                    raise JobError('UpdateJob.OperationDenied.InitStatus',
                                   'The task %s is %s; only a task that has not started can be configured.' % (job.job_id, job._status(detail=True)))
            job.name = fields['name']
            job.job_type = fields['job_type']
            job.structure, job.full, job.incremental = fields['structure'], fields['full'], fields['incremental']
            job.source = endpoint(fields['source'], job.region)
            job.destination = endpoint(fields['destination'], job.region)
            job.db_object = fields['db_object']
            job.reserved = fields.get('reserved') or '{}'
            job.params.update(fields['params'])
            job._stage = 'not_started'
            job._last_update = now
            if self.source_for is not None:
                job.delay_source = self.source_for(job) or job.delay_source
            if 'CreateDtsInstance' in job.params and fields.get('auto_start', 'all') == 'all':
                # Instance bought first: Reserve autoStartModulesAfterConfig 'all' (the default) starts the precheck
                # and, once it passes, every later module; 'none' waits for StartDtsJob
                # (alibabacloud.com/help/en/dts/developer-reference/configure-dts-tasks-with-openapi; .../migrationreserved).
                # Configured first, the task waits for CreateDtsInstance AutoStart=true.
                job._begin(now, job.params.get('Checkpoint') or None)
        self.changed()
        return job

    def set_status(self, job, status, reads=None):
        """Make the task report ``status`` (one of INJECTABLE_STATUSES) to the next ``reads`` reads
        (None: until set_status(job, None)); ``Locked`` also refuses every operation meanwhile."""
        if status is not None and status not in INJECTABLE_STATUSES:
            raise ValueError('status must be one of %s (or None to clear), got %r' % (', '.join(INJECTABLE_STATUSES), status))
        if reads is not None and int(reads) < 1:
            raise ValueError('reads must be a number >= 1 (or None: until cleared), got %r' % (reads,))
        with self.lock:
            job._injected = [status, None if reads is None else int(reads)] if status else None
        return job

    # -- persistence --------------------------------------------------------------------------

    def to_state(self):
        with self.lock:
            return {'jobs': [job.to_state() for job in self._jobs.values()], 'instances': dict(self._instances), 'clock': self.clock()}

    def load_state(self, state):
        with self.lock:
            for item in state.get('jobs') or ():
                job = Job.from_state(self, item)
                self._jobs[job.job_id] = job
            self._instances.update(state.get('instances') or {})
