# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of nanochat.remote_gpu.speedrun_status: with ``wait``, read the run again every
``wait_delay`` seconds until it is no longer running, printing one progress line per reading
(stage, step, elapsed, ETA, cost so far and projected where the price is given, how long waited) instead of Ansible's ``FAILED - RETRYING``."""

from __future__ import annotations

import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import format_duration as duration

display = Display()

WAIT_ARGS = ('wait', 'wait_timeout', 'wait_delay')


def progress_line(host, status, waited, timeout):
    parts = ['%s: speedrun %s %s' % (host, status.get('run_id') or '', status.get('state'))]
    if status.get('current_stage'):
        parts.append('stage %s' % status['current_stage'])
    if status.get('progress'):
        parts.append(status['progress'])
    if status.get('elapsed'):
        parts.append('running for %s' % status['elapsed'])
    if status.get('eta'):
        parts.append('base_train ETA %s' % status['eta'])
    if status.get('cost_so_far_usd') is not None:
        parts.append('cost so far %.2f USD' % status['cost_so_far_usd'])
    if status.get('projected_total_usd') is not None:
        parts.append('projected %.2f USD' % status['projected_total_usd'])
    parts.append('waited %s of at most %s' % (duration(waited), duration(timeout)))
    return ', '.join(parts)


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        wait = boolean(args.pop('wait', False), strict=False)
        try:
            timeout = float(args.pop('wait_timeout', 14400))
            delay = max(float(args.pop('wait_delay', 60)), 0.5)
        except (TypeError, ValueError):
            result.update(failed=True, msg='wait_timeout and wait_delay must be numbers of seconds')
            return result
        started = time.monotonic()
        host = task_vars.get('inventory_hostname', '') if task_vars else ''
        while True:
            answer = self._execute_module(module_args=args, task_vars=task_vars)
            result.update(answer)
            status = answer.get('speedrun') or {}
            if not wait or answer.get('failed') or status.get('state') != 'running':
                break
            waited = time.monotonic() - started
            if waited >= timeout:
                result.update(failed=True, msg='The speedrun is still running after waiting %s (wait_timeout): %s'
                              % (duration(waited), status.get('summary')))
                break
            display.display(progress_line(host, status, waited, timeout))
            time.sleep(min(delay, max(timeout - waited, 0.5)))
        if wait:
            result['waited_seconds'] = round(time.monotonic() - started, 1)
        return result
