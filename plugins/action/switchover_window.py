# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run steps of the procedure (the preflight, the wait, the arming, and those of the
write-unavailable window) back to back in the ansible-playbook process: no task, fork, AnsiballZ or
Python start per step. The journal is written (fsync) before and after each step; the write budget
is kept on a monotonic clock; a line per step shows the progress."""

from __future__ import annotations

import os
import threading
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.dtsops.switchover.plugins.module_utils import dts
from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
from ansible_collections.dtsops.switchover.plugins.module_utils import procedure
from ansible_collections.dtsops.switchover.plugins.module_utils import window
from ansible_collections.dtsops.switchover.plugins.plugin_utils import in_process

display = Display()

# For the fault tests: with DTSOPS_SWITCHOVER_STEP_GATE set to a directory, the action stops at
# each point named in DTSOPS_SWITCHOVER_STEP_POINTS (before_<phase>, after_<phase>; * for all),
# writes the point to <directory>/at and waits until the file is removed (or the run is killed);
# <directory>/running names the step that runs, so that a test can kill the run inside it.
GATE_DIRECTORY = 'DTSOPS_SWITCHOVER_STEP_GATE'
GATE_POINTS = 'DTSOPS_SWITCHOVER_STEP_POINTS'
GATE_TIMEOUT = 300


def gate(point, environ=None):
    environ = os.environ if environ is None else environ
    directory = environ.get(GATE_DIRECTORY)
    points = environ.get(GATE_POINTS, '*').split(',')
    if not directory or ('*' not in points and point not in points):
        return
    path = os.path.join(directory, 'at')
    with open(path + '.partial', 'w') as stream:
        stream.write(point)
    os.replace(path + '.partial', path)
    deadline = time.monotonic() + GATE_TIMEOUT
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def mark_running(phase, environ=None):
    directory = (os.environ if environ is None else environ).get(GATE_DIRECTORY)
    if directory:
        path = os.path.join(directory, 'running')
        with open(path + '.partial', 'w') as stream:
            stream.write(phase or '')
        os.replace(path + '.partial', path)


# The steps that talk to DTS (the catch-up proof does in stable_window mode, the preflight reads the task).
DTS_STEPS = ('preflight', 'wait_undelayed', 'arm_reverse', 'catch_up', 'pause_forward', 'start_reverse')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, params = self.validate_argument_spec(argument_spec=window.ARGUMENT_SPEC)
        check_mode = bool(self._task.check_mode)
        settings = params['settings']
        unit = params['unit']
        store = journal_utils.JournalStore(params['store'], check_mode) if params.get('store') else None
        local = self._connection.transport in ('local', 'ansible.builtin.local')
        runner = in_process.Runner(self, task_vars, local=local, dts=settings.get('dts'))
        if any(procedure.base_name(name)[0] in DTS_STEPS for name in params['phases']):
            # The SDK's import (0.4 s) runs beside the first step (the fence needs only its database).
            threading.Thread(target=dts.preload_sdk, name='import the DTS SDK', daemon=True).start()
        try:
            journal = params['journal'] if check_mode and params.get('journal') else self._load(params, store)
            clock = window.Clock(settings.get('write_budget', 300))

            def say(line):
                display.display('%s: %s' % (unit, line))

            def record(data):
                journal_utils.merge_data(journal, data)
                self._save(params['path'], journal, store, check_mode)

            steps = []
            for name in params['phases']:
                phase, direction = procedure.base_name(name)
                ctx = window.Context(settings, journal, direction, check_mode, clock, record, say=say)
                left = clock.budget_left(journal)
                if left is not None and left <= 0:
                    raise window.StepFailed(name, {'msg': 'The write-unavailable budget of %g s is spent (%.1f s since the fence) before %s.'
                                                   % (clock.budget, clock.spent(journal), name)})
                # A run killed inside a step left its name behind: no step runs while the gate waits.
                mark_running(None)
                gate('before_' + name)
                started = time.monotonic()
                journal_utils.set_phase(journal, name, 'started')
                self._save(params['path'], journal, store, check_mode)
                mark_running(name)
                phase_result, phase_data = window.STEPS[phase](ctx, runner.call)
                mark_running(None)
                journal_utils.set_phase(journal, name, 'done', phase_result)
                journal_utils.merge_data(journal, phase_data)
                self._save(params['path'], journal, store, check_mode)
                elapsed = time.monotonic() - started
                steps.append({'phase': name, 'seconds': round(elapsed, 3), 'plan': phase_result.get('plan', '')})
                display.display('%s: %s done in %.3f s' % (unit, name, elapsed))
                gate('after_' + name)
            if params['point_of_no_return'] and not journal.get('point_of_no_return'):
                direction = 'back' if settings.get('direction') == 'back' else 'forward'
                ctx = window.Context(settings, journal, direction, check_mode, clock, record)
                window.way_back(ctx, runner.call, reverse_seen=any(step['phase'] == 'start_reverse' for step in steps))
                # Recorded before the first application may write to the other side.
                journal['point_of_no_return'] = time.time()
                journal_utils.add_event(journal, None, 'point_of_no_return', params['note'])
                self._save(params['path'], journal, store, check_mode)
            result.update(changed=bool(steps) or params['point_of_no_return'], steps=steps, in_process=runner.in_process_calls,
                          shipped=runner.shipped_calls)
        except window.StepFailed as exc:
            failure = dict(exc.result)
            failure.pop('invocation', None)
            result.update(failure, failed=True, msg=failure.get('msg') or str(exc), failed_module=exc.module)
            if exc.check:
                # What the abort says: the check that failed, as the role's own tasks would name it.
                result['reason'] = '%s: %s' % (exc.check, result['msg'])
        except journal_utils.JournalError as exc:
            result.update(failed=True, msg=str(exc))
        finally:
            if store is not None:
                store.close()
        if not result.get('failed'):
            result['ansible_facts'] = {'switchover_journal': journal}
        return result

    @staticmethod
    def _load(params, store):
        journal = journal_utils.load(params['path'])
        if journal is None and store is not None:
            journal = store.load(journal_utils.JournalStore.key(params['path'], params['unit']))
        if journal is None:
            raise journal_utils.JournalError('There is no journal at %s: the switchover_window action runs inside a run.' % params['path'])
        return journal

    @staticmethod
    def _save(path, journal, store, check_mode):
        if not check_mode:
            journal_utils.write(path, journal, store)
