# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils import report as report_utils
from ansible_collections.dtsops.switchover.plugins.plugin_utils.controller_action import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = report_utils.FLEET_ARGUMENT_SPEC
    ERRORS = (report_utils.ReportError,)
    SAY = 'summary'

    def work(self, params, check_mode):
        return report_utils.run_fleet(params, check_mode)
