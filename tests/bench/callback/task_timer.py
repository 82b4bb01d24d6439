# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: appends each task's wall time as a JSON line to $DTSOPS_BENCH_TIMES."""

from __future__ import annotations

DOCUMENTATION = r'''
name: task_timer
type: aggregate
short_description: Write task durations as JSON lines (benchmarks only)
description:
  - Appends one JSON object per finished task (name, seconds from task start to result) to the file
    named by E(DTSOPS_BENCH_TIMES).
options: {}
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.perf_counter()

    def _done(self, result):
        path = os.environ.get('DTSOPS_BENCH_TIMES')
        start = self._started.get(result._task._uuid)
        if not path or start is None:
            return
        with open(path, 'a') as stream:
            stream.write(json.dumps({'task': result._task.get_name(), 'seconds': time.perf_counter() - start}) + '\n')

    def v2_runner_on_ok(self, result):
        self._done(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result)
