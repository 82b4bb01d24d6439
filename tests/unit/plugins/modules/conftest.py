"""Run a module's main() in-process with given arguments and capture its JSON result."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:  # older ansible-core
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


class ModuleResult(dict):
    """The JSON a module printed, with ``failed`` set when it called fail_json."""


@pytest.fixture
def run_module(capfd):
    """run_module(module, args, check_mode=False, diff=False) -> ModuleResult."""

    def _run(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args['_ansible_check_mode'] = True
        if diff:
            args['_ansible_diff'] = True
        # Warnings and deprecations are module globals: a run in this process must not see the last one's.
        module_warnings._global_warnings.clear()
        module_warnings._global_deprecations.clear()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        out, dummy = capfd.readouterr()
        return ModuleResult(json.loads(out))

    return _run
