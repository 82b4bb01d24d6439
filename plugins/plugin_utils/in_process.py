# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's modules from an action plugin: in the ansible-playbook process when the
unit's connection is local (the modules' code is the same; a driver's import is paid once per
action, not once per step), shipped as usual otherwise (the databases may be reachable only from
the unit's host) or when a driver is missing on the controller."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils.window import StepFailed


def _runners():
    """module name -> (in-process module class, the module's own options, function, its options): imported on first use."""
    from ansible_collections.dtsops.switchover.plugins.module_utils import catch_up, fencing, reverse_task, sessions, task_state, unit_check
    from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import InProcessDbDtsModule, InProcessDbModule, InProcessDtsModule
    return {
        'dtsops.switchover.db_write_lock': (InProcessDbModule, fencing.WRITE_LOCK_SPEC, fencing.write_lock, {}),
        'dtsops.switchover.db_sessions_quiesced': (InProcessDbModule, sessions.SESSIONS_QUIESCED_SPEC, sessions.sessions_quiesced, {}),
        'dtsops.switchover.db_caught_up': (InProcessDbModule, catch_up.CAUGHT_UP_SPEC, catch_up.caught_up, {'pair': True}),
        'dtsops.switchover.dts_task': (InProcessDtsModule, task_state.TASK_STATE_SPEC, task_state.task_state, {}),
        'dtsops.switchover.dts_task_info': (InProcessDtsModule, task_state.TASK_INFO_SPEC, task_state.task_info, task_state.TASK_INFO_RULES),
        'dtsops.switchover.dts_wait_undelayed': (InProcessDtsModule, task_state.WAIT_UNDELAYED_SPEC, task_state.wait_undelayed, {}),
        'dtsops.switchover.dts_reverse_task': (InProcessDtsModule, reverse_task.REVERSE_TASK_SPEC, reverse_task.reverse_task, {}),
        'dtsops.switchover.switchover_unit_check': (InProcessDbDtsModule, unit_check.UNIT_CHECK_SPEC, unit_check.unit_check, {}),
    }


class Runner(object):
    """``call(module, args, check_mode=None)`` -> the module's result, or StepFailed."""

    def __init__(self, action, task_vars, local, dts=None):
        self.action = action
        # The DTS options (credentials, region, endpoint): the module_defaults of the task's group
        # do not reach the modules an action calls, so the role hands them over.
        self.dts = dict((key, value) for key, value in (dts or {}).items() if value not in (None, ''))
        self.task_vars = task_vars
        self.local = local
        self.in_process_calls = 0
        self.shipped_calls = 0
        self._table = None

    def _lookup(self, module):
        if not self.local:
            return None
        if self._table is None:
            try:
                self._table = _runners()
            except ImportError:
                self._table = {}
        return self._table.get(module)

    def call(self, module, args, check_mode=None):
        check_mode = bool(self.action._task.check_mode) if check_mode is None else check_mode
        if module.startswith('dtsops.switchover.dts_') or module == 'dtsops.switchover.switchover_unit_check':
            args = dict(self.dts, **args)
        entry = self._lookup(module)
        if entry is not None:
            from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import ModuleFailed
            module_class, spec, function, options = entry
            self.in_process_calls += 1
            try:
                return module_class(spec, args, check_mode=check_mode, diff=bool(self.action._task.diff), **options).run(function)
            except ModuleFailed as exc:
                # A driver missing on the controller (but maybe not on the unit's host): ship the module.
                if not str(exc.result.get('msg', '')).startswith('Failed to import the required Python library'):
                    raise StepFailed(module, exc.result)
                self.in_process_calls -= 1
        self.shipped_calls += 1
        task = self.action._task
        saved = task.check_mode
        task.check_mode = check_mode
        try:
            result = self.action._execute_module(module_name=module, module_args=dict(args), task_vars=self.task_vars)
        finally:
            task.check_mode = saved
        if result.get('failed'):
            raise StepFailed(module, result)
        return result
