#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: switchover_journal
short_description: Record what a switchover did, so that a new run can resume it
version_added: 1.0.0
description:
  - Reads and updates the journal of one migration unit, a JSON file that records each phase of
    the switchover (times, results, fence records, task ids).
  - Every update is written atomically (temporary file, fsync, rename), so a controller killed at
    any moment leaves a complete journal behind.
  - The P(dtsops.switchover.switchover#role) role uses it; it is usable on its own in playbooks that
    build their own procedure.
  - It runs on the controller (an action plugin does the work in the C(ansible-playbook) process),
    so the journal is a file of the controller whatever the connection of the host.
  - With O(store) the journal is also kept in a database (usually the destination), for controllers
    whose disk does not outlive a job (AWX, execution environments). Every write of the journal
    upserts it there first; an operation that finds no file at O(path) takes the journal from the
    store (O(operation=begin) writes the file from it, so a new controller resumes the run).
author:
  - dtsops.switchover maintainers (@dtsops)
options:
  path:
    description:
      - The journal file. Its directory is created (mode 0700) when missing.
    type: path
    required: true
  operation:
    description:
      - V(begin) starts a run, or resumes the run recorded in O(path) when it did not finish.
        RV(how) tells which.
      - V(read) returns the journal (or nothing) and changes nothing.
      - V(phase) records a phase transition (O(phase), O(status), O(result), O(note)).
      - V(data) merges O(data) into the journal's data.
      - V(plan), after the first phase of a run, records the phases of O(procedure) that do not apply
        to the unit (O(settings) decides) as skipped and returns RV(segments), what the role runs for the rest.
      - V(point_of_no_return) records the moment applications may write to the destination
        (only the first call counts).
      - V(finish) records the outcome of the run (O(outcome), O(note)).
      - V(archive) moves a finished journal aside as C(<path>.<run_id>), so that the next run
        starts afresh.
    type: str
    required: true
    choices: [begin, read, phase, data, plan, point_of_no_return, finish, archive]
  unit:
    description:
      - Name of the migration unit (usually C(inventory_hostname)). Required with O(operation=begin).
      - With O(store), other operations (O(operation=read) above all) need it to find the journal
        in the store when there is no file at O(path).
    type: str
  phase:
    description:
      - Phase name, for O(operation=phase).
    type: str
  status:
    description:
      - Phase status, for O(operation=phase).
    type: str
    choices: [started, done, failed, skipped]
  result:
    description:
      - What the phase produced, kept with the phase (merged when recorded again).
    type: dict
  data:
    description:
      - Values for later phases and for a resumed run (fence records, task ids), merged into the
        journal's data. With O(operation=phase) they are merged in the same write.
    type: dict
  outcome:
    description:
      - Outcome of the run, for O(operation=finish).
    type: str
    choices: [completed, aborted, failed]
  note:
    description:
      - A human-readable note kept with the transition or the outcome.
    type: str
    default: ''
  fact:
    description:
      - The fact the journal is returned as (C(ansible_facts.<fact>)), so that a play keeps no copy of
        it; V('') returns none.
    type: str
    default: switchover_journal
  journal:
    description:
      - In check mode, the journal the run's earlier tasks built in memory (nothing is written then);
        operations other than V(begin) work on it instead of the file. Ignored outside check mode.
    type: dict
  procedure:
    description:
      - The run the journal records, for O(operation=begin) (which returns RV(phases)) and
        O(operation=plan). A rollback runs the switchover's phases the other way, named C(rollback_<phase>).
    type: str
    choices: [switchover, rollback, finalize]
    default: switchover
  settings:
    description:
      - What decides the order and the skipped phases, for O(operation=begin) and O(operation=plan), namely
        C(reverse_arm), C(cutover), C(verify_when), C(incremental), C(scope), C(verify),
        C(release_forward), C(revoke_migration_writes), C(migration_account), and C(hooks) (the names of
        the hooks set, checked at O(operation=begin)).
    type: dict
    default: {}
  write_budget:
    description:
      - With O(operation=phase) and O(status=started), seconds of the write-unavailable budget; a
        phase that would start inside the window (after the fence, before the point of no return)
        once they are spent is refused, with the time spent.
    type: float
  check:
    description:
      - For O(operation=begin), the unit's settings as the role assembles them (C(switchover_check_settings)).
        A run whose settings cannot work fails here, before the journal is written, with one message
        that says what to fix.
    type: dict
notes:
  - The journal holds fence records and task ids, never passwords; it is written with mode 0600.
  - With O(store) the journal is stored as JSON text under the key C(<unit>/<file name of path>), for
    example C(orders/orders.json), so the journals of several units, and the switchover, rollback
    and finalize journals of one unit, share one object. O(operation=archive) moves the key aside as
    the file (C(orders/orders.json.<run_id>)).
  - With O(store) every write goes to the store first, then to the file. A store that cannot be
    reached or written fails the task with a message that names it (never its password); the
    journal is then unchanged in both places. Operations other than O(operation=begin) take the
    journal from the store only when O(unit) is given (the file holds the unit otherwise). The
    statements and privileges per engine are in the collection's C(docs/engines/) pages.
  - With O(store), the driver of the store's engine must be installed on the controller.
extends_documentation_fragment:
  - dtsops.switchover.db.store
  - dtsops.switchover.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the journal is not written; the module returns the journal it would write.
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Start or resume the run of this unit
  dtsops.switchover.switchover_journal:
    path: "/var/lib/switchover/{{ inventory_hostname }}.json"
    operation: begin
    unit: "{{ inventory_hostname }}"
  register: journal

- name: Record the fence so that a crashed run can lift it
  dtsops.switchover.switchover_journal:
    path: "/var/lib/switchover/{{ inventory_hostname }}.json"
    operation: phase
    phase: fence
    status: done
    data:
      fence: "{{ lock.fence }}"

- name: Start or resume the run, with the journal kept in the destination database as well (AWX)
  dtsops.switchover.switchover_journal:
    path: "/runner/artifacts/{{ inventory_hostname }}.json"
    operation: begin
    unit: "{{ inventory_hostname }}"
    store:
      engine: mysql
      login_host: dest.example.com
      login_user: switchover
      login_password: "{{ vault_dest_password }}"
      object: dtsops.switchover_journal
      create: true
'''

RETURN = r'''
journal:
  description: The journal after the operation (as read for O(operation=read); empty when there is none).
  returned: always
  type: dict
  sample:
    unit: orders
    run_id: 20261124T020000Z-1a2b3c
    outcome: running
    phases:
      fence: {status: done, started: 1795658400.1, finished: 1795658400.9, elapsed: 0.8}
    data:
      reverse_job_id: n99m9jx822k
how:
  description:
    - For O(operation=begin), V(new) (a new run), V(resumed) (an unfinished run continues) or
      V(finished) (the last run ended; archive it to start another).
  returned: when O(operation=begin)
  type: str
  sample: resumed
phases:
  description: The phases of O(procedure), in order (their names in the journal).
  returned: when O(operation=begin)
  type: list
  elements: str
  sample: [preflight, wait_undelayed, arm_reverse, stop_traffic, fence]
segments:
  description:
    - What remains to run, in order; C(kind) is V(task) (a task file of the role), V(window) (steps the
      switchover_window action runs back to back) or V(hook) (with C(hook), a user's hook).
  returned: when O(operation=plan)
  type: list
  elements: dict
  sample: [{kind: task, phases: [stop_traffic]}, {kind: window, phases: [fence, verify_sessions, catch_up]}]
ansible_facts:
  description: The journal again, as the fact named by O(fact).
  returned: when O(fact) is not empty
  type: dict
message:
  description:
    - For O(operation=begin), what a person should know, printed by the action, that the run resumes (with the
      phases done) or that the last run has finished and there is nothing to do; empty for a new run.
  returned: when O(operation=begin)
  type: str
archived_to:
  description: Where the journal was moved, for O(operation=archive).
  returned: when O(operation=archive) moved a journal
  type: str
path:
  description: The journal file.
  returned: always
  type: str
loaded_from:
  description:
    - Where the journal was read, V(file) or V(store) (O(store), when there was no file);
      null when there was none.
  returned: always
  type: str
  sample: store
statements:
  description:
    - The statements or commands run on the journal store (a stored journal shows as its size).
  returned: when O(store) is set
  type: list
  elements: str
  sample:
    - >-
      INSERT INTO `dtsops`.`switchover_journal` (doc_key, document) VALUES ('orders/orders.json',
      '<document: 2120 bytes>') ON DUPLICATE KEY UPDATE document = VALUES(document)
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils


def main():
    module = AnsibleModule(argument_spec=journal_utils.ARGUMENT_SPEC, required_if=journal_utils.REQUIRED_IF, supports_check_mode=True)
    try:
        result = journal_utils.run(module.params, module.check_mode)
    except journal_utils.JournalError as exc:
        module.fail_json(msg=str(exc), path=module.params['path'], changed=False)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
