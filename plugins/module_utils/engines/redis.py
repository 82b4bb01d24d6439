# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis (redis-py).

Instance fence: ``CLIENT PAUSE <ms> WRITE`` (Redis 6.2+). A pause always has a timeout, so a small
detached *keeper* process renews it until the fence is lifted or its lease ends: a crashed
controller never leaves Redis paused for longer than the lease. Paused clients are queued, not
refused; their writes run when the pause ends. Unfence therefore drops them by default (their
connections are killed in the same MULTI as CLIENT UNPAUSE), because after a switchover those
writes belong to the destination; ``queued_writes: execute`` lets them run (an aborted switchover).

Accounts fence: ``ACL SETUSER <user> -@write`` (Redis 6.0+; on 7.x every selector too), undone
with ``nocommands`` plus the user's own command rules, so passwords never leave the server.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

try:
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:
    redis_py = None
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.dtsops.switchover.plugins.module_utils.engines import redis_keeper
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import (
    Engine,
    EngineError,
    FenceError,
    MissingDriver,
    NotSupported,
    PartlyApplied,
    decode_document,
    document_placeholder,
    encode_document,
    make_session,
    version_numbers,
)

KEEPER_NAME_PREFIX = 'dtsops-switchover-keeper-'
CLIENT_NAME = 'dtsops.switchover'
DEFAULT_TOKEN_PREFIX = 'dtsops_switchover_token'
DEFAULT_LEASE = 300
DEFAULT_PAUSE_TIMEOUT = 5.0
DEFAULT_RENEW_INTERVAL = 1.0
QUEUED_WRITES = ('drop', 'execute')
# A completed Redis command is not in flight: a client counts as writing when its last command
# was a write within this many seconds (CLIENT LIST's idle has one-second resolution).
RECENT_WRITE_SECONDS = 1


# The keeper (engines/redis_keeper.py) runs as `python -c <its source> <nonce>`: imported here
# so that AnsiballZ packs it, and read back as source, from the zip too.
def keeper_source():
    """The source of engines/redis_keeper.py, to run in a fresh interpreter."""
    return inspect.getsource(redis_keeper)


def _default_state_dir():
    return os.path.join(tempfile.gettempdir(), 'dtsops-switchover')


def parse_client_list(text):
    """CLIENT LIST -> list of dicts (values are strings)."""
    clients = []
    for line in (text or '').splitlines():
        fields = {}
        for part in line.split(' '):
            if '=' in part:
                key, value = part.split('=', 1)
                fields[key] = value
        if fields:
            clients.append(fields)
    return clients


def parse_keeper_name(name):
    """'dtsops-switchover-keeper-<nonce>-<pause_ms>-<lease_until>' -> dict, or None."""
    match = re.match(r'^%s([0-9a-f]+)-(\d+)-(\d+)$' % re.escape(KEEPER_NAME_PREFIX), name or '')
    if not match:
        return None
    return {'nonce': match.group(1), 'pause_ms': int(match.group(2)), 'lease_until': int(match.group(3)), 'client_name': name}


def _pairs(reply):
    """A RESP2 flat [key, value, ...] list (or a RESP3 map) as a dict."""
    if isinstance(reply, dict):
        return reply
    reply = list(reply or [])
    return dict(zip(reply[0::2], reply[1::2]))


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, (list, tuple)):
        return ' '.join(_text(v) for v in value)
    return '' if value is None else str(value)


def render_command(args):
    """A command as one line, quoting arguments that contain blanks."""
    parts = []
    for arg in args:
        text = _text(arg)
        parts.append("'%s'" % text.replace("'", "\\'") if (not text or re.search(r'\s', text)) else text)
    return ' '.join(parts)


def _without_write_denial(commands):
    """ACL command rules without the -@write a fence added."""
    return ' '.join(rule for rule in commands.split() if rule != '-@write')


# Categories without write commands; any other granted category (e.g. +@string) grants writes.
READ_ONLY_CATEGORIES = frozenset(['@read', '@connection', '@pubsub', '@transaction', '@fast', '@slow', '@blocking'])


class RedisEngine(Engine):
    name = 'redis'
    display_name = 'Redis'
    driver_package = 'redis'
    default_port = 6379
    change_kinds = ('client_pause', 'acl_user')
    principal = 'user'
    principals = 'application users (ACL users)'

    def __init__(self, params, check_mode=False):
        super(RedisEngine, self).__init__(params, check_mode=check_mode)
        self._info = None
        self._client_id = None
        self._command_flags = {}

    @property
    def login_user(self):
        return self.params.get('login_user') or 'default'

    # -- connection ---------------------------------------------------------------------------
    def _tls(self):
        """TLS settings, or None. redis-py cannot fall back, so prefer means no TLS."""
        mode = self.params.get('ssl_mode') or 'prefer'
        if mode in ('disable', 'prefer'):
            return None
        ca = self.params.get('ca_cert')
        if mode in ('verify-ca', 'verify-full') and not ca:
            raise EngineError('ssl_mode %s needs ca_cert (the CA that signed the server certificate)' % mode)
        return {'ca': ca, 'cert': self.params.get('client_cert'), 'key': self.params.get('client_key'),
                'verify': bool(ca), 'check_hostname': mode == 'verify-full'}

    def connect(self):
        if not HAS_REDIS:
            raise MissingDriver(self.driver_package, REDIS_IMPORT_ERROR)
        try:
            db = int(self.params.get('login_db') or 0)
        except ValueError:
            raise EngineError('login_db must be a Redis database number for redis, not %r' % (self.params.get('login_db'),))
        timeout = self.params.get('connect_timeout') or 10
        kwargs = dict(
            host=self.params.get('login_host') or 'localhost',
            port=int(self.params['login_port']),
            db=db,
            username=self.params.get('login_user') or None,
            password=self.params.get('login_password') or None,
            socket_connect_timeout=timeout,
            # Also bounds a TLS handshake with a server that does not speak TLS.
            socket_timeout=timeout,
            decode_responses=True,
            client_name=CLIENT_NAME,
            retry=Retry(NoBackoff(), 0),
        )
        if 'protocol' in inspect.signature(redis_py.Redis.__init__).parameters:
            kwargs['protocol'] = 2
        tls = self._tls()
        if tls:
            kwargs.update(ssl=True, ssl_ca_certs=tls['ca'], ssl_certfile=tls['cert'], ssl_keyfile=tls['key'],
                          ssl_cert_reqs='required' if tls['verify'] else 'none', ssl_check_hostname=tls['check_hostname'])
        try:
            self.conn = redis_py.Redis(**kwargs)
            # Raw replies: we parse them ourselves, the same on every redis-py version.
            self.conn.response_callbacks.clear()
            self._client_id = int(self.command('CLIENT', 'ID'))
        except redis_py.RedisError as exc:
            self.close()
            if self._not_redis(exc):
                raise self.not_this_engine()
            raise EngineError(self._connect_error(exc))
        return self

    def _not_redis(self, exc):
        """Whether a failed connect reached a server of another engine: the TCP connection was made
        but the first command got no Redis reply (a MySQL greeting, silence, a closed connection)."""
        if self._tls():
            return False    # a TLS mismatch has the same symptoms: _connect_error says so
        message = str(exc).lower()
        return isinstance(exc, redis_py.exceptions.InvalidResponse) or any(
            text in message for text in ('protocol error', 'reading from', 'closed by server'))

    # -- identity -----------------------------------------------------------------------------
    def server_identity(self):
        """The run_id of INFO server (new at each start of the server process). The database is
        the logical database number."""
        run_id = ''
        for line in _text(self._run('cannot read INFO server', 'INFO', 'server')).splitlines():
            if line.startswith('run_id:'):
                run_id = line.split(':', 1)[1].strip()
        return self.identity(run_id, 'INFO server run_id', int(self.params.get('login_db') or 0))

    def _connect_error(self, exc):
        message = ' '.join(str(exc).split())
        lowered = message.lower()
        if isinstance(exc, redis_py.AuthenticationError) or 'wrongpass' in lowered or 'invalid password' in lowered \
                or 'invalid username-password' in lowered:
            hint = 'access denied: check login_user and login_password'
        elif 'noauth' in lowered:
            hint = 'the server requires a password: set login_password'
        elif 'ssl' in lowered or 'certificate' in lowered or 'tls' in lowered:
            hint = 'TLS problem: check ssl_mode, ca_cert, client_cert and client_key'
        elif self._tls() and isinstance(exc, redis_py.TimeoutError):
            hint = 'TLS handshake timed out: does the server serve TLS on login_port? check ssl_mode'
        elif isinstance(exc, (redis_py.ConnectionError, redis_py.TimeoutError)):
            hint = 'server unreachable: check login_host, login_port and that the server runs'
        elif 'db index is out of range' in lowered:
            hint = 'unknown database number: check login_db'
        else:
            hint = 'connection failed'
        return self.scrub('%s (%s)' % (hint, message))

    # -- commands -----------------------------------------------------------------------------
    def command(self, *args, **kwargs):
        """Run one command. ``write=True``: it changes the server, so it is always recorded and
        skipped in check mode; reads are recorded once each. ``shown``: the last argument as
        recorded, when it is too long to show (a document)."""
        write = kwargs.pop('write', False)
        shown = kwargs.pop('shown', None)
        if not self.log(render_command(args[:-1] + (shown,) if shown else args), write):
            return None
        return self.conn.execute_command(*args)

    def _failure(self, args, exc, doing=None):
        """An EngineError for a command the server refused, naming a missing ACL permission.
        ``doing`` (e.g. 'fence failed') leads the message."""
        message = self.scrub(' '.join(str(exc).split()))
        denied = re.search(r"no permissions to run the '([^']+)' command", message)
        lead = '%s: ' % doing if doing else ''
        if denied or message.startswith('NOPERM'):
            what = '+%s' % denied.group(1) if denied else 'the ACL permission for %s' % _text(args[0])
            return EngineError('%smissing privilege %s for login_user %s (%s refused: %s)'
                               % (lead, what, self.login_user, render_command(args), message))
        return EngineError('%s%s failed (%s)' % (lead, render_command(args), message))

    def _run(self, doing, *args, **kwargs):
        try:
            return self.command(*args, **kwargs)
        except redis_py.RedisError as exc:
            raise self._failure(args[:-1] + (kwargs['shown'],) if kwargs.get('shown') else args, exc, doing)

    # -- server -------------------------------------------------------------------------------
    def server_info(self):
        if self._info is None:
            info = {}
            for line in _text(self._run('cannot read INFO server', 'INFO', 'server')).splitlines():
                if ':' in line and not line.startswith('#'):
                    key, value = line.split(':', 1)
                    info[key.strip()] = value.strip()
            flavour = 'valkey' if 'valkey_version' in info or info.get('server_name') == 'valkey' else 'redis'
            version = info.get('redis_version', '0.0.0')
            numbers = version_numbers(version)
            self._info = {
                'engine': self.name,
                'flavour': flavour,
                'version': version,
                'version_info': numbers,
                'mode': info.get('redis_mode'),
                'client_pause_write': numbers >= [6, 2, 0],
                'acl': numbers >= [6, 0, 0],
            }
        return dict(self._info)

    # -- sessions -----------------------------------------------------------------------------
    def _clients(self):
        return parse_client_list(_text(self._run('cannot list clients', 'CLIENT', 'LIST')))

    def _write_commands(self, names):
        """Which of ``names`` (CLIENT LIST cmd values) are write commands, from COMMAND INFO."""
        unknown = sorted(set(n for n in names if n and n != 'NULL' and n not in self._command_flags))
        if unknown:
            # Unknown names (e.g. 'client|list' before Redis 7) come back as nil: not writes.
            reply = self._run('cannot read command flags', 'COMMAND', 'INFO', *unknown)
            for name, entry in zip(unknown, reply or []):
                flags = [_text(flag) for flag in entry[2]] if entry else []
                self._command_flags[name] = 'write' in flags
        return set(n for n in names if self._command_flags.get(n))

    def _allows_writes(self, commands):
        """Replay ACL command rules (as ACL GETUSER shows them) and tell whether any write command
        stays allowed. Used to see whether a user is fenced already; the fence itself always
        appends -@write."""
        allowed = False
        granted = []
        for rule in (commands or '').split():
            if rule in ('+@all', '+@write', 'allcommands'):
                allowed, granted = True, []
            elif rule in ('-@all', '-@write', 'nocommands'):
                allowed, granted = False, []
            elif rule.startswith('+@'):
                if rule[1:] not in READ_ONLY_CATEGORIES:
                    allowed = True
            elif rule.startswith('+'):
                granted.append(rule[1:].lower())
            elif rule.startswith('-') and not rule.startswith('-@') and rule[1:].lower() in granted:
                granted.remove(rule[1:].lower())
        return allowed or bool(self._write_commands(granted))

    def _user_allows_writes(self, rules):
        return self._allows_writes(rules['commands']) or any(self._allows_writes(s['commands']) for s in rules['selectors'])

    def _users_denied_writes(self, users):
        denied = set()
        if not users or not self.server_info()['acl']:
            return denied
        pipe = self.conn.pipeline(transaction=False)
        for user in users:
            self.log(render_command(['ACL', 'GETUSER', user]))
            pipe.execute_command('ACL', 'GETUSER', user)
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis_py.RedisError:
            return denied
        for user, reply in zip(users, replies):
            if isinstance(reply, Exception) or not reply:
                continue
            if not self._user_allows_writes(self._user_rules(reply)):
                denied.add(user)
        return denied

    def _keepers(self, clients=None):
        keepers = []
        for client in clients if clients is not None else self._clients():
            keeper = parse_keeper_name(client.get('name'))
            if keeper:
                keeper['id'] = int(client['id'])
                keepers.append(keeper)
        return keepers

    def sessions(self):
        clients = [c for c in self._clients() if not set('SM') & set(c.get('flags', ''))]
        writes = self._write_commands([c.get('cmd') for c in clients])
        denied = self._users_denied_writes(sorted(set(c.get('user') for c in clients if c.get('user'))))
        paused_by_us = bool(self._keepers(clients))
        result = []
        for client in clients:
            flags = client.get('flags', '')
            idle_seconds = int(client.get('idle', 0) or 0)
            queued = int(client.get('multi', -1) or -1)
            blocked = 'b' in flags
            last_write = client.get('cmd') in writes
            keeper = parse_keeper_name(client.get('name')) is not None
            may_write = client.get('user') not in denied
            writing = may_write and not keeper and (queued > 0 or (last_write and not blocked and idle_seconds <= RECENT_WRITE_SECONDS))
            # Redis runs one command at a time: while CLIENT LIST runs, every other client is
            # between commands, so it is idle unless in MULTI, blocked, or writing right now.
            if 'x' in flags:
                state = 'multi'
            elif blocked:
                state = 'paused' if paused_by_us and last_write else 'blocked'
            elif writing:
                state = 'active'
            else:
                state = 'idle'
            result.append(make_session(
                id=int(client['id']), user=client.get('user'), client=client.get('addr'), database=client.get('db'),
                state=state, command=client.get('cmd'), writing=writing, idle=state == 'idle',
                own=int(client['id']) == self._client_id or keeper, age=idle_seconds,
                name=client.get('name') or None, flags=flags, queued_commands=max(queued, 0),
                queued_write=blocked and last_write, keeper=keeper, connected_for=int(client.get('age', 0) or 0),
            ))
        return result

    def _end_session(self, session):
        if session['id'] == self._client_id:
            return False
        killed = self._run('cannot end session %s' % session['id'], 'CLIENT', 'KILL', 'ID', str(int(session['id'])), write=True)
        return self.check_mode or bool(killed)

    # -- fencing ------------------------------------------------------------------------------
    @staticmethod
    def _user_rules(reply):
        fields = _pairs(reply)
        selectors = []
        for selector in fields.get('selectors') or []:
            selector = _pairs(selector)
            selectors.append({'commands': _text(selector.get('commands')), 'keys': _text(selector.get('keys')),
                              'channels': _text(selector.get('channels'))})
        return {'commands': _text(fields.get('commands')), 'selectors': selectors}

    def _rules(self, user):
        reply = self._run('cannot read the ACL of %s' % user, 'ACL', 'GETUSER', user)
        return None if reply is None else self._user_rules(reply)

    @staticmethod
    def _selector_arg(selector, extra=None):
        tokens = selector['keys'].split() or ['resetkeys']
        tokens += selector['channels'].split() or ['resetchannels']
        tokens += selector['commands'].split()
        if extra:
            tokens.append(extra)
        return '(%s)' % ' '.join(tokens)

    def _fenced_rules(self, rules):
        def fenced(commands):
            return (commands + ' -@write').strip() if self._allows_writes(commands) else commands
        return {'commands': fenced(rules['commands']),
                'selectors': [dict(selector, commands=fenced(selector['commands'])) for selector in rules['selectors']]}

    def _setuser_args(self, user, rules):
        args = ['ACL', 'SETUSER', user, 'nocommands'] + rules['commands'].split()
        if rules['selectors'] or self.server_info()['version_info'] >= [7, 0, 0]:
            args.append('clearselectors')
            args += [self._selector_arg(selector) for selector in rules['selectors']]
        return args

    def _is_login_user(self, account, principal):
        return principal == self.login_user

    @staticmethod
    def _check_options(options):
        queued = options.get('queued_writes', 'drop')
        if queued not in QUEUED_WRITES:
            raise EngineError('queued_writes must be one of %s, not %r' % (', '.join(QUEUED_WRITES), queued))
        for knob in ('lease', 'pause_timeout', 'renew_interval'):
            if knob in options and options[knob] is not None and float(options[knob]) <= 0:
                raise EngineError('%s must be a positive number of seconds' % knob)

    def fence(self, scope, accounts=(), end_sessions=True, exclude_users=(), options=None):
        options = dict(options or {})
        accounts = self.check_scope(scope, accounts, exclude_users, fencing=True)
        self._check_options(options)
        info = self.server_info()
        record = self.new_record(scope, accounts)
        if scope == 'instance':
            return self._fence_pause(record, info, exclude_users, options)
        return self._fence_acl(record, info, accounts, end_sessions, options)

    # instance scope: CLIENT PAUSE WRITE kept alive by a keeper -------------------------------
    def _fence_pause(self, record, info, exclude_users, options):
        if not info['client_pause_write']:
            raise NotSupported('CLIENT PAUSE WRITE needs Redis 6.2 or later (server: %s); use scope accounts (ACL SETUSER '
                               '-@write, Redis 6.0+)%s' % (info['version'], '' if info['acl'] else ', which needs Redis 6.0+ too'))
        lease = float(options.get('lease') or DEFAULT_LEASE)
        pause_ms = int(float(options.get('pause_timeout') or DEFAULT_PAUSE_TIMEOUT) * 1000)
        renew = float(options.get('renew_interval') or DEFAULT_RENEW_INTERVAL)
        if renew * 1000 >= pause_ms:
            raise EngineError('renew_interval (%s s) must be shorter than pause_timeout (%s s), or the pause lapses between '
                              'renewals' % (renew, pause_ms / 1000.0))
        record['extra']['queued_writes'] = options.get('queued_writes', 'drop')
        record['extra']['exclude_users'] = list(exclude_users or ())
        running = self._keepers()
        if running:
            # Already paused by a keeper (ours, an earlier run): nothing to change or undo here.
            keeper = running[0]
            keeper.update(self._local_keeper_state(keeper['nonce'], options))
            record['changes'].append({'kind': 'client_pause', 'target': 'WRITE', 'before': 'paused', 'after': 'paused'})
            record['extra']['keeper'] = keeper
            return record
        nonce = secrets.token_hex(8)
        lease_until = int(time.time() + lease) + 1
        keeper = {
            'nonce': nonce,
            'client_name': '%s%s-%d-%d' % (KEEPER_NAME_PREFIX, nonce, pause_ms, lease_until),
            'pause_ms': pause_ms,
            'renew_interval': renew,
            'lease': lease,
            'lease_until': lease_until,
            'lease_until_utc': datetime.datetime.fromtimestamp(lease_until, datetime.timezone.utc).isoformat(),
            'host': socket.gethostname(),
            'state_file': os.path.join(options.get('state_dir') or _default_state_dir(), 'keeper-%s.json' % nonce),
            'pid': None,
        }
        self.record(render_command(['CLIENT', 'PAUSE', pause_ms, 'WRITE']))
        if not self.check_mode:
            keeper['pid'] = self._start_keeper(keeper)
        record['changes'].append({'kind': 'client_pause', 'target': 'WRITE', 'before': 'unpaused', 'after': 'paused'})
        record['extra']['keeper'] = keeper
        return record

    def _keeper_config(self, keeper):
        tls = self._tls()
        return {
            'host': self.params.get('login_host') or 'localhost',
            'port': int(self.params['login_port']),
            'user': self.params.get('login_user') or None,
            'password': self.params.get('login_password') or None,
            'timeout': float(self.params.get('connect_timeout') or 10),
            'tls': tls,
            'client_name': keeper['client_name'],
            'pause_ms': keeper['pause_ms'],
            'renew': keeper['renew_interval'],
            'lease_until': keeper['lease_until'],
            'state_file': keeper['state_file'],
        }

    def _start_keeper(self, keeper):
        directory = os.path.dirname(keeper['state_file'])
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise EngineError('cannot create the keeper state directory %s: %s' % (directory, exc))
        # The password travels on stdin, never in argv or the environment.
        process = subprocess.Popen([sys.executable, '-c', keeper_source(), keeper['nonce']], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                   cwd='/')
        try:
            process.stdin.write(json.dumps(self._keeper_config(keeper)).encode('utf-8') + b'\n')
            process.stdin.close()
            wait = float(self.params.get('connect_timeout') or 10) + 10
            line = b''
            if select.select([process.stdout], [], [], wait)[0]:
                line = process.stdout.readline()
            process.stdout.close()
        finally:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reply = self.scrub(line.decode('utf-8', 'replace').strip())
        if not reply.startswith('ok '):
            denied = re.search(r"no permissions to run the '([^']+)' command", reply)
            if denied:
                raise FenceError('CLIENT PAUSE WRITE failed: missing privilege +%s for login_user %s (%s)'
                                 % (denied.group(1), self.login_user, reply[len('error '):]))
            raise FenceError('CLIENT PAUSE WRITE failed: the pause keeper could not start (%s)' % (reply or 'no answer'))
        return int(reply.split()[1])

    @staticmethod
    def _local_keeper_state(nonce, options=None):
        path = os.path.join((options or {}).get('state_dir') or _default_state_dir(), 'keeper-%s.json' % nonce)
        try:
            with open(path) as stream:
                state = json.load(stream)
        except (OSError, ValueError):
            return {}
        return {'pid': state.get('pid'), 'state_file': path, 'host': socket.gethostname()}

    @staticmethod
    def _pid_is_keeper(pid, nonce):
        """The process ``pid`` is alive and is the keeper with ``nonce`` (not a reused pid)."""
        if not pid:
            return False
        try:
            with open('/proc/%d/cmdline' % int(pid), 'rb') as stream:
                argv = stream.read().split(b'\0')
            with open('/proc/%d/stat' % int(pid)) as stream:
                if stream.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return False
        except (OSError, ValueError, IndexError):
            return False
        return nonce.encode() in argv

    def keeper_status(self, keeper):
        """What is known about a keeper: alive (local process), connected (its client is on the
        server), and its state file (status, renewals, reason it stopped)."""
        status = {'alive': False, 'connected': False, 'state': None}
        if keeper.get('host') == socket.gethostname():
            status['alive'] = self._pid_is_keeper(keeper.get('pid'), keeper.get('nonce', ''))
            try:
                with open(keeper.get('state_file') or '') as stream:
                    status['state'] = json.load(stream)
            except (OSError, ValueError):
                pass
        status['connected'] = any(k['client_name'] == keeper.get('client_name') for k in self._keepers())
        return status

    @staticmethod
    def _find_keeper_pid(nonce):
        """The pid of the keeper with ``nonce`` running on this host, found in /proc (when the
        record or its state file is not at hand), or None."""
        marker = b'\0' + nonce.encode() + b'\0'
        try:
            pids = [int(entry) for entry in os.listdir('/proc') if entry.isdigit()]
        except OSError:
            return None
        for pid in pids:
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as stream:
                    cmdline = stream.read()
            except OSError:
                continue
            if cmdline.endswith(marker) and RedisEngine._pid_is_keeper(pid, nonce):
                return pid
        return None

    def _stop_keeper(self, keeper):
        """Stop the keeper: stop file + SIGTERM when it runs here, and CLIENT KILL of its
        connection (which stops it from anywhere). Returns True when it was still active."""
        if not keeper.get('pid') and keeper.get('nonce'):
            pid = self._find_keeper_pid(keeper['nonce'])
            if pid:
                keeper = dict(keeper, pid=pid, host=socket.gethostname())
        local = keeper.get('host') == socket.gethostname()
        alive = local and self._pid_is_keeper(keeper.get('pid'), keeper.get('nonce', ''))
        if alive and (self.keeper_status(keeper).get('state') or {}).get('status') == 'stopped':
            alive = False  # it has stopped renewing and is on its way out
        ids = [k['id'] for k in self._keepers() if k['client_name'] == keeper.get('client_name')]
        if self.check_mode:
            for client_id in ids:
                self.record(render_command(['CLIENT', 'KILL', 'ID', client_id]))
            return alive or bool(ids)
        if local and keeper.get('state_file'):
            try:
                with open(keeper['state_file'] + '.stop', 'w') as stream:
                    stream.write('stop\n')
            except OSError:
                pass
        if alive:
            try:
                os.kill(int(keeper['pid']), signal.SIGTERM)
            except OSError:
                pass
        for client_id in ids:
            self._run('cannot stop the pause keeper', 'CLIENT', 'KILL', 'ID', str(client_id), write=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not (local and self._pid_is_keeper(keeper.get('pid'), keeper.get('nonce', ''))) and not any(
                    k['client_name'] == keeper.get('client_name') for k in self._keepers()):
                break
            time.sleep(0.05)
        else:
            raise EngineError('the pause keeper (pid %s on %s) did not stop within 10 s' % (keeper.get('pid'), keeper.get('host')))
        return alive or bool(ids)

    def _unfence_pause(self, record):
        """Stop the keeper and lift the pause. Returns (restored, ids of the dropped clients)."""
        keeper = record.get('extra', {}).get('keeper') or {}
        if record.get('extra', {}).get('forced'):
            # No record: stop every keeper of ours that holds the server.
            active = False
            for running in self._keepers():
                running.update(self._local_keeper_state(running['nonce'], record['extra']))
                active = self._stop_keeper(running) or active
            keeper = {}
            if not active:
                return False, []
        else:
            active = self._stop_keeper(keeper) if keeper else False
        marker = keeper.get('state_file') and keeper.get('host') == socket.gethostname() and keeper['state_file'] + '.unfenced'
        if not active and marker and os.path.exists(marker):
            return False, []
        if not active:
            # The keeper is gone. Its pauses never outlive the lease, and the last one ends
            # pause_ms after its last renewal.
            pause_end = float(keeper.get('lease_until') or 0)
            state = (self.keeper_status(keeper).get('state') or {}) if keeper else {}
            if state.get('renewed_at'):
                pause_end = min(pause_end, float(state['renewed_at']) + keeper.get('pause_ms', 0) / 1000.0)
            if time.time() > pause_end:
                return False, []
        if self._keepers():
            # Another fence still holds the server: leave its pause alone.
            return True, []
        excluded = set(record.get('extra', {}).get('exclude_users') or ())
        drop = []
        if record.get('extra', {}).get('queued_writes', 'drop') == 'drop':
            drop = [s for s in self.sessions() if s['queued_write'] and not s['own'] and s['user'] not in excluded]
        commands = [['CLIENT', 'KILL', 'ID', str(s['id'])] for s in drop] + [['CLIENT', 'UNPAUSE']]
        for args in commands:
            self.record(render_command(args))
        if self.check_mode:
            return True, [s['id'] for s in drop]
        # One transaction: no queued write slips through between the kills and the unpause.
        pipe = self.conn.pipeline(transaction=len(commands) > 1)
        for args in commands:
            pipe.execute_command(*args)
        try:
            pipe.execute()
        except redis_py.RedisError as exc:
            raise self._failure(commands[-1], exc, 'unfence failed')
        if marker:
            try:
                with open(marker, 'w') as stream:
                    stream.write('unfenced\n')
            except OSError:
                pass
        return True, [s['id'] for s in drop]

    # accounts scope: ACL SETUSER -@write ------------------------------------------------------
    def _fence_acl(self, record, info, accounts, end_sessions, options):
        if not info['acl']:
            raise NotSupported('ACL users need Redis 6.0 or later (server: %s); scope accounts is not available and scope '
                               'instance needs Redis 6.2+' % info['version'])
        users = list(dict.fromkeys(accounts))
        plan, missing = [], []
        for user in users:
            rules = self._rules(user)
            if rules is None:
                missing.append(user)
                continue
            plan.append({'kind': 'acl_user', 'target': user, 'before': rules, 'after': self._fenced_rules(rules)})
        if missing:
            raise EngineError('ACL user(s) not found on %s: %s; check the accounts option (ACL USERS lists them)'
                              % (self.address, ', '.join(missing)))
        record['changes'] = changes = self.apply_changes(plan, self._deny_writes)
        if end_sessions:
            fenced = set(users)
            with self.undo_on_failure(changes):
                victims = [s for s in self.sessions() if s['user'] in fenced and not s['own']]
                for user in users:
                    self._run('cannot end the sessions of %s' % user, 'CLIENT', 'KILL', 'USER', user, write=True)
                record['ended_sessions'] = victims
        return record

    def _deny_writes(self, change):
        self.command(*self._fence_args(change), write=True)
        if not self.check_mode:
            try:
                # Keep the rules as the server shows them, so unfence can compare exactly.
                change['after'] = self._rules(change['target']) or change['after']
            except EngineError as exc:
                raise PartlyApplied(exc)

    def _fence_args(self, change):
        args = ['ACL', 'SETUSER', change['target'], '-@write']
        if change['before']['selectors']:
            args.append('clearselectors')
            args += [self._selector_arg(selector) for selector in change['after']['selectors']]
        return args

    def _restore(self, change, current=None):
        self.command(*self._setuser_args(change['target'], change['before']), write=True)

    def _undo_statement(self, change):
        return 'the ACL rules of %s' % change['target']

    def _change_error(self, exc, change=None, undo=False):
        if change is None or not isinstance(exc, redis_py.RedisError):
            return super(RedisEngine, self)._change_error(exc, change, undo)
        if undo:
            return self._failure(self._setuser_args(change['target'], change['before']), exc)
        return self._failure(self._fence_args(change), exc, 'fence failed')

    def _current(self, changes):
        return dict((('acl_user', change['target']), self._rules(change['target'])) for change in changes)

    def unfence(self, record):
        changes = self.check_record(record)
        queued = record.get('extra', {}).get('queued_writes', 'drop')
        if queued not in QUEUED_WRITES:
            raise EngineError('queued_writes must be one of %s, not %r' % (', '.join(QUEUED_WRITES), queued))
        pause = [change for change in changes if change['kind'] == 'client_pause' and change['before'] != change['after']]
        if not pause:
            return self.unfence_changes(changes)
        # The pause is the keeper's: whether it still holds is known only by stopping the keeper.
        done, dropped = self._unfence_pause(record)
        return [dict(pause[0], dropped_sessions=dropped)] if done else []

    def unfenced_record(self, scope, accounts=(), options=None):
        """A record whose undo lifts the fence without the real record (it was lost): stop every
        keeper of ours and unpause (queued writes per ``options['queued_writes']``, default drop),
        or remove -@write from the users' command rules and selectors."""
        options = dict(options or {})
        accounts = self.check_scope(scope, accounts)
        self._check_options(options)
        record = self.new_record(scope, accounts, extra={'forced': True, 'queued_writes': options.get('queued_writes', 'drop')})
        if options.get('state_dir'):
            record['extra']['state_dir'] = options['state_dir']
        if scope == 'instance':
            record['changes'] = [{'kind': 'client_pause', 'target': 'WRITE', 'before': 'unpaused', 'after': 'paused'}]
            return record
        for user in dict.fromkeys(accounts):
            rules = self._rules(user)
            if rules is None:
                raise EngineError('ACL user %s not found on %s' % (user, self.address))
            before = {'commands': _without_write_denial(rules['commands']),
                      'selectors': [dict(selector, commands=_without_write_denial(selector['commands']))
                                    for selector in rules['selectors']]}
            record['changes'].append({'kind': 'acl_user', 'target': user, 'before': before, 'after': rules})
        return record

    def fence_state(self, scope, accounts=()):
        if scope == 'instance':
            keepers = self._keepers()
            return {'client_pause': 'paused' if keepers else 'unpaused', 'keepers': [k['client_name'] for k in keepers]}
        state = {}
        for user in accounts:
            rules = self._rules(user)
            if rules is None:
                raise EngineError('ACL user %s not found on %s' % (user, self.address))
            state[user] = dict(rules, writes='allowed' if self._user_allows_writes(rules) else 'denied')
        return state

    # -- catch-up token -----------------------------------------------------------------------
    @staticmethod
    def _token_key(name, token):
        return '%s:%s' % (name or DEFAULT_TOKEN_PREFIX, token)

    def ensure_token_object(self, name, create=False):
        # Keys need no container; the key prefix must only be part of the migrated keys.
        if name is not None and not str(name).strip():
            raise EngineError('the token key prefix must not be empty')
        return False

    def write_token(self, name, token):
        key = self._token_key(name, token)
        self._set(key, datetime.datetime.now(datetime.timezone.utc).isoformat(), 'token')
        return 'key %s in database %s on %s' % (key, self.params.get('login_db') or 0, self.address)

    def _set(self, key, value, what, shown=None):
        """SET ``key`` (the ``what``: token, document) through this admin connection, also under
        our CLIENT PAUSE WRITE. ``shown``: the value as recorded, when it is too long to show."""
        doing = 'cannot write the %s' % what
        keepers = self._keepers()
        if not keepers:
            self._run(doing, 'SET', key, value, write=True, shown=shown)
            return
        # Under our CLIENT PAUSE WRITE even the admin's write would wait. Lift the pause, write and
        # pause again in one pipeline: Redis runs one client's buffered commands back to back, so
        # no queued write of another client runs in between (verified against Redis 7).
        remaining = max(int((k['lease_until'] - time.time()) * 1000) for k in keepers)
        pause_ms = max(1, min(max(k['pause_ms'] for k in keepers), remaining))
        commands = [['CLIENT', 'UNPAUSE'], ['SET', key, value], ['CLIENT', 'PAUSE', str(pause_ms), 'WRITE']]
        for args in commands:
            self.record(render_command(args[:2] + [shown] if shown and args[0] == 'SET' else args))
        if self.check_mode:
            return
        pipe = self.conn.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        replies = pipe.execute(raise_on_error=False)
        errors = [(args, reply) for args, reply in zip(commands, replies) if isinstance(reply, Exception)]
        if errors:
            args, exc = errors[0]
            if args[0] == 'CLIENT' and args[1] == 'PAUSE':
                # The keeper renews the pause within its interval anyway; say so loudly.
                raise EngineError('the %s was written but re-pausing failed (%s); the keeper renews the pause within %s s'
                                  % (what, exc, keepers[0].get('pause_ms', 0) / 1000.0))
            raise self._failure(args[:2] + [shown] if shown and args[0] == 'SET' else args, exc, doing)

    def read_token(self, name, token):
        return bool(self._run('cannot read the token', 'EXISTS', self._token_key(name, token)))

    # -- documents ----------------------------------------------------------------------------
    @staticmethod
    def _document_key(name, key):
        if not name or not str(name).strip():
            raise EngineError('the document key prefix must not be empty')
        return '%s:%s' % (name, key)

    def ensure_document_object(self, name, create=False):
        self._document_key(name, '')  # keys need no container: only the prefix is checked
        return False

    def save_document(self, name, key, document):
        key = self._document_key(name, key)
        text = encode_document(document)
        self._set(key, text, 'document', shown=document_placeholder(text))
        return 'key %s in database %s on %s' % (key, self.params.get('login_db') or 0, self.address)

    def load_document(self, name, key):
        key = self._document_key(name, key)
        text = self._run('cannot read the document', 'GET', key)
        return None if text is None else decode_document(text, 'key %s' % key)

    def delete_document(self, name, key):
        self._run('cannot delete the document', 'DEL', self._document_key(name, key), write=True)
