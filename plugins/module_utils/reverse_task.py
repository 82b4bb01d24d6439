# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reverse task of a switchover (dts_reverse_task): find, create (CreateReverseDtsJob, or
CreateDtsInstance + ConfigureDtsJob), start or release it. :func:`reverse_task` takes a module
object (module_base) and returns the result, so the window action runs it in-process too."""

from __future__ import annotations

import time

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import (
    DtsError,
    as_json,
    job_state,
    looks_released,
    transition,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitAborted, WaitTimeout

# The options of dts_reverse_task besides the DTS options (module_base.dts_spec adds those).
REVERSE_TASK_SPEC = dict(
    job_id=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    method=dict(type='str', default='auto', choices=['auto', 'reverse_api', 'configure']),
    reverse_job_id=dict(type='str'),
    start=dict(type='bool', default=True),
    checkpoint=dict(type='int'),
    name=dict(type='str'),
    source_password=dict(type='str', no_log=True),
    destination_password=dict(type='str', no_log=True),
    source_user=dict(type='str'),
    destination_user=dict(type='str'),
    db_list=dict(type='dict'),
    instance_class=dict(type='str', default='small', choices=['xxlarge', 'xlarge', 'large', 'medium', 'small']),
    wait=dict(type='bool', default=True),
    timeout=dict(type='float', default=600),
    poll_interval=dict(type='float', default=2),
)

CONFIGURE_ONLY = ('name', 'source_user', 'destination_user', 'db_list')
PASSWORDS = ('source_password', 'destination_password')
# The reverse task's type for each method: CreateReverseDtsJob makes a synchronization task.
JOB_TYPE = {'reverse_api': 'SYNC', 'configure': 'MIGRATION'}
METHOD_OF_TYPE = dict((job_type, method) for method, job_type in JOB_TYPE.items())
# Reverse instances exist for these engines only (reference dts-reverse-flow.md: the vendor's
# "Create a reverse instance" guide names MySQL, SQL Server and ApsaraDB for MongoDB).
REVERSE_API_ENGINES = frozenset(['mysql', 'mssql', 'sqlserver', 'mongodb'])
# Refusals of CreateReverseDtsJob that the configure method can get around; credentials or
# permission errors would fail it too.
REFUSALS = ('state', 'api', 'config')
CREATE_ATTEMPTS = 3


def reverse_api_unsupported(forward):
    """Why CreateReverseDtsJob cannot serve ``forward`` (an engine pair or a task without
    incremental migration), or None. Unknown engine names are left to DTS to judge."""
    engines = [name for name in (forward.source.engine_name, forward.destination.engine_name) if name]
    unsupported = [name for name in engines if name.lower() not in REVERSE_API_ENGINES]
    if unsupported:
        return ('DTS creates reverse instances (CreateReverseDtsJob) only for MySQL, SQL Server and MongoDB, and task %s migrates %s'
                % (forward.job_id, ' to '.join(engines)))
    if forward.migration_mode['incremental'] is False:
        return 'task %s has no incremental migration, and a reverse instance is created only during incremental migration' % forward.job_id
    return None


class ReverseTask(object):
    """One run of the module: find, create, start or release the reverse task of ``forward``."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.method = self.params['method']
        self.deadline = time.monotonic() + self.params['timeout']
        self.result = dict(changed=False, job_id=None, forward_job_id=self.params['job_id'], method=self.method, created=False,
                           started=False, released=False, state='absent', waited=0.0, polls=0, samples=[])

    # -- method -----------------------------------------------------------------------------------

    def resolve_method(self, forward):
        """method=auto made concrete from the forward task; an unsupported reverse_api refused."""
        why_not = reverse_api_unsupported(forward)
        if self.method == 'auto':
            self.use('configure' if why_not else 'reverse_api')
            if why_not and not self.configure_allowed():
                raise DtsError('method auto picks configure: %s. A configured reverse task needs source_password and destination_password '
                               '(DTS does not return the passwords of the forward task): set them.' % why_not, kind='config')
        elif self.method == 'reverse_api' and why_not:
            raise DtsError('method reverse_api: %s. Use method configure (or auto), with source_password and destination_password.'
                           % why_not, kind='config')

    def use(self, method):
        self.method = method
        self.result['method'] = method

    def job_types(self):
        return (JOB_TYPE[self.method],) if self.method in JOB_TYPE else tuple(JOB_TYPE.values())

    def configure_allowed(self):
        return all(self.params[name] for name in PASSWORDS)

    # -- lookups ----------------------------------------------------------------------------------

    def reverse_name(self, forward):
        return self.params['name'] or '%s_reverse' % (forward.name or forward.job_id)

    def find(self, forward, missing_ok=False):
        """The existing reverse task of ``forward``, or None. A reverse_job_id that does not exist
        is an error, unless ``missing_ok`` (a released task is what state=absent wants)."""
        if self.params['reverse_job_id']:
            job = self.client.find_job(self.params['reverse_job_id'], deadline=self.deadline)
            if job is None and missing_ok:
                return None
            if job is None:
                raise DtsError('Reverse task %s not found in region %s.' % (self.params['reverse_job_id'], self.client.region),
                               kind='not_found')
            if forward is not None and not job.is_reverse_of(forward):
                raise DtsError('DTS task %s is not a reverse of %s: its source and destination are not %s\'s destination and source.'
                               % (job.job_id, forward.job_id, forward.job_id), kind='config')
            return job
        name = self.reverse_name(forward) if self.method == 'configure' else None
        found = []
        for job_type in self.job_types():
            type_name = name if job_type == JOB_TYPE['configure'] else None
            if not self.identifiable(forward):
                # Without instance IDs or addresses only the name of a configured task can tell it.
                found += [job for job in self.client.list_jobs(job_type=job_type, name=type_name, deadline=self.deadline)
                          if job.job_id != forward.job_id and not job.finished] if type_name else []
                continue
            matches = self.client.find_reverse_jobs(forward, job_types=(job_type,), name=type_name, deadline=self.deadline)
            if not matches and type_name:
                matches = self.client.find_reverse_jobs(forward, job_types=(job_type,), deadline=self.deadline)
            found += matches
        if len(found) > 1:
            raise DtsError('Several unfinished tasks are reverses of %s: %s. Set reverse_job_id to the one to use.'
                           % (forward.job_id, ', '.join(sorted(job.job_id for job in found))), kind='config')
        if not found:
            return None
        # The list view is coarser (units, fields): read the detail.
        return self.client.describe_job(found[0].job_id, deadline=self.deadline)

    @staticmethod
    def identifiable(forward):
        """Whether both endpoints of ``forward`` name their server (instance ID or address), so
        that its reverse task can be recognised by its endpoints."""
        return forward.source.identity() is not None and forward.destination.identity() is not None

    # -- waits ------------------------------------------------------------------------------------

    def wait_for(self, job_id, states, what):
        def check(job):
            current = reverse_state(job)
            if current in states or ('absent' in states and looks_released(job)):
                return Observation(True)
            if current in ('failed', 'stopped'):
                return Observation(False, terminal='DTS reverse task %s is not %s: it is %s.'
                                                   % (job_id, what, job.describe_state().rstrip('.')))
            return Observation(False)

        gone = Observation(True) if 'absent' in states else None
        remaining = max(0.0, self.deadline - time.monotonic())
        try:
            job, outcome = self.client.watch(job_id, check, timeout=remaining, poll_interval=self.params['poll_interval'], gone=gone)
        except (WaitTimeout, WaitAborted) as exc:
            self.add_wait(exc.result, what)
            if self.client.last_job is not None:
                self.show(self.client.last_job)
            if isinstance(exc, WaitAborted):
                raise
            raise WaitTimeout('DTS reverse task %s did not become %s within %g s (last seen %s).'
                              % (job_id, what, self.params['timeout'],
                                 self.client.last_job.describe_state() if self.client.last_job else 'nothing'), exc.result)
        self.add_wait(outcome, what)
        return job

    def add_wait(self, outcome, what):
        self.result['waited'] = round(self.result['waited'] + outcome.elapsed, 3)
        self.result['polls'] += outcome.polls
        self.result['samples'].extend(dict(sample, wait=what) for sample in outcome.samples)

    def show(self, job, state=None):
        self.result.update(job_id=job.job_id, instance_id=job.instance_id, state=state or reverse_state(job), job=job.as_dict())

    # -- present ----------------------------------------------------------------------------------

    def present(self, forward):
        reverse = self.find(forward)
        if reverse is not None and self.method == 'auto':
            self.use(METHOD_OF_TYPE.get(reverse.job_type, 'reverse_api'))
        elif reverse is None:
            self.resolve_method(forward)
        if self.method == 'reverse_api' and not self.params['reverse_job_id'] and not self.identifiable(forward):
            self.module.warn('The endpoints of DTS task %s have neither instance IDs nor addresses, so an existing reverse task cannot be '
                             'found by them: pass reverse_job_id on later runs.' % forward.job_id)
        before = reverse_state(reverse)
        start, wait = self.params['start'], self.params['wait']
        if reverse is None:
            self.check_can_create(forward, start)
            self.result.update(changed=True, created=True, started=start)
            if self.module.check_mode:
                return before, 'running' if start else 'paused' if self.method == 'reverse_api' else 'not_started'
            reverse = self.create(forward)
        self.show(reverse)
        state = reverse_state(reverse)
        # CreateReverseDtsJob prechecks the task; its writer can start only after that.
        if self.method == 'reverse_api' and state in ('not_started', 'starting') and (start or wait):
            reverse = self.wait_for(reverse.job_id, ('paused', 'running'), 'prechecked')
            self.show(reverse)
            state = reverse_state(reverse)
        if state in ('failed', 'stopped'):
            raise DtsError('DTS reverse task %s is %s. Release it (state: absent) and run again to create a new one.'
                           % (reverse.job_id, reverse.describe_state().rstrip('.')), kind='state')
        if start and state in ('paused', 'not_started'):
            self.check_can_start(forward, reverse)
            self.result.update(changed=True, started=True)
            if self.module.check_mode:
                return before, 'running'
            if self.method == 'reverse_api':
                extra = {'CheckPoint': str(self.params['checkpoint'])} if self.params['checkpoint'] else {}
                transition(self.client, reverse, 'StartReverseWriter', deadline=self.deadline, **extra)
            else:
                transition(self.client, reverse, 'StartDtsJob', deadline=self.deadline)
            state = 'starting'
        if start and state == 'starting':
            # A status read right after the start can still show the state before it: wait.
            if wait:
                reverse = self.wait_for(reverse.job_id, ('running',), 'running')
            else:
                reverse = self.client.describe_job(reverse.job_id, deadline=self.deadline)
            self.show(reverse)
        return before, self.result['state']

    def check_can_create(self, forward, start):
        """The vendor's order (reference dts-reverse-flow.md): a reverse instance is created on a
        forward task that runs in incremental migration, and started only after it is paused."""
        if self.method != 'reverse_api':
            if start:
                self.check_can_start(forward, None)
            return
        if start:
            raise DtsError('DTS task %s has no reverse task yet. Arm one first with start: false while the forward task runs in '
                           'incremental migration, then pause the forward task and run again with start: true.' % forward.job_id,
                           kind='state')
        if forward.phase != 'incremental':
            raise DtsError('DTS task %s is %s: CreateReverseDtsJob needs the forward task running in incremental migration (create '
                           'the reverse task first, then pause the forward task, then start the writer). Use method configure to make a '
                           'reverse task of a task in this state.' % (forward.job_id, forward.describe_state().rstrip('.')), kind='state')

    @staticmethod
    def check_can_start(forward, reverse):
        """Two one-way tasks in opposite directions never run together."""
        if forward is not None and not (forward.paused or forward.finished):
            raise DtsError('DTS task %s is %s: pause it (dtsops.switchover.dts_task with state paused) before starting its reverse task%s. '
                           'Both running at once would replicate in both directions.'
                           % (forward.job_id, forward.describe_state().rstrip('.'), ' ' + reverse.job_id if reverse else ''), kind='state')

    def create(self, forward):
        """Create the reverse task; after an outcome that is unknown, look it up before trying again.
        With method=auto, a refused CreateReverseDtsJob falls back to configure when it can."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                if self.method == 'reverse_api':
                    body = self.client.call('CreateReverseDtsJob', deadline=self.deadline, DtsJobId=forward.job_id)
                    job_id = body.get('DtsJobId')
                else:
                    job_id = self.configure(forward)
                break
            except DtsError as exc:
                if self.method == 'reverse_api' and exc.kind in REFUSALS and self.params['method'] == 'auto':
                    return self.fall_back(forward, exc)
                if not exc.ambiguous:
                    raise
                if self.method == 'reverse_api' and not self.identifiable(forward):
                    raise DtsError('%s The reverse task of %s cannot be recognised by its endpoints (they have neither instance IDs nor '
                                   'addresses): check for it before running again, and pass reverse_job_id.' % (exc, forward.job_id),
                                   kind='ambiguous', action=exc.action)
                found = self.find(forward)
                if found is not None:
                    self.show(found)
                    return found
                if attempt == CREATE_ATTEMPTS:
                    raise
        if not job_id:
            raise DtsError('DTS created a reverse task of %s but did not return its ID; run again to find it.' % forward.job_id)
        job = self.client.describe_job(job_id, deadline=self.deadline)
        self.show(job)
        return job

    def fall_back(self, forward, refusal):
        if not self.configure_allowed():
            raise DtsError('%s. With method auto, a refused CreateReverseDtsJob falls back to method configure, which needs '
                           'source_password and destination_password (switchover_reverse.source_password and destination_password '
                           'in the role): set them.' % str(refusal).rstrip('.'), kind='config', action=refusal.action, code=refusal.code)
        self.result['fallback'] = str(refusal)
        self.use('configure')
        found = self.find(forward)
        if found is not None:
            self.show(found)
            return found
        return self.create(forward)

    def configure(self, forward):
        """CreateDtsInstance + ConfigureDtsJob (incremental only, endpoints swapped); the task ID."""
        instance_id = self.create_instance(forward)
        params = self.configure_params(forward, instance_id)
        body = self.client.call('ConfigureDtsJob', deadline=self.deadline, **params)
        return body.get('DtsJobId')

    def create_instance(self, forward):
        source, destination = forward.destination, forward.source
        params = dict(Type='MIGRATION', SourceRegion=source.region or self.client.region,
                      DestinationRegion=destination.region or self.client.region, SourceEndpointEngineName=source.engine_name,
                      DestinationEndpointEngineName=destination.engine_name, InstanceClass=self.params['instance_class'],
                      PayType='PostPaid', Quantity=1, AutoPay=False, AutoStart=False)
        # An instance is not named until it is configured: what was unconfigured before the call
        # tells a new instance from the others if the answer is lost.
        existing = set(job.instance_id for job in self.client.list_jobs(status='NotConfigured', deadline=self.deadline))
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return self.client.call('CreateDtsInstance', deadline=self.deadline, **params)['InstanceId']
            except DtsError as exc:
                if not exc.ambiguous:
                    raise
                new = [job.instance_id for job in self.client.list_jobs(status='NotConfigured', deadline=self.deadline)
                       if job.instance_id not in existing]
                if len(new) == 1:
                    return new[0]
                if len(new) > 1 or attempt == CREATE_ATTEMPTS:
                    raise DtsError('CreateDtsInstance may have bought an instance (%s), and unconfigured instances appeared meanwhile: '
                                   '%s. Release the ones that are not needed.' % (exc, ', '.join(sorted(new)) or 'none'),
                                   kind='ambiguous', action='CreateDtsInstance')
        return None

    def configure_params(self, forward, instance_id):
        db_list = as_json(self.params['db_list']) if self.params['db_list'] else forward.raw.get('DbObject')
        if not db_list:
            raise DtsError('DTS task %s does not report its objects (DbObject): set db_list.' % forward.job_id, kind='config')
        # autoStartModulesAfterConfig=none: configuring starts nothing, not even the precheck; the
        # task waits for StartDtsJob, after the forward task is paused (developer-reference
        # configure-dts-tasks-with-openapi, migrationreserved).
        params = dict(DtsInstanceId=instance_id, DtsJobName=self.reverse_name(forward), JobType='MIGRATION',
                      StructureInitialization=False, DataInitialization=False, DataSynchronization=True, DbList=db_list,
                      Reserve=as_json({'autoStartModulesAfterConfig': 'none'}))
        if self.params['checkpoint']:
            params['Checkpoint'] = str(self.params['checkpoint'])
        sides = (('SourceEndpoint', 'DatabaseName', forward.destination, self.params['destination_user'], self.params['destination_password']),
                 ('DestinationEndpoint', 'DataBaseName', forward.source, self.params['source_user'], self.params['source_password']))
        for prefix, database_key, endpoint, user, password in sides:
            params.update({
                prefix + 'InstanceType': endpoint.instance_type or 'OTHER',
                prefix + 'EngineName': endpoint.engine_name,
                prefix + 'InstanceID': endpoint.instance_id,
                prefix + 'Region': endpoint.region or self.client.region,
                prefix + 'IP': endpoint.ip,
                prefix + 'Port': endpoint.port,
                prefix + 'UserName': user or endpoint.user_name,
                prefix + 'Password': password,
                prefix + database_key: endpoint.database_name,
                prefix + 'OracleSID': endpoint.oracle_sid,
            })
        return params

    # -- absent -----------------------------------------------------------------------------------

    def absent(self, forward):
        reverse = self.find(forward, missing_ok=True)
        if reverse is None:
            return 'absent', 'absent'
        before = reverse_state(reverse)
        self.show(reverse)
        self.result.update(changed=True, released=True)
        if self.module.check_mode:
            return before, 'absent'
        if before != 'stopped':
            transition(self.client, reverse, 'StopDtsJob', deadline=self.deadline)
            if self.params['wait']:
                self.show(self.wait_for(reverse.job_id, ('stopped', 'absent'), 'stopped'))
        try:
            transition(self.client, reverse, 'DeleteDtsJob', deadline=self.deadline)
        except DtsError as exc:
            # A released task may still be described as Finished (the Terraform provider treats
            # Finished as deleted, reference dts-reverse-flow.md): releasing it again finds nothing.
            if exc.kind != 'not_found':
                raise
            self.result.update(changed=False, released=False, state='absent')
            return 'absent', 'absent'
        if self.params['wait']:
            self.wait_for(reverse.job_id, ('absent',), 'released')
            self.result['state'] = 'absent'
        else:
            current = self.client.find_job(reverse.job_id, deadline=self.deadline)
            self.result['state'] = reverse_state(current)
        return before, self.result['state']


def reverse_state(job):
    """job_state, with PreCheckPass read as paused: a reverse instance that passed its precheck
    waits for its writer (the status DTS shows then is not documented)."""
    state = job_state(job)
    if state == 'not_started' and job is not None and (job.status or '').lower() == 'precheckpass':
        return 'paused'
    return state


def check_reverse_options(module):
    """timeout and poll_interval are checked by the module base; the rest here."""
    params = module.params
    if not params['job_id'].strip():
        module.fail_json(msg='job_id must not be empty.')
    params['job_id'] = params['job_id'].strip()
    if params['reverse_job_id'] is not None:
        params['reverse_job_id'] = params['reverse_job_id'].strip() or None
    if params['checkpoint'] is not None and params['checkpoint'] <= 0:
        module.fail_json(msg='checkpoint must be a UNIX time in seconds, got %s.' % params['checkpoint'])
    if params['method'] == 'reverse_api':
        misplaced = [name for name in CONFIGURE_ONLY + PASSWORDS if params[name] is not None]
        if misplaced:
            module.fail_json(msg='%s only apply to method: configure (or auto, which may fall back to it).' % ', '.join(misplaced))
    elif params['method'] == 'configure' and params['state'] == 'present':
        missing = [name for name in PASSWORDS if not params[name]]
        if missing:
            module.fail_json(msg='method: configure needs %s: DTS does not return the database passwords of the forward task.'
                             % ' and '.join(missing))


def reverse_task(module):
    """dts_reverse_task: bring the reverse task of ``job_id`` to ``state``. Returns the result."""
    check_reverse_options(module)
    client = module.client()
    task = ReverseTask(module, client)
    params = module.params
    try:
        forward = client.find_job(params['job_id'], deadline=task.deadline)
        if forward is None and (params['state'] == 'present' or not params['reverse_job_id']):
            hint = '' if params['state'] == 'present' else ' Set reverse_job_id to release its reverse task.'
            raise DtsError('DTS task %s not found in region %s.%s' % (params['job_id'], client.region, hint), kind='not_found')
        if params['state'] == 'present':
            before, after = task.present(forward)
        else:
            before, after = task.absent(forward)
        if module._diff:
            task.result['diff'] = {'before': {'state': before}, 'after': {'state': after}}
        if module.check_mode:
            task.result['state'] = after
    except (WaitTimeout, WaitAborted, DtsError) as exc:
        module.fail_from(exc, client=client, **task.result)
    return dict(task.result, api_calls=client.api_calls)
