"""Faults injected on demand: each matching request consumes the oldest matching fault (FIFO)."""

import itertools
import threading

FAULT_KINDS = ('throttle', 'server_error', 'slow', 'drop', 'drop_after', 'business_error', 'bad_json')

# What each kind accepts besides action, count and job_id, with defaults.
_DETAILS = {
    'throttle': {'retry_after': None, 'status': 400, 'code': 'Throttling.User', 'message': 'Request was denied due to user flow control.'},
    'server_error': {'status': 500, 'code': 'ServiceUnavailable', 'message': 'The request has failed due to a temporary failure of the server.'},
    'slow': {'seconds': 1.0},
    'drop': {},
    'drop_after': {},
    'business_error': {'err_code': 'InternalError', 'err_message': 'The request processing has failed due to some unknown error.',
                       'dynamic_message': None, 'http_status_code': 500},
    'bad_json': {'body': '{"RequestId": "truncated'},
}


class Fault(object):
    def __init__(self, fault_id, action, kind, count, job_id, details):
        self.id = fault_id
        self.action = action
        self.kind = kind
        self.count = count
        self.job_id = job_id
        self.details = details

    def matches(self, action, params):
        if self.action not in ('*', action):
            return False
        return self.job_id is None or self.job_id == params.get('DtsJobId')

    def to_dict(self):
        return {'id': self.id, 'action': self.action, 'kind': self.kind, 'count': self.count, 'job_id': self.job_id, 'details': dict(self.details)}

    def __repr__(self):
        return '<Fault %s %s x%s>' % (self.kind, self.action, self.count)


class Faults(object):
    def __init__(self, actions):
        self._actions = tuple(actions)
        self._faults = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, action='*', kind='throttle', count=1, job_id=None, **details):
        if kind not in FAULT_KINDS:
            raise ValueError('unknown fault kind %r (known: %s)' % (kind, ', '.join(FAULT_KINDS)))
        if action != '*' and action not in self._actions:
            raise ValueError("unknown action %r for a fault (use '*' or one of %s)" % (action, ', '.join(self._actions)))
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError('count must be a positive integer, or None for a fault that lasts until cleared; got %r' % (count,))
        allowed = _DETAILS[kind]
        unknown = sorted(set(details) - set(allowed))
        if unknown:
            raise ValueError('fault kind %r does not take %s (it takes: %s)' % (kind, ', '.join(unknown), ', '.join(sorted(allowed)) or 'nothing'))
        merged = dict(allowed, **details)
        if kind == 'slow' and not (isinstance(merged['seconds'], (int, float)) and merged['seconds'] > 0):
            raise ValueError('a slow fault needs seconds > 0, got %r' % (merged['seconds'],))
        if kind == 'throttle' and merged['retry_after'] is not None and not (isinstance(merged['retry_after'], int) and merged['retry_after'] > 0):
            raise ValueError('retry_after must be a positive integer number of seconds, got %r' % (merged['retry_after'],))
        if kind == 'server_error' and not 500 <= int(merged['status']) <= 599:
            raise ValueError('a server_error needs a 5xx status, got %r' % (merged['status'],))
        with self._lock:
            fault = Fault(next(self._ids), action, kind, count, job_id, merged)
            self._faults.append(fault)
        return fault

    def take(self, action, params):
        """The fault this request triggers, if any (consuming one count of it)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(action, params):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self):
        with self._lock:
            cleared = len(self._faults)
            self._faults = []
            return cleared

    def pending(self):
        with self._lock:
            return [fault.to_dict() for fault in self._faults]
