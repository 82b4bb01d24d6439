#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: dts_task
short_description: Pause, resume, stop or release a DTS task
version_added: 1.0.0
description:
  - Brings a DTS migration or synchronization task to O(state) and waits until DTS reports it there.
  - V(paused) pauses the task (SuspendDtsJob, status C(Suspending)). The returned RV(checkpoint) is the
    offset at which it stopped; the writer of a reverse task may start from it.
  - V(running) starts a task that has not started yet (StartDtsJob), or resumes a paused or failed one,
    which needs O(force=true).
  - V(stopped) ends the task (StopDtsJob, status C(Finished)). A stopped task cannot run again; it can
    only be released.
  - V(absent) releases the task and its instance (DeleteDtsJob).
  - A task already in O(state) is left alone (C(changed=false)).
options:
  job_id:
    description:
      - ID of the DTS task (C(DtsJobId)).
    type: str
    required: true
  state:
    description:
      - The state to bring the task to.
      - V(finished) runs a task to its end, for a task without incremental migration. It starts the
        task when it has not started, and waits until DTS reports it C(Finished). A task with
        incremental migration never finishes on its own, so it is refused.
      - With V(finished), the action plugin waits in slices of at most 30 seconds and prints the task's
        status between them (variable C(dtsops_progress_interval), 0 to wait in one piece).
    type: str
    required: true
    choices: [paused, running, stopped, finished, absent]
  force:
    description:
      - Allow O(state=running) to resume a paused task or restart a failed one.
      - B(Resuming a paused migration casually can corrupt data.) After a switchover the applications
        write to the destination; a resumed forward task would overwrite their changes with the
        source's. Resume only when no application writes to the destination, for example after
        aborting a switchover before the point of no return.
      - A migration task paused for more than 7 days cannot be resumed (DTS).
    type: bool
    default: false
  wait:
    description:
      - Wait until DTS reports the task in O(state). Without it the module returns after the request.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for O(state).
    type: float
    default: 300
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
      - Reads the task and reports whether it would change; calls no action that changes anything.
  diff_mode:
    support: full
    details:
      - The state and status of the task before and after.
notes:
  - "RAM permissions: C(dts:DescribeDtsJobDetail), and C(dts:SuspendDtsJob), C(dts:StartDtsJob),
    C(dts:StopDtsJob) or C(dts:DeleteDtsJob) for the state asked."
  - A paused PostPaid migration task with incremental migration is still billed; stop or release it
    when it is no longer needed.
  - A call whose effect is unknown (timeout, dropped connection, server error) is not repeated
    blindly; the module reads the task first and repeats the call only if it did not take effect.
seealso:
  - module: dtsops.switchover.dts_wait_undelayed
  - module: dtsops.switchover.dts_reverse_task
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Pause the migration task once the source is fenced and the destination caught up
  dtsops.switchover.dts_task:
    job_id: "{{ dts_job_id }}"
    state: paused
  register: paused

- name: Keep the checkpoint at which the task stopped
  ansible.builtin.set_fact:
    forward_checkpoint: "{{ paused.checkpoint }}"

- name: Abort before the point of no return - resume the forward task (no application wrote to the destination)
  dtsops.switchover.dts_task:
    job_id: "{{ dts_job_id }}"
    state: running
    force: true

- name: Later - end the original task, then release it
  dtsops.switchover.dts_task:
    job_id: "{{ dts_job_id }}"
    state: "{{ item }}"
  loop: [stopped, absent]
'''

RETURN = r'''
job_id:
  description: ID of the task.
  returned: always
  type: str
  sample: l3m1213ye7l****
state:
  description: The state of the task at the end (V(paused), V(running), V(stopped), V(absent), V(not_started) or V(failed)).
  returned: always
  type: str
  sample: paused
previous_state:
  description: The state of the task before the module ran.
  returned: always
  type: str
  sample: running
timed_out:
  description: Whether the wait ended because O(timeout) passed.
  returned: when the wait timed out
  type: bool
  sample: true
last_seen:
  description: What the last read of the task found, when the wait timed out.
  returned: when the wait timed out
  type: str
  sample: last seen Migrating
status:
  description: The task status at the end (C(Status) of DescribeDtsJobDetail); null once released.
  returned: always
  type: str
  sample: Suspending
checkpoint:
  description: The incremental migration offset at the end (UNIX seconds); for a paused task, where it stopped.
  returned: when the task exists
  type: int
  sample: 1616405159
job:
  description:
    - The task at the end (before its release for O(state=absent)), with the keys of
      M(dtsops.switchover.dts_task_info).
  returned: when the task existed
  type: dict
action:
  description: The DTS action that changed the task (in check mode, that would), or null.
  returned: always
  type: str
  sample: SuspendDtsJob
waited:
  description: Seconds spent waiting for O(state).
  returned: always
  type: float
polls:
  description: Reads of the task while waiting.
  returned: always
  type: int
samples:
  description: Each read while waiting (C(t), C(time), C(ready), C(status), C(phase), C(delay_ms)).
  returned: always
  type: list
  elements: dict
api_calls:
  description: The DTS API actions called.
  returned: always
  type: list
  elements: str
  sample: [DescribeDtsJobDetail, SuspendDtsJob]
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DtsModule
from ansible_collections.dtsops.switchover.plugins.module_utils.task_state import TASK_STATE_SPEC, task_state


def main():
    DtsModule(argument_spec=TASK_STATE_SPEC).run(task_state)


if __name__ == '__main__':
    main()
