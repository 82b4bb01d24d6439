#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: switchover_report
short_description: Write the report of a switchover from its journal
version_added: 1.0.0
description:
  - Renders the journal of a migration unit (see M(dtsops.switchover.switchover_journal)) as a
    JSON report and a human-readable one, Markdown and HTML.
  - The HTML report has two inline SVG charts on one time axis, the timeline (phases as bars,
    DTS steps and database steps in different colours, both windows shaded, the fence, the
    catch-up proof and the point of no return marked) and the DTS delay.
  - The report holds both windows, the role's write-unavailable window (from the fence to the
    point of no return, or to the reopening of the source after an abort) and the window the
    applications saw (from the start of the stop of their traffic to the end of its start on the
    destination, from those phases' own times), the phases that ran and apart from them the ones
    that were skipped, what is true of the fence, the lag samples, the fenced accounts, the sessions
    that were ended, the task ids and the outcome.
  - Times are ISO 8601 in UTC (for example C(2026-12-03T21:12:31.345Z)).
  - M(dtsops.switchover.switchover_fleet_report) puts the units of one run on one page.
  - It runs on the controller (an action plugin does the work in the C(ansible-playbook) process) and
    prints the summary line.
author:
  - dtsops.switchover maintainers (@dtsops)
options:
  journal_path:
    description:
      - The journal file to report on.
      - Mutually exclusive with O(journal).
    type: path
  journal:
    description:
      - The journal itself, for example RV(dtsops.switchover.switchover_journal#module:journal).
      - Mutually exclusive with O(journal_path).
    type: dict
  dest:
    description:
      - Directory for the report files, created when missing. The files are named
        C(<unit>-<run_id>.json), C(.md) and C(.html).
    type: path
    required: true
  formats:
    description:
      - Which reports to write.
    type: list
    elements: str
    choices: [json, markdown, html]
    default: [json, markdown, html]
  publish:
    description:
      - Also hand the outcome on, as the role does, as set_stats data under C(switchover.<unit>) (outcome,
        result, next step, task IDs, both windows, the fence, the journal and the report files), which AWX
        workflows and ansible-runner artifacts read, and as the fact C(switchover_fleet_unit) that
        M(dtsops.switchover.switchover_fleet_report) takes from each unit.
    type: bool
    default: false
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
- name: Write the report of this unit
  dtsops.switchover.switchover_report:
    journal_path: "/var/lib/switchover/{{ inventory_hostname }}.json"
    dest: /var/lib/switchover/reports
'''

RETURN = r'''
ansible_stats:
  description: With O(publish), the set_stats data of the unit (not aggregated per host).
  returned: when O(publish) is true
  type: dict
ansible_facts:
  description: With O(publish), C(switchover_fleet_unit), the unit's entry for the fleet report.
  returned: when O(publish) is true
  type: dict
report:
  description: The report (the content of the JSON report).
  returned: always
  type: dict
files:
  description: The files written, by format.
  returned: always
  type: dict
  sample:
    json: /var/lib/switchover/reports/orders-20261124T020000Z-1a2b3c.json
    markdown: /var/lib/switchover/reports/orders-20261124T020000Z-1a2b3c.md
    html: /var/lib/switchover/reports/orders-20261124T020000Z-1a2b3c.html
write_unavailable_seconds:
  description: Seconds from the fence to the moment applications could write again; null while open or when nothing was fenced.
  returned: always
  type: float
  sample: 2.4
summary:
  description:
    - One line that says what is true of the run, for the playbook's output. It names the fence only when
      it matters (V(no fence was taken), V(fence lifted), or that the source may still be fenced),
      and both windows when they closed.
  returned: always
  type: str
  sample: >-
    orders: switchover completed; write-unavailable window (fence to point of no return) 2.4 s;
    application-observed window (traffic stopped to traffic started on the destination) 4.1 s;
    reverse task dtsr1a2b3c; report /var/lib/switchover/reports/orders-20261124T020000Z-1a2b3c.html
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils import report as report_utils


def main():
    module = AnsibleModule(argument_spec=report_utils.ARGUMENT_SPEC, mutually_exclusive=report_utils.MUTUALLY_EXCLUSIVE,
                           required_one_of=report_utils.REQUIRED_ONE_OF, supports_check_mode=True)
    try:
        result = report_utils.run(module.params, module.check_mode)
    except report_utils.ReportError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
