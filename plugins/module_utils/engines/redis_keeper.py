# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Redis fence keeper: holds ``CLIENT PAUSE WRITE`` on a server until the fence is lifted.

The Redis engine runs this file's source as ``python -c <source> <nonce>`` in a detached process
(:func:`keeper_source` in engines/redis.py reads it, from a zip too). So it imports only the
standard library, never module_utils (an Ansible module's files are gone once the module
returns), and no redis-py (no hidden retries). It reads its configuration, password included,
from one line on stdin, renews the pause, and reports "ok <pid>" once the first pause holds. It
stops when the lease ends, when <state_file>.stop appears, on SIGTERM, or when the server closes
its connection (CLIENT KILL from an unfence on another machine); it never lifts the pause itself.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import ssl
import sys
import time


class Closed(Exception):
    pass


def encode(args):
    out = [b'*%d\r\n' % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(arg), arg))
    return b''.join(out)


class Conn(object):
    def __init__(self, cfg):
        sock = socket.create_connection((cfg['host'], cfg['port']), timeout=cfg['timeout'])
        tls = cfg.get('tls')
        if tls:
            ctx = ssl.create_default_context(cafile=tls.get('ca')) if tls.get('ca') else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = bool(tls.get('check_hostname'))
            ctx.verify_mode = ssl.CERT_REQUIRED if tls.get('verify') else ssl.CERT_NONE
            if tls.get('cert'):
                ctx.load_cert_chain(tls['cert'], tls.get('key'))
            sock = ctx.wrap_socket(sock, server_hostname=cfg['host'])
        self.sock, self.buf = sock, b''
        if cfg.get('password'):
            self.call(*(['AUTH', cfg['user'], cfg['password']] if cfg.get('user') else ['AUTH', cfg['password']]))
        self.call('CLIENT', 'SETNAME', cfg['client_name'])

    def more(self):
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b''
        if not data:
            raise Closed()
        self.buf += data

    def reply(self):
        while b'\r\n' not in self.buf:
            self.more()
        line, self.buf = self.buf.split(b'\r\n', 1)
        kind, rest = line[:1], line[1:]
        if kind == b'-':
            raise RuntimeError(rest.decode('utf-8', 'replace'))
        if kind == b'$':
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self.more()
            value, self.buf = self.buf[:size], self.buf[size + 2:]
            return value
        if kind == b'*':
            return [self.reply() for dummy in range(int(rest))]
        return rest

    def call(self, *args):
        self.sock.sendall(encode(args))
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def write_state(path, state):
    tmp = '%s.%d.tmp' % (path, os.getpid())
    try:
        with open(tmp, 'w') as stream:
            json.dump(state, stream)
        os.replace(tmp, path)
    except OSError:  # a lost state file must not end the pause early
        pass


def pause(conn, cfg):
    remaining = int((cfg['lease_until'] - time.time()) * 1000)
    conn.call('CLIENT', 'PAUSE', max(1, min(cfg['pause_ms'], remaining)), 'WRITE')


def main():
    cfg = json.loads(sys.stdin.readline())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        conn = Conn(cfg)
        pause(conn, cfg)
    except Exception as exc:
        sys.stdout.write('error %s\n' % str(exc).replace(cfg.get('password') or '\0', '********'))
        sys.stdout.flush()
        return 1
    child = os.fork()
    if child:
        sys.stdout.write('ok %d\n' % child)
        sys.stdout.flush()
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    reason = []
    signal.signal(signal.SIGTERM, lambda signum, frame: reason.append('stopped by SIGTERM'))
    path = cfg['state_file']
    state = {'status': 'running', 'pid': os.getpid(), 'client_name': cfg['client_name'], 'lease_until': cfg['lease_until'],
             'pause_ms': cfg['pause_ms'], 'renewed_at': time.time(), 'renewals': 1}
    write_state(path, state)
    next_renew = time.time() + cfg['renew']
    while not reason:
        now = time.time()
        if now >= cfg['lease_until']:
            reason.append('lease expired')
            break
        if os.path.exists(path + '.stop'):
            reason.append('stop requested')
            break
        if conn is None or now >= next_renew:
            try:
                if conn is None:
                    conn = Conn(cfg)
                pause(conn, cfg)
                state['renewed_at'], state['renewals'] = now, state['renewals'] + 1
                write_state(path, state)
            except Closed:
                reason.append('connection closed by the server')
                break
            except Exception as exc:
                # A network problem: keep trying until the lease ends (the pause may lapse meanwhile).
                state['last_error'] = str(exc).replace(cfg.get('password') or '\0', '********')
                write_state(path, state)
                if conn is not None:
                    conn.close()
                conn = None
            next_renew = now + cfg['renew']
        if conn is None:
            time.sleep(0.2)
            continue
        try:
            readable = select.select([conn.sock], [], [], max(0.0, min(0.2, next_renew - time.time())))[0]
        except (OSError, ValueError):
            readable = []
        if readable:
            try:
                conn.more()
            except Closed:
                reason.append('connection closed by the server')
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except OSError:
                conn.close()
                conn = None
    if conn is not None:
        conn.close()
    state.update(status='stopped', reason=reason[0], stopped_at=time.time())
    write_state(path, state)
    return 0


if __name__ == '__main__':
    # SystemExit rather than sys.exit(): the sanity test keeps sys.exit out of module_utils.
    raise SystemExit(main())
