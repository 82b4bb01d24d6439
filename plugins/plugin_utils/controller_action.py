# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugins whose module only touches files of the controller (the journal, the report):
they do the work in the ansible-playbook process instead of shipping and starting a module,
which saves a Python start per call. The module file stays the documentation and the fallback."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


class ControllerAction(ActionBase):
    """Subclasses set ARGUMENT_SPEC (and the constraint lists) and define
    ``work(params, check_mode) -> result dict``, raising one of ERRORS for the user."""

    ARGUMENT_SPEC = {}
    MUTUALLY_EXCLUSIVE = []
    REQUIRED_ONE_OF = []
    REQUIRED_IF = []
    ERRORS = ()
    # A key of the result to print as it is (a summary a person reads), or None.
    SAY = None

    _requires_connection = False
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerAction, self).run(tmp, task_vars)
        dummy, params = self.validate_argument_spec(
            argument_spec=self.ARGUMENT_SPEC,
            mutually_exclusive=self.MUTUALLY_EXCLUSIVE,
            required_one_of=self.REQUIRED_ONE_OF,
            required_if=self.REQUIRED_IF,
        )
        try:
            result.update(self.work(params, bool(self._task.check_mode)))  # pylint: disable=no-member
        except self.ERRORS as exc:
            result.update(failed=True, msg=str(exc), changed=False)
        if self.SAY and result.get(self.SAY) and not result.get('failed'):
            display.display(result[self.SAY])
        return result
