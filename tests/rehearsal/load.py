"""The application: writers that keep writing, each write's outcome recorded, and a control file
through which the switchover's traffic task files stop them and start them on another database.

Two writers (``app1``, ``app2``) obey the control file. A third one, ``stray``, does not: it stands
for the client nobody remembered, keeps writing to the source the whole time, and shows what the
fence does to it (its writes are refused with the server's error, never silently lost).

The control file holds ``{"action": "stop" | "start" | "halt", "target": "source" | "destination",
"request": "<id>"}``; once the writers have done it, the status file says ``"done": "<id>"``.
``halt`` ends every writer, the stray one too (before a verification).
Every attempt is appended to a journal (JSON lines): writer, n, side, outcome, error, time.
"""

import json
import os
import tempfile
import threading
import time

from .kits import ACK, FAILED, REFUSED, UNKNOWN

CONTROLLED = ('app1', 'app2')
STRAY = 'stray'


def write_json(path, value):
    """Replace ``path`` atomically: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=os.path.dirname(path))
    with os.fdopen(fd, 'w') as stream:
        json.dump(value, stream)
        stream.write('\n')
    os.replace(tmp, path)


def send(directory, action, target=None, timeout=60):
    """What the traffic task files do, from Python: write a request, wait until it is done."""
    request_id = '%s-%d' % (action, time.monotonic_ns())
    write_json(os.path.join(directory, 'control.json'), {'action': action, 'target': target, 'request': request_id})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(os.path.join(directory, 'status.json')) as stream:
                if json.load(stream).get('done') == request_id:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise RuntimeError('the load generator did not %s within %d s' % (action, timeout))


def read_journal(path):
    entries = []
    if os.path.exists(path):
        with open(path) as stream:
            for line in stream:
                if line.strip():
                    entries.append(json.loads(line))
    return entries


class Writer(threading.Thread):
    def __init__(self, load, name, obeys):
        super(Writer, self).__init__(name='rehearsal-%s' % name, daemon=True)
        self.load = load
        self.writer = name
        self.obeys = obeys
        self.n = 0
        self.busy = False
        self.current = None     # where the write in flight goes
        self.connection = None
        self.side = None        # where the connection points

    def target(self):
        return self.load.target if self.obeys else 'source'

    def run(self):
        load = self.load
        while not load.stopping.is_set():
            with load.cond:
                while not load.stopping.is_set() and self.target() is None:
                    load.cond.wait(0.1)
                if load.stopping.is_set():
                    break
                side = self.target()
                self.busy, self.current = True, side
            try:
                self.attempt(side)
            finally:
                with load.cond:
                    self.busy = False
                    load.cond.notify_all()
            load.stopping.wait(load.interval if self.obeys else load.stray_interval)
        self.disconnect()

    def disconnect(self):
        if self.connection is not None:
            self.load.kit.close(self.connection)
            self.connection = None

    def attempt(self, side):
        kit = self.load.kit
        self.n += 1
        state = {'committing': False}

        def on_commit():
            state['committing'] = True

        try:
            if self.connection is None or self.side != side:
                self.disconnect()
                self.connection = kit.connect(side)
                self.side = side
            kit.write(self.connection, self.writer, self.n, side, on_commit)
            outcome, error = ACK, None
        except Exception as exc:  # pylint: disable=broad-except
            outcome, error = kit.classify(exc, state['committing'])
            # A broken or refused connection is not reused: the next attempt connects again.
            self.disconnect()
        self.load.record({'writer': self.writer, 'n': self.n, 'side': side, 'outcome': outcome, 'error': error,
                          't': round(time.time(), 3)})


class LoadGenerator(object):
    """Writers against ``kit``'s application account. ``directory`` gets control.json,
    status.json and journal.jsonl."""

    def __init__(self, kit, directory, interval=0.02, stray_interval=0.05, poll=0.02):
        self.kit = kit
        self.directory = directory
        self.control_path = os.path.join(directory, 'control.json')
        self.status_path = os.path.join(directory, 'status.json')
        self.journal_path = os.path.join(directory, 'journal.jsonl')
        self.interval = interval
        self.stray_interval = stray_interval
        self.poll = poll
        self.target = None
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.counts = {ACK: 0, REFUSED: 0, FAILED: 0, UNKNOWN: 0}
        self._journal = None
        self._journal_lock = threading.Lock()
        self._writers = []
        self._watcher = None
        self._done = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, target='source'):
        os.makedirs(self.directory, exist_ok=True)
        self._journal = open(self.journal_path, 'a')
        self.target = target
        self._status('writing')
        self._writers = [Writer(self, name, obeys=True) for name in CONTROLLED] + [Writer(self, STRAY, obeys=False)]
        for writer in self._writers:
            writer.start()
        self._watcher = threading.Thread(target=self._watch, name='rehearsal-control', daemon=True)
        self._watcher.start()
        return self

    def stop(self):
        """Stop every writer (the stray one too) and close the journal."""
        self._halt()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=30)
            self._watcher = None

    def _halt(self):
        self.stopping.set()
        with self.cond:
            self.target = None
            self.cond.notify_all()
        for thread in self._writers:
            thread.join(timeout=30)
        self._writers = []
        with self._journal_lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    # -- journal and status -------------------------------------------------------------------

    def record(self, entry):
        with self._journal_lock:
            self.counts[entry['outcome']] += 1
            if self._journal is not None:
                self._journal.write(json.dumps(entry) + '\n')
                self._journal.flush()

    def _status(self, state):
        write_json(self.status_path, {'done': self._done, 'state': state, 'target': self.target, 'counts': dict(self.counts)})

    # -- control ------------------------------------------------------------------------------

    def switch(self, target):
        """Writers that obey move to ``target`` (None: stop); returns once none writes elsewhere."""
        with self.cond:
            self.target = target
            self.cond.notify_all()
            # A write in flight finishes where it started; after this, no writer is left there.
            while any(writer.busy and writer.obeys and writer.current != target for writer in self._writers):
                self.cond.wait(0.1)

    def _watch(self):
        while not self.stopping.wait(self.poll):
            self._take_request()

    def _take_request(self):
        try:
            with open(self.control_path) as stream:
                request = json.load(stream)
        except (OSError, ValueError):
            return      # none yet, or being replaced
        if not isinstance(request, dict) or request.get('request') in (None, self._done):
            return
        action = request.get('action')
        if action == 'stop':
            self.switch(None)
        elif action == 'start' and request.get('target') in ('source', 'destination'):
            self.switch(request['target'])
        elif action == 'halt':
            self._halt()
        else:
            return
        self._done = request['request']
        self._status('writing' if self.target else ('halted' if self.stopping.is_set() else 'stopped'))
