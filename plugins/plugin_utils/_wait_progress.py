# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of the modules that wait for minutes (the instance modules, ssh_ready): the module
runs as usual (on the controller), in a thread, with ``progress_file`` set to a private temporary
file; meanwhile a line is printed every ``progress_interval`` seconds from what the module last
wrote there: what is awaited, the last status seen, how long so far and the limit."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._progress import read_progress
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import format_duration as duration

display = Display()


def progress_line(label, module, progress, elapsed):
    """One line a person understands; before the module wrote anything, how long it has run."""
    prefix = ('%s: ' % label) if label else ''
    if not progress:
        return '%s%s: working, %s so far' % (prefix, module, duration(elapsed))
    line = '%swaiting for %s: %s, %s so far' % (prefix, progress.get('what'), progress.get('status'), duration(progress.get('waited', elapsed)))
    if progress.get('timeout') is not None:
        line += ' of at most %s' % duration(progress['timeout'])
    return line


class WaitProgressAction(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(WaitProgressAction, self).run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            interval = int(args.get('progress_interval', 30))
        except (TypeError, ValueError):
            interval = 30  # the module's own argument check says what is wrong
        local = self._connection.transport in ('local', 'ansible.builtin.local')
        quiet = (interval <= 0 or self._task.async_val or not local or self._task.check_mode
                 or not boolean(args.get('wait', True), strict=False))
        if quiet:
            result.update(self._execute_module(module_args=args, task_vars=task_vars))
            return result
        folder = tempfile.mkdtemp(prefix='nrg-progress-')
        args['progress_file'] = os.path.join(folder, 'progress.json')
        answer = {}

        def execute():
            # whatever goes wrong in the thread becomes the task's failure
            try:
                answer.update(self._execute_module(module_args=args, task_vars=task_vars))
            except Exception as err:  # pylint: disable=broad-except
                answer.update(failed=True, msg='%s failed to run: %s' % (self._task.action, err))

        worker = threading.Thread(target=execute, name='nrg-module')
        started = time.monotonic()
        worker.start()
        label = (task_vars or {}).get('inventory_hostname', '')
        module = self._task.action.split('.')[-1]
        try:
            while True:
                worker.join(timeout=interval)
                if not worker.is_alive():
                    break
                display.display(progress_line(label, module, read_progress(args['progress_file']), time.monotonic() - started))
        finally:
            worker.join()
            shutil.rmtree(folder, ignore_errors=True)
        result.update(answer)
        return result
