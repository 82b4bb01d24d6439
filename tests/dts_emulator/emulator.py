"""The emulator: an HTTP server speaking the DTS 2020-01-01 RPC protocol, and its control API."""

import json
import os
import socket
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import api as dts_api
from .auth import AuthError, Credentials, authenticate
from .clock import ScaledClock
from .faults import Faults
from .jobs import JobModel
from .profiles import profile_settings

CONTROL_PREFIX = '/_emulator/'
JSON_TYPE = 'application/json;charset=utf-8'


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address, emulator):
        self.emulator = emulator
        self.connections = set()
        self.connections_lock = threading.Lock()
        super(_Server, self).__init__(address, _Handler)

    def handle_error(self, request, client_address):
        # A client that gave up (read timeout, dropped connection) is not an emulator error.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, socket.timeout)):
            return
        super(_Server, self).handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'   # keep-alive: the SDK reuses connections
    server_version = 'dts-emulator'
    sys_version = ''
    timeout = 120                   # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def setup(self):
        super(_Handler, self).setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        try:
            super(_Handler, self).finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # the emulator logs one line per API request itself

    def do_POST(self):
        self.server.emulator._serve(self)

    do_GET = do_POST

    # -- helpers used by the emulator ---------------------------------------------------------

    def read_body(self):
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b''

    def header_values(self, name):
        return self.headers.get_all(name) or []

    def header_names(self):
        return {name.lower() for name in self.headers.keys()}

    def respond(self, status, payload, headers=None, content_type=JSON_TYPE):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(payload)

    def drop(self):
        """Close the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Emulator(object):
    """A DTS API emulator on 127.0.0.1.

    ``accounts``: AccessKey ID -> secret. ``clock``: callable returning UNIX seconds (default: wall
    time, accelerated by ``time_scale``). ``not_found_style``: how unknown task ids are answered,
    ``'business'`` (HTTP 200, Success false, ErrCode InvalidJobId) or ``'gateway'`` (HTTP 403
    Forbidden.InstanceNotFound). ``durations``: default phase durations in seconds (precheck,
    structure, full, reverse_precheck). ``catched_threshold_ms``: the delay at or below which the
    incremental phase reports Catched. ``paused_delay``: while paused the delay ``'grow'``s with
    the clock or stays ``'freeze'``d. ``reverse_delay``: default delay profile of reverse tasks
    once their writer runs. ``state_file``: jobs are saved there on every change and loaded by
    ``load_state()``. ``log``: a stream that gets one line per API request. ``replication``: tasks
    between local MariaDB, PostgreSQL or Redis servers replicate for real (True, or the options
    of :class:`dts_emulator.replication.ReplicationManager`: ``credentials``, ``apply_latency``).
    ``profile``: the latency profile, ``'fast'`` or ``'realistic'`` (profiles.py; ``durations`` override its
    values), every duration and the API latency multiplied by ``latency_scale``. ``released_status``
    (``'finished'`` or ``'not_found'``) and ``stale_reads``: see api.Api.
    """

    def __init__(self, accounts=None, region='cn-hangzhou', clock=None, not_found_style='business', durations=None,
                 catched_threshold_ms=0, paused_delay='grow', reverse_delay=None, time_scale=1.0, state_file=None,
                 host='127.0.0.1', port=0, log=None, replication=None, profile='fast', latency_scale=1.0,
                 released_status='finished', stale_reads=0):
        self.profile = profile
        self.latency_scale = float(latency_scale)
        durations, self.api_latency = profile_settings(profile, latency_scale, durations)
        self.region = region
        self.time_scale = float(time_scale)
        self.clock = clock if clock is not None else ScaledClock(self.time_scale)
        self.credentials = Credentials(accounts)
        self.state_file = state_file
        self.host = host
        self._requested_port = int(port)
        self.log = log
        self.model = JobModel(self._now, region, durations=durations, catched_threshold_ms=catched_threshold_ms,
                              paused_delay=paused_delay, reverse_delay=reverse_delay, on_change=self.save_state)
        self.api = dts_api.Api(self.model, not_found_style=not_found_style, released_status=released_status, stale_reads=stale_reads)
        self.faults = Faults(dts_api.ACTIONS)
        self._requests = []
        self._requests_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self.replication = None
        if replication:
            from .replication import ReplicationManager
            self.replication = ReplicationManager.from_options(self, replication)
            self.model.source_for = self.replication.source_for

    def _now(self):
        return self.clock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        if self._server is not None:
            raise RuntimeError('the emulator is already running')
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.01},
                                        name='dts-emulator-%d' % self.port, daemon=True)
        self._thread.start()
        if self.replication is not None:
            self.replication.start()
        return self

    def stop(self):
        if self.replication is not None:
            # Appliers finish their transaction and the checkpoints are saved before the API goes away.
            self.replication.stop()
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()    # wakes requests sleeping in a slow fault
        server.shutdown()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def port(self):
        if self._server is None:
            raise RuntimeError('the emulator is not running: call start() first')
        return self._server.server_address[1]

    @property
    def endpoint(self):
        """``127.0.0.1:PORT``: the SDK's Config(endpoint=..., protocol='http')."""
        return '%s:%d' % (self.host, self.port)

    @property
    def url(self):
        return 'http://%s' % self.endpoint

    # -- control API --------------------------------------------------------------------------

    def issue_sts_token(self, access_key_id, secret, token, expired=False):
        """Accept the temporary pair (access_key_id, secret) together with ``token``."""
        self.credentials.issue_token(access_key_id, secret, token, expired=expired)

    def add_account(self, access_key_id, secret):
        self.credentials.add_account(access_key_id, secret)

    def add_job(self, name='orders', job_type='MIGRATION', structure=True, full=True, incremental=True, status='NotStarted',
                phase=None, durations=None, delay=None, source=None, destination=None, job_id=None, instance_id=None,
                error_message=None, reverse_delay=None, db_object=None):
        """Create a task in a given state and return it (``job.job_id``, ``job.instance_id``).

        ``status``: NotConfigured, NotStarted, Prechecking, Migrating (or Synchronizing /
        Initializing for SYNC), Suspending, Finished, Failed, MigrationFailed, PrecheckFailed or
        InitializeFailed; ``phase`` (structure, full, incremental) says where a running, paused or
        failed task is (default: its last enabled phase). ``delay``: the incremental delay, a
        profile [(seconds, delay_ms), ...], a constant or a DelaySource. ``reverse_delay``: the
        profile of reverse tasks created from this one.
        """
        return self.model.add(name=name, job_type=job_type, structure=structure, full=full, incremental=incremental, status=status,
                              phase=phase, durations=durations, delay=delay, source=source, destination=destination, job_id=job_id,
                              instance_id=instance_id, error_message=error_message, reverse_delay=reverse_delay, db_object=db_object)

    def job(self, job_id):
        """The task (also a released one: ``job.released``); KeyError if it never existed."""
        return self.model.get(job_id, include_released=True)

    def jobs(self, released=False):
        return self.model.all(include_released=released)

    def set_delay(self, job_id, profile):
        self.model.set_delay(self.job(job_id), profile)
        return self.job(job_id)

    def fail_job(self, job_id, message, status='Failed'):
        self.model.fail(self.job(job_id), message, status=status)
        return self.job(job_id)

    def set_status(self, job_id, status, reads=None):
        """Make the task report ``status`` (Retrying, Modifying, Locked, Upgrade, Downgrade or PreCheckPass:
        documented values the task model does not reach by itself) to its next ``reads`` DescribeDtsJobDetail /
        DescribeDtsJobs reads (None: until ``set_status(job_id, None)``). Only what is reported changes; a
        ``Locked`` task also refuses every operation meanwhile."""
        self.model.set_status(self.job(job_id), status, reads=reads)
        return self.job(job_id)

    def dts_waits(self):
        """Every stretch of emulated DTS time so far, oldest first: ``{'job_id', 'what', 'start', 'end'}``
        (emulator clock) with ``what`` precheck, pause, resume, writer, or api (an answer's latency).
        Figures measured under a latency scale are converted back with them (profiles.unscaled)."""
        waits = list(self.model.waits)
        waits += [{'job_id': entry['job_id'], 'what': 'api', 'start': entry['time'], 'end': entry['time'] + entry['latency']}
                  for entry in self.requests if entry.get('latency')]
        return sorted(waits, key=lambda wait: wait['start'])

    def set_stale_reads(self, count):
        """From now on, after each action that changes a task, its next ``count`` reads answer as before the
        action (0: off)."""
        if int(count) < 0:
            raise ValueError('count must be a number >= 0, got %r' % (count,))
        self.api.stale_reads = int(count)
        return {'stale_reads': self.api.stale_reads}

    def replication_status(self, job_id):
        """Where the replication of a task stands (see ``replication``): position, applied, queued,
        pending, backlog_ms, capturing, applying, idle_seconds (since a change was last applied), error."""
        if self.replication is None:
            raise ValueError('this emulator does not replicate: create it with replication=True')
        return self.replication.status(self.job(job_id))

    def add_fault(self, action='*', kind='throttle', count=1, job_id=None, **details):
        """Make the next ``count`` matching requests (None: all until cleared) fail as ``kind``:
        throttle, server_error, slow, drop, drop_after, business_error or bad_json."""
        return self.faults.add(action=action, kind=kind, count=count, job_id=job_id, **details)

    def clear_faults(self):
        return self.faults.clear()

    @property
    def requests(self):
        """Every API request seen (control requests excluded), oldest first."""
        with self._requests_lock:
            return [dict(entry) for entry in self._requests]

    def calls(self, action=None):
        return [entry for entry in self.requests if action is None or entry['action'] == action]

    def reset_requests(self):
        with self._requests_lock:
            count = len(self._requests)
            self._requests = []
            return count

    # -- state file ---------------------------------------------------------------------------

    def save_state(self):
        if not self.state_file:
            return
        with self._state_lock:
            state = self.model.to_state()
            directory = os.path.dirname(os.path.abspath(self.state_file))
            fd, tmp = tempfile.mkstemp(prefix='.dts-emulator-', dir=directory)
            with os.fdopen(fd, 'w') as stream:
                json.dump(state, stream, indent=1, sort_keys=True)
            os.replace(tmp, self.state_file)

    def load_state(self):
        """Load the jobs saved in ``state_file``; returns the saved emulator time (or None)."""
        if not self.state_file or not os.path.exists(self.state_file):
            return None
        with open(self.state_file) as stream:
            state = json.load(stream)
        self.model.load_state(state)
        return state.get('clock')

    # -- HTTP ---------------------------------------------------------------------------------

    def _arrived(self, entry):
        with self._requests_lock:
            self._requests.append(entry)

    def _answered(self, entry, **fields):
        with self._requests_lock:
            entry.update(fields)
        if self.log is not None:
            # No parameter values: they may hold passwords (ConfigureDtsJob).
            line = '%s %s %s job=%s ak=%s auth=%s -> %s%s%s' % (
                time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), entry['method'], entry['action'] or '-', entry['job_id'] or '-',
                entry['access_key_id'] or '-', entry['auth'] or '-', entry['http_status'] or 'dropped',
                ' ' + entry['code'] if entry['code'] else '', ' fault=' + entry['fault'] if entry['fault'] else '')
            try:
                self.log.write(line + '\n')
                self.log.flush()
            except (OSError, ValueError):
                pass

    def _serve(self, handler):
        url = urlsplit(handler.path)
        body = handler.read_body()
        if url.path.startswith(CONTROL_PREFIX):
            return self._serve_control(handler, url.path[len(CONTROL_PREFIX):], body)
        query = parse_qsl(url.query, keep_blank_values=True)
        params = dict(query)
        content_type = (handler.headers.get('Content-Type') or '').split(';')[0].strip().lower()
        if body and content_type == 'application/x-www-form-urlencoded':
            params.update(parse_qsl(body.decode('utf-8', errors='replace'), keep_blank_values=True))
        action = (handler.header_values('x-acs-action') or [params.get('Action')])[0]
        # Logged on arrival, completed when answered: http_status stays None while in flight or when dropped.
        entry = {'action': action, 'params': params, 'auth': None, 'access_key_id': None, 'http_status': None, 'code': None,
                 'time': self.clock(), 'job_id': params.get('DtsJobId'), 'fault': None, 'method': handler.command}
        self._arrived(entry)
        caller = {}
        try:
            response, fault = self._dispatch(handler, url.path, query, params, body, action, caller)
        except Exception:  # pylint: disable=broad-except
            # An emulator bug must show up as a clear 500, not as a hung client.
            response, fault = dts_api.gateway_error(500, 'InternalError', 'Emulator error: %s' % traceback.format_exc(limit=3)), None
        if fault is not None:
            caller['fault'] = fault.kind
        if response is None:
            self._answered(entry, **caller)
            handler.drop()
            return None
        self._answered(entry, http_status=response.status, code=response.code, job_id=response.job_id or entry['job_id'], **caller)
        if fault is not None and fault.kind == 'drop_after':
            handler.drop()
            return None
        handler.respond(response.status, response.payload(), dict(response.headers, **{'x-acs-request-id': self._request_id(response)}))
        return None

    @staticmethod
    def _request_id(response):
        if isinstance(response.body, dict) and response.body.get('RequestId'):
            return response.body['RequestId']
        return dts_api.request_id()

    def _dispatch(self, handler, path, query, params, body, action, caller):
        """Return (Response or None to drop the connection, the fault applied or None)."""
        if path != '/':
            return dts_api.gateway_error(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.'), None
        if not action:
            return dts_api.gateway_error(400, 'MissingParameter',
                                         'The input parameter "Action" that is mandatory for processing this request is not supplied.'), None
        version = (handler.header_values('x-acs-version') or [params.get('Version')])[0]
        if version and version != dts_api.VERSION:
            return dts_api.gateway_error(400, 'InvalidVersion', 'Specified parameter Version is not valid. DTS speaks %s.' % dts_api.VERSION), None
        if action not in dts_api.ACTIONS:
            return dts_api.gateway_error(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.'), None
        try:
            caller['auth'], caller['access_key_id'] = authenticate(
                self.credentials, handler.command, path, query, params, handler.header_values, handler.header_names(), body)
        except AuthError as error:
            return dts_api.gateway_error(error.status, error.code, error.message), None

        fault = self.faults.take(action, params)
        kind = fault.kind if fault else None
        if kind == 'slow':
            self._stopping.wait(fault.details['seconds'])
        elif kind == 'drop':
            return None, fault
        elif kind == 'throttle':
            headers = {'x-acs-retry-after': fault.details['retry_after']} if fault.details['retry_after'] else None
            return dts_api.gateway_error(fault.details['status'], fault.details['code'], fault.details['message'], headers), fault
        elif kind == 'server_error':
            return dts_api.gateway_error(fault.details['status'], fault.details['code'], fault.details['message']), fault
        elif kind == 'business_error':
            return dts_api.business_error(action, fault.details['err_code'], fault.details['err_message'],
                                          dynamic_message=fault.details['dynamic_message'],
                                          http_status_code=fault.details['http_status_code'], job_id=params.get('DtsJobId')), fault
        elif kind == 'bad_json':
            return dts_api.Response(200, fault.details['body'].encode('utf-8'), code='bad_json'), fault
        if self.api_latency:
            # The profile's answer time; the action takes effect at its end.
            caller['latency'] = self.api_latency
            self._stopping.wait(self.api_latency)
        return self.api.handle(action, params), fault

    # -- control over HTTP --------------------------------------------------------------------

    def _serve_control(self, handler, operation, body):
        try:
            arguments = json.loads(body.decode('utf-8') or '{}') if body else {}
            if not isinstance(arguments, dict):
                raise ValueError('the body must be a JSON object of arguments')
            result = self.control(operation, arguments)
            status, payload = 200, {'result': result}
        except KeyError as error:
            status, payload = 404, {'error': 'not found: %s' % (error.args[0] if error.args else error)}
        except (TypeError, ValueError) as error:
            status, payload = 400, {'error': str(error)}
        handler.respond(status, json.dumps(payload).encode('utf-8'))

    def control(self, operation, arguments):
        """Run a control operation by name with JSON arguments; return a JSON-safe result."""
        operations = {
            'add_job': lambda **kw: self.add_job(**kw).to_dict(),
            'job': lambda job_id: self.job(job_id).to_dict(),
            'jobs': lambda released=False: [job.to_dict() for job in self.jobs(released=released)],
            'set_delay': lambda job_id, profile: self.set_delay(job_id, profile).to_dict(),
            'fail_job': lambda job_id, message, status='Failed': self.fail_job(job_id, message, status=status).to_dict(),
            'set_status': lambda job_id, status, reads=None: self.set_status(job_id, status, reads=reads).to_dict(),
            'set_stale_reads': self.set_stale_reads,
            'dts_waits': self.dts_waits,
            'replication_status': self.replication_status,
            'add_fault': lambda **kw: self.add_fault(**kw).to_dict(),
            'clear_faults': lambda: {'cleared': self.clear_faults()},
            'faults': self.faults.pending,
            'requests': lambda action=None: self.calls(action),
            'calls': lambda action=None: self.calls(action),
            'reset_requests': lambda: {'reset': self.reset_requests()},
            'issue_sts_token': lambda access_key_id, secret, token, expired=False: self.issue_sts_token(access_key_id, secret, token, expired) or {},
            'status': lambda: {'endpoint': self.endpoint, 'region': self.region, 'time': self.clock(), 'jobs': len(self.jobs()),
                               'profile': self.profile, 'latency_scale': self.latency_scale, 'durations': dict(self.model.durations),
                               'api_latency': self.api_latency},
        }
        if operation not in operations:
            raise KeyError('control operation %r (known: %s)' % (operation, ', '.join(sorted(operations))))
        return operations[operation](**arguments)
