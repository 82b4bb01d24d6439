# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dts_task in slices when it runs a task to its end (state finished): a full migration can take
hours, and the task's status is printed between slices. Other states wait briefly, in one piece."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.plugin_utils.sliced_wait import SlicedWaitAction


class ActionModule(SlicedWaitAction):
    MODULE = 'dtsops.switchover.dts_task'
    DEFAULT_TIMEOUT = 300

    def sliced(self, args, total):
        return args.get('state') == 'finished' and args.get('wait', True) not in (False, 'false', 'no')

    def timeout_message(self, args, outcome, total, polls):
        return 'DTS task %s did not finish within %g s (%s).' % (args.get('job_id'), total, outcome.get('last_seen'))
