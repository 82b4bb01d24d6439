# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The switchover journal: what each phase did, persisted so that a fresh run can resume.

One JSON document per migration unit. Every change is written atomically (temporary file,
fsync, rename, fsync of the directory), so a controller killed at any instant leaves either the
previous or the new journal on disk, never a torn one.

Shape::

    {"version": 1, "unit": "orders", "run_id": "20261124T020000Z-1a2b3c", "attempt": 1,
     "created": ..., "updated": ..., "outcome": "running" | "completed" | "aborted" | "failed",
     "point_of_no_return": null | "<time>", "message": "...",
     "phases": {"fence": {"status": "done", "started": ..., "finished": ..., "elapsed": 1.2,
                          "result": {...}}, ...},
     "data": {"fence": {...}, "reverse_job_id": "...", ...},
     "events": [{"time": ..., "phase": "fence", "status": "started", "message": ""}, ...]}

Times are UNIX seconds (float); the report renders them.

With a *store* (the ``store`` option: a database connection and an object there) every write of the
journal also upserts it into that database, under the key ``<unit>/<file name>``, and a run that
finds no local file takes the journal from the store: the controller of an AWX job does not keep
its disk from one job to the next. The store is written first, so a failed store write leaves both
copies as they were; any store failure fails the task, so the two never silently diverge.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid

from ansible_collections.dtsops.switchover.plugins.module_utils import db
from ansible_collections.dtsops.switchover.plugins.module_utils import procedure
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver

VERSION = 1
OUTCOMES = ('running', 'completed', 'aborted', 'failed')
PHASE_STATUSES = ('started', 'done', 'failed', 'skipped')


class JournalError(Exception):
    """The journal cannot be read or written; the message says which file and why."""


def new_journal(unit, now=None):
    now = time.time() if now is None else now
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))
    return {
        'version': VERSION,
        'unit': unit,
        'run_id': '%s-%s' % (stamp, uuid.uuid4().hex[:6]),
        'attempt': 1,
        'created': now,
        'updated': now,
        'outcome': 'running',
        'point_of_no_return': None,
        'message': '',
        'phases': {},
        'data': {},
        'events': [],
    }


def load(path):
    """The journal at ``path``, or None when there is none."""
    try:
        with open(path) as stream:
            journal = json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise JournalError('cannot read the journal %s: %s' % (path, exc))
    if not isinstance(journal, dict) or journal.get('version') != VERSION:
        raise JournalError('%s is not a switchover journal of version %d' % (path, VERSION))
    return journal


def save(path, journal):
    """Write atomically; the file is readable by its owner only (it holds fence records)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.journal-', dir=directory)
        try:
            with os.fdopen(fd, 'w') as stream:
                json.dump(journal, stream, indent=1, sort_keys=True, default=str)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise JournalError('cannot write the journal %s: %s' % (path, exc))


def archive(path, journal):
    """Move a finished journal aside (``<path>.<run_id>``) so that the next run starts afresh."""
    target = '%s.%s' % (path, journal['run_id'])
    try:
        os.replace(path, target)
    except OSError as exc:
        raise JournalError('cannot archive the journal %s: %s' % (path, exc))
    return target


def begin_run(journal, unit, now=None):
    """Start a run or resume one. Returns (journal, how) with how in 'new', 'resumed', 'finished'."""
    if journal is None:
        return new_journal(unit, now), 'new'
    if journal.get('outcome') == 'running':
        journal['attempt'] = int(journal.get('attempt', 1)) + 1
        add_event(journal, None, 'resumed', 'attempt %d' % journal['attempt'], now)
        return journal, 'resumed'
    return journal, 'finished'


def add_event(journal, phase, status, message='', now=None):
    now = time.time() if now is None else now
    journal['events'].append({'time': now, 'phase': phase, 'status': status, 'message': message or ''})
    journal['updated'] = now


def set_phase(journal, phase, status, result=None, message='', now=None):
    """Record a phase transition; ``result`` is kept with the phase (merged on repeats)."""
    if status not in PHASE_STATUSES:
        raise JournalError('unknown phase status %r (expected one of %s)' % (status, ', '.join(PHASE_STATUSES)))
    now = time.time() if now is None else now
    entry = journal['phases'].setdefault(phase, {})
    if status == 'started':
        entry['started'] = entry.get('started') or now
        entry.pop('finished', None)
    else:
        entry.setdefault('started', now)
        entry['finished'] = now
        entry['elapsed'] = round(now - entry['started'], 3)
    entry['status'] = status
    if message:
        entry['message'] = message
    if result:
        entry.setdefault('result', {}).update(result)
    add_event(journal, phase, status, message, now)


def merge_data(journal, data, now=None):
    if data:
        journal['data'].update(data)
        journal['updated'] = time.time() if now is None else now


def finish(journal, outcome, message='', now=None):
    if outcome not in OUTCOMES:
        raise JournalError('unknown outcome %r (expected one of %s)' % (outcome, ', '.join(OUTCOMES)))
    journal['outcome'] = outcome
    journal['message'] = message or ''
    add_event(journal, None, outcome, message, now)


def phase_done(journal, phase):
    return journal['phases'].get(phase, {}).get('status') in ('done', 'skipped')


class JournalStore(object):
    """The copy of the journal kept in a database (the ``store`` option), through the engine of
    its kind: connected on first use, its object checked (or created) once."""

    def __init__(self, options, check_mode=False):
        self.options = options
        self.check_mode = check_mode
        self.name = options['object']
        self.engine = None
        self.created = False

    @staticmethod
    def key(path, unit):
        """Where a journal file's copy lives: ``<unit>/<file name>``. The unit keeps the units
        apart, the file name a unit's journals (switchover, rollback, finalize)."""
        return '%s/%s' % (unit, os.path.basename(path))

    @property
    def where(self):
        port = self.options.get('login_port') or db.engine_class(self.options['engine']).default_port
        return 'the journal store (%s at %s:%s, %s)' % (self.options['engine'], self.options.get('login_host'), port, self.name)

    def _failure(self, doing, exc):
        text = str(exc) if isinstance(exc, EngineError) else db.describe_exception(exc)
        password = self.options.get('login_password')
        if password:
            text = text.replace(str(password), '********')
        return JournalError('Cannot %s %s: %s' % (doing, self.where, text.rstrip('.')))

    def _connected(self):
        if self.engine is None:
            params = db.connection_params(self.options)
            engine = db.engine_class(params['engine'])(params, check_mode=self.check_mode)
            try:
                engine.connect()
            except MissingDriver as exc:
                raise JournalError('%s needs the Python package %s on the controller: pip install %s'
                                   % (self.where[0].upper() + self.where[1:], exc.package, exc.package))
            except Exception as exc:  # one message whatever the driver raised, never a traceback or a secret
                engine.close()
                raise self._failure('connect to', exc)
            self.engine = engine
            try:
                self.created = engine.ensure_document_object(self.name, create=self.options.get('create'))
            except Exception as exc:
                raise self._failure('use', exc)
        return self.engine

    def _call(self, doing, method, *args):
        engine = self._connected()
        try:
            return getattr(engine, method)(self.name, *args)
        except Exception as exc:  # one message whatever the driver raised, never a traceback or a secret
            raise self._failure(doing, exc)

    def load(self, key):
        """The journal stored under ``key``, or None."""
        self._connected()
        if self.created and self.check_mode:
            return None  # the object would be created: nothing in it yet
        journal = self._call('read the journal %s from' % key, 'load_document', key)
        if journal is not None and journal.get('version') != VERSION:
            raise JournalError('%s holds no switchover journal of version %d under %s' % (self.where, VERSION, key))
        return journal

    def save(self, key, journal):
        self._call('write the journal %s into' % key, 'save_document', key, journal)

    def delete(self, key):
        self._call('remove the journal %s from' % key, 'delete_document', key)

    @property
    def statements(self):
        return list(self.engine.statements) if self.engine is not None else []

    def close(self):
        if self.engine is not None:
            self.engine.close()


STORE_SPEC = dict(
    db.db_connection_spec(),
    object=dict(type='str', required=True),
    create=dict(type='bool', default=False),
)

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    operation=dict(type='str', required=True,
                   choices=['begin', 'read', 'phase', 'data', 'plan', 'point_of_no_return', 'finish', 'archive']),
    unit=dict(type='str'),
    phase=dict(type='str'),
    status=dict(type='str', choices=list(PHASE_STATUSES)),
    result=dict(type='dict'),
    data=dict(type='dict'),
    outcome=dict(type='str', choices=['completed', 'aborted', 'failed']),
    note=dict(type='str', default=''),
    store=dict(type='dict', options=STORE_SPEC),
    fact=dict(type='str', default='switchover_journal'),
    journal=dict(type='dict'),
    procedure=dict(type='str', default='switchover', choices=['switchover', 'rollback', 'finalize']),
    settings=dict(type='dict', default={}),
    check=dict(type='dict'),
    write_budget=dict(type='float'),
)
REQUIRED_IF = [
    ('operation', 'begin', ['unit']),
    ('operation', 'phase', ['phase', 'status']),
    ('operation', 'data', ['data']),
    ('operation', 'finish', ['outcome']),
]


def run(params, check_mode=False, now=None):
    """Carry out one operation of the switchover_journal module or action; returns its result.
    Raises JournalError with a message for the user."""
    store = JournalStore(params['store'], check_mode) if params.get('store') else None
    try:
        result = _operate(params, check_mode, time.time() if now is None else now, store)
    finally:
        if store is not None:
            store.close()
    if store is not None:
        result['statements'] = store.statements
    # The role keeps no copy of the journal: each call hands it back as a fact.
    if params.get('fact', 'switchover_journal'):
        result['ansible_facts'] = {params.get('fact', 'switchover_journal'): result['journal']}
    return result


def write(path, journal, store=None):
    """The store first: when it fails, neither copy has changed."""
    if store is not None:
        store.save(JournalStore.key(path, journal['unit']), journal)
    save(path, journal)


def _operate(params, check_mode, now, store):
    path = params['path']
    operation = params['operation']
    result = dict(changed=False, path=path, loaded_from=None)

    # In check mode nothing is written: the role hands back the journal its earlier tasks built in
    # memory, so that later phases plan with what a real run would have recorded.
    journal = params.get('journal') if check_mode and operation != 'begin' else None
    if journal:
        result['loaded_from'] = 'memory'
    else:
        journal = load(path)
        if journal is not None:
            result['loaded_from'] = 'file'
        else:
            unit = params.get('unit')
            if store is not None and unit:
                journal = store.load(JournalStore.key(path, unit))
                if journal is not None:
                    result['loaded_from'] = 'store'
    if operation == 'read':
        result['journal'] = journal or {}
        return result
    if operation == 'begin':
        settings = params.get('settings') or {}
        problem = procedure.check_settings(params['check']) if params.get('check') else ''
        if problem:
            raise JournalError('%s: %s' % (params['unit'], problem))
        result['phases'] = procedure.order(params.get('procedure') or 'switchover', settings)
        journal, how = begin_run(journal, params['unit'], now)
        # The first phase (the preflight) runs before the plan: its segment, or None once done.
        result['first'] = (procedure.segments(result['phases'][:1], journal, settings.get('hooks') or ()) or [None])[0]
        result['message'] = begin_message(journal, how, params.get('procedure') or 'switchover', path)
        result['how'] = how
        # A journal taken from the store is written to the file too, even a finished one.
        result['changed'] = how != 'finished' or result['loaded_from'] == 'store'
    elif journal is None:
        raise JournalError('There is no journal at %s%s: run operation=begin first.'
                           % (path, '' if store is None or params.get('unit') else ' (give unit to look in the journal store)'))
    elif operation == 'phase':
        if params['status'] == 'started' and params.get('write_budget'):
            check_budget(journal, params['phase'], params['write_budget'], now)
        set_phase(journal, params['phase'], params['status'], params.get('result'), params.get('note'), now)
        merge_data(journal, params.get('data'), now)
        result['changed'] = True
    elif operation == 'data':
        merge_data(journal, params['data'], now)
        result['changed'] = True
    elif operation == 'plan':
        result['order'], result['segments'], skipped = plan(journal, params.get('procedure') or 'switchover', params.get('settings') or {}, now)
        # The role loops over the order, the same for every unit of a play, and runs the segment
        # that starts at each phase: an Ansible loop whose items differed between hosts would
        # interleave the hosts' includes in the wrong order.
        result['starts'] = dict((segment['phases'][0], segment) for segment in result['segments'])
        result['changed'] = bool(skipped)
    elif operation == 'point_of_no_return':
        if not journal.get('point_of_no_return'):
            journal['point_of_no_return'] = now
            add_event(journal, None, 'point_of_no_return', params.get('note'), now)
            result['changed'] = True
    elif operation == 'finish':
        finish(journal, params['outcome'], params.get('note'), now)
        result['changed'] = True
    elif operation == 'archive':
        if journal.get('outcome') == 'running':
            raise JournalError('The run %s in %s has not finished: resume it or record its outcome before archiving.'
                               % (journal['run_id'], path))
        result['changed'] = True
        if not check_mode:
            result['archived_to'] = _archive(path, journal, store, result['loaded_from'])
        result['journal'] = {}
        return result

    if result['changed'] and not check_mode:
        write(path, journal, store)
    result['journal'] = journal
    return result


def begin_message(journal, how, name, path):
    """What a person should know when a run resumes or has nothing to do ('' for a new run)."""
    if how == 'resumed':
        done = [phase for phase, entry in journal['phases'].items() if entry.get('status') in ('done', 'skipped')]
        return 'Resuming run %s of %s (attempt %d); phases done: %s.' % (
            journal['run_id'], journal['unit'], journal['attempt'], ', '.join(done) or 'none')
    if how == 'finished':
        ended = journal.get('outcome') + (': %s' % journal['message'] if journal.get('message') else '')
        return ('The %s of %s (run %s) ended %s. Nothing to do. To start a new %s of this unit, archive %s '
                '(dtsops.switchover.switchover_journal operation=archive) and run again.'
                % (name, journal['unit'], journal['run_id'], ended, name, path))
    return ''


def check_budget(journal, phase, budget, now):
    """Refuse to start ``phase`` inside the write-unavailable window once its budget is spent."""
    start = (journal.get('data') or {}).get('window_start')
    if start is None or journal.get('point_of_no_return'):
        return
    spent = now - float(start)
    if spent >= budget:
        raise JournalError('The write-unavailable budget of %g s is spent (%.1f s since the fence) before %s.' % (budget, spent, phase))


def plan(journal, name, settings, now=None):
    """After the preflight: record the phases that do not apply to this unit as skipped, and return
    (the phases after the first, the segments the role runs for those not done, the names skipped
    now). ``settings`` holds the order's choices, what decides the skips (procedure.skip_reason)
    and ``hooks`` (the names set)."""
    phases = procedure.order(name, settings)
    skipped = []
    for phase, reason in procedure.skips(phases, settings).items():
        if phase not in journal['phases']:
            set_phase(journal, phase, 'skipped', message=reason, now=now)
            skipped.append(phase)
    return phases[1:], procedure.segments(phases[1:], journal, settings.get('hooks') or ()), skipped


def _archive(path, journal, store, loaded_from):
    """Move the journal aside, in the store (a copy under the archived name, then the original
    removed) and on disk, so that the next run starts afresh."""
    target = '%s.%s' % (path, journal['run_id'])
    if store is not None:
        store.save(JournalStore.key(target, journal['unit']), journal)
        store.delete(JournalStore.key(path, journal['unit']))
    if loaded_from == 'file':
        return archive(path, journal)
    save(target, journal)
    return target
