#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: switchover_window
short_description: Run the steps of the write-unavailable window back to back
version_added: 1.1.0
description:
  - Runs phases of the switchover (or of its rollback) that happen while writes are fenced, one after
    the other in the C(ansible-playbook) process (the fence, the session check, the catch-up proof,
    the pause of the task, the reopening of the source and the start of the reverse task). No task,
    fork or Python start per step.
  - Each phase is recorded in the journal (fsync) before and after it runs, and what an abort must
    know (the window's start, the pause or the start requested) before it acts, so that a run killed
    between two steps resumes or aborts correctly.
  - The write budget is enforced before each step and bounds each step's own timeout, on a
    monotonic clock.
  - With O(point_of_no_return), checks that the way back still works (the reverse task runs, both
    databases answer) and records the point of no return.
  - The role M(dtsops.switchover.switchover) calls it; the steps are in C(module_utils/window.py).
  - When the unit's connection is local, the collection's modules run in-process; otherwise (the
    databases reachable only from the unit's host) they are shipped as usual, one per step.
  - This is an action plugin, it runs on the controller only.
author:
  - dtsops.switchover maintainers (@dtsops)
options:
  path:
    description:
      - The journal file of the run (see M(dtsops.switchover.switchover_journal)).
    type: path
    required: true
  unit:
    description:
      - The migration unit (C(inventory_hostname)).
    type: str
    required: true
  store:
    description:
      - The journal store, as for M(dtsops.switchover.switchover_journal).
    type: dict
  journal:
    description:
      - In check mode, the journal built in memory by the run's earlier tasks.
    type: dict
  phases:
    description:
      - The phases to run, in order, by their names in the journal (C(fence), C(rollback_fence), ...).
    type: list
    elements: str
    default: []
  point_of_no_return:
    description:
      - After the phases, check the way back and record the point of no return.
    type: bool
    default: false
  note:
    description:
      - The note recorded with the point of no return.
    type: str
    default: ''
  settings:
    description:
      - What the steps read, as the role assembles it (C(switchover_window_settings) in the role's
        C(vars/main.yml)), namely the two connections, the fence scope and accounts, the catch-up mode, the
        timeouts, the write budget, the task IDs, the reverse task's options and the DTS options.
    type: dict
    required: true
extends_documentation_fragment:
  - dtsops.switchover.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode each step runs its modules in check mode (live values) and the journal is
        changed in memory only and returned.
  diff_mode:
    support: none
notes:
  - For fault tests, with the environment variable C(DTSOPS_SWITCHOVER_STEP_GATE) set to a directory
    the action stops at each point named in C(DTSOPS_SWITCHOVER_STEP_POINTS) (C(before_<phase>),
    C(after_<phase>), or C(*)), writes the point to C(<directory>/at) and waits until that file is removed.
'''

EXAMPLES = r'''
- name: Fence, check the sessions and prove catch-up
  dtsops.switchover.switchover_window:
    path: "/var/lib/switchover/{{ inventory_hostname }}.json"
    unit: "{{ inventory_hostname }}"
    phases: [fence, verify_sessions, catch_up]
    settings: "{{ switchover_window_settings }}"
'''

RETURN = r'''
steps:
  description: The phases run, with their time in seconds and their plan.
  returned: always
  type: list
  elements: dict
  sample: [{phase: fence, seconds: 0.012, plan: "ALTER USER 'shop'@'%' ACCOUNT LOCK"}]
in_process:
  description: How many module calls ran in-process.
  returned: always
  type: int
shipped:
  description: How many module calls were shipped to the unit's host.
  returned: always
  type: int
failed_module:
  description: The module whose failure stopped the steps.
  returned: failed
  type: str
ansible_facts:
  description: The journal after the steps, as C(switchover_journal).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils.window import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='switchover_window runs on the controller, as an action plugin: it was called as a module.')


if __name__ == '__main__':
    main()
