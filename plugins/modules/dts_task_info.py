#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: dts_task_info
short_description: Read one DTS task, or list tasks
version_added: 1.0.0
description:
  - With O(job_id), reads that task (DescribeDtsJobDetail).
  - Without it, lists the tasks of O(job_type) in the region (DescribeDtsJobs, every page), filtered by
    O(name) and O(status).
  - Returns each task as the same view the other DTS modules return.
options:
  job_id:
    description:
      - ID of one DTS task (C(DtsJobId)). An unknown ID gives an empty RV(jobs).
    type: str
  name:
    description:
      - List only the tasks with exactly this name.
    type: str
  status:
    description:
      - List only the tasks with this status (for example V(Migrating), V(Suspending), V(Synchronizing)),
        compared without regard to case.
    type: str
  job_type:
    description:
      - The type of tasks to list. Reverse tasks made by M(dtsops.switchover.dts_reverse_task) with
        its default method are V(SYNC) tasks.
      - Defaults to V(MIGRATION), as in DescribeDtsJobs.
    type: str
    choices: [MIGRATION, SYNC, SUBSCRIBE]
extends_documentation_fragment:
  - dtsops.switchover.dts
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_dts
  - dtsops.switchover.attributes.info_module
notes:
  - "RAM permissions: C(dts:DescribeDtsJobDetail) with O(job_id), C(dts:DescribeDtsJobs) otherwise."
  - DescribeDtsJobs reports the delay of synchronization tasks in seconds and of migration tasks in
    milliseconds; RV(jobs[].delay_ms) is milliseconds for both.
seealso:
  - module: dtsops.switchover.dts_task
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Read the migration task
  dtsops.switchover.dts_task_info:
    job_id: "{{ dts_job_id }}"
  register: info

- name: Show where it is
  ansible.builtin.debug:
    msg: "{{ info.jobs[0].status }} / {{ info.jobs[0].phase }}, delay {{ info.jobs[0].delay_seconds }} s"

- name: Find the migration task by name
  dtsops.switchover.dts_task_info:
    name: orders-to-rds
  register: found

- name: List the paused synchronization tasks
  dtsops.switchover.dts_task_info:
    job_type: SYNC
    status: Suspending
'''

RETURN = r'''
jobs:
  description: The tasks found.
  returned: always
  type: list
  elements: dict
  contains:
    job_id:
      description: ID of the task (C(DtsJobId)).
      type: str
      sample: l3m1213ye7l****
    instance_id:
      description: ID of the DTS instance (C(DtsInstanceID)).
      type: str
      sample: dtsl3m1213ye7l****
    name:
      description: Name of the task.
      type: str
    job_type:
      description: V(MIGRATION), V(SYNC) or V(SUBSCRIBE).
      type: str
    status:
      description: The status as DTS reports it (for example V(Migrating), V(synchronizing), V(Suspending)).
      type: str
    phase:
      description:
        - Where the task is. One of V(not_started), V(precheck), V(structure), V(full), V(incremental),
          V(paused), V(finished), V(failed).
        - V(structure) and V(full) are told apart only when DTS reports the status of each part;
          otherwise the initial load is V(full) when the task has one.
      type: str
    delay_ms:
      description: Delay of incremental migration, in milliseconds.
      type: int
    delay_seconds:
      description: The same delay in seconds.
      type: float
    checkpoint:
      description: Incremental migration offset, in UNIX seconds.
      type: int
    checkpoint_time:
      description: RV(jobs[].checkpoint) as an ISO 8601 UTC time.
      type: str
    paused:
      description: Whether the task is paused (C(Suspending)).
      type: bool
    failed:
      description: Whether the task failed (including a failed precheck).
      type: bool
    finished:
      description: Whether the task has finished (stopped).
      type: bool
    caught_up:
      description: Whether incremental migration has no delay (C(DataSynchronizationStatus) C(Catched)).
      type: bool
    retrying:
      description: Whether DTS is retrying after an error.
      type: bool
    error_message:
      description: The task's error, when there is one.
      type: str
    migration_mode:
      description: Which parts the task runs (C(structure), C(full), C(incremental)).
      type: dict
    source:
      description:
        - The source endpoint (C(instance_type), C(engine_name), C(instance_id), C(region), C(ip), C(port),
          C(user_name), C(database_name), C(oracle_sid), C(role_name), C(aliyun_uid), C(ssl_solution)).
      type: dict
    destination:
      description: The destination endpoint, with the keys of RV(jobs[].source).
      type: dict
    raw:
      description: The task as DTS returned it.
      type: dict
api_calls:
  description: The DTS API actions called.
  returned: always
  type: list
  elements: str
  sample: [DescribeDtsJobs]
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DtsModule
from ansible_collections.dtsops.switchover.plugins.module_utils.task_state import TASK_INFO_RULES, TASK_INFO_SPEC, task_info


def main():
    DtsModule(argument_spec=TASK_INFO_SPEC, **TASK_INFO_RULES).run(task_info)


if __name__ == '__main__':
    main()
