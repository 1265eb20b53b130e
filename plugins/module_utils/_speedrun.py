# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a nanochat speedrun from the files the speedrun role's wrapper writes.

Pure functions (no I/O), shared by the ``speedrun_status`` module and the tests:

- :func:`parse_state` reads the wrapper's append-only state file (``key=value`` lines);
- :func:`parse_step_line` reads one nanochat ``base_train`` step line, tolerantly;
- :func:`parse_log` finds the base_train steps (inside the wrapper's stage markers) and the tail;
- :func:`estimate_eta` computes an ETA from the observed step rate;
- :func:`parse_gpus` reads ``nvidia-smi --query-gpu=GPU_QUERY --format=csv,noheader,nounits``;
- :func:`build_status` puts it together; :func:`summary_lines` renders it for people.

The state file (written by roles/speedrun/templates/nanochat-speedrun.sh.j2), one record a line,
later lines win::

    version=1
    run_id=20260101T120000Z-4242
    launched_at=1767268800
    boot_id=...                       # /proc/sys/kernel/random/boot_id at launch
    nproc_per_node=8
    pid=4243                          # the wrapper inside tmux
    started_at=1767268801
    stage_start=1767268802 uv_sync
    stage_end=1767268805 uv_sync 0
    stage_start=1767268806 dataset background
    stop_requested_at=...             # only when a stop was asked for
    finished_at=1767274000
    exit_code=0
"""

from __future__ import annotations

import os
import re
import time

STATE_VERSION = 1
MARKER_PREFIX = '[nanochat.remote_gpu]'
GPU_QUERY = 'index,name,utilization.gpu,memory.used,memory.total,driver_version'

# step 01200/21400 (5.61%) | loss: 3.456789 | ... ; "step 21400/21400 (final) | ..." ; some forks: "step 01200 (5.61%)"
_STEP_RE = re.compile(r'^\s*(?:\[[^\]]*\]:?\s*)?step\s+(\d+)(?:/(\d+))?\s+\(([^)]*)\)(.*)$')
_PAIR_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_/.\- ]*?):\s+(\S+)')
_NUMBER_RE = re.compile(r'^[-+]?[0-9][0-9,]*(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')
_MARKER_RE = re.compile(r'^' + re.escape(MARKER_PREFIX) + r' stage (\S+)( \(background\))? (started|finished)(?: \(exit (\d+)\))?')
_ANSI_RE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07')
_KEY_ALIASES = {
    'tok/sec': 'tok_per_sec',
    'bf16_mfu': 'mfu',
    'mfu': 'mfu',
    'total time': 'total_time',
    'dt': 'dt',
    'eta': 'eta',
    'loss': 'loss',
    'lrm': 'lrm',
    'epoch': 'epoch',
}


def number(text):
    """'1,147,892' -> 1147892.0, '456.78ms' -> 456.78, '5.61%' -> 5.61, 'abc' -> None."""
    if text is None:
        return None
    match = _NUMBER_RE.match(str(text).strip())
    if not match:
        return None
    try:
        return float(match.group(0).replace(',', ''))
    except ValueError:
        return None


def _seconds(value):
    """A nanochat duration ('456.78ms', '9.12m', '3.5s', '1.2h') in seconds; bare numbers are minutes."""
    amount = number(value)
    if amount is None:
        return None
    unit = str(value).strip()[len(_NUMBER_RE.match(str(value).strip()).group(0)):].strip().lower()
    return amount * {'ms': 0.001, 's': 1.0, 'm': 60.0, 'min': 60.0, 'h': 3600.0, '': 60.0}.get(unit, 60.0)


def parse_step_line(line):
    """One base_train step line -> dict, or None when the line is not a step line.

    Keys: step, total (None when the line has none), final (bool), percent, fields (every
    ``key: value`` pair as text, keys as printed), and the known ones as numbers: loss, lrm,
    dt_seconds, tok_per_sec, mfu, total_time_seconds, eta_seconds (nanochat's own ETA), epoch.
    """
    match = _STEP_RE.match(_ANSI_RE.sub('', line))
    if not match:
        return None
    step, total, paren, rest = match.groups()
    if '|' not in rest and rest.strip():
        return None  # "step 3 (of something) blah": not nanochat's format
    result = dict(step=int(step), total=int(total) if total else None, final=paren.strip() == 'final',
                  percent=None, fields={})
    if result['final'] and result['total']:
        result['percent'] = 100.0
    elif paren.strip().endswith('%'):
        result['percent'] = number(paren)
    if result['percent'] is None and result['total']:
        result['percent'] = 100.0 * result['step'] / result['total']
    for segment in rest.split('|'):
        for key, value in _PAIR_RE.findall(segment):
            result['fields'][key.strip()] = value
    for key, value in result['fields'].items():
        name = _KEY_ALIASES.get(key)
        if name in ('dt', 'total_time', 'eta'):
            result[name + '_seconds'] = _seconds(value)
        elif name == 'epoch':
            result['epoch'] = value
        elif name:
            result[name] = number(value)
    return result


def parse_state(text):
    """The wrapper's state file -> dict of the last value of each key, plus ``stages``.

    ``stages`` is a list of {name, background, started_at, ended_at, exit_code} in start order;
    an unfinished stage has ended_at/exit_code None. Unknown or malformed lines are ignored.
    """
    state = {}
    stages = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key, value = key.strip(), value.strip()
        if key == 'stage_start':
            parts = value.split()
            if len(parts) >= 2 and parts[0].isdigit():
                stages.append(dict(name=parts[1], background='background' in parts[2:], started_at=int(parts[0]),
                                   ended_at=None, exit_code=None))
        elif key == 'stage_end':
            parts = value.split()
            if len(parts) >= 3 and parts[0].isdigit():
                background = 'background' in parts[3:]
                for stage in reversed(stages):
                    if stage['name'] == parts[1] and stage['background'] == background and stage['ended_at'] is None:
                        stage['ended_at'] = int(parts[0])
                        stage['exit_code'] = int(parts[2]) if parts[2].lstrip('-').isdigit() else None
                        break
        else:
            state[key] = value
    for key in ('launched_at', 'started_at', 'finished_at', 'pid', 'exit_code', 'nproc_per_node', 'stop_requested_at', 'version'):
        if key in state:
            try:
                state[key] = int(state[key])
            except ValueError:
                state[key] = None
    state['stages'] = stages
    return state


def _split_lines(text):
    # carriage returns (progress bars) end a line too; drop ANSI colours
    return [_ANSI_RE.sub('', part) for part in re.split(r'\r\n|\r|\n', text)]


def parse_log(text, tail_lines=10):
    """The run's log -> {'steps': [base_train step dicts...], 'tail': [last non-empty lines]}.

    Only step lines inside the wrapper's ``base_train`` stage markers count (SFT prints step
    lines too). When the text starts in the middle of a stage (a truncated log), lines before
    the first marker are attributed to base_train if that marker ends base_train.
    """
    steps = []
    pending = []
    section = None
    seen_marker = False
    for line in _split_lines(text):
        marker = _MARKER_RE.match(line)
        if marker:
            name, background, event = marker.group(1), bool(marker.group(2)), marker.group(3)
            if not seen_marker and name == 'base_train' and event == 'finished' and not background:
                steps.extend(pending)
            seen_marker = True
            pending = []
            if not background:
                section = name if event == 'started' else None
            continue
        if 'step' not in line:
            continue
        parsed = parse_step_line(line)
        if parsed is None:
            continue
        if section == 'base_train':
            steps.append(parsed)
        elif not seen_marker:
            pending.append(parsed)
    lines = [line.rstrip() for line in _split_lines(text) if line.strip()]
    return dict(steps=steps, tail=lines[-tail_lines:] if tail_lines > 0 else [])


def estimate_eta(steps, stage_started_at=None, last_update=None, now=None):
    """Seconds left in base_train from the step rate observed, and how it was found.

    Returns (eta_seconds, seconds_per_step, source) with source one of:
    ``step_rate`` (steps over nanochat's cumulative training time between the first and last
    step lines seen), ``step_time`` (median ``dt`` of recent steps), ``wall_clock`` (steps since
    the stage started, over wall-clock time); (0.0, None, 'done') after the final step; and
    (None, None, None) when nothing can be said yet. Time passed since the last step line
    (``now - last_update``) is taken off the estimate.
    """
    if not steps:
        return None, None, None
    last = steps[-1]
    if last['final'] or (last['total'] and last['step'] >= last['total']):
        return 0.0, None, 'done'
    if not last['total']:
        return None, None, None
    remaining = last['total'] - last['step']
    per_step, source = None, None
    timed = [s for s in steps if s.get('total_time_seconds')]
    if len(timed) >= 2:
        first = timed[max(0, len(timed) - 500)]
        if timed[-1]['step'] > first['step'] and timed[-1]['total_time_seconds'] > first['total_time_seconds']:
            per_step = (timed[-1]['total_time_seconds'] - first['total_time_seconds']) / (timed[-1]['step'] - first['step'])
            source = 'step_rate'
    if per_step is None:
        recent = sorted(s['dt_seconds'] for s in steps[-50:] if s.get('dt_seconds'))
        if recent:
            per_step = recent[len(recent) // 2]
            source = 'step_time'
    if per_step is None and stage_started_at and last_update and last['step'] > 0 and last_update > stage_started_at:
        per_step = (last_update - stage_started_at) / float(last['step'])
        source = 'wall_clock'
    if per_step is None:
        return None, None, None
    eta = remaining * per_step
    if now is not None and last_update is not None and now > last_update:
        eta = max(0.0, eta - (now - last_update))
    return eta, per_step, source


def parse_gpus(text):
    """``nvidia-smi --query-gpu=GPU_QUERY --format=csv,noheader,nounits`` output -> list of dicts."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        util, used, total = (number(p) for p in parts[2:5])
        gpus.append(dict(index=int(parts[0]), name=parts[1],
                         utilization=int(util) if util is not None else None,
                         memory_used_mib=int(used) if used is not None else None,
                         memory_total_mib=int(total) if total is not None else None,
                         driver_version=parts[5] if len(parts) > 5 else None))
    return gpus


def format_duration(seconds):
    """12 -> '12s', 312 -> '5m12s', 3725 -> '1h02m'; None -> None."""
    if seconds is None:
        return None
    seconds = int(round(seconds))
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % (seconds // 60, seconds % 60)
    return '%dh%02dm' % (seconds // 3600, (seconds % 3600) // 60)


def _iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch)) if epoch else None


def build_status(state_text, log_text=None, log_mtime=None, alive=None, session_exists=None, gpus=None, now=None,
                 log_lines=10, boot_id=None):
    """Everything the module returns under ``speedrun`` (see its RETURN), from what it read.

    - ``state_text``: the state file's text, None when there is none (never launched);
    - ``alive``: whether the wrapper's PID is still running (None: unknown);
    - ``boot_id``: this boot's id; a different one in the state means the machine rebooted.
    """
    now = time.time() if now is None else now
    result = dict(state='not_started', run_id=None, exit_code=None, current_stage=None, failed_stage=None,
                  stages=[], launched_at=None, started_at=None, finished_at=None, elapsed_seconds=None,
                  elapsed=None, step=None, total_steps=None, percent=None, progress=None, base_train=None,
                  eta_seconds=None, eta=None, eta_source=None, seconds_per_step=None, log_tail=[],
                  gpus=gpus or [], gpu_utilization=None, tmux_session=session_exists, pid=None,
                  nproc_per_node=None, base_dir=None, log_path=None)
    if result['gpus']:
        utils = [g['utilization'] for g in result['gpus'] if g.get('utilization') is not None]
        result['gpu_utilization'] = round(sum(utils) / float(len(utils)), 1) if utils else None
    if state_text is None:
        return result
    state = parse_state(state_text)
    result.update(run_id=state.get('run_id'), pid=state.get('pid'), nproc_per_node=state.get('nproc_per_node'),
                  base_dir=state.get('base_dir'), log_path=state.get('log'),
                  launched_at=_iso(state.get('launched_at')), started_at=_iso(state.get('started_at')),
                  finished_at=_iso(state.get('finished_at')))
    stages = state['stages']
    result['stages'] = [dict(s, duration_seconds=(s['ended_at'] - s['started_at']) if s['ended_at'] else None,
                             started=_iso(s['started_at']), ended=_iso(s['ended_at'])) for s in stages]
    if 'exit_code' in state and state['exit_code'] is not None:
        code = state['exit_code']
        result['exit_code'] = code
        if code == 0:
            result['state'] = 'finished'
        elif state.get('stop_requested_at'):
            result['state'] = 'stopped'
        else:
            result['state'] = 'failed'
    elif state.get('boot_id') and boot_id and state['boot_id'] != boot_id:
        result['state'] = 'interrupted'
    elif alive or (alive is None and session_exists):
        result['state'] = 'running'
    elif state.get('started_at') is None and session_exists:
        result['state'] = 'running'  # launched, the wrapper is starting
    else:
        result['state'] = 'interrupted'  # the wrapper died without recording an end (killed, OOM, reboot)
    foreground = [s for s in stages if not s['background']]
    open_stages = [s for s in foreground if s['ended_at'] is None]
    if result['state'] == 'running' and open_stages:
        result['current_stage'] = open_stages[-1]['name']
    elif foreground:
        result['current_stage'] = foreground[-1]['name']
    if result['state'] in ('failed', 'interrupted', 'stopped'):
        failed = [s for s in stages if s['exit_code'] not in (None, 0)]
        if failed:
            result['failed_stage'] = failed[-1]['name']
        elif open_stages:
            result['failed_stage'] = open_stages[-1]['name']
    start = state.get('started_at') or state.get('launched_at')
    end = state.get('finished_at') if result['state'] not in ('running',) else None
    if start:
        if end:
            result['elapsed_seconds'] = max(0, end - start)
        elif result['state'] == 'running':
            result['elapsed_seconds'] = max(0, int(now) - start)
        result['elapsed'] = format_duration(result['elapsed_seconds'])
    if log_text is not None:
        log = parse_log(log_text, tail_lines=log_lines)
        result['log_tail'] = log['tail']
        if log['steps']:
            last = log['steps'][-1]
            result['base_train'] = dict((k, v) for k, v in last.items() if k != 'fields')
            result['base_train']['fields'] = last['fields']
            result['step'], result['total_steps'], result['percent'] = last['step'], last['total'], last['percent']
            if last['total']:
                result['progress'] = 'step %d/%d (%s%%)' % (last['step'], last['total'], '%.1f' % (last['percent'] or 0.0))
            else:
                result['progress'] = 'step %d' % last['step']
            train = [s for s in foreground if s['name'] == 'base_train']
            running_train = result['state'] == 'running' and train and train[-1]['ended_at'] is None
            eta, per_step, source = estimate_eta(log['steps'], stage_started_at=train[-1]['started_at'] if train else None,
                                                 last_update=log_mtime, now=now if running_train else None)
            if running_train or source == 'done':
                result['eta_seconds'] = None if eta is None else round(eta, 1)
                result['eta'] = format_duration(eta)
                result['eta_source'] = source
                result['seconds_per_step'] = per_step
    return result


def summary_lines(status, host=None):
    """A short, readable block for one host (what playbooks/status.yml prints)."""
    head = '%s: %s' % (host, status['state']) if host else status['state']
    if status['state'] in ('finished', 'failed', 'stopped') and status['exit_code'] is not None:
        head += ' (exit code %d)' % status['exit_code']
    if status['run_id']:
        head += ', run %s' % status['run_id']
    lines = [head]
    if status['state'] == 'not_started':
        lines.append('no run launched yet (run playbooks/speedrun.yml)')
    if status['failed_stage']:
        lines.append('failed in stage: %s' % status['failed_stage'])
    elif status['current_stage']:
        lines.append('stage: %s%s' % (status['current_stage'], '' if status['state'] == 'running' else ' (last)'))
    if status['progress']:
        line = 'base_train %s' % status['progress']
        bt = status['base_train'] or {}
        extras = []
        if bt.get('loss') is not None:
            extras.append('loss %.4f' % bt['loss'])
        if bt.get('tok_per_sec') is not None:
            extras.append('%s tok/s' % format(int(bt['tok_per_sec']), ','))
        if bt.get('mfu') is not None:
            extras.append('mfu %.1f' % bt['mfu'])
        if extras:
            line += ' | ' + ' | '.join(extras)
        lines.append(line)
    if status['eta'] is not None and status['eta_source'] != 'done':
        line = 'ETA (base_train): %s' % status['eta']
        nanochat_eta = (status['base_train'] or {}).get('eta_seconds')
        if nanochat_eta is not None:
            line += ' (nanochat says %s)' % format_duration(nanochat_eta)
        lines.append(line)
    if status['elapsed']:
        lines.append('elapsed: %s (started %s)' % (status['elapsed'], status['started_at'] or status['launched_at']))
    stages = [s for s in status['stages'] if not s['background']]
    if stages:
        parts = []
        for stage in stages:
            if stage['ended_at'] is not None:
                took = format_duration(stage['ended_at'] - stage['started_at'])
                parts.append('%s %s%s' % (stage['name'], took, '' if not stage['exit_code'] else ' (exit %s)' % stage['exit_code']))
            elif status['state'] == 'running':
                parts.append('%s running' % stage['name'])
            else:
                parts.append('%s unfinished' % stage['name'])
        lines.append('stages: ' + ', '.join(parts))
    if status['gpus']:
        names = sorted(set(g['name'] for g in status['gpus']))
        line = 'GPUs: %d x %s' % (len(status['gpus']), ' / '.join(names))
        if status['gpu_utilization'] is not None:
            line += ', utilization %s%% avg (%s)' % (
                ('%.0f' % status['gpu_utilization']), ' '.join('%s%%' % g['utilization'] for g in status['gpus']))
        lines.append(line)
    if status['log_tail']:
        lines.append('last log lines%s:' % (' (%s)' % status['log_path'] if status['log_path'] else ''))
        lines.extend('  ' + line for line in status['log_tail'])
    return lines


def read_text(path, max_bytes=None):
    """The file's text (the last max_bytes of it), or None when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            if max_bytes:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except (IOError, OSError):
        return None
    return data.decode('utf-8', errors='replace')


def pid_alive(pid):
    """Whether the process runs (a zombie does not; one of another user does)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    status = read_text('/proc/%d/status' % pid)
    return not (status and '\nState:\tZ' in status)
