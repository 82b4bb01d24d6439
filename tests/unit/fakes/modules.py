"""Run a module's main() in-process with given arguments and return its JSON result, to drive the
real db_* modules against the fake servers (the engines and drivers are the real ones)."""

import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:  # older ansible-core
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args=None):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


def run_module(capfd, module, args, check_mode=False, diff=False):
    """The result dict the module printed; ``failed`` is set when it called fail_json. ``raw`` is
    the whole output, to check that no secret appears anywhere in it."""
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out, dummy = capfd.readouterr()
    result = json.loads(out)
    result['raw'] = out
    return result
