#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: switchover_fleet_report
short_description: Write one report of every unit of a run of the playbook
version_added: 1.0.0
description:
  - Reads the journals of several migration units (see M(dtsops.switchover.switchover_journal)) and
    writes one page with all of them, as JSON, Markdown and HTML, each unit with its outcome, both
    windows (the role's write-unavailable window from the fence to the point of no return, and
    the window the applications saw from traffic stopped to traffic started), its reverse task,
    what is true of its fence, and a link to its own report
    (M(dtsops.switchover.switchover_report)).
  - It prints its summary line (the units by outcome, and where the report is).
  - The P(dtsops.switchover.switchover#role) role writes it once per run of the playbook, with
    C(run_once), in C(<switchover_state_dir>/fleet).
  - A unit whose journal does not exist is listed as such, not left out.
  - It runs on the controller (an action plugin does the work in the C(ansible-playbook) process).
author:
  - dtsops.switchover maintainers (@dtsops)
options:
  units:
    description:
      - One entry per unit.
    type: list
    elements: dict
    required: true
    suboptions:
      journal_path:
        description:
          - The unit's journal.
        type: path
        required: true
      unit:
        description:
          - The unit's name when there is no journal to read it from. Defaults to the journal's file name.
        type: str
      reports:
        description:
          - The files of the unit's own report by format, as RV(dtsops.switchover.switchover_report#module:files)
            returns them. The fleet report links to them with paths relative to O(dest).
        type: dict
        default: {}
  dest:
    description:
      - Directory for the report files, created when missing.
    type: path
    required: true
  name:
    description:
      - Base name of the files (C(<name>.json), C(.md), C(.html)).
      - Defaults to C(fleet-<UTC time>), for example C(fleet-20261124T020000Z).
    type: str
  formats:
    description:
      - Which reports to write.
    type: list
    elements: str
    choices: [json, markdown, html]
    default: [json, markdown, html]
extends_documentation_fragment:
  - dtsops.switchover.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode no file is written; the report is still returned.
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Write the fleet report of this run
  dtsops.switchover.switchover_fleet_report:
    units:
      - journal_path: /var/lib/switchover/orders.json
        reports:
          html: /var/lib/switchover/reports/orders-20261124T020000Z-1a2b3c.html
      - journal_path: /var/lib/switchover/billing.json
    dest: /var/lib/switchover/fleet
  run_once: true
'''

RETURN = r'''
fleet:
  description: The fleet report (the content of the JSON report), with one entry per unit in C(units).
  returned: always
  type: dict
files:
  description: The files written, by format.
  returned: always
  type: dict
  sample:
    json: /var/lib/switchover/fleet/fleet-20261124T020000Z.json
    markdown: /var/lib/switchover/fleet/fleet-20261124T020000Z.md
    html: /var/lib/switchover/fleet/fleet-20261124T020000Z.html
summary:
  description: One line with the number of units by outcome and the report's path.
  returned: always
  type: str
  sample: "Switchover of 20 units: 19 completed, 1 aborted; report /var/lib/switchover/fleet/fleet-20261124T020000Z.html"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils import report as report_utils


def main():
    module = AnsibleModule(argument_spec=report_utils.FLEET_ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = report_utils.run_fleet(module.params, module.check_mode)
    except report_utils.ReportError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
