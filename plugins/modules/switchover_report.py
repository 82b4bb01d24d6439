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
    JSON report and a human-readable one, Markdown and HTML with an inline lag chart.
  - The report holds the timeline per phase, the write-unavailable window (from the fence to the
    moment applications could write again), the lag samples, the fenced accounts, the sessions that
    were ended, the task ids and the outcome.
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
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils import journal as journal_utils
from ansible_collections.dtsops.switchover.plugins.module_utils import report as report_utils

RENDERERS = {
    'json': ('json', report_utils.render_json),
    'markdown': ('md', report_utils.render_markdown),
    'html': ('html', report_utils.render_html),
}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            journal_path=dict(type='path'),
            journal=dict(type='dict'),
            dest=dict(type='path', required=True),
            formats=dict(type='list', elements='str', choices=list(RENDERERS), default=list(RENDERERS)),
        ),
        mutually_exclusive=[('journal', 'journal_path')],
        required_one_of=[('journal', 'journal_path')],
        supports_check_mode=True,
    )
    params = module.params
    journal = params['journal']
    if journal is None:
        try:
            journal = journal_utils.load(params['journal_path'])
        except journal_utils.JournalError as exc:
            module.fail_json(msg=str(exc))
        if journal is None:
            module.fail_json(msg='There is no journal at %s: nothing to report.' % params['journal_path'])
    if not journal.get('run_id') or not journal.get('unit'):
        module.fail_json(msg='The journal has no unit or run_id: pass a journal written by switchover_journal.')

    report = report_utils.build_report(journal)
    files = {}
    base = os.path.join(params['dest'], '%s-%s' % (journal['unit'], journal['run_id']))
    for fmt in params['formats']:
        extension, render = RENDERERS[fmt]
        files[fmt] = '%s.%s' % (base, extension)
        if not module.check_mode:
            try:
                os.makedirs(params['dest'], exist_ok=True)
                with open(files[fmt], 'w') as stream:
                    stream.write(render(report))
            except OSError as exc:
                module.fail_json(msg='Cannot write the report %s: %s' % (files[fmt], exc))
    module.exit_json(changed=not module.check_mode, report=report, files=files,
                     write_unavailable_seconds=report['write_unavailable']['seconds'])


if __name__ == '__main__':
    main()
