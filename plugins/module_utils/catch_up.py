# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catch-up proof (db_caught_up): write a unique token on the source and wait until it is
readable on the destination. :func:`caught_up` is the module's logic, also run in-process by the
window action; it takes a module object with ``source`` and ``destination`` (module_base, pair=True)."""

from __future__ import annotations

import time
import uuid

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitTimeout, Waiter

# The options of db_caught_up besides source and destination (module_base.db_spec(pair=True) adds those).
CAUGHT_UP_SPEC = dict(
    token_object=dict(type='str', required=True, no_log=False),
    destination_token_object=dict(type='str', no_log=False),
    create=dict(type='bool', default=False),
    token=dict(type='str', no_log=False),
    timeout=dict(type='float', default=300),
    poll_interval=dict(type='float', default=0.5),
)


def new_token():
    return 'dtsops-%s-%s' % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), uuid.uuid4().hex[:12])


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + ('%.3fZ' % (epoch % 1))[1:]


class TokenProbe(object):
    """Reads the token on the destination. With ``tolerate_missing``, a read error (the object is
    not there yet) counts as not seen and is kept for the timeout message."""

    def __init__(self, engine, name, token, tolerate_missing):
        self.engine = engine
        self.name = name
        self.token = token
        self.tolerate_missing = tolerate_missing
        self.last_error = None

    def __call__(self):
        try:
            seen = bool(self.engine.read_token(self.name, self.token))
            self.last_error = None
        except EngineError as exc:
            if not self.tolerate_missing:
                raise
            self.last_error = str(exc)
            seen = False
        return Observation(seen)


def caught_up(module):
    """db_caught_up: write the token on the source, wait for it on the destination. Returns the result."""
    params = module.params
    for name in ('token_object', 'destination_token_object', 'token'):
        if params[name] is not None and not params[name].strip():
            module.fail_json(msg='%s must not be empty.' % name)

    source_name = params['token_object']
    destination_name = params['destination_token_object'] or source_name
    token = params['token'] or new_token()
    result = dict(changed=False, token=token, written=False, created=False, source_object=source_name,
                  destination_object=destination_name, polls=0, samples=[])

    source = module.connect_engine(params['source'], what='source')
    destination = None
    doing = 'checking the token object'
    try:
        destination = module.connect_engine(params['destination'], what='destination')

        def fail(msg, **extra):
            extra.update(statements=list(source.statements), destination_statements=list(destination.statements))
            module.fail_json(msg=msg, **dict(result, **extra))

        try:
            result['created'] = bool(source.ensure_token_object(source_name, create=params['create']))
        except Exception as exc:
            module.fail_from(exc, engine=source, doing='checking the token object %s' % source_name, **result)
        if not params['create']:
            try:
                destination.ensure_token_object(destination_name, create=False)
            except Exception as exc:
                module.fail_from(exc, engine=destination, doing='checking the token object %s' % destination_name, **result)
        if module.check_mode:
            # The engine records the write without running it: the plan shows the statements.
            doing = 'preparing the token write'
            result.update(changed=True, source_object=source.write_token(source_name, token) or source_name,
                          statements=list(source.statements), destination_statements=list(destination.statements))
            return result

        doing = 'writing the token'
        where = source.write_token(source_name, token)
        written_at = time.monotonic()
        result.update(changed=True, written=True, write_time=round(time.time(), 3), source_object=where or source_name)
        result['write_time_iso'] = iso(result['write_time'])

        doing = 'reading the token on the destination'
        probe = TokenProbe(destination, destination_name, token, tolerate_missing=params['create'])
        try:
            outcome = Waiter(params['timeout'], poll_interval=params['poll_interval'],
                             max_interval=max(params['poll_interval'], 2.0)).wait(probe)
        except WaitTimeout as exc:
            reason = (' The last read failed: %s.' % probe.last_error) if probe.last_error else (
                ' The migration is not caught up, or %s is not part of the migration task.' % source_name)
            fail('The token %s, written at %s into %s on the source %s %s, did not appear in %s on the destination '
                 '%s %s within %s seconds (%d reads).%s'
                 % (token, result['write_time_iso'], source_name, params['source']['engine'], source.address,
                    destination_name, params['destination']['engine'], destination.address, _seconds(params['timeout']),
                    exc.result.polls, reason),
                 polls=exc.result.polls, samples=exc.result.samples)
        seen_at = time.monotonic()
        last = outcome.samples[-1] if outcome.samples else {}
        result.update(seen_time=last.get('time', round(time.time(), 3)), latency=round(seen_at - written_at, 3),
                      polls=outcome.polls, samples=outcome.samples)
        result['seen_time_iso'] = iso(result['seen_time'])
    except Exception as exc:
        engine = destination if doing == 'reading the token on the destination' else source
        result.update(statements=list(source.statements), destination_statements=list(destination.statements) if destination else [])
        module.fail_from(exc, engine=engine, doing=doing, **result)
    finally:
        source.close()
        if destination is not None:
            destination.close()
    result.update(statements=list(source.statements), destination_statements=list(destination.statements))
    return result


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')
