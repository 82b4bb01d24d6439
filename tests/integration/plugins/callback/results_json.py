# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result as a JSON line to $DTSOPS_TEST_RESULTS."""

from __future__ import annotations

DOCUMENTATION = r'''
name: results_json
type: aggregate
short_description: Write task results as JSON lines (tests only)
description:
  - Appends one JSON object per task result to the file named by E(DTSOPS_TEST_RESULTS).
options: {}
'''

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'results_json'
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, status, result):
        path = os.environ.get('DTSOPS_TEST_RESULTS')
        if not path:
            return
        record = {
            'status': status,
            'host': result._host.get_name(),
            'task': result._task.get_name(),
            'action': result._task.action,
            'result': result._result,
        }
        with open(path, 'a') as stream:
            stream.write(json.dumps(record, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._write('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write('failed', result)

    def v2_runner_on_skipped(self, result):
        self._write('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._write('unreachable', result)
