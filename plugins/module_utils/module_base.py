# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module object every module's logic runs on, in two backends with one interface.

``DbModule`` and ``DtsModule`` wrap an ``AnsibleModule`` (composition, as amazon.aws's
AnsibleAWSModule does): a module file is ``DbModule(argument_spec=SPEC).run(logic)``.
``InProcessDbModule`` and ``InProcessDtsModule`` run the same logic inside a controller-side
action, without a fork: the params are validated with ``ArgumentSpecValidator`` as AnsibleModule
does, ``fail_json`` raises :class:`ModuleFailed`, ``run`` returns the result.

The interface the logic may use: ``params``, ``check_mode``, ``_diff``, ``no_log_values``,
``warn(msg)``, ``fail_json(**result)``, ``fail_from(exc, ...)``, and ``connect_engine(...)``
(Db*) or ``client()`` (Dts*). The database and DTS parts are mixins shared by both backends, so
the checks and the failure path exist once.

A logic function is ``fn(module) -> result dict`` and fails with ``module.fail_json``, which never
returns (SystemExit for a real module, ModuleFailed in-process). ModuleFailed is an Exception:
code that catches ``Exception`` around a ``fail_json`` must let ModuleFailed through.
"""

from __future__ import annotations

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.dtsops.switchover.plugins.module_utils import db
from ansible_collections.dtsops.switchover.plugins.module_utils.db import db_argument_spec, db_pair_argument_spec, fail_engine
from ansible_collections.dtsops.switchover.plugins.module_utils.dts import DtsError, dts_argument_spec, dts_client, fail_dts
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, FenceError
from ansible_collections.dtsops.switchover.plugins.module_utils.fencing import fence_error_message
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import WaitAborted, WaitTimeout


class ModuleFailed(Exception):
    """fail_json of an in-process module. ``result`` is the failure dict (``msg``, ``failed``
    and the extra keys the module returns on failure), secrets already masked."""

    def __init__(self, result):
        super(ModuleFailed, self).__init__(result.get('msg'))
        self.result = result


def db_spec(extra=None, pair=False):
    """The full argument spec of a database module: the connection options (top level, or
    ``source``/``destination`` when ``pair``) plus the module's own ``extra`` options."""
    spec = db_pair_argument_spec() if pair else db_argument_spec()
    # A copy: the *_SPEC constants are shared by every run in the action's process.
    spec.update(copy.deepcopy(extra or {}))
    return spec


def dts_spec(extra=None):
    """The full argument spec of a DTS module: the DTS options plus the module's own options."""
    spec = dts_argument_spec()
    spec.update(copy.deepcopy(extra or {}))
    return spec


class _Checks(object):
    """What both backends share: the checks of the wait options and the one failure path."""

    def check_wait_options(self):
        """timeout and poll_interval, for the modules that have them (checked once, here)."""
        spec = self.argument_spec
        if 'timeout' in spec and self.params.get('timeout') is not None and self.params['timeout'] < 0:
            self.fail_json(msg='timeout must be 0 or more seconds, got %g.' % self.params['timeout'])
        if 'poll_interval' in spec and self.params.get('poll_interval') is not None and self.params['poll_interval'] <= 0:
            self.fail_json(msg='poll_interval must be more than 0 seconds, got %g.' % self.params['poll_interval'])

    def fail_from(self, exc, client=None, engine=None, doing='running', hint=None, **result):
        """Fail for ``exc``, the one way every module reports an error:

        - ModuleFailed (an in-process fail_json already made): raised again, unchanged;
        - DtsError: its message, ``error`` (kind, action, code, request ID) and the ``api_calls``;
        - WaitTimeout / WaitAborted: its message, with the ``api_calls`` of ``client`` if any;
        - FenceError: what was rolled back and what could not be ('Could not <doing>: ...');
        - EngineError and anything else: 'Error while <doing> on the <engine> server at <address>: ...'
          with the engine's statements (a non-EngineError keeps its traceback for -vvv).

        ``result`` holds the keys the module returns on failure (job_id, samples, ...)."""
        if isinstance(exc, ModuleFailed):
            raise exc
        if isinstance(exc, DtsError):
            fail_dts(self, client, exc, **result)
        if isinstance(exc, (WaitTimeout, WaitAborted)):
            if client is not None:
                result.setdefault('api_calls', list(client.api_calls))
            self.fail_json(msg=str(exc), **result)
        if isinstance(exc, FenceError):
            if engine is not None:
                result.setdefault('statements', list(engine.statements))
            self.fail_json(msg=fence_error_message(exc, doing), rolled_back=exc.rolled_back, rollback_failed=exc.rollback_failed,
                           **result)
        fail_engine(self, exc, doing, engine, hint=hint, **result)


class _Db(object):
    """Database modules: ``connect_engine`` (see db.connect_engine)."""

    def connect_engine(self, params=None, check_mode=None, what='database'):
        return db.connect_engine(self, params, check_mode=check_mode, what=what)


class _Dts(object):
    """DTS modules: ``client()``, the DtsClient of the run (see dts.dts_client)."""

    def client(self):
        return dts_client(self)


# -- a real module (AnsiballZ) --------------------------------------------------------------------

class BaseModule(_Checks):
    """An AnsibleModule with check mode, the wait option checks and ``run``. ``kwargs``
    (mutually_exclusive, required_if, ...) go to AnsibleModule. ``wait_options=False`` is for a
    module whose timeout means something else (db_compare's budget must be more than 0)."""

    def __init__(self, argument_spec, wait_options=True, **kwargs):
        kwargs.setdefault('supports_check_mode', True)
        self.argument_spec = argument_spec
        self.module = AnsibleModule(argument_spec=argument_spec, **kwargs)
        if wait_options:
            self.check_wait_options()

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def _diff(self):
        return bool(self.module._diff)

    @property
    def no_log_values(self):
        return self.module.no_log_values

    def warn(self, msg):
        self.module.warn(msg)

    def fail_json(self, **kwargs):
        self.module.fail_json(**kwargs)

    def exit_json(self, **kwargs):
        self.module.exit_json(**kwargs)

    def run(self, fn):
        """Run ``fn(self)`` and exit with the result it returns. An error ``fn`` lets through
        takes the failure path; a bug keeps its traceback."""
        try:
            result = fn(self)
        except (DtsError, WaitTimeout, WaitAborted, FenceError, EngineError) as exc:
            self.fail_from(exc)
        self.exit_json(**result)


class DbModule(_Db, BaseModule):
    """A database module: ``extra`` options plus the connection options (``source`` and
    ``destination`` when ``pair``)."""

    def __init__(self, argument_spec=None, pair=False, **kwargs):
        super(DbModule, self).__init__(db_spec(argument_spec, pair), **kwargs)


class DtsModule(_Dts, BaseModule):
    """A DTS module: ``extra`` options plus the DTS connection options."""

    def __init__(self, argument_spec=None, **kwargs):
        super(DtsModule, self).__init__(dts_spec(argument_spec), **kwargs)


class DbDtsModule(_Db, _Dts, BaseModule):
    """A module that reads a DTS task and both its databases (db_compare, switchover_unit_check):
    ``extra`` plus the DTS options and ``source``/``destination``."""

    def __init__(self, argument_spec=None, **kwargs):
        super(DbDtsModule, self).__init__(dts_spec(db_spec(argument_spec, pair=True)), **kwargs)


# -- in-process (a controller-side action) --------------------------------------------------------

class InProcessModule(_Checks):
    """The module interface without AnsibleModule, for logic run inside an action plugin.

    ``argument_spec`` is the full spec; ``params`` the task's options (unvalidated). ``rules``
    (mutually_exclusive, required_if, ...) go to ArgumentSpecValidator. An invalid option raises
    ModuleFailed with AnsibleModule's message. No value of a ``no_log`` option (nor a secret
    the logic adds to ``no_log_values``) ever appears in a result, a message or a warning."""

    def __init__(self, argument_spec, params, check_mode=False, diff=False, **rules):
        self.argument_spec = argument_spec
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self.warnings = []
        self.no_log_values = set()
        validation = ArgumentSpecValidator(argument_spec, **rules).validate(dict(params or {}))
        self.no_log_values.update(validation._no_log_values)
        self.params = validation.validated_parameters
        if validation.error_messages:
            message = validation.errors.msg
            if isinstance(validation.errors.errors[0], UnsupportedError):
                message = 'Unsupported parameters: %s' % message
            self.fail_json(msg=message)
        for warning in validation._warnings:
            self.warn(warning.get('warning') if isinstance(warning, dict) else warning)
        self.check_wait_options()

    def warn(self, msg):
        self.warnings.append(msg)

    def _masked(self, value):
        return remove_values(value, self.no_log_values)

    def fail_json(self, **kwargs):
        kwargs['failed'] = True
        if self.warnings:
            kwargs.setdefault('warnings', list(self.warnings))
        raise ModuleFailed(self._masked(kwargs))

    def run(self, fn):
        """``fn(self)``'s result, with ``warnings`` when there are any; ModuleFailed on a failure."""
        try:
            result = fn(self)
        except (DtsError, WaitTimeout, WaitAborted, FenceError, EngineError) as exc:
            self.fail_from(exc)
        result = dict(result)
        if self.warnings:
            result['warnings'] = list(self.warnings)
        return self._masked(result)


class InProcessDbModule(_Db, InProcessModule):
    """In-process DbModule: ``argument_spec`` is the module's own options, as for DbModule."""

    def __init__(self, argument_spec, params, pair=False, check_mode=False, diff=False, **rules):
        super(InProcessDbModule, self).__init__(db_spec(argument_spec, pair), params, check_mode=check_mode, diff=diff, **rules)


class InProcessDtsModule(_Dts, InProcessModule):
    """In-process DtsModule: ``argument_spec`` is the module's own options, as for DtsModule."""

    def __init__(self, argument_spec, params, check_mode=False, diff=False, **rules):
        super(InProcessDtsModule, self).__init__(dts_spec(argument_spec), params, check_mode=check_mode, diff=diff, **rules)


class InProcessDbDtsModule(_Db, _Dts, InProcessModule):
    """In-process DbDtsModule: ``argument_spec`` is the module's own options, as for DbDtsModule."""

    def __init__(self, argument_spec, params, check_mode=False, diff=False, **rules):
        super(InProcessDbDtsModule, self).__init__(dts_spec(db_spec(argument_spec, pair=True)), params, check_mode=check_mode, diff=diff,
                                                   **rules)
