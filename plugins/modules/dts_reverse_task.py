#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: dts_reverse_task
short_description: Create, start or release the reverse incremental task of a DTS migration
version_added: 1.0.0
description:
  - Creates the reverse task of a paused or finished forward task, which migrates the changes made
    on the destination back to the source, incremental only. It is the rollback path of a
    switchover, armed before applications write to the destination.
  - With O(method=reverse_api) (default), DTS creates the reverse task (CreateReverseDtsJob, a
    synchronization task), prechecks it and captures changes with its writer stopped; the module
    then starts the writer (StartReverseWriter), from O(checkpoint) if given, and waits until it runs.
  - With O(method=configure), the module buys a migration instance (CreateDtsInstance), configures it
    with the forward task's endpoints swapped and incremental migration only (ConfigureDtsJob), and
    starts it (StartDtsJob). This needs the database passwords, which DTS never returns.
  - Idempotent. An existing reverse task is found by O(reverse_job_id), or else among the unfinished
    tasks whose source is the forward task's destination and whose destination is its source (and,
    for O(method=configure), by O(name)); then nothing is created. A create whose outcome is unknown
    (timeout, dropped connection, server error) is followed by that lookup, never by a blind second create.
  - O(state=absent) stops and releases the reverse task.
options:
  job_id:
    description:
      - ID of the forward task (C(DtsJobId)), the migration from the old database to the new one.
      - It must be paused (see M(dtsops.switchover.dts_task)) or finished before a reverse task can be created.
    type: str
    required: true
  state:
    description:
      - V(present) creates (and with O(start), starts) the reverse task; V(absent) stops and releases it.
    type: str
    default: present
    choices: [present, absent]
  method:
    description:
      - How the reverse task is made; see the description.
    type: str
    default: reverse_api
    choices: [reverse_api, configure]
  reverse_job_id:
    description:
      - ID of the reverse task, when it is known (for example from the journal of an earlier run).
        It must be a reverse of O(job_id).
      - With O(state=absent), a task of this ID that no longer exists counts as released.
    type: str
  start:
    description:
      - Start the reverse writer (O(method=reverse_api)) or the reverse task (O(method=configure)) and
        wait until it runs. Without it the reverse task is only created (and prechecked).
    type: bool
    default: true
  checkpoint:
    description:
      - Where the reverse task starts reading the forward task's destination, in UNIX seconds.
      - Defaults to the offset DTS saved when the forward task was paused (O(method=reverse_api)), or
        to the time the reverse task starts (O(method=configure)).
    type: int
  name:
    description:
      - Name of the reverse task with O(method=configure). Defaults to the forward task's name with
        C(_reverse) appended. DTS names the reverse task itself with O(method=reverse_api).
    type: str
  source_password:
    description:
      - O(method=configure) only. Password of the forward task's source database, where the reverse
        task writes.
    type: str
  destination_password:
    description:
      - O(method=configure) only. Password of the forward task's destination database, which the reverse task reads.
    type: str
  source_user:
    description:
      - O(method=configure) only. Account on the forward task's source database for the reverse task
        to write with. Defaults to the forward task's source account.
    type: str
  destination_user:
    description:
      - O(method=configure) only. Account on the forward task's destination database for the reverse
        task to read with. Defaults to the forward task's destination account.
    type: str
  db_list:
    description:
      - O(method=configure) only. The objects to migrate back, in the C(DbList) format of ConfigureDtsJob.
        Defaults to the forward task's objects (C(DbObject)).
    type: dict
  instance_class:
    description:
      - O(method=configure) only. Class of the migration instance bought (pay-as-you-go).
    type: str
    default: small
    choices: [xxlarge, xlarge, large, medium, small]
  wait:
    description:
      - Wait for the precheck and, with O(start), until the reverse task runs; for O(state=absent), until it is released.
    type: bool
    default: true
  timeout:
    description:
      - Seconds the module may wait in all.
    type: float
    default: 600
  poll_interval:
    description:
      - Seconds between two polls while waiting.
    type: float
    default: 2
extends_documentation_fragment:
  - dtsops.switchover.dts
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_dts
attributes:
  check_mode:
    support: full
    details:
      - Reads the tasks and reports what would change; calls no action that changes anything.
  diff_mode:
    support: full
    details:
      - The state of the reverse task before and after.
notes:
  - "RAM permissions: C(dts:DescribeDtsJobDetail), C(dts:DescribeDtsJobs), and C(dts:CreateReverseDtsJob)
    and C(dts:StartReverseWriter) (O(method=reverse_api)), or C(dts:CreateDtsInstance), C(dts:ConfigureDtsJob)
    and C(dts:StartDtsJob) (O(method=configure)); C(dts:StopDtsJob) and C(dts:DeleteDtsJob) for O(state=absent)."
  - The instance bought by O(method=configure) is billed until the reverse task is released (O(state=absent)).
seealso:
  - module: dtsops.switchover.dts_task
  - module: dtsops.switchover.dts_wait_undelayed
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Pause the forward task
  dtsops.switchover.dts_task:
    job_id: "{{ dts_job_id }}"
    state: paused
  register: paused

- name: Create the reverse task and start its writer where the forward task stopped
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    checkpoint: "{{ paused.checkpoint }}"
  register: reverse

- name: Journal its ID
  ansible.builtin.set_fact:
    reverse_job_id: "{{ reverse.job_id }}"

- name: The same with a configured incremental-only migration task
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    method: configure
    name: orders-rollback
    source_password: "{{ vault_source_password }}"
    destination_password: "{{ vault_destination_password }}"

- name: After the switchover is final - release the reverse task
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    reverse_job_id: "{{ reverse_job_id }}"
    state: absent
'''

RETURN = r'''
job_id:
  description: ID of the reverse task; null when there is none (or, in check mode, before it is created).
  returned: always
  type: str
  sample: n99m9jx822k****
instance_id:
  description: ID of the reverse task's DTS instance.
  returned: when there is a reverse task
  type: str
  sample: dtsor1f9kr822l****
forward_job_id:
  description: ID of the forward task (O(job_id)).
  returned: always
  type: str
method:
  description: The method used (O(method)).
  returned: always
  type: str
created:
  description: Whether the module created the reverse task (in check mode, would).
  returned: always
  type: bool
started:
  description: Whether the module started the reverse writer or task (in check mode, would).
  returned: always
  type: bool
released:
  description: Whether the module released the reverse task (in check mode, would).
  returned: always
  type: bool
state:
  description:
    - The state of the reverse task at the end - V(absent), V(not_started), V(starting), V(paused)
      (created, writer not started), V(running), V(stopped) or V(failed).
  returned: always
  type: str
  sample: running
job:
  description: The reverse task at the end, with the keys of M(dtsops.switchover.dts_task_info).
  returned: when there is a reverse task
  type: dict
waited:
  description: Seconds spent waiting, in all.
  returned: always
  type: float
polls:
  description: Reads of the reverse task while waiting.
  returned: always
  type: int
samples:
  description: Each read while waiting, with C(wait) naming the wait (V(precheck), V(running), V(released)).
  returned: always
  type: list
  elements: dict
api_calls:
  description: The DTS API actions called.
  returned: always
  type: list
  elements: str
  sample: [DescribeDtsJobDetail, DescribeDtsJobs, CreateReverseDtsJob, StartReverseWriter]
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils.dts import (
    DtsError,
    as_json,
    dts_argument_spec,
    dts_client,
    fail_dts,
    job_state,
    transition,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitAborted, WaitTimeout

CONFIGURE_ONLY = ('name', 'source_password', 'destination_password', 'source_user', 'destination_user', 'db_list')
# The reverse task's type for each method: CreateReverseDtsJob makes a synchronization task.
JOB_TYPE = {'reverse_api': 'SYNC', 'configure': 'MIGRATION'}
CREATE_ATTEMPTS = 3


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
        if not self.identifiable(forward):
            # Without instance IDs or addresses only the name of a configured task can tell it.
            found = [job for job in self.client.list_jobs(job_type=JOB_TYPE[self.method], name=name, deadline=self.deadline)
                     if job.job_id != forward.job_id and not job.finished] if name else []
        else:
            found = self.client.find_reverse_jobs(forward, job_types=(JOB_TYPE[self.method],), name=name, deadline=self.deadline)
            if not found and name:
                found = self.client.find_reverse_jobs(forward, job_types=(JOB_TYPE[self.method],), deadline=self.deadline)
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
            current = job_state(job)
            if current in states:
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
        self.result.update(job_id=job.job_id, instance_id=job.instance_id, state=state or job_state(job), job=job.as_dict())

    # -- present ----------------------------------------------------------------------------------

    def present(self, forward):
        if self.method == 'reverse_api' and not self.params['reverse_job_id'] and not self.identifiable(forward):
            self.module.warn('The endpoints of DTS task %s have neither instance IDs nor addresses, so an existing reverse task cannot be '
                             'found by them: pass reverse_job_id on later runs.' % forward.job_id)
        reverse = self.find(forward)
        before = job_state(reverse)
        start, wait = self.params['start'], self.params['wait']
        if reverse is None:
            if not (forward.paused or forward.finished):
                raise DtsError('DTS task %s is %s: pause it first (dtsops.switchover.dts_task with state paused). DTS creates a '
                               'reverse task only for a paused or finished task.' % (forward.job_id, forward.describe_state().rstrip('.')),
                               kind='state')
            self.result.update(changed=True, created=True, started=start)
            if self.module.check_mode:
                return before, 'running' if start else 'paused' if self.method == 'reverse_api' else 'not_started'
            reverse = self.create(forward)
        self.show(reverse)
        state = job_state(reverse)
        # CreateReverseDtsJob prechecks the task; its writer can start only after that.
        if self.method == 'reverse_api' and state in ('not_started', 'starting') and (start or wait):
            reverse = self.wait_for(reverse.job_id, ('paused', 'running'), 'prechecked')
            self.show(reverse)
            state = job_state(reverse)
        if state in ('failed', 'stopped'):
            raise DtsError('DTS reverse task %s is %s. Release it (state: absent) and run again to create a new one.'
                           % (reverse.job_id, reverse.describe_state().rstrip('.')), kind='state')
        if start and state in ('paused', 'not_started'):
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
            if wait:
                reverse = self.wait_for(reverse.job_id, ('running',), 'running')
            else:
                reverse = self.client.describe_job(reverse.job_id, deadline=self.deadline)
            self.show(reverse)
        return before, self.result['state']

    def create(self, forward):
        """Create the reverse task; after an outcome that is unknown, look it up before trying again."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                if self.method == 'reverse_api':
                    body = self.client.call('CreateReverseDtsJob', deadline=self.deadline, DtsJobId=forward.job_id)
                    job_id = body.get('DtsJobId')
                else:
                    job_id = self.configure(forward)
                break
            except DtsError as exc:
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
        params = dict(DtsInstanceId=instance_id, DtsJobName=self.reverse_name(forward), JobType='MIGRATION',
                      StructureInitialization=False, DataInitialization=False, DataSynchronization=True, DbList=db_list)
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
        before = job_state(reverse)
        self.show(reverse)
        self.result.update(changed=True, released=True)
        if self.module.check_mode:
            return before, 'absent'
        if before != 'stopped':
            transition(self.client, reverse, 'StopDtsJob', deadline=self.deadline)
            if self.params['wait']:
                self.show(self.wait_for(reverse.job_id, ('stopped', 'absent'), 'stopped'))
        transition(self.client, reverse, 'DeleteDtsJob', deadline=self.deadline)
        if self.params['wait']:
            self.wait_for(reverse.job_id, ('absent',), 'released')
            self.result['state'] = 'absent'
        else:
            current = self.client.find_job(reverse.job_id, deadline=self.deadline)
            self.result['state'] = job_state(current)
        return before, self.result['state']


def validate(module):
    params = module.params
    if not params['job_id'].strip():
        module.fail_json(msg='job_id must not be empty.')
    params['job_id'] = params['job_id'].strip()
    if params['reverse_job_id'] is not None:
        params['reverse_job_id'] = params['reverse_job_id'].strip() or None
    if params['timeout'] < 0:
        module.fail_json(msg='timeout must be 0 or more seconds, got %g.' % params['timeout'])
    if params['poll_interval'] <= 0:
        module.fail_json(msg='poll_interval must be more than 0 seconds, got %g.' % params['poll_interval'])
    if params['checkpoint'] is not None and params['checkpoint'] <= 0:
        module.fail_json(msg='checkpoint must be a UNIX time in seconds, got %s.' % params['checkpoint'])
    if params['method'] != 'configure':
        misplaced = [name for name in CONFIGURE_ONLY if params[name] is not None]
        if misplaced:
            module.fail_json(msg='%s only apply to method: configure.' % ', '.join(misplaced))
    elif params['state'] == 'present':
        missing = [name for name in ('source_password', 'destination_password') if not params[name]]
        if missing:
            module.fail_json(msg='method: configure needs %s: DTS does not return the database passwords of the forward task.'
                             % ' and '.join(missing))


def main():
    argument_spec = dts_argument_spec()
    argument_spec.update(
        job_id=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        method=dict(type='str', default='reverse_api', choices=['reverse_api', 'configure']),
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
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    validate(module)
    client = dts_client(module)
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
    except (WaitTimeout, WaitAborted) as exc:
        module.fail_json(msg=str(exc), api_calls=client.api_calls, **task.result)
    except DtsError as exc:
        fail_dts(module, client, exc, **task.result)
    module.exit_json(api_calls=client.api_calls, **task.result)


if __name__ == '__main__':
    main()
