# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dts_wait_undelayed in slices, printing the task's status and delay between them."""

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.plugin_utils.sliced_wait import SlicedWaitAction


class ActionModule(SlicedWaitAction):
    MODULE = 'dtsops.switchover.dts_wait_undelayed'
    DEFAULT_TIMEOUT = 1800

    def sliced(self, args, total):
        # Unsliced, the module checks that stable_for fits in timeout and says so.
        try:
            return float(args.get('stable_for', 0)) <= total
        except (TypeError, ValueError):
            return False

    def first_args(self, args):
        # held_for marks a slice: the module then leaves the stable_for/timeout check to us.
        return dict(args, held_for=float(args.get('held_for') or 0))

    def next_args(self, args, outcome):
        # A slice that ends inside the stability window hands the time held to the next one.
        return dict(args, held_for=float(outcome.get('held_for') or 0))

    def timeout_message(self, args, outcome, total, polls):
        return 'DTS task %s did not reach %s within %g s: %s (%d polls).' % (
            args.get('job_id'), outcome.get('goal'), total, outcome.get('last_seen'), polls)
