#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: dts_wait_undelayed
short_description: Wait until a DTS task migrates changes with no delay
version_added: 1.0.0
description:
  - Polls a DTS migration or synchronization task, inside the module, until it is in incremental
    migration with a delay of at most O(max_delay) seconds, held for O(stable_for) seconds.
  - This is the "not delayed" condition of the DTS switchover procedure, which waits for it before
    stopping writes and again for one minute (O(stable_for=60)) before pausing the task.
  - Fails at once, with the task's own error, when the task can never get there (failed, precheck
    failed, finished, without incremental migration, or paused unless O(accept_paused=true)).
  - Polling backs off while the task is far from the goal (initial load, large delay) and returns to
    O(poll_interval) once the delay is close to O(max_delay).
options:
  job_id:
    description:
      - ID of the DTS task (C(DtsJobId)).
    type: str
    required: true
  max_delay:
    description:
      - Largest delay, in seconds, that counts as "not delayed". DescribeDtsJobDetail reports the delay in milliseconds.
    type: float
    default: 5
  stable_for:
    description:
      - Seconds the task must stay within O(max_delay) without interruption.
      - The vendor's procedure waits one minute (V(60)) before pausing the task.
    type: float
    default: 0
  timeout:
    description:
      - Seconds to wait before failing.
    type: float
    default: 1800
  poll_interval:
    description:
      - Seconds between two polls near the goal. Far from it the interval grows up to 30 seconds.
    type: float
    default: 5
  accept_paused:
    description:
      - Accept a paused task (C(Suspending)) instead of failing.
      - A paused task counts as not delayed when it was paused during incremental migration with a
        delay within O(max_delay), the state a switchover leaves behind, so a re-run passes.
        Otherwise the wait goes on (the task may be resumed).
    type: bool
    default: false
  held_for:
    description:
      - Continues an earlier wait that timed out while the task was undelayed, given its RV(held_for).
        When the first read finds the task undelayed, the stability window counts that time as held.
        Such a slice of a longer wait may be shorter than O(stable_for).
      - The action plugin of this module uses it to wait in slices of at most 30 seconds and print the
        current status and delay between them, so that long waits stay visible. The interval can be
        set with the variable C(dtsops_progress_interval) (seconds, 0 to wait in one piece).
    type: float
extends_documentation_fragment:
  - dtsops.switchover.dts
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_dts
  - dtsops.switchover.attributes.info_module
notes:
  - "RAM permission: C(dts:DescribeDtsJobDetail)."
seealso:
  - module: dtsops.switchover.dts_task
  - module: dtsops.switchover.db_caught_up
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Wait until the migration task is not delayed
  dtsops.switchover.dts_wait_undelayed:
    job_id: "{{ dts_job_id }}"
    region: cn-hangzhou
    timeout: 3600

- name: The vendor's check before pausing the task - no delay for one minute
  dtsops.switchover.dts_wait_undelayed:
    job_id: "{{ dts_job_id }}"
    max_delay: 0
    stable_for: 60
    poll_interval: 5
  register: undelayed

- name: Show the lag curve
  ansible.builtin.debug:
    msg: "{{ undelayed.samples | map(attribute='delay_ms') | list }}"

- name: Credentials once for every DTS module
  module_defaults:
    group/dtsops.switchover.dts:
      region: cn-hangzhou
      access_key_id: "{{ vault_dts_access_key_id }}"
      access_key_secret: "{{ vault_dts_access_key_secret }}"
  block:
    - name: Wait, accepting a task the switchover already paused
      dtsops.switchover.dts_wait_undelayed:
        job_id: "{{ dts_job_id }}"
        accept_paused: true
'''

RETURN = r'''
job_id:
  description: ID of the task.
  returned: always
  type: str
  sample: l3m1213ye7l****
status:
  description: The task status at the end (C(Status) of DescribeDtsJobDetail).
  returned: success
  type: str
  sample: Migrating
phase:
  description:
    - Where the task is. One of V(not_started), V(precheck), V(structure), V(full), V(incremental),
      V(paused), V(finished), V(failed).
  returned: success
  type: str
  sample: incremental
delay_ms:
  description: The delay of incremental migration at the end, in milliseconds.
  returned: success
  type: int
  sample: 0
delay_seconds:
  description: The same delay in seconds.
  returned: success
  type: float
  sample: 0.0
checkpoint:
  description: The incremental migration offset at the end (UNIX seconds).
  returned: success
  type: int
  sample: 1616405159
caught_up:
  description: Whether DTS reports the incremental migration as caught up (C(DataSynchronizationStatus) C(Catched)).
  returned: success
  type: bool
job:
  description: The task as the module saw it last (see M(dtsops.switchover.dts_task_info) for the keys).
  returned: when the task was read
  type: dict
waited:
  description: Seconds the module waited.
  returned: always
  type: float
  sample: 64.2
held_for:
  description: Seconds the task had been within O(max_delay) at the end.
  returned: always
  type: float
  sample: 60.0
timed_out:
  description: Whether the wait ended because O(timeout) passed.
  returned: when the wait timed out
  type: bool
  sample: true
polls:
  description: How many times the task was read.
  returned: always
  type: int
  sample: 14
samples:
  description:
    - The lag curve, at most 240 points spread over the wait (first and last included). Each has
      C(t) (seconds since the start), C(time) (epoch), C(ready), C(status), C(phase) and C(delay_ms).
  returned: always
  type: list
  elements: dict
api_calls:
  description: The DTS API actions called.
  returned: always
  type: list
  elements: str
  sample: [DescribeDtsJobDetail]
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DtsModule
from ansible_collections.dtsops.switchover.plugins.module_utils.task_state import WAIT_UNDELAYED_SPEC, wait_undelayed


def main():
    DtsModule(argument_spec=WAIT_UNDELAYED_SPEC).run(wait_undelayed)


if __name__ == '__main__':
    main()
