#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: speedrun_status
short_description: Read the state of a nanochat speedrun on the machine that runs it
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Runs B(on the GPU machine) and reads what the P(nanochat.remote_gpu.speedrun#role) role's
    wrapper records in O(run_dir) (the state file and the run's log), whether the tmux session and
    the wrapper process are alive, and what C(nvidia-smi) says about the GPUs.
  - Returns whether the run is C(running), C(finished), C(failed), C(stopped) or C(interrupted)
    (the wrapper died without recording an end, for example on a reboot or an out-of-memory kill),
    its exit code, the current (or failed) stage with per-stage timestamps, the C(base_train) step
    and total, the elapsed time, an ETA computed from the observed step rate, the last lines of
    the log and the GPU utilization.
  - >-
    Reads nanochat's C(base_train) step lines tolerantly, as printed by several nanochat versions
    (C(key: value) pairs separated by C( | ); C(mfu) or C(bf16_mfu); with or without C(epoch),
    C(total time) and C(eta); the last line marked C(final)). Step lines of later stages
    (SFT) do not count.
  - Never changes anything; safe in check mode.
  - With O(wait), reads the run again every O(wait_delay) seconds until it is no longer running
    (or O(wait_timeout) passes), printing one progress line per reading (stage, step, elapsed
    time, ETA and how long it waited so far); the result is the last reading.
options:
  wait:
    description: Wait until the run is no longer C(running), showing its progress meanwhile.
    type: bool
    default: false
  wait_timeout:
    description: With O(wait), the most seconds to wait; the task fails when the run is still running then.
    type: int
    default: 14400
  wait_delay:
    description: With O(wait), seconds between two readings (and progress lines).
    type: int
    default: 60
  run_dir:
    description:
      - Directory of the run's files (state file C(state), log C(speedrun.log)); the
        P(nanochat.remote_gpu.speedrun#role) role's C(speedrun_run_dir).
    type: path
    default: ~/.nanochat-speedrun
  session:
    description: Name of the tmux session the run was launched in.
    type: str
    default: nanochat-speedrun
  log_lines:
    description: How many of the last log lines to return (0 for none).
    type: int
    default: 10
  gpu_stats:
    description:
      - Query C(nvidia-smi) for the GPUs and their utilization. Without C(nvidia-smi) on the
        PATH the GPU list is empty.
    type: bool
    default: true
  price_per_hour:
    description:
      - The instance's price in USD per hour (the inventory's C(instance_price_per_hour)). With it the
        module returns the cost so far and the projected total at the ETA.
    type: float
  billing_since:
    description:
      - When the instance started billing (epoch seconds). Default - when the run was launched, which
        leaves out the setup before it (a lower bound).
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - The ETA covers C(base_train), the stage that takes most of the run. It is computed from the
    steps and C(total time) of the step lines seen (C(eta_source=step_rate)), else from their
    C(dt) (C(step_time)), else from the wall-clock time since the stage started
    (C(wall_clock)), minus the time since the last step line was written. nanochat's own
    C(eta) field, when printed, is in RV(speedrun.base_train.eta_seconds).
seealso:
  - name: nanochat.remote_gpu.speedrun role
    description: Launches the run this module reads.
    link: https://github.com/nanochat-remote-gpu/nanochat.remote_gpu/blob/main/roles/speedrun/README.md
"""

EXAMPLES = r"""
- name: Read the speedrun's state
  nanochat.remote_gpu.speedrun_status:
  register: run

- name: Show progress
  ansible.builtin.debug:
    msg: "{{ run.speedrun.summary }}"

- name: Wait until the run ends (polling every minute, up to 3 hours)
  nanochat.remote_gpu.speedrun_status:
    run_dir: /workspace/nanochat-run
    log_lines: 0
  register: run
  until: run.speedrun.state != 'running'
  retries: 180
  delay: 60

- name: Fail when it failed
  ansible.builtin.assert:
    that: run.speedrun.state == 'finished'
    fail_msg: "stage {{ run.speedrun.failed_stage }} failed with exit code {{ run.speedrun.exit_code }}"
"""

RETURN = r"""
speedrun:
  description: The state of the run.
  returned: always
  type: dict
  contains:
    state:
      description:
        - C(not_started) (no state file), C(running), C(finished) (exit code 0), C(failed),
          C(stopped) (ended after a stop was asked for), or C(interrupted) (no end recorded and
          the wrapper is gone).
      type: str
      sample: running
    run_id:
      description: Identifier of the run (UTC launch time and wrapper PID).
      type: str
      sample: 20261124T194000Z-4242
    exit_code:
      description: Exit code of the run once it ended; null while running.
      type: int
      sample: 1
    current_stage:
      description: Stage running now, or the last stage started when the run is over.
      type: str
      sample: base_train
    failed_stage:
      description: Stage that failed (non-zero exit, or unfinished when the run died).
      type: str
      sample: base_train
    stages:
      description: Every stage started, in order, with its timestamps (epoch seconds and ISO 8601 UTC).
      type: list
      elements: dict
      sample:
        - {name: base_train, background: false, started_at: 1764013200, ended_at: 1764019140,
           started: "2025-11-24T19:40:00Z", ended: "2025-11-24T21:19:00Z", exit_code: 0, duration_seconds: 5940}
    launched_at:
      description: When the run was launched (ISO 8601 UTC).
      type: str
    started_at:
      description: When the wrapper started inside tmux (ISO 8601 UTC).
      type: str
    finished_at:
      description: When the run ended (ISO 8601 UTC); null while running.
      type: str
    elapsed_seconds:
      description: Seconds from start to end (or to now while running).
      type: int
      sample: 725
    elapsed:
      description: RV(speedrun.elapsed_seconds) for people.
      type: str
      sample: 12m05s
    step:
      description: Last C(base_train) step seen.
      type: int
      sample: 1200
    total_steps:
      description: Total C(base_train) steps.
      type: int
      sample: 21400
    percent:
      description: Percentage of C(base_train) done.
      type: float
      sample: 5.61
    progress:
      description: The step for people.
      type: str
      sample: step 1200/21400 (5.6%)
    base_train:
      description:
        - >-
          The last C(base_train) step line, parsed. Known fields as numbers (C(loss), C(lrm),
          C(dt_seconds), C(tok_per_sec), C(mfu), C(total_time_seconds), C(eta_seconds) (nanochat's
          own ETA), C(epoch)) and every C(key: value) pair as printed in C(fields).
      type: dict
      contains:
        step:
          description: Step number.
          type: int
          sample: 1200
        total:
          description: Total steps (null when the line does not say).
          type: int
          sample: 21400
        final:
          description: Whether this is the last line of C(base_train) (marked C(final)).
          type: bool
        percent:
          description: Percentage done.
          type: float
          sample: 5.61
        loss:
          description: Smoothed training loss.
          type: float
          sample: 3.456789
        lrm:
          description: Learning-rate multiplier.
          type: float
        dt_seconds:
          description: Duration of the step.
          type: float
          sample: 0.45678
        tok_per_sec:
          description: Tokens per second.
          type: float
          sample: 1147892
        mfu:
          description: Model FLOPs utilization (C(bf16_mfu), or C(mfu) in older versions).
          type: float
          sample: 45.67
        total_time_seconds:
          description: nanochat's cumulative training time.
          type: float
          sample: 547.2
        eta_seconds:
          description: nanochat's own ETA, when the line has one.
          type: float
          sample: 5922.0
        epoch:
          description: Data epoch, as printed.
          type: str
          sample: "0"
        fields:
          description: "Every C(key: value) pair of the line, as printed."
          type: dict
          sample: {loss: "3.456789", "tok/sec": "1,147,892", pq: "12", rg: "3"}
    eta_seconds:
      description: Seconds left in C(base_train), from the observed step rate; null when unknown or not training.
      type: float
      sample: 5880.0
    eta:
      description: RV(speedrun.eta_seconds) for people.
      type: str
      sample: 1h38m
    eta_source:
      description: How the ETA was computed (C(step_rate), C(step_time), C(wall_clock), or C(done)).
      type: str
      sample: step_rate
    seconds_per_step:
      description: Seconds per C(base_train) step used for the ETA.
      type: float
      sample: 0.276
    log_path:
      description: The run's log file.
      type: str
      sample: /root/.nanochat-speedrun/speedrun.log
    log_tail:
      description: Last O(log_lines) non-empty lines of the log (ANSI colours removed).
      type: list
      elements: str
    gpus:
      description: GPUs as C(nvidia-smi) reports them.
      type: list
      elements: dict
      sample:
        - {index: 0, name: NVIDIA H100 80GB HBM3, utilization: 97, memory_used_mib: 75000,
           memory_total_mib: 81559, driver_version: 570.124.06}
    gpu_utilization:
      description: Average GPU utilization in percent; null without GPUs.
      type: float
      sample: 97.0
    tmux_session:
      description: Whether the tmux session O(session) exists.
      type: bool
    pid:
      description: PID of the wrapper process.
      type: int
    nproc_per_node:
      description: GPUs (torchrun processes) the run uses.
      type: int
      sample: 8
    base_dir:
      description: C(NANOCHAT_BASE_DIR) of the run (data and checkpoints).
      type: str
    cost_so_far_usd:
      description: O(price_per_hour) times the time billed so far; null without a price or before a run.
      type: float
      sample: 12.34
    projected_total_usd:
      description: RV(speedrun.cost_so_far_usd) plus the price of the time left until the ETA (base_train); null when unknown.
      type: float
      sample: 47.9
    summary:
      description: A short readable report, one line an item.
      type: list
      elements: str
      sample:
        - running, run 20261124T194000Z-4242
        - "stage: base_train"
        - "base_train step 1200/21400 (5.6%) | loss 3.4568 | 1,147,892 tok/s | mfu 45.7"
        - "ETA (base_train): 1h38m (nanochat says 1h38m)"
"""

import os
import pwd
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import (
    GPU_QUERY,
    build_status,
    parse_gpus,
    parse_state,
    pid_alive,
    read_text,
    summary_lines,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._estimate import run_cost

MAX_LOG_BYTES = 32 * 1024 * 1024


def tmux_session_exists(module, session):
    # no server socket, no session (and no tmux client run, which would create its socket directory)
    socket_path = os.path.join(os.environ.get('TMUX_TMPDIR') or '/tmp', 'tmux-%d' % os.getuid(), 'default')
    tmux = shutil.which('tmux')
    if not tmux or not os.path.exists(socket_path):
        return False
    rc, dummy_out, dummy_err = module.run_command([tmux, 'has-session', '-t', '=' + session])
    return rc == 0


def query_gpus(module):
    smi = shutil.which('nvidia-smi')
    if not smi:
        return []
    # a hung driver must not hang the status: coreutils timeout bounds nvidia-smi to 30 s
    limit = ['timeout', '30'] if shutil.which('timeout') else []
    try:
        rc, out, dummy_err = module.run_command(limit + [smi, '--query-gpu=' + GPU_QUERY, '--format=csv,noheader,nounits'],
                                                errors='surrogate_or_replace')
    except OSError:
        return []
    if rc != 0:
        return []
    return parse_gpus(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            run_dir=dict(type='path', default='~/.nanochat-speedrun'),
            session=dict(type='str', default='nanochat-speedrun'),
            log_lines=dict(type='int', default=10),
            gpu_stats=dict(type='bool', default=True),
            price_per_hour=dict(type='float'),
            billing_since=dict(type='int'),
            # handled by the action plugin of the same name (the waiting loop); ignored here
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=14400),
            wait_delay=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    run_dir = module.params['run_dir']
    if module.params['log_lines'] < 0:
        module.fail_json(msg='log_lines must be 0 or more, got %d' % module.params['log_lines'])

    state_text = read_text(os.path.join(run_dir, 'state'))
    log_path = os.path.join(run_dir, 'speedrun.log')
    log_text, log_mtime, alive = None, None, None
    if state_text is not None:
        state = parse_state(state_text)
        log_path = state.get('log') or log_path
        log_text = read_text(log_path, MAX_LOG_BYTES)
        try:
            log_mtime = os.stat(log_path).st_mtime
        except OSError:
            log_mtime = None
        alive = pid_alive(state.get('pid'))
    boot_id = (read_text('/proc/sys/kernel/random/boot_id') or '').strip() or None
    status = build_status(
        state_text,
        log_text=log_text,
        log_mtime=log_mtime,
        alive=alive,
        session_exists=tmux_session_exists(module, module.params['session']),
        gpus=query_gpus(module) if module.params['gpu_stats'] else [],
        log_lines=module.params['log_lines'],
        boot_id=boot_id,
    )
    if status['log_path'] is None and state_text is not None:
        status['log_path'] = log_path
    status['run_dir'] = run_dir
    status['home'] = pwd.getpwuid(os.getuid()).pw_dir
    status.update(cost_so_far_usd=None, projected_total_usd=None)
    if module.params['price_per_hour'] is not None and state_text is not None:
        state = parse_state(state_text)
        since = module.params['billing_since'] or state.get('launched_at')
        end = state.get('finished_at') if status['state'] != 'running' else None
        billed = None if not since else max(0, (end or time.time()) - since)
        status.update(run_cost(module.params['price_per_hour'], billed,
                               status['eta_seconds'] if status['state'] == 'running' else (0 if end else None)))
    status['summary'] = summary_lines(status)
    if status['cost_so_far_usd'] is not None:
        status['summary'].insert(1, 'cost so far: %.2f USD at %.2f USD/hour%s' % (
            status['cost_so_far_usd'], module.params['price_per_hour'],
            '' if status['projected_total_usd'] is None else ', projected total %.2f USD at the ETA' % status['projected_total_usd']))
    module.exit_json(changed=False, speedrun=status)


if __name__ == '__main__':
    main()
