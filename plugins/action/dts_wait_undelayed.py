# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs dts_wait_undelayed in slices so that a long wait prints a line at least every
``dtsops_progress_interval`` seconds (default 30) with the task's status and delay. A module can
print nothing while it runs; between slices the action plugin can."""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = 'dtsops.switchover.dts_wait_undelayed'
MAX_SAMPLES = 240


def _thin(samples):
    """At most MAX_SAMPLES samples, evenly spread, first and last kept (the lag curve's shape)."""
    if len(samples) <= MAX_SAMPLES:
        return samples
    step = (len(samples) - 1) / float(MAX_SAMPLES - 1)
    return [samples[int(round(i * step))] for i in range(MAX_SAMPLES)]


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        interval = float(task_vars.get('dtsops_progress_interval', 30) or 0)
        try:
            total = float(args.get('timeout', 1800))
            stable_for = float(args.get('stable_for', 0))
        except (TypeError, ValueError):
            total = stable_for = 0  # the module reports the bad value
        # Unsliced, the module also checks its arguments (e.g. stable_for longer than timeout).
        if self._task.check_mode or interval <= 0 or total <= interval or stable_for > total:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result

        start = time.monotonic()
        samples, polls, api_calls = [], 0, []
        held = float(args.get('held_for') or 0)
        while True:
            remaining = total - (time.monotonic() - start)
            slice_args = dict(args, timeout=max(0.0, min(interval, remaining)), held_for=held)
            outcome = self._execute_module(module_name=MODULE, module_args=slice_args, task_vars=task_vars)
            samples.extend(outcome.get('samples') or [])
            polls += outcome.get('polls') or 0
            api_calls.extend(outcome.get('api_calls') or [])
            waited = round(time.monotonic() - start, 3)
            if outcome.get('timed_out') and remaining > interval:
                held = float(outcome.get('held_for') or 0)
                display.display('%s: waiting for DTS task %s: %s (waited %d s of %d s)'
                                % (task_vars.get('inventory_hostname'), args.get('job_id'), outcome.get('last_seen'), waited, total))
                continue
            outcome.update(samples=_thin(samples), polls=polls, waited=waited, api_calls=api_calls)
            if outcome.get('timed_out'):
                outcome['msg'] = 'DTS task %s did not reach %s within %s s: %s (%d polls).' % (
                    args.get('job_id'), outcome.get('goal'), ('%g' % total), outcome.get('last_seen'), polls)
            result.update(outcome)
            return result
