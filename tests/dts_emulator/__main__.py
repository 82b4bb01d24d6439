"""Run the emulator as a process: ``python -m dts_emulator --config FILE``.

The JSON config (every key optional)::

    {"host": "127.0.0.1", "port": 0, "port_file": "/tmp/x/port",
     "accounts": {"AKID": "SECRET"},
     "sts_tokens": [{"access_key_id": "STS.x", "secret": "s", "token": "t", "expired": false}],
     "region": "cn-hangzhou", "not_found_style": "business", "time_scale": 1.0,
     "state_file": "/tmp/x/state.json", "durations": {"precheck": 1}, "catched_threshold_ms": 0,
     "paused_delay": "grow", "reverse_delay": [[0, 0]],
     "jobs": [{"name": "orders", "status": "Migrating", "phase": "incremental", "delay": [[0, 20000], [10, 0]]}],
     "faults": [{"action": "DescribeDtsJobDetail", "kind": "throttle", "count": 2, "retry_after": 1}],
     "replication": {"apply_latency": 0.0, "credentials": {"dts@127.0.0.1:3306": "..."}},
     "profile": "realistic", "latency_scale": 0.1, "released_status": "finished", "stale_reads": 0}

With a state file that already exists, the jobs come from it and ``jobs`` is ignored.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time

from .clock import ScaledClock
from .emulator import Emulator

CONFIG_KEYS = ('host', 'port', 'port_file', 'accounts', 'sts_tokens', 'region', 'jobs', 'faults', 'not_found_style', 'time_scale',
               'state_file', 'durations', 'catched_threshold_ms', 'paused_delay', 'reverse_delay', 'replication', 'profile',
               'latency_scale', 'released_status', 'stale_reads')


class ConfigError(Exception):
    pass


def load_config(path):
    try:
        with open(path) as stream:
            config = json.load(stream)
    except OSError as error:
        raise ConfigError('cannot read the config file %s: %s' % (path, error.strerror)) from None
    except ValueError as error:
        raise ConfigError('the config file %s is not valid JSON: %s' % (path, error)) from None
    if not isinstance(config, dict):
        raise ConfigError('the config file %s must hold a JSON object' % path)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError('unknown key(s) in %s: %s (known: %s)' % (path, ', '.join(unknown), ', '.join(CONFIG_KEYS)))
    return config


def build(config, log):
    """An Emulator (not started) from a config dict, with its state or jobs and faults loaded."""
    state_file = config.get('state_file')
    saved_clock = None
    if state_file and os.path.exists(state_file):
        with open(state_file) as stream:
            saved_clock = json.load(stream).get('clock')
    time_scale = float(config.get('time_scale', 1.0))
    clock = None
    if saved_clock is not None:
        # An accelerated clock ran ahead of wall time: continue from where it stopped.
        clock = ScaledClock(time_scale, start=max(saved_clock, time.time()))
    emulator = Emulator(accounts=config.get('accounts'), region=config.get('region', 'cn-hangzhou'), clock=clock,
                        not_found_style=config.get('not_found_style', 'business'), durations=config.get('durations'),
                        catched_threshold_ms=config.get('catched_threshold_ms', 0), paused_delay=config.get('paused_delay', 'grow'),
                        reverse_delay=config.get('reverse_delay'), time_scale=time_scale, state_file=state_file,
                        host=config.get('host', '127.0.0.1'), port=config.get('port', 0), log=log,
                        replication=config.get('replication'), profile=config.get('profile', 'fast'),
                        latency_scale=config.get('latency_scale', 1.0), released_status=config.get('released_status', 'finished'),
                        stale_reads=config.get('stale_reads', 0))
    for token in config.get('sts_tokens') or ():
        emulator.issue_sts_token(token['access_key_id'], token['secret'], token['token'], expired=token.get('expired', False))
    if saved_clock is not None:
        emulator.load_state()
    else:
        for job in config.get('jobs') or ():
            emulator.add_job(**job)
    for fault in config.get('faults') or ():
        emulator.add_fault(**fault)
    return emulator


def write_port_file(path, port):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.port-', dir=directory)
    with os.fdopen(fd, 'w') as stream:
        stream.write('%d\n' % port)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m dts_emulator', description='Alibaba Cloud DTS 2020-01-01 API emulator')
    parser.add_argument('--config', help='JSON config file (see docs/emulator.md)')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config) if args.config else {}
        emulator = build(config, log=sys.stderr)
    except (ConfigError, ValueError, TypeError, KeyError) as error:
        sys.stderr.write('dts_emulator: %s\n' % (error,))
        return 2

    stop = threading.Event()

    def on_signal(signum, frame):  # pylint: disable=unused-argument
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        emulator.start()
    except OSError as error:
        sys.stderr.write('dts_emulator: cannot listen on %s:%s: %s\n' % (config.get('host', '127.0.0.1'), config.get('port', 0), error.strerror))
        return 2
    port_file = config.get('port_file')
    try:
        if port_file:
            write_port_file(port_file, emulator.port)
        sys.stderr.write('dts_emulator: listening on %s (region %s, %d job(s), time scale %s, profile %s x %s)\n'
                         % (emulator.endpoint, emulator.region, len(emulator.jobs()), emulator.time_scale, emulator.profile,
                            emulator.latency_scale))
        sys.stderr.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        emulator.save_state()
        if port_file and os.path.exists(port_file):
            os.unlink(port_file)
        sys.stderr.write('dts_emulator: stopped\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
