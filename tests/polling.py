"""Polling for the tests: servers, replication and playbooks act asynchronously."""

import time


def wait_for(condition, what='the condition', timeout=30.0, details=None):
    """Poll ``condition`` until it returns something truthy, and return that. On timeout fail with
    ``what``, the last value, and what ``details()`` shows when given."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %s s waiting for %s (last: %r)%s'
                                 % (timeout, what, value, '; %s' % (details(),) if details else ''))
        time.sleep(0.02)
