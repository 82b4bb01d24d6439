"""Real replication in the emulator, for each engine, between two throwaway local servers:
full copy then ordered incremental changes, pause and resume from the checkpoint, a restart from
the state file, the reverse task without loops, release of what a task created, apply latency."""

import json
import os
import secrets
import shutil
import time

import pytest

from dts_emulator import Emulator
from dts_emulator.jobs import JobError
from dts_emulator.replication.local import LocalPair
from polling import wait_for

ENGINES = ['mysql', 'postgresql', 'redis']
DURATIONS = {'precheck': 0.05, 'structure': 0.05, 'full': 0.05, 'reverse_precheck': 0.05}


class Workload(object):
    """One migrated database per test: a ledger that only grows (no key, so a change applied
    twice shows up as a duplicate) and one counter row updated by every write (a change applied
    out of order leaves a wrong final value). Redis: a list and a key under a prefix."""

    def __init__(self, pair):
        self.pair = pair
        self.name = 'shop_%s' % secrets.token_hex(3)
        self.n = 0

    def endpoint(self, side):
        spec = self.pair.endpoint(side)
        if self.pair.engine == 'redis':
            return spec
        return dict(spec, database=self.name)

    def server(self, side):
        return self.pair.source if side == 'source' else self.pair.destination

    def prepare(self, seed=3):
        engine, source = self.pair.engine, self.pair.source
        if engine == 'mysql':
            source.create_database(self.name)
            source.execute('CREATE TABLE `%s`.ledger (side VARCHAR(16), n INT)' % self.name)
            source.execute('CREATE TABLE `%s`.counter (id INT PRIMARY KEY, n INT)' % self.name)
            source.execute('INSERT INTO `%s`.counter VALUES (1, 0)' % self.name)
        elif engine == 'postgresql':
            for server in (source, self.pair.destination):
                server.create_database(self.name)
            source.execute('CREATE TABLE ledger (side TEXT, n INT)', database=self.name)
            source.execute('CREATE TABLE counter (id INT PRIMARY KEY, n INT)', database=self.name)
            source.execute('INSERT INTO counter VALUES (1, 0)', database=self.name)
        else:
            source.command('SET', self.key('counter'), 0)
        for dummy in range(seed):
            self.write('source')

    def key(self, name):
        return '%s:%s' % (self.name, name)

    def write(self, side, label=None):
        """One transaction: a ledger row and the counter set to its number; returns the number."""
        self.n += 1
        server, label = self.server(side), label or side
        if self.pair.engine == 'mysql':
            conn = server.connect(database=self.name)
            try:
                with conn.cursor() as cursor:
                    cursor.execute('BEGIN')
                    cursor.execute('INSERT INTO ledger VALUES (%s, %s)', (label, self.n))
                    cursor.execute('UPDATE counter SET n = %s WHERE id = 1', (self.n,))
                    cursor.execute('COMMIT')
            finally:
                conn.close()
        elif self.pair.engine == 'postgresql':
            conn = server.connect(database=self.name)
            try:
                conn.autocommit = False
                with conn.cursor() as cursor:
                    cursor.execute('INSERT INTO ledger VALUES (%s, %s)', (label, self.n))
                    cursor.execute('UPDATE counter SET n = %s WHERE id = 1', (self.n,))
                conn.commit()
            finally:
                conn.close()
        else:
            client = server.connect()
            try:
                pipe = client.pipeline(transaction=True)
                pipe.rpush(self.key('ledger'), '%s:%d' % (label, self.n))
                pipe.set(self.key('counter'), self.n)
                pipe.execute()
            finally:
                client.close()
        return self.n

    def ledger(self, side):
        """Every ledger entry as (label, n), sorted, duplicates kept; None before the copy."""
        server = self.server(side)
        try:
            if self.pair.engine == 'mysql':
                rows = server.execute('SELECT side, n FROM `%s`.ledger' % self.name)
            elif self.pair.engine == 'postgresql':
                rows = server.execute('SELECT side, n FROM ledger', database=self.name)
            else:
                rows = [tuple(entry.rsplit(':', 1)) for entry in server.command('LRANGE', self.key('ledger'), 0, -1)]
        except Exception:  # pylint: disable=broad-except
            return None
        return sorted((label, int(n)) for label, n in rows)

    def counter(self, side):
        server = self.server(side)
        try:
            if self.pair.engine == 'mysql':
                rows = server.execute('SELECT n FROM `%s`.counter WHERE id = 1' % self.name)
            elif self.pair.engine == 'postgresql':
                rows = server.execute('SELECT n FROM counter WHERE id = 1', database=self.name)
            else:
                value = server.command('GET', self.key('counter'))
                rows = [(value,)] if value is not None else []
        except Exception:  # pylint: disable=broad-except
            return None     # not copied yet
        return int(rows[0][0]) if rows else None

    def same(self):
        """The destination holds exactly the source's ledger and counter."""
        return self.ledger('destination') == self.ledger('source') and self.counter('destination') == self.counter('source')


@pytest.fixture(scope='module', params=ENGINES)
def pair(request):
    with LocalPair(request.param) as started:
        yield started


@pytest.fixture
def make_emulator(pair, tmp_path):
    """Emulators with real replication; every task is released and every emulator stopped after
    the test (PostgreSQL slots are a limited resource of the shared servers)."""
    made = []

    def make(state_file=None, apply_latency=0.0, credentials=True):
        options = {'apply_latency': apply_latency}
        if credentials:
            options['credentials'] = pair.credentials
        emu = Emulator(accounts={'AK': 'SK'}, durations=DURATIONS, state_file=state_file, replication=options)
        if state_file and os.path.exists(state_file):
            emu.load_state()
        made.append(emu.start())
        return emu

    yield make
    for emu in made:
        if emu._server is None:  # pylint: disable=protected-access
            continue    # stopped by the test; a later emulator holds its tasks
        for job in emu.jobs():
            emu.model.delete(job)
        wait_for(lambda: all(job.delay_source.state.get('released') for job in emu.jobs(released=True)
                             if hasattr(job.delay_source, 'state')), what='the release of every task')
        emu.stop()


@pytest.fixture
def workload(pair):
    work = Workload(pair)
    work.prepare()
    return work


def start_task(emu, workload, **kwargs):
    job = emu.add_job(name=workload.name, source=workload.endpoint('source'), destination=workload.endpoint('destination'), **kwargs)
    emu.model.start(job)
    return job


def caught_up(emu, job, workload):
    return job.stage == 'incremental' and emu.replication_status(job.job_id)['pending'] == 0 and workload.same()


def wait_caught_up(emu, job, workload, what):
    wait_for(lambda: caught_up(emu, job, workload), what=what, details=lambda: dict(
        emu.replication_status(job.job_id), task=job.status, error_message=job.error_message,
        ledger=(workload.ledger('source'), workload.ledger('destination')),
        counter=(workload.counter('source'), workload.counter('destination'))))


def test_full_copy_then_changes_in_commit_order(make_emulator, workload):
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_for(lambda: emu.replication_status(job.job_id)['prepared'], what='the copy')
    for dummy in range(40):
        workload.write('source')
    wait_caught_up(emu, job, workload, 'the destination to catch up')
    assert workload.counter('destination') == workload.n == 43
    assert workload.ledger('destination') == [('source', n) for n in range(1, 44)]
    status = emu.replication_status(job.job_id)
    assert status['error'] is None and status['applied'] > 0
    assert job.delay_ms == 0 and job.caught_up


def test_pause_holds_changes_and_resume_applies_them(make_emulator, workload):
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    emu.model.suspend(job)
    before = time.time()
    held = [workload.write('source') for dummy in range(5)]
    wait_for(lambda: emu.replication_status(job.job_id)['pending'] >= 5, what='the capture of the paused changes')

    # Captured but not applied: the destination stays where the pause cut it.
    assert workload.counter('destination') == 3
    assert [n for dummy, n in workload.ledger('destination')] == [1, 2, 3]
    # The delay is the age of the oldest change held back, so it grows with the clock.
    t0 = time.time()
    first = job.delay_ms
    t1 = time.time()
    time.sleep(0.2)
    t2 = time.time()
    second = job.delay_ms
    t3 = time.time()
    assert 0 < first <= (t1 - before) * 1000
    assert (t2 - t1) * 1000 - 2 <= second - first <= (t3 - t0) * 1000 + 2
    checkpoint = emu.replication_status(job.job_id)['position']

    emu.model.start(job)
    wait_caught_up(emu, job, workload, 'the held changes')
    assert [n for dummy, n in workload.ledger('destination')] == [1, 2, 3] + held
    assert emu.replication_status(job.job_id)['position'] != checkpoint
    assert job.delay_ms == 0


def test_the_status_says_how_long_nothing_was_applied(make_emulator, workload):
    """A check that waits for a task replaying its backlog (started again after a server came back)
    waits until it is idle: the status says for how long nothing was applied."""
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    time.sleep(0.5)
    idle = emu.replication_status(job.job_id)['idle_seconds']
    assert idle >= 0.5
    workload.write('source')
    wait_caught_up(emu, job, workload, 'the write')
    assert emu.replication_status(job.job_id)['idle_seconds'] < idle


def test_restart_continues_from_the_state_file(make_emulator, workload, tmp_path):
    state_file = str(tmp_path / 'state.json')
    emu = make_emulator(state_file=state_file)
    job = start_task(emu, workload)
    for dummy in range(5):
        workload.write('source')
    wait_caught_up(emu, job, workload, 'the first changes')
    emu.stop()
    saved = json.load(open(state_file))['jobs'][0]['delay']
    assert saved['kind'] == 'replication' and saved['prepared'] and saved['position']
    assert workload.pair.migration_password not in open(state_file).read()

    # Written while the emulator is down: read from the source's log after the restart.
    for dummy in range(5):
        workload.write('source')
    again = make_emulator(state_file=state_file)
    job = again.job(job.job_id)
    wait_caught_up(again, job, workload, 'the changes made while the emulator was down')
    assert [n for dummy, n in workload.ledger('destination')] == list(range(1, 14))


def test_a_stale_state_file_applies_nothing_twice(make_emulator, workload, tmp_path):
    """The destination's progress record is written with the data: after a crash that lost the
    last saves of the state file, the changes applied since are not applied again."""
    state_file = str(tmp_path / 'state.json')
    emu = make_emulator(state_file=state_file)
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    emu.save_state()
    shutil.copy(state_file, state_file + '.old')
    for dummy in range(6):
        workload.write('source')
    wait_caught_up(emu, job, workload, 'the changes after the saved checkpoint')
    emu.stop()
    shutil.copy(state_file + '.old', state_file)

    again = make_emulator(state_file=state_file)
    workload.write('source')
    job = again.job(job.job_id)
    wait_caught_up(again, job, workload, 'the change after the restart')
    assert [n for dummy, n in workload.ledger('destination')] == list(range(1, 11))


def test_reverse_task_carries_destination_writes(make_emulator, workload, pair):
    """CreateReverseDtsJob (MySQL only): created while the forward task runs, it captures from its creation
    on; its writer starts after the forward task is paused, which then cannot be started again."""
    if pair.engine != 'mysql':
        pytest.skip('CreateReverseDtsJob exists for MySQL, SQL Server and MongoDB only')
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    reverse = emu.model.create_reverse(job)
    # Captured from the creation of the reverse task on, even before its writer starts.
    early = workload.write('destination', 'early')
    wait_for(lambda: emu.replication_status(reverse.job_id)['pending'] == 1, what='the capture of the early write')
    wait_for(lambda: reverse.stage == 'incremental' and reverse.delay_ms > 0, what='the backlog of the waiting writer')
    assert reverse.paused
    assert ('early', early) not in workload.ledger('source')
    # The forward task, still running, skips what the reverse task will write and vice versa.
    forward_change = workload.write('source', 'forward')
    wait_for(lambda: ('forward', forward_change) in workload.ledger('destination'), what='the forward change')

    emu.model.suspend(job)
    emu.model.start_reverse_writer(reverse)
    late = workload.write('destination', 'late')
    wait_for(lambda: emu.replication_status(reverse.job_id)['pending'] == 0 and workload.ledger('source') == workload.ledger('destination'),
             what='the reverse task')
    ledger = workload.ledger('source')
    assert {('early', early), ('late', late), ('forward', forward_change)} <= set(ledger)
    assert len(ledger) == len(set(ledger)) == 6
    with pytest.raises(JobError) as refused:
        emu.model.start(job)
    assert refused.value.code == 'OperationDenied.ReverseJobStarted'


def configured_reverse(emu, job):
    """The configure method's reverse task: a MIGRATION task, incremental only, endpoints swapped, bought
    and configured with autoStartModulesAfterConfig=none while the forward task runs."""
    dummy, dummy, reverse = emu.model.create_instance({'Type': 'MIGRATION'})
    fields = {'name': job.name + '_back', 'job_type': 'MIGRATION', 'structure': False, 'full': False, 'incremental': True,
              'source': dict(job.destination), 'destination': dict(job.source), 'db_object': job.db_object,
              'reserved': '{"autoStartModulesAfterConfig": "none"}', 'auto_start': 'none', 'params': {}}
    return emu.model.configure(reverse, fields)


def test_configured_reverse_task_carries_destination_writes_and_never_loops(make_emulator, workload):
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    reverse = configured_reverse(emu, job)
    assert reverse.status == 'NotStarted' and emu.replication_status(reverse.job_id)['capturing'] is False

    emu.model.suspend(job)
    emu.model.start(reverse)
    wait_for(lambda: reverse.stage == 'incremental', what='the precheck of the configured reverse task')
    late = workload.write('destination', 'late')
    wait_caught_up(emu, reverse, workload, 'the reverse task')
    assert ('late', late) in workload.ledger('source')

    # Both directions running: what one applied is never replayed by the other. (The counter is
    # written on both sides at once here, a conflict no replication resolves: only the ledger counts.)
    emu.model.start(job)
    forward_change = workload.write('source', 'forward')
    reverse_change = workload.write('destination', 'reverse')
    # Each direction sees the other's writes come by, and skips them.
    wait_for(lambda: emu.replication_status(job.job_id)['skipped'] >= 2 and emu.replication_status(reverse.job_id)['skipped'] >= 1,
             what='each direction to skip the writes of the other')
    wait_for(lambda: emu.replication_status(job.job_id)['pending'] == 0 and emu.replication_status(reverse.job_id)['pending'] == 0
             and workload.ledger('source') == workload.ledger('destination'), what='both directions')
    ledger = workload.ledger('source')
    assert len(ledger) == len(set(ledger)) == 6
    assert ('forward', forward_change) in ledger and ('reverse', reverse_change) in ledger


def test_delete_stops_the_replicator_and_releases_its_objects(make_emulator, workload, pair):
    emu = make_emulator()
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    emu.model.delete(job)
    wait_for(lambda: job.delay_source.state.get('released'), what='the release')
    assert job.delay_source.replicator is None
    assert not [thread for thread in __import__('threading').enumerate() if job.job_id in thread.name]
    if pair.engine == 'postgresql':
        name = 'dts_emulator_%s' % job.job_id
        assert pair.source.execute('SELECT 1 FROM pg_replication_slots WHERE slot_name = %s', (name,)) == []
        assert pair.source.execute('SELECT 1 FROM pg_publication WHERE pubname = %s', (name,), database=workload.name) == []
        assert pair.destination.execute('SELECT 1 FROM pg_replication_origin WHERE roname = %s', (name,)) == []


def test_apply_latency_delays_every_change(make_emulator, workload):
    emu = make_emulator(apply_latency=0.4)
    job = start_task(emu, workload)
    wait_caught_up(emu, job, workload, 'the copy')
    written = time.time()
    n = workload.write('source')
    wait_for(lambda: workload.counter('destination') == n, what='the delayed change')
    assert time.time() - written >= 0.4
    assert job.delay_ms == 0


def test_apply_rate_paces_a_backlog(make_emulator, workload):
    emu = Emulator(accounts={'AK': 'SK'}, durations=DURATIONS, replication={'credentials': workload.pair.credentials, 'apply_rate': 50})
    emu.start()
    try:
        job = start_task(emu, workload)
        wait_caught_up(emu, job, workload, 'the copy')
        emu.model.suspend(job)
        for dummy in range(25):
            workload.write('source')
        wait_for(lambda: emu.replication_status(job.job_id)['pending'] == 25, what='the backlog')
        resumed = time.monotonic()
        emu.model.start(job)
        wait_caught_up(emu, job, workload, 'the backlog to drain')
        # 25 transactions at 50 per second: the last one starts 24 intervals after the first.
        assert time.monotonic() - resumed >= 24 / 50.0
    finally:
        for each in emu.jobs():
            emu.model.delete(each)
        emu.stop()


def test_a_replication_failure_fails_the_task_with_a_clear_message(make_emulator, workload, pair):
    emu = make_emulator(credentials=False)
    endpoint = dict(workload.endpoint('source'), password='not-the-password')
    job = emu.add_job(name=workload.name, source=endpoint, destination=workload.endpoint('destination'))
    emu.model.start(job)
    wait_for(lambda: job.status == 'MigrationFailed', what='the task to fail')
    assert '127.0.0.1:%d' % pair.source.port in job.error_message
    assert 'not-the-password' not in job.error_message and pair.migration_password not in job.error_message
