# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DTS client of the collection (the ``dtsops.switchover.dts`` doc fragment).

Options become an SDK ``Config`` with the keys passed explicitly: the credentials library reads
its environment variables once at import, so the environment is resolved here, where an error can
also say which source a key came from. :meth:`DtsClient.call` sends one action through the SDK's
typed request model and ``*_with_options`` method, so the wire format is exactly the SDK's, and
returns the response body as a dict. It retries throttling, server errors and connection errors
with jittered exponential backoff within a deadline, never a business error (HTTP 200 with
``Success: false``, which the SDK does not raise) and never blindly a call whose effect is
unknown. Every failure becomes one :class:`DtsError` with a message that says what to fix and no
secret. :class:`Job` is the view of a task that the modules return.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import random
import re
import threading
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, Waiter

# The SDK is imported on first use: its import takes about 0.4 s, and a step that needs only a
# database (the fence, in the window action) must not pay it.
HAS_SDK = all(importlib.util.find_spec(name) is not None for name in ('alibabacloud_dts20200101', 'alibabacloud_tea_openapi', 'Tea'))
SDK_IMPORT_ERROR = None if HAS_SDK else 'the Python packages of the Alibaba Cloud DTS SDK are not installed'
_SDK = {}
_SDK_LOCK = threading.Lock()


def sdk():
    """The SDK's modules and our client class, imported once (a thread may import them ahead)."""
    with _SDK_LOCK:
        return _sdk()


def _sdk():
    if not _SDK:
        from alibabacloud_dts20200101 import models as dts_models
        from alibabacloud_dts20200101.client import Client
        from alibabacloud_tea_openapi import models as open_api_models
        from darabonba.runtime import RuntimeOptions
        from Tea.exceptions import TeaException, UnretryableException

        class RecordingSdkClient(Client):
            """The SDK client, keeping the raw response body: the typed models drop keys they do not
            know (reference dts-api.md 3.6), and the collection reports what DTS actually sent."""

            last_body = None

            def call_api(self, params, request, runtime):
                response = super(RecordingSdkClient, self).call_api(params, request, runtime)
                self.last_body = response.get('body') if isinstance(response, dict) else None
                return response

        _SDK.update(models=dts_models, client=RecordingSdkClient, open_api_models=open_api_models, runtime_options=RuntimeOptions,
                    tea_exception=TeaException, unretryable_exception=UnretryableException)
    return _SDK


def preload_sdk():
    """Import the SDK ahead of its first use (in a thread); a missing SDK is reported at that use."""
    try:
        sdk()
    except ImportError:
        pass


SDK_PACKAGE = 'alibabacloud-dts20200101'

ENV_ACCESS_KEY_ID = ('ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY', 'ALICLOUD_ACCESS_KEY_ID')
ENV_ACCESS_KEY_SECRET = ('ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALICLOUD_SECRET_KEY', 'ALICLOUD_SECRET_ACCESS_KEY')
ENV_SECURITY_TOKEN = ('ALIBABA_CLOUD_SECURITY_TOKEN', 'ALICLOUD_SECURITY_TOKEN')
ENV_REGION = ('ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION', 'ALICLOUD_REGION_ID')

# Actions that only read: they are retried after any transient failure.
READ_ACTIONS = frozenset(['DescribeDtsJobDetail', 'DescribeDtsJobs', 'DescribePreCheckStatus', 'ListJobStep'])

NOT_FOUND_CODES = frozenset(['invalidjobid', 'forbidden.instancenotfound', 'invalidjobid.notfound', 'instancenotfound',
                             'dts.msg.invalidjobid', 'jobnotfound'])
CREDENTIAL_CODES = ('invalidaccesskeyid', 'signaturedoesnotmatch', 'incompletesignature', 'invalidsecuritytoken',
                    'invalidcredentials', 'missingsecuritytoken')
PERMISSION_CODES = ('forbidden.ram', 'forbidden.accessdenied', 'forbidden.nopermission', 'nopermission', 'forbidden.subuser')

# Backoff of retried calls: base * 2**n seconds, capped, with "equal jitter" (half fixed, half random).
BACKOFF_BASE = 0.5
BACKOFF_CAP = 10.0

# Job statuses (compared lower-case: DTS writes "synchronizing" and "Synchronizing").
FAILED_STATUSES = frozenset(['precheckfailed', 'failed', 'migrationfailed', 'initializefailed', 'abnormal'])
NOT_STARTED_STATUSES = frozenset(['notstarted', 'notconfigured'])
PRECHECK_STATUSES = frozenset(['prechecking', 'precheckpass'])
JOB_TYPES = ('MIGRATION', 'SYNC', 'SUBSCRIBE')
# DescribeDtsJobs filters on these spellings (reference dts-api.md 1.3).
LIST_STATUSES = dict((status.lower(), status) for status in (
    'NotStarted', 'NotConfigured', 'Prechecking', 'PrecheckFailed', 'PreCheckPass', 'Initializing', 'InitializeFailed', 'Synchronizing',
    'Migrating', 'Failed', 'MigrationFailed', 'Suspending', 'Modifying', 'Retrying', 'Upgrade', 'Downgrade', 'Locked', 'Finished',
    'Starting', 'Normal', 'Abnormal'))
PHASES = ('not_started', 'precheck', 'structure', 'full', 'incremental', 'paused', 'finished', 'failed')
RUNNING_PHASES = frozenset(['structure', 'full', 'incremental'])


def dts_argument_spec():
    """The options of the ``dtsops.switchover.dts`` doc fragment. Environment fallbacks are
    resolved by :func:`resolve_settings`, not by the argument spec."""
    return dict(
        access_key_id=dict(type='str', no_log=False),
        access_key_secret=dict(type='str', no_log=True),
        security_token=dict(type='str', no_log=True),
        region=dict(type='str'),
        endpoint=dict(type='str'),
        protocol=dict(type='str', choices=['http', 'https']),
        api_timeout=dict(type='int', default=10),
        api_retry_timeout=dict(type='int', default=60),
    )


class DtsError(Exception):
    """Every DTS failure, with a message fit for the user.

    ``kind``: ``config``, ``credentials``, ``permission``, ``not_found``, ``state`` (the task is in
    the wrong state for the request), ``unreachable``, ``throttled``, ``server``, ``ambiguous``
    (the call may or may not have taken effect: look before acting again) or ``api``.
    """

    def __init__(self, message, kind='api', action=None, code=None, request_id=None, http_status=None):
        super(DtsError, self).__init__(message)
        self.kind = kind
        self.action = action
        self.code = code
        self.request_id = request_id
        self.http_status = http_status

    @property
    def ambiguous(self):
        return self.kind == 'ambiguous'

    def as_dict(self):
        return {'kind': self.kind, 'action': self.action, 'code': self.code, 'request_id': self.request_id,
                'http_status': self.http_status}


def mask_key_id(value):
    """At most a hint of an AccessKey ID: ``LTAI****xyz`` for real ones, ``AK****`` for short ones."""
    if not value:
        return ''
    if len(value) >= 12:
        return value[:4] + '****' + value[-3:]
    if len(value) >= 6:
        return value[:2] + '****'
    return '****'


def _env_names(names):
    return ', '.join(names[:-1]) + ' or ' + names[-1]


class Settings(object):
    """Resolved connection settings; ``sources`` says where each key came from, for messages."""

    def __init__(self, access_key_id, access_key_secret, security_token, region, endpoint, protocol,
                 api_timeout=10, api_retry_timeout=60, sources=None):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.region = region
        self.endpoint = endpoint
        self.protocol = protocol
        self.api_timeout = api_timeout
        self.api_retry_timeout = api_retry_timeout
        self.sources = dict(sources or {})

    @property
    def secrets(self):
        return [value for value in (self.access_key_secret, self.security_token) if value]

    def describe_credentials(self):
        """Which credentials were used, without a secret: for the credential error messages."""
        parts = ['AccessKey ID %s (from %s)' % (mask_key_id(self.access_key_id), self.sources.get('access_key_id')),
                 'the AccessKey secret from %s' % self.sources.get('access_key_secret')]
        if self.security_token:
            parts.append('a security token from %s' % self.sources.get('security_token'))
        return ', '.join(parts[:-1]) + ' and ' + parts[-1]


def _pick(params, option, env_names, environ):
    value = params.get(option)
    if value not in (None, ''):
        return value, 'the %s option' % option
    for name in env_names:
        value = environ.get(name)
        if value not in (None, ''):
            return value, 'the environment variable %s' % name
    return None, None


def resolve_settings(params, environ=None):
    """Module params (+ environment) -> :class:`Settings`; raises DtsError(kind='config')."""
    environ = os.environ if environ is None else environ
    sources = {}
    access_key_id, sources['access_key_id'] = _pick(params, 'access_key_id', ENV_ACCESS_KEY_ID, environ)
    secret, sources['access_key_secret'] = _pick(params, 'access_key_secret', ENV_ACCESS_KEY_SECRET, environ)
    token, sources['security_token'] = _pick(params, 'security_token', ENV_SECURITY_TOKEN, environ)
    region, sources['region'] = _pick(params, 'region', ENV_REGION, environ)
    missing = []
    if not access_key_id:
        missing.append('an AccessKey ID (the access_key_id option, or %s)' % _env_names(ENV_ACCESS_KEY_ID))
    if not secret:
        missing.append('an AccessKey secret (the access_key_secret option, or %s)' % _env_names(ENV_ACCESS_KEY_SECRET))
    if not region:
        missing.append('a region (the region option, or %s)' % _env_names(ENV_REGION))
    if missing:
        raise DtsError('DTS needs ' + '; '.join(missing) + '.', kind='config')

    endpoint = (params.get('endpoint') or '').strip() or None
    protocol = params.get('protocol')
    if endpoint:
        match = re.match(r'^(?:(https?)://)?([^/\s?#]+)/?$', endpoint, re.I)
        if not match:
            raise DtsError('endpoint %r is not a host name with an optional port (for example dts.aliyuncs.com or '
                           '127.0.0.1:8080).' % endpoint, kind='config')
        scheme, endpoint = match.group(1), match.group(2)
        if scheme:
            scheme = scheme.lower()
            if protocol and protocol != scheme:
                raise DtsError('endpoint %s://%s says %s but protocol is %s: drop the scheme from endpoint or make them agree.'
                               % (scheme, endpoint, scheme, protocol), kind='config')
            protocol = scheme
    api_timeout = params.get('api_timeout')
    api_retry_timeout = params.get('api_retry_timeout')
    api_timeout = 10 if api_timeout is None else api_timeout
    api_retry_timeout = 60 if api_retry_timeout is None else api_retry_timeout
    if api_timeout <= 0:
        raise DtsError('api_timeout must be at least 1 second.', kind='config')
    if api_retry_timeout < 0:
        raise DtsError('api_retry_timeout must be 0 (no retries) or more seconds.', kind='config')
    return Settings(access_key_id, secret, token, region, endpoint, protocol or 'https', api_timeout, api_retry_timeout, sources)


def build_sdk_client(settings):
    config = sdk()['open_api_models'].Config(
        access_key_id=settings.access_key_id,
        access_key_secret=settings.access_key_secret,
        security_token=settings.security_token or None,
        region_id=settings.region,
        endpoint=settings.endpoint,
        protocol=settings.protocol,
        read_timeout=settings.api_timeout * 1000,
        connect_timeout=min(settings.api_timeout, 5) * 1000,
    )
    return sdk()['client'](config)


def _snake(action):
    return re.sub(r'(?<!^)(?=[A-Z])', '_', action).lower()


def _lower(value):
    return str(value).lower() if value is not None else ''


def _is_true(value):
    return _lower(value) == 'true'


class _Failure(object):
    """A failed attempt, classified: may it be retried, and was the request possibly applied."""

    def __init__(self, kind, reason, retry_after=None, code=None, request_id=None, http_status=None, applied='no'):
        self.kind = kind            # throttled | server | unreachable | dropped | tls | bad_response | final
        self.reason = reason
        self.retry_after = retry_after
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        self.applied = applied      # no | maybe


_NOT_SENT = ('newconnectionerror', 'failed to establish a new connection', 'nameresolutionerror', 'failed to resolve',
             'name or service not known', 'connecttimeouterror', 'connection refused', 'proxyerror',
             'unable to connect to proxy', 'no route to host', 'network is unreachable')
_TLS = ('sslerror', 'ssl:', 'certificate_verify_failed', 'wrong_version_number')
_DROPPED = ('read timed out', 'remotedisconnected', 'connection aborted', 'connection reset', 'badstatusline',
            'incompleteread', 'protocolerror', 'chunkedencodingerror', 'broken pipe', 'timed out')


def _transport_reason(text):
    lowered = text.lower()
    if 'connection refused' in lowered:
        return 'connection refused'
    if 'failed to resolve' in lowered or 'name or service not known' in lowered or 'nameresolutionerror' in lowered:
        return 'the host name does not resolve'
    if 'proxy' in lowered:
        return 'the HTTP proxy from the environment refused the connection'
    if 'connecttimeout' in lowered:
        return 'the connection timed out'
    if 'read timed out' in lowered:
        return 'no answer within api_timeout'
    if 'disconnected' in lowered or 'aborted' in lowered or 'reset' in lowered:
        return 'the connection was closed before the answer arrived'
    return text.splitlines()[0][:200] if text else 'unknown transport error'


class DtsClient(object):
    """Calls DTS for one module run. ``api_calls`` lists the actions called (each once, in order),
    for the RAM policy; ``requests`` counts the HTTP attempts."""

    def __init__(self, settings, sdk_client=None, clock=time.monotonic, sleep=time.sleep, jitter=random.random):
        self.settings = settings
        self.region = settings.region
        self.api_calls = []
        self.requests = 0
        self.last_job = None
        self._sdk = sdk_client if sdk_client is not None else build_sdk_client(settings)
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    @property
    def endpoint(self):
        host = getattr(self._sdk, '_endpoint', None) or self.settings.endpoint or 'dts.aliyuncs.com'
        return '%s://%s' % (self.settings.protocol, host)

    # -- the one way to call DTS ------------------------------------------------------------------

    def call(self, action, deadline=None, retry_ambiguous=None, **params):
        """Call ``action`` with API-style parameters (``DtsJobId=...``) and return the body dict.

        Retries throttling, server errors and connection errors until ``deadline`` (monotonic) or
        ``api_retry_timeout``, whichever comes first. After a failure that may have been applied
        (timeout, dropped connection, server error) only read actions are retried, unless
        ``retry_ambiguous`` says otherwise: the others raise DtsError(kind='ambiguous') so that
        the caller looks before acting again.
        """
        if retry_ambiguous is None:
            retry_ambiguous = action in READ_ACTIONS
        request = self._request(action, params)
        method = getattr(self._sdk, _snake(action) + '_with_options')
        if action not in self.api_calls:
            self.api_calls.append(action)
        start = self._clock()
        end = start + self.settings.api_retry_timeout
        if deadline is not None:
            end = min(end, deadline)
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            failure = None
            try:
                body = self._invoke(method, request, end)
            except Exception as exc:  # pylint: disable=broad-except
                failure = self._classify(exc)
            if failure is None:
                return self._check_business(action, params, body)
            delay = self._retry_delay(failure, attempt, retry_ambiguous)
            now = self._clock()
            if delay is None or now + delay >= end:
                raise self._give_up(action, params, failure, attempt, now - start, retryable=delay is not None,
                                    retry_ambiguous=retry_ambiguous)
            self._sleep(delay)

    def _request(self, action, params):
        params = dict((key, value) for key, value in params.items() if value is not None)
        model_class = getattr(sdk()['models'], action + 'Request')
        probe = model_class().from_map({'RegionId': self.region}).to_map()
        if 'RegionId' in probe:
            params.setdefault('RegionId', self.region)
        request = model_class().from_map(params)
        unknown = sorted(set(params) - set(request.to_map()))
        if unknown:
            raise ValueError('%s takes no parameter %s' % (action, ', '.join(unknown)))
        return request

    def _invoke(self, method, request, end):
        remaining = max(1.0, end - self._clock())
        read_timeout = int(min(self.settings.api_timeout, remaining) * 1000)
        runtime = sdk()['runtime_options'](read_timeout=read_timeout, connect_timeout=min(read_timeout, 5000))
        if hasattr(self._sdk, 'last_body'):
            self._sdk.last_body = None
        response = method(request, runtime)
        body = getattr(self._sdk, 'last_body', None)
        if body is None:
            body = response.body.to_map() if response is not None and response.body is not None else {}
        if not isinstance(body, dict):
            raise _BadBody(body)
        return body

    def _classify(self, exc):
        """An exception of the SDK (or of the transport below it) -> :class:`_Failure`."""
        if isinstance(exc, _BadBody):
            return _Failure('bad_response', 'the answer is not a JSON object', applied='maybe')
        status = getattr(exc, 'status_code', None)
        data = getattr(exc, 'data', None) if isinstance(getattr(exc, 'data', None), dict) else {}
        if status is not None:
            code = getattr(exc, 'code', None)
            if code in (None, 'None', ''):
                code = data.get('Code') or data.get('ErrCode') or data.get('code')
            message = data.get('Message') or data.get('ErrMessage') or data.get('message') or ''
            request_id = getattr(exc, 'request_id', None) or data.get('RequestId')
            code_l = _lower(code)
            retry_after = getattr(exc, 'retry_after', None)
            if retry_after is not None or 'throttling' in code_l or status == 429:
                return _Failure('throttled', message, retry_after=retry_after, code=code, request_id=request_id, http_status=status)
            if status >= 500:
                return _Failure('server', message, code=code, request_id=request_id, http_status=status, applied='maybe')
            return _Failure('final', message, code=code, request_id=request_id, http_status=status)
        if getattr(exc, 'code', None) not in (None, 'None', '') and not isinstance(getattr(exc, 'inner_exception', None), Exception):
            # Raised by the SDK before sending (for example InvalidCredentials).
            return _Failure('final', getattr(exc, 'message', None) or str(exc), code=exc.code)
        if _SDK and isinstance(exc, _SDK['unretryable_exception']):
            text = str(getattr(exc, 'inner_exception', None) or exc)
        elif _SDK and isinstance(exc, _SDK['tea_exception']):
            text = str(getattr(exc, 'message', None) or exc)
        else:
            text = '%s: %s' % (type(exc).__name__, exc)
        lowered = text.lower()
        if 'json' in lowered and 'parse' in lowered:
            return _Failure('bad_response', 'the answer is not JSON', applied='maybe')
        if any(marker in lowered for marker in _TLS):
            match = re.search(r'\[SSL: ([A-Z0-9_]+)\] ([^(\'"]+)', text)
            return _Failure('tls', 'TLS failed (%s)' % ('%s: %s' % (match.group(1), match.group(2).strip()) if match else 'handshake error'))
        if any(marker in lowered for marker in _NOT_SENT):
            return _Failure('unreachable', _transport_reason(text))
        if any(marker in lowered for marker in _DROPPED):
            return _Failure('dropped', _transport_reason(text), applied='maybe')
        return _Failure('final', text.splitlines()[0][:300] if text else type(exc).__name__)

    def _retry_delay(self, failure, attempt, retry_ambiguous):
        """Seconds to wait before the next attempt, or None when this failure is not retried."""
        if failure.kind in ('final', 'tls', 'bad_response'):
            return None
        if failure.applied == 'maybe' and not retry_ambiguous:
            return None
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
        delay = backoff / 2 + self._jitter() * backoff / 2
        if failure.retry_after:
            delay = max(delay, float(failure.retry_after))
        return delay

    def _give_up(self, action, params, failure, attempts, elapsed, retryable, retry_ambiguous):
        """The DtsError for a failure that is not (or no longer) retried."""
        tried = ' (%d attempts over %.1f s; api_retry_timeout is %d s)' % (attempts, elapsed, self.settings.api_retry_timeout) \
            if attempts > 1 or retryable else ''
        common = dict(action=action, code=failure.code, request_id=failure.request_id, http_status=failure.http_status)
        if failure.kind == 'final':
            return self._api_error(action, params, failure.code, failure.reason, failure.request_id, failure.http_status)
        if failure.kind == 'tls':
            return DtsError(self._scrub('Cannot talk to the DTS endpoint %s: %s. For a plain HTTP endpoint set protocol: http.'
                                        % (self.endpoint, failure.reason)), kind='unreachable', **common)
        if failure.kind == 'unreachable':
            return DtsError(self._scrub('Cannot reach the DTS endpoint %s for %s: %s%s. Check endpoint, protocol, region and '
                                        'the network.' % (self.endpoint, action, failure.reason, tried)), kind='unreachable', **common)
        if failure.kind == 'throttled':
            return DtsError(self._scrub('DTS throttled %s (%s: %s)%s. Retry later, poll less often or raise api_retry_timeout.'
                                        % (action, failure.code, failure.reason or 'request denied by flow control', tried)),
                            kind='throttled', **common)
        what = {'server': 'a server error (%s %s: %s)' % (failure.http_status, failure.code, failure.reason),
                'dropped': failure.reason,
                'bad_response': failure.reason}[failure.kind]
        if failure.applied == 'maybe' and not retry_ambiguous:
            return DtsError(self._scrub('The DTS call %s may or may not have taken effect: %s.' % (action, what)),
                            kind='ambiguous', **common)
        kind = {'server': 'server', 'dropped': 'unreachable', 'bad_response': 'api'}[failure.kind]
        return DtsError(self._scrub('DTS %s failed: %s%s.' % (action, what, tried)), kind=kind, **common)

    def _check_business(self, action, params, body):
        if 'Success' in body and not _is_true(body.get('Success')):
            message = body.get('ErrMessage') or body.get('Message') or ''
            dynamic = body.get('DynamicMessage')
            if dynamic and '%s' in message:
                message = message.replace('%s', str(dynamic))
            elif dynamic:
                message = '%s (%s)' % (message, dynamic) if message else str(dynamic)
            raise self._api_error(action, params, body.get('ErrCode') or body.get('Code'), message, body.get('RequestId'),
                                  body.get('HttpStatusCode'))
        return body

    def _api_error(self, action, params, code, message, request_id, http_status):
        code_l = _lower(code)
        common = dict(action=action, code=code, request_id=request_id, http_status=http_status)
        job_id = params.get('DtsJobId') or params.get('DtsInstanceId') or params.get('DtsInstanceID')
        suffix = ' (request id %s)' % request_id if request_id else ''
        if job_id and (code_l in NOT_FOUND_CODES or code_l.endswith('instancenotfound') or code_l.endswith('jobnotfound')):
            return DtsError('DTS task %s not found in region %s.' % (job_id, self.region), kind='not_found', **common)
        if code_l.startswith(CREDENTIAL_CODES):
            return DtsError(self._scrub('DTS rejected the credentials: %s (%s). Used %s.'
                                        % (self._credential_reason(code_l, message), code, self.settings.describe_credentials())),
                            kind='credentials', **common)
        if code_l.startswith(PERMISSION_CODES):
            return DtsError(self._scrub('The RAM identity of AccessKey ID %s may not call dts:%s (%s: %s). Grant it in a RAM policy.'
                                        % (mask_key_id(self.settings.access_key_id), action, code, message)),
                            kind='permission', **common)
        if 'operationdenied' in code_l:
            target = ' for task %s' % job_id if job_id else ''
            return DtsError(self._scrub('DTS refused %s%s: %s (%s)%s.' % (action, target, message.rstrip('.'), code, suffix)),
                            kind='state', **common)
        return DtsError(self._scrub('DTS %s failed: %s: %s%s.' % (action, code, message.rstrip('.'), suffix)), kind='api', **common)

    @staticmethod
    def _credential_reason(code_l, message):
        if code_l.startswith('invalidaccesskeyid'):
            return 'the AccessKey ID does not exist or is disabled'
        if code_l.startswith('signaturedoesnotmatch'):
            return 'the signature does not match: the AccessKey secret is not the one of this AccessKey ID'
        if code_l == 'invalidsecuritytoken.expired':
            return 'the security token has expired: get a new STS token'
        if code_l.startswith('invalidsecuritytoken') or code_l.startswith('missingsecuritytoken'):
            return 'the security token is not valid for this AccessKey ID'
        # Gateway messages about signatures quote the string to sign: keep only the first sentence.
        return re.split(r'(?i)server string to sign', message or 'rejected')[0].strip().rstrip(':.')

    def _scrub(self, text):
        for secret in self.settings.secrets:
            text = text.replace(secret, '********')
        key_id = self.settings.access_key_id
        if key_id and len(key_id) >= 4:
            text = text.replace(key_id, mask_key_id(key_id))
        return text

    # -- tasks ------------------------------------------------------------------------------------

    def describe_job(self, job_id, deadline=None):
        """The :class:`Job` of ``job_id``; DtsError(kind='not_found') when there is none."""
        return Job.from_detail(self.call('DescribeDtsJobDetail', deadline=deadline, DtsJobId=job_id))

    def find_job(self, job_id, deadline=None):
        """The :class:`Job` of ``job_id``, or None when DTS does not know it."""
        try:
            return self.describe_job(job_id, deadline=deadline)
        except DtsError as exc:
            if exc.kind == 'not_found':
                return None
            raise

    def list_jobs(self, job_type='MIGRATION', name=None, status=None, instance_id=None, deadline=None, page_size=100):
        """Every task of ``job_type`` matching the filters, all pages (DescribeDtsJobs)."""
        filters = {}
        if name:
            filters.update(Type='name', Params=name)
        elif instance_id:
            filters.update(Type='instance', Params=instance_id)
        jobs = []
        page = 1
        while True:
            body = self.call('DescribeDtsJobs', deadline=deadline, Region=self.region, JobType=job_type,
                             Status=LIST_STATUSES.get(_lower(status)), PageNumber=page, PageSize=page_size, **filters)
            items = body.get('DtsJobList') or []
            jobs.extend(Job.from_list_item(item, job_type=job_type) for item in items)
            total = _int(body.get('TotalRecordCount'))
            if not items or len(items) < page_size or (total is not None and len(jobs) >= total):
                break
            page += 1
        # The API's name filter may match parts of names; a status it does not know is filtered here only.
        if name:
            jobs = [job for job in jobs if job.name == name]
        if status:
            jobs = [job for job in jobs if _lower(job.status) == _lower(status)]
        return jobs

    def find_reverse_jobs(self, forward, deadline=None, job_types=('SYNC', 'MIGRATION'), name=None):
        """Tasks whose endpoints are ``forward``'s swapped (a reverse task of it), not finished."""
        found = []
        for job_type in job_types:
            for job in self.list_jobs(job_type=job_type, name=name, deadline=deadline):
                if job.job_id != forward.job_id and not job.finished and job.is_reverse_of(forward):
                    found.append(job)
        return found

    def watch(self, job_id, check, timeout, poll_interval, stable_for=0.0, gone=None, **waiter_args):
        """Poll ``job_id`` until ``check(job)`` says ready; returns (job, WaitResult).

        ``check(job) -> Observation``. ``gone``: the observation for a task that no longer exists
        (default: terminal). Raises WaitTimeout/WaitAborted (with the result) or DtsError; the
        task seen last stays in ``last_job``. API retries stop at the end of the wait.
        """
        waiter = Waiter(timeout, poll_interval=poll_interval, stable_for=stable_for, **waiter_args)
        seen = []

        def probe():
            job = self.find_job(job_id, deadline=waiter.deadline)
            if job is None:
                if gone is None and not seen:
                    raise DtsError('DTS task %s not found in region %s.' % (job_id, self.region), kind='not_found')
                return gone or Observation(False, {'status': None, 'phase': 'absent', 'delay_ms': None},
                                           terminal='DTS task %s no longer exists.' % job_id)
            seen.append(True)
            self.last_job = job
            observation = check(job)
            observation.values.update(job.sample())
            return observation

        result = waiter.wait(probe)
        return self.last_job, result


class _BadBody(Exception):
    pass


def _int(value):
    if value is None or value == '':
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _norm_job_type(value):
    lowered = _lower(value)
    if lowered in ('migration', 'online'):
        return 'MIGRATION'
    if lowered in ('sync', 'subsync', 'synchronization'):
        return 'SYNC'
    if lowered in ('subscribe', 'subscription'):
        return 'SUBSCRIBE'
    return str(value).upper() if value else None


def _same_name(one, other):
    """Names that may be missing: equal (case-insensitively) or unknown on one side."""
    return not one or not other or one.lower() == other.lower()


class Endpoint(object):
    """A task endpoint (SourceEndpoint / DestinationEndpoint), normalised."""

    FIELDS = (('instance_type', 'InstanceType'), ('engine_name', 'EngineName'), ('instance_id', 'InstanceID'),
              ('region', 'Region'), ('ip', 'Ip'), ('port', 'Port'), ('user_name', 'UserName'),
              ('database_name', 'DatabaseName'), ('oracle_sid', 'OracleSID'), ('role_name', 'RoleName'),
              ('aliyun_uid', 'AliyunUid'), ('ssl_solution', 'SslSolutionEnum'))

    def __init__(self, raw):
        raw = raw if isinstance(raw, dict) else {}
        self.raw = raw
        for attribute, key in self.FIELDS:
            value = raw.get(key)
            if value is None and key == 'InstanceID':
                value = raw.get('InstanceId')
            if value is None and key == 'Ip':
                value = raw.get('IP')
            setattr(self, attribute, value if value != '' else None)
        if self.port is not None:
            self.port = str(self.port)

    def identity(self):
        """What names one database server: the instance ID, else address and port."""
        if self.instance_id:
            return ('instance', self.instance_id.lower())
        if self.ip:
            return ('address', self.ip.lower(), self.port or '')
        return None

    def same_as(self, other):
        mine, theirs = self.identity(), other.identity()
        if mine is None or theirs is None or mine != theirs:
            return False
        if self.engine_name and other.engine_name and self.engine_name.lower() != other.engine_name.lower():
            return False
        return True

    def as_dict(self):
        return dict((attribute, getattr(self, attribute)) for attribute, dummy in self.FIELDS)


class Job(object):
    """The view of one task (DescribeDtsJobDetail, or an item of DescribeDtsJobs)."""

    def __init__(self, raw, job_type=None):
        raw = raw if isinstance(raw, dict) else {}
        self.raw = raw
        self.job_id = raw.get('DtsJobId')
        self.instance_id = raw.get('DtsInstanceID') or raw.get('DtsInstanceId')
        self.name = raw.get('DtsJobName')
        self.job_type = _norm_job_type(raw.get('JobType')) or _norm_job_type(job_type)
        self.status = raw.get('Status')
        sync = raw.get('DataSynchronizationStatus') if isinstance(raw.get('DataSynchronizationStatus'), dict) else {}
        self.incremental_status = sync.get('Status')
        mode = raw.get('MigrationMode') if isinstance(raw.get('MigrationMode'), dict) else {}
        self.migration_mode = {
            'structure': _is_true(mode.get('StructureInitialization')),
            'full': _is_true(mode.get('DataInitialization')),
            'incremental': _is_true(mode.get('DataSynchronization')) if 'DataSynchronization' in mode else None,
        }
        self.delay_ms = _int(raw.get('Delay'))
        self.checkpoint = _int(raw.get('Checkpoint'))
        retry = raw.get('RetryState') if isinstance(raw.get('RetryState'), dict) else {}
        self.retrying = _lower(self.status) == 'retrying' or _is_true(retry.get('Retrying'))
        self.error_message = raw.get('ErrorMessage') or sync.get('ErrorMessage') or retry.get('ErrMessage') or None
        self.source = Endpoint(raw.get('SourceEndpoint'))
        self.destination = Endpoint(raw.get('DestinationEndpoint'))
        self.phase = self._phase(sync)

    @classmethod
    def from_detail(cls, body):
        return cls(body)

    @classmethod
    def from_list_item(cls, item, job_type=None):
        job = cls(item, job_type=job_type)
        # DescribeDtsJobs gives the delay of sync tasks in seconds (reference dts-api.md 1.4).
        if job.job_type == 'SYNC' and job.delay_ms is not None:
            job.delay_ms *= 1000
        return job

    def _phase(self, sync):
        status = _lower(self.status)
        if status in NOT_STARTED_STATUSES or not status:
            return 'not_started'
        if status in PRECHECK_STATUSES:
            return 'precheck'
        if status in FAILED_STATUSES:
            return 'failed'
        if status == 'suspending':
            return 'paused'
        if status == 'finished':
            return 'finished'
        incremental = _lower(sync.get('Status'))
        if incremental and incremental != 'notstarted':
            return 'incremental'
        # Initial load. DescribeDtsJobs reports which part runs; DescribeDtsJobDetail need not
        # (reference dts-api.md 1.2): then it is called full when the task has a full load, the
        # part that takes long, and structure otherwise.
        structure = _lower((self.raw.get('StructureInitializationStatus') or {}).get('Status'))
        full = _lower((self.raw.get('DataInitializationStatus') or {}).get('Status'))
        if not structure and not full:
            if self.migration_mode['full']:
                return 'full'
            return 'structure' if self.migration_mode['structure'] else 'incremental'
        if full == 'migrating' or (self.migration_mode['full'] and structure == 'finished' and full != 'finished'):
            return 'full'
        if structure == 'migrating' or (self.migration_mode['structure'] and structure != 'finished'):
            return 'structure'
        return 'full' if self.migration_mode['full'] and full != 'finished' else 'incremental'

    @property
    def delay_seconds(self):
        return None if self.delay_ms is None else self.delay_ms / 1000.0

    @property
    def paused(self):
        return self.phase == 'paused'

    @property
    def failed(self):
        return self.phase == 'failed'

    @property
    def finished(self):
        return self.phase == 'finished'

    @property
    def running(self):
        return self.phase in RUNNING_PHASES

    @property
    def caught_up(self):
        return _lower(self.incremental_status) == 'catched'

    @property
    def incremental_started(self):
        """The task had reached incremental migration (also true while paused in it)."""
        return _lower(self.incremental_status) not in ('', 'notstarted')

    @property
    def checkpoint_time(self):
        if not self.checkpoint:
            return None
        try:
            return datetime.datetime.fromtimestamp(self.checkpoint, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        except (OverflowError, OSError, ValueError):
            return None

    def is_reverse_of(self, forward):
        """True when this task's source is ``forward``'s destination and the other way round.

        Several tasks often run between the same two instances, so the databases must match too
        where DTS names them, and a reverse task cannot be older than its forward task.
        """
        if not (self.source.same_as(forward.destination) and self.destination.same_as(forward.source)):
            return False
        if not (_same_name(self.source.database_name, forward.destination.database_name)
                and _same_name(self.destination.database_name, forward.source.database_name)):
            return False
        created, forward_created = self.raw.get('CreateTime'), forward.raw.get('CreateTime')
        return not (created and forward_created and str(created) < str(forward_created))

    def describe_state(self):
        detail = self.status or 'unknown'
        if self.error_message and self.failed:
            detail += ': ' + self.error_message
        return detail

    def sample(self):
        return {'status': self.status, 'phase': self.phase, 'delay_ms': self.delay_ms}

    def as_dict(self):
        return {
            'job_id': self.job_id,
            'instance_id': self.instance_id,
            'name': self.name,
            'job_type': self.job_type,
            'status': self.status,
            'phase': self.phase,
            'delay_ms': self.delay_ms,
            'delay_seconds': self.delay_seconds,
            'checkpoint': self.checkpoint,
            'checkpoint_time': self.checkpoint_time,
            'paused': self.paused,
            'failed': self.failed,
            'finished': self.finished,
            'caught_up': self.caught_up,
            'retrying': self.retrying,
            'error_message': self.error_message,
            'migration_mode': dict(self.migration_mode),
            'source': self.source.as_dict(),
            'destination': self.destination.as_dict(),
            'raw': self.raw,
        }


# -- module plumbing ------------------------------------------------------------------------------

def dts_client(module, client_class=DtsClient):
    """The client for a module run, or fail_json with what to fix (missing SDK, missing keys)."""
    if not HAS_SDK:
        module.fail_json(msg=missing_required_lib(SDK_PACKAGE), exception=SDK_IMPORT_ERROR)
    try:
        sdk()
    except ImportError as exc:  # found, but it does not import (a broken or partial install)
        module.fail_json(msg=missing_required_lib(SDK_PACKAGE), exception=str(exc))
    try:
        settings = resolve_settings(module.params)
    except DtsError as exc:
        module.fail_json(msg=str(exc))
    # Secrets taken from the environment are not module options: keep them out of any output too.
    for secret in settings.secrets:
        module.no_log_values.add(secret)
    return client_class(settings)


def fail_dts(module, client, exc, **result):
    """fail_json for a DtsError, with the actions called so far."""
    result.setdefault('api_calls', list(client.api_calls) if client else [])
    result['error'] = exc.as_dict()
    module.fail_json(msg=str(exc), **result)


def job_state(job):
    """The state of a task as dts_task names it."""
    if job is None:
        return 'absent'
    if job.phase == 'paused':
        return 'paused'
    if job.running:
        return 'running'
    if job.finished:
        return 'stopped'
    if job.failed:
        return 'failed'
    if _lower(job.status) == 'prechecking':
        return 'starting'
    return 'not_started'


def looks_released(job):
    """Whether a task read after its release (DeleteDtsJob) is gone. DTS may go on describing a
    released task as Finished for a while (the Terraform provider treats Finished as deleted;
    reference dts-reverse-flow.md), so a finished task counts as released too."""
    return job_state(job) in ('absent', 'stopped')


def transition(client, job, action, deadline=None, attempts=3, **params):
    """Call ``action`` (SuspendDtsJob, StartDtsJob, StopDtsJob, DeleteDtsJob, StartReverseWriter)
    on ``job``, with ``params`` besides its ID.

    After a failure that leaves the effect unknown, the task is read again and the call repeated
    only when the task is still in the state it had: a resumed or released task must not receive
    the same request twice.
    """
    params['DtsJobId'] = job.job_id
    if action == 'DeleteDtsJob' and job.job_type in JOB_TYPES:
        params.setdefault('JobType', job.job_type)
    before = job_state(job)
    for attempt in range(1, attempts + 1):
        try:
            return client.call(action, deadline=deadline, **params)
        except DtsError as exc:
            if not exc.ambiguous or attempt == attempts:
                raise
            if job_state(client.find_job(job.job_id, deadline=deadline)) != before:
                return None
    return None


def wait_details(result):
    """What a module returns about a wait (WaitResult)."""
    if result is None:
        return {'waited': 0.0, 'polls': 0, 'samples': []}
    return {'waited': round(result.elapsed, 3), 'polls': result.polls, 'samples': list(result.samples)}


def undelayed_check(max_delay_ms, accept_paused=False):
    """The goal of dts_wait_undelayed, as a check for :meth:`DtsClient.watch`."""
    near_ms = max(2 * max_delay_ms, max_delay_ms + 10000)

    def check(job):
        delay_ok = job.delay_ms <= max_delay_ms if job.delay_ms is not None else job.caught_up
        if job.phase == 'incremental':
            near = job.delay_ms is not None and job.delay_ms <= near_ms
            return Observation(delay_ok, near=near)
        if job.paused:
            if not accept_paused:
                return Observation(False, terminal='DTS task %s is paused (%s). Resume it, or set accept_paused to accept a '
                                                   'paused task whose delay is within max_delay.' % (job.job_id, job.status))
            return Observation(job.incremental_started and delay_ok)
        if job.failed:
            return Observation(False, terminal='DTS task %s failed (%s).' % (job.job_id, job.describe_state()))
        if job.finished:
            return Observation(False, terminal='DTS task %s has finished (%s): it no longer migrates changes.' % (job.job_id, job.status))
        if job.migration_mode['incremental'] is False:
            return Observation(False, terminal='DTS task %s has no incremental migration (MigrationMode.DataSynchronization '
                                               'is false): it never reaches an undelayed state.' % job.job_id)
        return Observation(False)

    return check


def as_json(value):
    """A compact JSON string (DbList and other JSON-typed parameters)."""
    return json.dumps(value, separators=(',', ':'), sort_keys=True)
