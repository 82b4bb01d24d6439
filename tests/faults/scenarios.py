"""The fault scenarios, each on a :class:`faults.driver.FaultRehearsal`, each returning a
:class:`Outcome` (a row of the table) for the test to assert on.

Kill points are hook points (``before_<phase>`` / ``after_<phase>``: the phase is recorded as
started but not done) or ``during_<phase>``: the run goes on from the phase's start and is killed
while the phase's module waits, kept waiting by a slow DTS answer or a slow replication.
"""

import itertools
import time

from dts_emulator.api import ACTIONS
from dts_emulator.faults import Faults

from .driver import PHASES, FaultTestError

# What keeps each phase's module busy long enough to be killed inside it: a slow answer to this
# DTS action, or (catch_up) a replication that takes seconds, or (verify_sessions) nothing: the
# module is killed as soon as it runs.
SLOW_ACTIONS = {'wait_undelayed': 'DescribeDtsJobDetail', 'pause_forward': 'SuspendDtsJob',
                'rollback_preflight': 'DescribeDtsJobDetail', 'rollback_pause_reverse': 'SuspendDtsJob'}
# The reverse task's calls depend on its method: a reverse instance for MySQL, a configured
# migration task for PostgreSQL and Redis.
REVERSE_ACTIONS = {'arm_reverse': ('CreateReverseDtsJob', 'ConfigureDtsJob'), 'start_reverse': ('StartReverseWriter', 'StartDtsJob')}
WAIT_MODULES = {'verify_sessions': 'db_sessions_quiesced', 'catch_up': 'db_caught_up',
                'rollback_verify_sessions': 'db_sessions_quiesced', 'rollback_catch_up': 'db_caught_up'}
DURING = ('wait_undelayed', 'arm_reverse', 'verify_sessions', 'catch_up', 'pause_forward', 'start_reverse',
          'rollback_preflight', 'rollback_verify_sessions', 'rollback_catch_up', 'rollback_pause_reverse')


def slow_action(phase, engine):
    if phase in REVERSE_ACTIONS:
        return REVERSE_ACTIONS[phase][0 if engine == 'mysql' else 1]
    return SLOW_ACTIONS.get(phase)


def every_kill_point(phases=PHASES):
    """Every phase boundary and the middle of every wait, in the order a run reaches them."""
    points = []
    for phase in phases:
        points.append('during_%s' % phase if phase in DURING else 'before_%s' % phase)
        points.append('after_%s' % phase)
    return points


# Kill points of the shorter chain: the middle of each wait on the DTS side and of the catch-up,
# the fence applied but not recorded, and the point of no return reached but not recorded.
SOME_KILL_POINTS = ('during_wait_undelayed', 'during_arm_reverse', 'after_fence', 'during_catch_up', 'during_pause_forward',
                    'during_start_reverse', 'after_switch_traffic')
# The same for the rollback: its fence applied but not recorded, the middle of its catch-up and of the
# reverse task's pause, its point of no return reached but not recorded.
SOME_ROLLBACK_KILL_POINTS = ('after_rollback_fence', 'during_rollback_catch_up', 'during_rollback_pause_reverse',
                             'after_rollback_switch_traffic')


class Outcome(object):
    """One row of the fault table."""

    def __init__(self, scenario, rehearsal):
        self.scenario = scenario
        self.engine = rehearsal.engine
        # A pooled rehearsal holds the (released) reverse tasks of earlier scenarios.
        self.earlier_reverse = set(job.job_id for job in rehearsal.reverse_tasks())
        self.outcome = None
        self.fences_left = None
        self.lost = None
        self.duplicated = None
        self.reverse_tasks = None
        self.runs = 0
        self.figure = ''
        self.notes = []
        self.late = 0
        self.verified = None

    def row(self):
        return (self.engine, self.scenario, self.outcome or '-', _count(self.fences_left), _count(self.lost), _count(self.duplicated),
                '-' if self.reverse_tasks is None else str(self.reverse_tasks), str(self.runs), self.figure)

    def __repr__(self):
        return '<Outcome %s %s: %s, fences left %s, lost %s, duplicated %s, reverse tasks %s, runs %s %s; %s>' % (
            self.engine, self.scenario, self.outcome, self.fences_left, self.lost, self.duplicated, self.reverse_tasks, self.runs,
            self.figure, '; '.join(self.notes + list((self.verified or {}).get('problems') or [])))


COLUMNS = ('engine', 'scenario', 'outcome', 'fences left', 'writes lost', 'duplicated', 'reverse tasks created', 'runs', 'figure', 'test time')


def _count(value):
    if value is None:
        return '-'
    return str(len(value)) if isinstance(value, (list, tuple)) else str(value)


def render(rows):
    """The table of rows (tuples of strings, in COLUMNS order) as aligned text."""
    lines = [COLUMNS] + [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(line[index]) for line in lines) for index in range(len(COLUMNS))]
    text = ['  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(text)


def settle(rehearsal, outcome, completed, playbook='switchover'):
    """Fill in what the run left: fences (the servers' settings), writes, reverse tasks. After a
    rollback the outcome is the rollback's; one that aborted leaves the switchover as it was."""
    outcome.target = rehearsal.rehearsal.load.target
    if playbook == 'rollback':
        # The application stops first, so that the verification is final: every write is checked,
        # also those made after the rollback, which belong on the source alone.
        rehearsal.rehearsal.stop_load()
        outcome.outcome = rehearsal.outcome('.rollback')
        rolled_back = outcome.outcome == 'completed'
        outcome.fences_left = rehearsal.fences_left(completed=True, kept='destination' if rolled_back else 'source')
    else:
        outcome.outcome = rehearsal.outcome()
        outcome.fences_left = rehearsal.fences_left(completed=completed)
    outcome.lost, outcome.duplicated, outcome.verified = rehearsal.writes(timeout=20)
    if playbook == 'rollback' and outcome.lost:
        # The application has stopped: a task started again after a server came back may still be
        # replaying its backlog. What it applies now was late, not lost; what never comes is lost.
        counted = outcome.lost
        waited = rehearsal.wait_replication_idle()
        outcome.lost, outcome.duplicated, outcome.verified = rehearsal.writes(timeout=5)
        outcome.late = counted - outcome.lost
        outcome.notes.append('%d writes missing after the 20 s of the check; %s, %d of them arrived'
                             % (counted, 'the tasks replayed their backlog in %.1f s more' % waited if waited is not None
                                else 'the tasks still applied after 120 s more', outcome.late))
        if outcome.late:
            outcome.figure += ('; ' if outcome.figure else '') + '%d writes late' % outcome.late
    reverse = [job for job in rehearsal.reverse_tasks() if job.job_id not in outcome.earlier_reverse]
    outcome.reverse_tasks = len(reverse)
    outcome.notes.append('reverse tasks: %s' % ', '.join('%s%s' % (job.job_id, ' (released)' if job.released else '') for job in reverse))
    return outcome


# -- the controller is killed -----------------------------------------------------------------

def kill_handler(point):
    """The handler that kills the run at ``point`` (a hook point or during_<phase>), and the hook
    point it needs."""
    if not point.startswith('during_'):
        return point, lambda control: control.kill()
    phase = point[len('during_'):]

    def during(control):
        rehearsal = control.rehearsal
        action = slow_action(phase, rehearsal.engine)
        seen = len(rehearsal.emulator.calls(action)) if action else 0

        def inside():
            # The slow answer has been asked for, or the module that waits runs.
            if action:
                return len(rehearsal.emulator.calls(action)) > seen
            return control.running(phase, WAIT_MODULES[phase])

        # The catch-up of a rollback waits for the reverse task.
        replicating = rehearsal.reverse_job_id() if phase.startswith('rollback_') else None
        if action:
            rehearsal.emulator.add_fault(action, 'slow', count=1, seconds=1.5)
        elif phase.endswith('catch_up'):
            rehearsal.set_apply_latency(2.0, replicating)
        rehearsal.release()
        try:
            control.kill_when(inside, point, settle=0.8 if phase.endswith('catch_up') else 0.0 if phase.endswith('verify_sessions') else 0.3)
        finally:
            if phase.endswith('catch_up'):
                rehearsal.set_apply_latency(rehearsal.rehearsal.apply_latency, replicating)
            rehearsal.emulator.clear_faults()
    return 'before_%s' % phase, during


def chained_kills(rehearsal, points, scenario, playbook='switchover'):
    """kill -9 of the controller at each of ``points`` in turn, running the playbook again after
    each kill, until a run ends by itself."""
    outcome = Outcome(scenario, rehearsal)
    killed = []
    for point in points:
        hook, handler = kill_handler(point)
        run = rehearsal.run(points={hook: handler}, playbook=playbook)
        outcome.runs += 1
        if run.killed_at != point:
            raise FaultTestError('the run was not killed at %s (rc %s, points passed %s):\n%s' % (point, run.rc, run.points, run.output[-4000:]))
        killed.append(point)
    final = rehearsal.run(playbook=playbook)
    outcome.runs += 1
    outcome.notes.append('killed at %s; the last run ended with rc %s' % (', '.join(killed), final.rc))
    outcome.figure = '%d kills' % len(killed)
    outcome.final = final
    return settle(rehearsal, outcome, completed=final.rc == 0, playbook=playbook)


# -- the rollback -----------------------------------------------------------------------------

def switched_over(rehearsal, writes=10):
    """Where a rollback starts: a completed switchover, the application writing on the destination
    (it goes on writing through the rollback)."""
    run = rehearsal.run()
    if run.rc != 0 or rehearsal.outcome() != 'completed':
        raise FaultTestError('the switchover before the rollback did not complete (rc %s):\n%s' % (run.rc, run.output[-4000:]))
    rehearsal.rehearsal.write_on('destination', writes, 60)


def rollback_kills(rehearsal, points, scenario):
    """A switchover, then its rollback with kill -9 of the controller at each of ``points``."""
    switched_over(rehearsal)
    return chained_kills(rehearsal, points, scenario, playbook='rollback')


# -- a server goes down -----------------------------------------------------------------------

# When the server goes down: the hook point at which it stops answering.
DOWN_POINTS = {'fence': 'before_fence', 'catch_up': 'before_catch_up', 'before_point_of_no_return': 'before_switch_traffic'}


def server_down(rehearsal, side, when, mode='crash'):
    """The ``side`` server goes down (``mode``: crash or hang, see FaultRehearsal.server_down) at
    ``when``, and the run goes on against it. Once the run ended, the server comes back; a run
    that could not finish its abort is run again."""
    outcome = Outcome('%s %s: %s' % (side, 'crashes' if mode == 'crash' else 'hangs', when.replace('_', ' ')), rehearsal)
    runs = [rehearsal.run(points={DOWN_POINTS[when]: lambda control: rehearsal.server_down(side, mode)}, timeout=180)]
    rehearsal.server_up(side)
    outcome.first = runs[0]
    if 'ABORT INCOMPLETE' in runs[0].output:
        outcome.notes.append('ABORT INCOMPLETE while the %s was down; run again once it was back' % side)
        runs.append(rehearsal.run(timeout=180))
    outcome.runs = len(runs)
    outcome.final = runs[-1]
    outcome.figure = 'ABORT INCOMPLETE, then completed by run 2' if len(runs) > 1 else ''
    if rehearsal.restart_failed_task():
        outcome.notes.append('the forward task failed while the %s was down and was started again' % side)
        outcome.figure += ('; ' if outcome.figure else '') + 'task restarted'
    return settle(rehearsal, outcome, completed=outcome.final.rc == 0)


# -- DTS misbehaves ---------------------------------------------------------------------------

class EveryCallFaults(Faults):
    """Every DTS call meets a fault first: throttling, a burst of three 5xx answers, a slow answer
    (2 s), a dropped connection, or a connection dropped after the request was applied, in turn;
    the attempt after the fault is answered normally."""

    SCHEDULE = (('throttle', 1, {}), ('server_error', 3, {'status': 503}), ('slow', 1, {'seconds': 2.0}), ('drop', 1, {}),
                ('drop_after', 1, {}), ('server_error', 1, {'status': 500}))

    def __init__(self, actions):
        super(EveryCallFaults, self).__init__(actions)
        self._schedule = itertools.cycle(self.SCHEDULE)
        self._pending = []
        self._pass_next = False
        self.seen = {}

    def take(self, action, params):
        with self._lock:
            if self._pass_next:
                self._pass_next = False
                return None
            if not self._pending:
                kind, count, details = next(self._schedule)
                self._pending = [(kind, details)] * count
            kind, details = self._pending.pop(0)
            self._pass_next = not self._pending
            self.seen[kind] = self.seen.get(kind, 0) + 1
        # A scratch queue validates the details and fills in the defaults of the kind.
        return Faults(ACTIONS).add(action=action, kind=kind, **details)


def dts_misbehaves(rehearsal, playbook='switchover'):
    """The whole switchover (or ``playbook``: rollback) while DTS answers every call with a fault first."""
    outcome = Outcome('%sDTS faults at every call' % ('rollback: ' if playbook == 'rollback' else ''), rehearsal)
    faults = EveryCallFaults(ACTIONS)
    rehearsal.emulator.faults = faults
    try:
        run = rehearsal.run(playbook=playbook)
    finally:
        rehearsal.emulator.faults = Faults(ACTIONS)
    outcome.runs = 1
    outcome.final = run
    outcome.faults_seen = dict(faults.seen)
    outcome.figure = ', '.join('%s %d' % (kind, count) for kind, count in sorted(faults.seen.items()))
    return settle(rehearsal, outcome, completed=run.rc == 0, playbook=playbook)


def rollback_dts_misbehaves(rehearsal):
    """A switchover, then its rollback while DTS answers every call with a fault first."""
    switched_over(rehearsal)
    return dts_misbehaves(rehearsal, playbook='rollback')


# -- the emulator restarts --------------------------------------------------------------------

def emulator_restarts(rehearsal, phase='pause_forward', down_for=2.0):
    """The DTS emulator stops while the module of ``phase`` runs, and starts again from its state
    file ``down_for`` seconds later."""
    outcome = Outcome('DTS emulator restarts during %s' % phase.replace('_', ' '), rehearsal)
    module = {'pause_forward': 'dts_task', 'wait_undelayed': 'dts_wait_undelayed', 'arm_reverse': 'dts_reverse_task',
              'start_reverse': 'dts_reverse_task'}[phase]

    def restart(control):
        rehearsal.release()
        deadline = time.monotonic() + 60
        while not control.running(phase, module):
            if control.process.poll() is not None or time.monotonic() > deadline:
                raise FaultTestError('%s did not run' % module)
            time.sleep(0.005)
        rehearsal.restart_emulator(down_for=down_for)

    run = rehearsal.run(points={'before_%s' % phase: restart})
    outcome.runs = 1
    outcome.final = run
    return settle(rehearsal, outcome, completed=run.rc == 0)


# -- the write budget is spent ----------------------------------------------------------------

def budget_exceeded(rehearsal, budget=4, latency=30.0):
    """Catch-up takes longer than the write-unavailable budget (replication is slowed down after
    the fence): the run must abort, and the figure is the time from the fence to the end of the
    abort's unfence (the window), against budget + 5 s."""
    outcome = Outcome('write budget %d s exceeded' % budget, rehearsal)

    def slow_down(control):  # pylint: disable=unused-argument
        rehearsal.set_apply_latency(latency)

    try:
        run = rehearsal.run(points={'before_catch_up': slow_down}, extra_vars={'switchover_write_budget': budget})
    finally:
        rehearsal.set_apply_latency(rehearsal.rehearsal.apply_latency)
    outcome.runs = 1
    outcome.final = run
    data = (rehearsal.journal() or {}).get('data', {})
    outcome.window = None
    if data.get('window_start') and data.get('window_end'):
        outcome.window = float(data['window_end']) - float(data['window_start'])
        outcome.figure = 'window %.1f s, %s budget %d + 5 s' % (outcome.window, 'within' if outcome.window <= budget + 5 else 'OVER', budget)
    return settle(rehearsal, outcome, completed=run.rc == 0)


def rollback_budget_exceeded(rehearsal, budget=4, latency=30.0):
    """After a switchover, the rollback's catch-up outlasts the budget (the reverse task is slowed
    down after the destination's fence): the rollback must abort, the destination keeping the
    workload. The figure is the rollback's window (fence to unfence), against budget + 5 s."""
    switched_over(rehearsal)
    outcome = Outcome('rollback: write budget %d s exceeded' % budget, rehearsal)
    reverse = rehearsal.reverse_job_id()

    def slow_down(control):  # pylint: disable=unused-argument
        rehearsal.set_apply_latency(latency, reverse)

    try:
        run = rehearsal.run(points={'before_rollback_catch_up': slow_down}, extra_vars={'switchover_write_budget': budget},
                            playbook='rollback')
    finally:
        rehearsal.set_apply_latency(rehearsal.rehearsal.apply_latency, reverse)
    outcome.runs = 1
    outcome.final = run
    data = (rehearsal.journal('.rollback') or {}).get('data', {})
    outcome.window = None
    if data.get('window_start') and data.get('window_end'):
        outcome.window = float(data['window_end']) - float(data['window_start'])
        outcome.figure = 'window %.1f s, %s budget %d + 5 s' % (outcome.window, 'within' if outcome.window <= budget + 5 else 'OVER', budget)
    return settle(rehearsal, outcome, completed=False, playbook='rollback')


# When a server goes down during the rollback: the hook point at which it stops answering.
ROLLBACK_DOWN_POINTS = {'fence': 'before_rollback_fence', 'catch_up': 'before_rollback_catch_up'}


def rollback_server_down(rehearsal, side, when, mode='crash'):
    """After a switchover, the ``side`` server goes down at the rollback's ``when`` (its fence or its
    catch-up) and the rollback goes on against it. Once it ended, the server comes back; a rollback
    that could not finish its abort runs again, and a reverse task that failed meanwhile is started
    again, as an operator would."""
    switched_over(rehearsal)
    outcome = Outcome('rollback: %s %s: %s' % (side, 'crashes' if mode == 'crash' else 'hangs', when.replace('_', ' ')), rehearsal)
    runs = [rehearsal.run(points={ROLLBACK_DOWN_POINTS[when]: lambda control: rehearsal.server_down(side, mode)}, timeout=180,
                          playbook='rollback')]
    rehearsal.server_up(side)
    outcome.first = runs[0]
    if 'ABORT INCOMPLETE' in runs[0].output:
        outcome.notes.append('ROLLBACK ABORT INCOMPLETE while the %s was down; run again once it was back' % side)
        runs.append(rehearsal.run(timeout=180, playbook='rollback'))
    outcome.runs = len(runs)
    outcome.final = runs[-1]
    outcome.figure = 'ABORT INCOMPLETE, then completed by run 2' if len(runs) > 1 else ''
    if rehearsal.restart_failed_task(job_id=rehearsal.reverse_job_id()):
        outcome.notes.append('the reverse task failed while the %s was down and was started again' % side)
        outcome.figure += ('; ' if outcome.figure else '') + 'reverse task restarted'
    return settle(rehearsal, outcome, completed=False, playbook='rollback')
