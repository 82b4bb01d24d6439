"""Drive an emulator in another process through its control interface (POST /_emulator/<op>)."""

import json
import urllib.error
import urllib.request


class EmulatorError(Exception):
    """The emulator refused a control operation (bad arguments, unknown task)."""


class EmulatorClient(object):
    """``EmulatorClient('127.0.0.1:PORT')`` offers the Emulator's control methods; results are
    the JSON forms (jobs as dicts). Proxies are never used: the emulator is on loopback."""

    def __init__(self, endpoint, timeout=30):
        self.endpoint = endpoint
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, operation, **arguments):
        request = urllib.request.Request('http://%s/_emulator/%s' % (self.endpoint, operation), method='POST',
                                         data=json.dumps(arguments).encode('utf-8'), headers={'Content-Type': 'application/json'})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode('utf-8'))['result']
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read().decode('utf-8'))['error']
            except ValueError:
                message = str(error)
            raise EmulatorError('%s: %s' % (operation, message)) from None

    def add_job(self, **arguments):
        return self.call('add_job', **arguments)

    def job(self, job_id):
        return self.call('job', job_id=job_id)

    def jobs(self, released=False):
        return self.call('jobs', released=released)

    def set_delay(self, job_id, profile):
        return self.call('set_delay', job_id=job_id, profile=profile)

    def fail_job(self, job_id, message, status='Failed'):
        return self.call('fail_job', job_id=job_id, message=message, status=status)

    def set_status(self, job_id, status, reads=None):
        return self.call('set_status', job_id=job_id, status=status, reads=reads)

    def set_stale_reads(self, count):
        return self.call('set_stale_reads', count=count)

    def replication_status(self, job_id):
        return self.call('replication_status', job_id=job_id)

    def add_fault(self, action='*', kind='throttle', count=1, job_id=None, **details):
        return self.call('add_fault', action=action, kind=kind, count=count, job_id=job_id, **details)

    def clear_faults(self):
        return self.call('clear_faults')['cleared']

    @property
    def requests(self):
        return self.call('requests')

    def calls(self, action=None):
        return self.call('calls', action=action)

    def reset_requests(self):
        return self.call('reset_requests')['reset']

    def issue_sts_token(self, access_key_id, secret, token, expired=False):
        self.call('issue_sts_token', access_key_id=access_key_id, secret=secret, token=token, expired=expired)

    def status(self):
        return self.call('status')
