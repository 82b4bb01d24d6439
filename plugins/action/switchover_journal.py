# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
from ansible_collections.dtsops.switchover.plugins.plugin_utils.controller_action import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = journal_utils.ARGUMENT_SPEC
    REQUIRED_IF = journal_utils.REQUIRED_IF
    ERRORS = (journal_utils.JournalError,)
    SAY = 'message'

    def work(self, params, check_mode):
        return journal_utils.run(params, check_mode)
