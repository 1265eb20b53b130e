# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action of nanochat.remote_gpu.rsync_pull: runs rsync on the controller (each transfer's files
from ``alias:src/`` into ``dest/``), copies its output into ``log_file`` and prints one progress
line every ``progress_interval`` seconds (how much of how much, rate, time left)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._rsync import (
    ARGUMENT_SPEC, STATS, parse_stats, progress_bytes, rsync_command)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import format_duration as duration

display = Display()

LINE_SPLIT = re.compile(r'[\r\n]')


def human_bytes(count):
    """512 B, 1.5 MiB, 2.0 GiB."""
    value = float(count)
    for unit in ('B', 'KiB', 'MiB'):
        if value < 1024:
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0
    return '%.1f GiB' % value


def progress_line(label, alias, done, total, elapsed):
    """One line a person can follow: how much of how much, the rate, the time left and so far."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = ['%scopying from %s: %s' % (('%s: ' % label) if label else '', alias, human_bytes(done))]
    if total:
        parts[0] += ' of %s (%d%%)' % (human_bytes(total), min(100, int(100.0 * done / total)))
    parts.append('%s/s' % human_bytes(rate))
    if total and rate > 0 and done < total:
        parts.append('about %s left' % duration((total - done) / rate))
    parts.append('%s so far' % duration(elapsed))
    return ', '.join(parts)


def run_transfer(argv, files, log, on_progress):
    """Run one rsync with the file list on stdin; feed each progress2 figure to on_progress.
    Returns (exit code, the output's lines)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        proc.stdin.write(('\n'.join(files) + '\n').encode())
        proc.stdin.close()
    except BrokenPipeError:  # rsync failed before reading its list; its output says why
        pass
    lines, pending = [], ''
    fd = proc.stdout.fileno()
    while True:
        ready, _w, _x = select.select([fd], [], [], 1.0)
        chunk = os.read(fd, 65536) if ready else None
        if chunk == b'':
            break
        if chunk:
            if log is not None:
                log.write(chunk)
                log.flush()
            pieces = LINE_SPLIT.split(pending + chunk.decode('utf-8', 'replace'))
            pending = pieces.pop()
            for piece in pieces:
                if piece.strip():
                    lines.append(piece)
                    done = progress_bytes(piece)
                    if done is not None:
                        on_progress(done)
        on_progress(None)
    if pending.strip():
        lines.append(pending)
    return proc.wait(), lines


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        alias, total = args['alias'], args['total_bytes']
        label = (task_vars or {}).get('inventory_hostname', '')
        count = sum(len(t['files']) for t in args['transfers'])
        if self._task.check_mode:
            result.update(changed=count > 0, msg='Check mode: would copy %d file(s) from %s' % (count, alias))
            return result
        started = time.monotonic()
        state = dict(before=0, current=0, shown=started)
        interval = args['progress_interval']

        def on_progress(done):
            if done is not None:
                state['current'] = done
            now = time.monotonic()
            if interval > 0 and now - state['shown'] >= interval:
                state['shown'] = now
                display.display(progress_line(label, alias, state['before'] + state['current'], total, now - started))

        log = open(args['log_file'], 'wb') if args['log_file'] else None
        outputs, stats = [], parse_stats([])
        try:
            for transfer in args['transfers']:
                if not transfer['files']:
                    continue
                argv = rsync_command(alias, args['ssh_config_file'], transfer['src'], transfer['dest'], args['rsync_options'])
                try:
                    rc, lines = run_transfer(argv, transfer['files'], log, on_progress)
                except OSError as err:
                    result.update(failed=True, msg='Could not run rsync on the controller: %s' % err)
                    return result
                outputs.extend(lines)
                part = parse_stats(lines)
                for key in stats:
                    stats[key] += part[key]
                state['before'] += part['total_file_bytes']
                state['current'] = 0
                if rc != 0:
                    result.update(failed=True, rc=rc, msg='rsync from %s:%s failed (exit code %d): %s' % (
                        alias, transfer['src'], rc, ' | '.join(line.strip() for line in lines[-5:])))
                    return result
        finally:
            if log is not None:
                log.close()
        elapsed = time.monotonic() - started
        result.update(stats)
        result.update(changed=stats['files_transferred'] > 0 or stats['literal_bytes'] > 0, rc=0,
                      elapsed=round(elapsed, 2),
                      stats=[line.strip() for line in outputs if any(regex.match(line.strip()) for _key, regex in STATS)],
                      msg='Copied %d file(s) from %s in %s' % (stats['files_transferred'], alias, duration(elapsed)))
        return result
