# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long waits in slices, so that they stay visible.

A module prints nothing while it runs: a wait of an hour would show nothing for an hour. The
action plugin of a waiting module runs it in slices of at most ``dtsops_progress_interval``
seconds (default 30; 0 waits in one piece) and prints a line with what the module saw between
slices. A slice that times out returns ``timed_out`` and ``last_seen``; the next slice goes on
from there. The result is the last slice's, with the samples, polls and API calls of all slices.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MAX_SAMPLES = 240


def thin(samples, limit=MAX_SAMPLES):
    """At most ``limit`` samples, evenly spread, first and last kept (the lag curve's shape)."""
    if len(samples) <= limit:
        return samples
    step = (len(samples) - 1) / float(limit - 1)
    return [samples[int(round(i * step))] for i in range(limit)]


class SlicedWaitAction(ActionBase):
    """Subclasses set MODULE and DEFAULT_TIMEOUT (the module's) and may override sliced(),
    first_args(), next_args() and timeout_message()."""

    MODULE = None

    def sliced(self, args, total):
        """Whether this call waits long enough to be cut in slices."""
        return True

    def first_args(self, args):
        """Arguments of the first slice."""
        return dict(args)

    def next_args(self, args, outcome):
        """Arguments of the next slice, after ``outcome`` (the last slice's result) timed out."""
        return dict(args)

    def timeout_message(self, args, outcome, total, polls):
        return outcome.get('msg')

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(SlicedWaitAction, self).run(tmp, task_vars)
        args = dict(self._task.args)
        interval = float(task_vars.get('dtsops_progress_interval', 30) or 0)
        try:
            total = float(args.get('timeout', self.DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            total = 0  # the module reports the bad value
        if self._task.check_mode or interval <= 0 or total <= interval or not self.sliced(args, total):
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
            return result

        start = time.monotonic()
        samples, polls, api_calls = [], 0, []
        changed, first = False, {}
        current = self.first_args(args)
        while True:
            remaining = total - (time.monotonic() - start)
            outcome = self._execute_module(module_name=self.MODULE, module_args=dict(current, timeout=max(0.0, min(interval, remaining))),
                                           task_vars=task_vars)
            samples.extend(outcome.get('samples') or [])
            polls += outcome.get('polls') or 0
            changed = changed or bool(outcome.get('changed'))
            # What the first slice found and did describes the whole call (later slices only wait).
            for key in ('previous_state', 'action'):
                if first.get(key) is None and outcome.get(key) is not None:
                    first[key] = outcome[key]
            api_calls.extend(outcome.get('api_calls') or [])
            waited = time.monotonic() - start
            if outcome.get('timed_out') and remaining > interval:
                display.display('%s: waiting for DTS task %s: %s (waited %d s of %g s)'
                                % (task_vars.get('inventory_hostname'), args.get('job_id'), outcome.get('last_seen'), waited, total))
                current = self.next_args(current, outcome)
                continue
            outcome.update(first)
            outcome.update(samples=thin(samples), polls=polls, waited=round(waited, 3), api_calls=api_calls, changed=changed)
            if outcome.get('timed_out'):
                outcome['msg'] = self.timeout_message(args, outcome, total, polls)
            result.update(outcome)
            return result
