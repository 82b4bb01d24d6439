"""The rehearsal's commands (run from the collection root with PYTHONPATH=<build root>:tests):

    python -m rehearsal demo --engine mysql          # make demo: a whole switchover, verified, torn down
    python -m rehearsal demo --rollback              # make demo ROLLBACK=1: switchover, then the way back
    python -m rehearsal up --engine mysql --state-dir DIR   # make rehearsal: leave it running
    python -m rehearsal verify --state-dir DIR       # after your own ansible-playbook run
    python -m rehearsal down --state-dir DIR         # tear it down (the role's reports stay)
    python -m rehearsal dts --engine oracle          # the DTS steps alone, for any engine
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from dts_emulator import EmulatorClient
from dts_emulator.profiles import PROFILES
from localdb.server import Watchdog

from . import dts_steps
from . import load as load_module
from .environment import CUTOVERS, PROXY_VARIABLES, REVERSE_ARMS, Rehearsal, RehearsalError
from .kits import KITS, Kit
from .verify import summary, verify

ENGINES = sorted(KITS)


class Interrupted(Exception):
    pass


def _on_signal(signum, frame):  # pylint: disable=unused-argument
    raise Interrupted(signal.Signals(signum).name)


def _title(engine, catch_up, dts_profile='fast', time_scale=1.0):
    display = KITS[engine].display
    profile = '' if dts_profile == 'fast' and time_scale == 1.0 else ', DTS profile %s at %gx its durations' % (dts_profile, time_scale)
    return ('dtsops.switchover rehearsal: %s -> %s, real replication through the DTS emulator, catch-up %s%s'
            % (display, display, catch_up, profile))


def _rehearsal(args, state_dir, out):
    return Rehearsal(args.engine, state_dir, catch_up=args.catch_up, stable_window=args.stable_window,
                     apply_latency=args.apply_latency, copy_seconds=args.copy_seconds, apply_rate=args.apply_rate,
                     poll_interval=args.poll_interval, out=out, dts_profile=args.dts_profile, time_scale=args.time_scale,
                     cutover=args.cutover, reverse_arm=args.reverse_arm)


def _write_json(path, value):
    if path:
        with open(path, 'w') as stream:
            json.dump(value, stream, indent=1, sort_keys=True)


# -- demo -------------------------------------------------------------------------------------

def demo(args):
    state_dir = tempfile.mkdtemp(prefix='dtsops-rehearsal-')
    out = None if args.quiet else sys.stdout
    rehearsal = _rehearsal(args, state_dir, out)
    previous = signal.signal(signal.SIGTERM, _on_signal)
    result = None
    keep = args.keep
    # If the demo dies without cleaning up (SIGKILL), its files go too. (Its servers have watchdogs
    # of their own; its emulator dies with it.)
    guard = None if args.keep else Watchdog(state_dir)
    try:
        rehearsal.say('Rehearsal files in %s%s.' % (state_dir, '' if args.keep else ' (removed at the end)'))
        rehearsal.up()
        rc = rehearsal.switchover(echo=not args.quiet)
        if rc == 0 and args.rollback:
            rehearsal.say('Switched over: the application writes on the destination; rolling back...')
            rehearsal.write_on_destination(stop=False)
            if rehearsal.rollback(echo=not args.quiet) == 0:
                rehearsal.say('Rolled back: the application writes on the source again; checking every write...')
                rehearsal.write_on_source(after=time.time())
        elif rc == 0:
            rehearsal.say('Switched over: the application writes on the destination; checking every write...')
            rehearsal.write_on_destination()
        result = rehearsal.verify()
        print(summary(result, _title(args.engine, args.catch_up, args.dts_profile, args.time_scale)))
        keep = keep or not result['ok']     # the logs say why
        return 0 if result['ok'] else 1
    except (KeyboardInterrupt, Interrupted) as error:
        sys.stderr.write('\nrehearsal: interrupted (%s): tearing everything down\n' % (error or 'SIGINT'))
        return 130
    except (RehearsalError, OSError) as error:
        sys.stderr.write('rehearsal: %s\n' % error)
        keep = True
        return 1
    finally:
        servers = rehearsal.server_directories()
        try:
            rehearsal.down()
        finally:
            signal.signal(signal.SIGTERM, previous)
            if keep:
                print('Files kept in %s (inventory.yml, switchover.log%s, switchover/reports, load/journal.jsonl).'
                      % (state_dir, ', rollback.log' if args.rollback else ''))
            else:
                shutil.rmtree(state_dir, ignore_errors=True)
            if guard is not None:
                guard.disarm()
            if result is not None:
                # What was started, for a check that nothing is left.
                _write_json(args.json, dict(result, state_dir=state_dir, server_directories=servers))


# -- up / serve / verify / down ---------------------------------------------------------------

def _pid(state_dir):
    """The supervisor's pid when it runs, else None."""
    try:
        with open(os.path.join(state_dir, 'supervisor.pid')) as stream:
            pid = int(stream.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _python_command(*arguments):
    pythonpath = os.environ.get('PYTHONPATH', '')
    return '%s%s -m rehearsal %s' % ('PYTHONPATH=%s ' % pythonpath if pythonpath else '', sys.executable, ' '.join(arguments))


def up(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _pid(state_dir)
    if pid:
        sys.stderr.write('rehearsal: a rehearsal already runs in %s (pid %d); tear it down first: %s\n'
                         % (state_dir, pid, _python_command('down', '--state-dir', state_dir)))
        return 1
    os.makedirs(state_dir, exist_ok=True)
    for name in ('ready.json', 'environment.json'):
        if os.path.exists(os.path.join(state_dir, name)):
            os.unlink(os.path.join(state_dir, name))
    log_path = os.path.join(state_dir, 'rehearsal.log')
    command = [sys.executable, '-m', 'rehearsal', 'serve', '--engine', args.engine, '--state-dir', state_dir,
               '--catch-up', args.catch_up, '--stable-window', str(args.stable_window), '--apply-latency', str(args.apply_latency),
               '--copy-seconds', str(args.copy_seconds), '--apply-rate', str(args.apply_rate), '--poll-interval', str(args.poll_interval),
               '--dts-profile', args.dts_profile, '--time-scale', str(args.time_scale), '--cutover', args.cutover,
               '--reverse-arm', args.reverse_arm]
    with open(log_path, 'w') as log:
        # Its own session: the rehearsal outlives this command and the terminal's Ctrl-C.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    print('Starting the rehearsal (log: %s)...' % log_path)
    ready = os.path.join(state_dir, 'ready.json')
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(ready):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            with open(log_path) as stream:
                sys.stderr.write('rehearsal: it did not start:\n%s\n' % stream.read()[-3000:])
            return 1
        time.sleep(0.2)
    environment = json.load(open(os.path.join(state_dir, 'environment.json')))
    kit = environment['kit']
    print('\n'.join([
        '',
        'Rehearsal running: %s source 127.0.0.1:%s -> destination 127.0.0.1:%s, DTS emulator %s, task %s started.'
        % (KITS[args.engine].display, kit['source']['login_port'], kit['destination']['login_port'], environment['emulator'],
           environment['job_id']),
        'The application writes to the source (writers app1 and app2, and a stray one that nobody stops).',
        '',
        '  inventory    %s' % os.path.join(state_dir, 'inventory.yml'),
        '  switch over  cd %s && %s dtsops.switchover.switchover' % (state_dir, os.path.join(os.path.dirname(sys.executable),
                                                                                             'ansible-playbook')),
        '               (add --check first to see the plan; ansible.cfg there points at this collection)',
        '  verify       %s' % _python_command('verify', '--state-dir', state_dir),
        '  tear down    %s' % _python_command('down', '--state-dir', state_dir),
    ]))
    return 0


def serve(args):
    """The process that holds the rehearsal for `up` until `down` signals it."""
    state_dir = os.path.abspath(args.state_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    with open(os.path.join(state_dir, 'supervisor.pid'), 'w') as stream:
        stream.write('%d\n' % os.getpid())
    rehearsal = _rehearsal(args, state_dir, sys.stdout)
    try:
        rehearsal.up()
        load_module.write_json(os.path.join(state_dir, 'environment.json'), rehearsal.settings())
        load_module.write_json(os.path.join(state_dir, 'ready.json'), {'pid': os.getpid()})
        rehearsal.say('Ready; waiting for SIGTERM (python -m rehearsal down).')
        while not stop.wait(0.5):
            pass
        return 0
    except RehearsalError as error:
        sys.stdout.write('rehearsal: %s\n' % error)
        return 1
    finally:
        rehearsal.down()
        rehearsal.say('Stopped.')
        for name in ('supervisor.pid', 'ready.json'):
            if os.path.exists(os.path.join(state_dir, name)):
                os.unlink(os.path.join(state_dir, name))


def verify_command(args):
    state_dir = os.path.abspath(args.state_dir)
    path = os.path.join(state_dir, 'environment.json')
    if not os.path.exists(path) or not _pid(state_dir):
        sys.stderr.write('rehearsal: no rehearsal runs in %s: start one with %s\n'
                         % (state_dir, _python_command('up', '--engine', 'mysql', '--state-dir', state_dir)))
        return 1
    environment = json.load(open(path))
    kit = Kit.from_settings(environment['kit'])
    # Every writer stops (the stray one too), so the comparison is final.
    try:
        with open(os.path.join(state_dir, 'load', 'status.json')) as stream:
            halted = json.load(stream).get('state') == 'halted'
    except (OSError, ValueError):
        halted = False
    if not halted:
        try:
            load_module.send(os.path.join(state_dir, 'load'), 'halt')
        except RuntimeError as error:
            sys.stderr.write('rehearsal: %s; see %s\n' % (error, os.path.join(state_dir, 'rehearsal.log')))
            return 1
    control = EmulatorClient(environment['emulator'])

    def task_status(job_id):
        job = control.job(job_id)
        return job['status'], job['delay_ms']

    profile, scale = environment.get('dts_profile', 'fast'), environment.get('time_scale', 1.0)
    result = verify(kit, os.path.join(state_dir, 'load', 'journal.jsonl'), os.path.join(state_dir, 'switchover'),
                    catch_up=environment['catch_up'], task_status=task_status, dts_waits=control.call('dts_waits'),
                    time_scale=scale, dts_profile=profile)
    _write_json(args.json, result)
    print(summary(result, _title(environment['engine'], environment['catch_up'], profile, scale)))
    return 0 if result['ok'] else 1


def down(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _pid(state_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            # Its servers' watchdogs stop them when it dies.
            os.kill(pid, signal.SIGKILL)
        print('Rehearsal in %s stopped.' % state_dir)
    else:
        print('No rehearsal runs in %s.' % state_dir)
    if os.path.isdir(state_dir):
        for name in os.listdir(state_dir):
            if not name.startswith('switchover'):
                target = os.path.join(state_dir, name)
                shutil.rmtree(target, ignore_errors=True) if os.path.isdir(target) else os.unlink(target)
        if os.path.isdir(os.path.join(state_dir, 'switchover', 'reports')):
            print("The role's journal and reports stay in %s." % os.path.join(state_dir, 'switchover'))
    return 0


def _alive(pid):
    try:
        waited, dummy = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# -- entry point ------------------------------------------------------------------------------

def _options(parser, state_dir=False):
    parser.add_argument('--engine', choices=ENGINES, default='mysql', help='mysql (MariaDB, the default), postgresql or redis')
    parser.add_argument('--catch-up', choices=('token', 'stable_window'), default='token',
                        help="the role's catch-up proof (default token)")
    parser.add_argument('--stable-window', type=int, default=2, help='seconds of stable_window (default 2)')
    parser.add_argument('--apply-latency', type=float, default=0.05,
                        help='seconds every change waits in the emulator, as over a WAN (default 0.05)')
    parser.add_argument('--copy-seconds', type=float, default=4.0,
                        help='length of the full migration; the application writes meanwhile, so the task starts behind (default 4)')
    parser.add_argument('--apply-rate', type=float, default=150,
                        help='transactions per second the destination takes, so the backlog drains visibly; 0: no limit (default 150)')
    parser.add_argument('--poll-interval', type=float, default=0.5, help="the role's switchover_poll_interval (default 0.5)")
    parser.add_argument('--dts-profile', choices=sorted(PROFILES), default='fast',
                        help="the DTS emulator's latency profile: fast (the tests') or realistic (precheck 90 s, pause 5 s, "
                             'start 15 s, API 150 ms: assumptions, see docs/emulator.md) (default fast)')
    parser.add_argument('--time-scale', type=_positive, default=1.0,
                        help="multiplies the profile's durations: 0.1 runs them 10x faster; the summary converts the windows back "
                             'to real scale (default 1)')
    parser.add_argument('--cutover', choices=CUTOVERS, default='armed', help="the role's switchover_cutover (default armed)")
    parser.add_argument('--reverse-arm', choices=REVERSE_ARMS, default='before_fence',
                        help="the role's switchover_reverse.arm (default before_fence)")
    if state_dir:
        parser.add_argument('--state-dir', required=True, help='where the rehearsal keeps its files')


def _positive(value):
    try:
        number = float(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError('must be a number > 0, got %r' % value)
    return number


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rehearsal', description='Local rehearsals of a dtsops.switchover switchover.')
    commands = parser.add_subparsers(dest='command', required=True)
    command = commands.add_parser('demo', help='a whole switchover on throwaway servers, verified, then torn down')
    _options(command)
    command.add_argument('--keep', action='store_true', help='keep the files (inventory, playbook output, reports, journal)')
    command.add_argument('--quiet', action='store_true', help='print only the summary')
    command.add_argument('--json', help='also write the verification result to this file')
    command.add_argument('--rollback', action='store_true',
                         help='after the switchover and writes on the destination, roll back and write on the source again')
    command = commands.add_parser('up', help='start a rehearsal and leave it running')
    _options(command, state_dir=True)
    command.add_argument('--timeout', type=int, default=300, help='seconds to wait for it to start (default 300)')
    command = commands.add_parser('serve', help=argparse.SUPPRESS)
    _options(command, state_dir=True)
    command = commands.add_parser('verify', help='stop the application of a running rehearsal and check every write')
    command.add_argument('--state-dir', required=True)
    command.add_argument('--json', help='also write the result to this file')
    command = commands.add_parser('down', help='tear a running rehearsal down')
    command.add_argument('--state-dir', required=True)
    command = commands.add_parser('dts', help='the DTS steps of a switchover alone, against the emulator (any engine)')
    command.add_argument('--engine', choices=sorted(dts_steps.ENGINES), default='mysql')
    command.add_argument('--keep', action='store_true', help='keep the temporary directory (emulator log, playbook run)')
    command.add_argument('--stable-for', type=float, default=2.0, help='seconds the task must stay undelayed (default 2)')
    args = parser.parse_args(argv)
    os.environ.setdefault('ALIBABA_CLOUD_ECS_METADATA_DISABLED', 'true')
    for variable in PROXY_VARIABLES:
        os.environ.pop(variable, None)
    if args.command == 'dts':
        return dts_steps.run(args.engine, keep=args.keep, stable_for=args.stable_for)
    return {'demo': demo, 'up': up, 'serve': serve, 'verify': verify_command, 'down': down}[args.command](args)
