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
  - Creates the reverse task of a forward task, which migrates the changes made on the destination
    back to the source, incremental only. It is the rollback path of a switchover, armed before
    applications write to the destination.
  - The vendor's order, which the module enforces, is in two steps. First, with O(start=false), the
    reverse task is armed while the forward task still runs. Then, once the forward task is paused
    (or finished), O(start=true) starts it. Two one-way tasks in opposite directions never run together.
  - With O(method=reverse_api), DTS creates a reverse instance (CreateReverseDtsJob, a synchronization
    task) of a forward task that runs in incremental migration; it prechecks it at once and captures
    the destination's changes with its writer stopped. Starting it calls StartReverseWriter (from
    O(checkpoint) if given) and waits until it runs. DTS offers this for MySQL, SQL Server and MongoDB only.
  - With O(method=configure), the module buys a migration instance (CreateDtsInstance), configures it
    with the forward task's endpoints swapped and incremental migration only (ConfigureDtsJob, with
    C(autoStartModulesAfterConfig=none) so that nothing starts yet). Starting it calls StartDtsJob,
    which runs its precheck, and waits until it runs. This needs the database passwords, which DTS never returns.
  - With O(method=auto) (default), V(reverse_api) is used for MySQL, SQL Server and MongoDB tasks in
    incremental migration, V(configure) for the others. When DTS refuses CreateReverseDtsJob, V(auto)
    falls back to V(configure) if O(source_password) and O(destination_password) are given.
  - Idempotent. An existing reverse task is found by O(reverse_job_id), or else among the unfinished
    tasks whose source is the forward task's destination and whose destination is its source (and,
    for O(method=configure), by O(name)); then nothing is created. A create whose outcome is unknown
    (timeout, dropped connection, server error) is followed by that lookup, never by a blind second create.
  - O(state=absent) stops and releases the reverse task.
options:
  job_id:
    description:
      - ID of the forward task (C(DtsJobId)), the migration from the old database to the new one.
      - With O(method=reverse_api), it must run in incremental migration when the reverse task is created,
        and be paused (see M(dtsops.switchover.dts_task)) when it is started.
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
    default: auto
    choices: [auto, reverse_api, configure]
  reverse_job_id:
    description:
      - ID of the reverse task, when it is known (for example from the journal of an earlier run).
        It must be a reverse of O(job_id).
      - With O(state=absent), a task of this ID that no longer exists counts as released.
    type: str
  start:
    description:
      - Start the reverse writer (O(method=reverse_api)) or the reverse task (O(method=configure)) and
        wait until it runs. The forward task must be paused or finished by then.
      - V(false) arms the reverse task only - created and prechecked (O(method=reverse_api)), or bought and
        configured (O(method=configure)) - which DTS allows while the forward task runs.
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
      - Password of the forward task's source database, where the reverse task writes. Needed by
        O(method=configure); with O(method=auto), it enables the fall-back to V(configure).
    type: str
  destination_password:
    description:
      - Password of the forward task's destination database, which the reverse task reads. Needed by
        O(method=configure); with O(method=auto), it enables the fall-back to V(configure).
    type: str
  source_user:
    description:
      - O(method=configure) (or V(auto) falling back to it) only. Account on the forward task's source database for the reverse task
        to write with. Defaults to the forward task's source account.
    type: str
  destination_user:
    description:
      - O(method=configure) (or V(auto) falling back to it) only. Account on the forward task's destination database for the reverse
        task to read with. Defaults to the forward task's destination account.
    type: str
  db_list:
    description:
      - O(method=configure) (or V(auto) falling back to it) only. The objects to migrate back, in the C(DbList) format of ConfigureDtsJob.
        Defaults to the forward task's objects (C(DbObject)).
    type: dict
  instance_class:
    description:
      - O(method=configure) (or V(auto) falling back to it) only. Class of the migration instance bought (pay-as-you-go).
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
- name: Arm the reverse task while the forward task still runs (before writes are fenced)
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    start: false
  register: reverse

- name: Journal its ID at once
  ansible.builtin.set_fact:
    reverse_job_id: "{{ reverse.job_id }}"

# ... fence writes, prove catch-up ...

- name: Pause the forward task
  dtsops.switchover.dts_task:
    job_id: "{{ dts_job_id }}"
    state: paused

- name: Start the reverse task (StartReverseWriter, or StartDtsJob for a configured one)
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    reverse_job_id: "{{ reverse_job_id }}"
    method: "{{ reverse.method }}"

- name: A PostgreSQL task - an incremental-only migration task, configured before the fence
  dtsops.switchover.dts_reverse_task:
    job_id: "{{ dts_job_id }}"
    method: configure
    start: false
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
  description:
    - The method used, V(reverse_api) or V(configure) (O(method=auto) resolved, or the method of the
      reverse task found).
  returned: always
  type: str
fallback:
  description: Why O(method=auto) fell back to V(configure) (DTS refused CreateReverseDtsJob); absent otherwise.
  returned: when it fell back
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
    - The state of the reverse task at the end - V(absent), V(not_started) (configured, not started),
      V(starting), V(paused) (created and prechecked, writer not started), V(running), V(stopped) or V(failed).
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

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DtsModule
from ansible_collections.dtsops.switchover.plugins.module_utils.reverse_task import REVERSE_TASK_SPEC, reverse_task


def main():
    DtsModule(argument_spec=REVERSE_TASK_SPEC).run(reverse_task)


if __name__ == '__main__':
    main()
