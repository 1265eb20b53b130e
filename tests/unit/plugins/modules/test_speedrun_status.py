# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""speedrun_status: nanochat log parsing, state file reading, ETA, and the module through main()."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _speedrun as sr
from ansible_collections.nanochat.remote_gpu.plugins.modules import speedrun_status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FAKE_SMI = os.path.join(REPO, 'tests', 'fixtures', 'bin', 'nvidia-smi')
FAKE_SMI_PY = os.path.join(REPO, 'tests', 'fixtures', 'bin', 'fake_nvidia_smi.py')

HEAD_LINE = ('step 01200/21400 (5.61%) | loss: 3.456789 | lrm: 1.00 | dt: 456.78ms | tok/sec: 1,147,892 | '
             'bf16_mfu: 45.67 | epoch: 0 pq: 12 rg: 3 | total time: 9.12m | eta: 98.7m')
OLD_LINE = 'step 00383/21400 (1.79%) | loss: 3.369286 | lrm: 1.00 | dt: 452.11ms | tok/sec: 1,159,610 | mfu: 48.21 | total time: 2.81m'
FINAL_LINE = 'step 21400/21400 (final) | loss: 2.345678 | early_stop: 0'


def step_line(step, total, total_time_min, dt_ms=450.0):
    return ('step %05d/%05d (%.2f%%) | loss: 3.000000 | lrm: 1.00 | dt: %.2fms | tok/sec: 1,000,000 | bf16_mfu: 45.00 | '
            'epoch: 0 pq: 1 rg: 1 | total time: %.2fm' % (step, total, 100.0 * step / total, dt_ms, total_time_min))


def marker(stage, event, code=None, background=False):
    text = '%s stage %s%s %s' % (sr.MARKER_PREFIX, stage, ' (background)' if background else '', event)
    return text + (' (exit %d)' % code if code is not None else '')


# --------------------------------------------------------------------------- step lines
def test_head_step_line_is_parsed_field_by_field():
    parsed = sr.parse_step_line(HEAD_LINE)
    assert parsed['step'] == 1200
    assert parsed['total'] == 21400
    assert parsed['percent'] == pytest.approx(5.61)
    assert parsed['final'] is False
    assert parsed['loss'] == pytest.approx(3.456789)
    assert parsed['lrm'] == pytest.approx(1.0)
    assert parsed['dt_seconds'] == pytest.approx(0.45678)
    assert parsed['tok_per_sec'] == 1147892
    assert parsed['mfu'] == pytest.approx(45.67)
    assert parsed['epoch'] == '0'
    assert parsed['fields']['pq'] == '12'
    assert parsed['fields']['rg'] == '3'
    assert parsed['total_time_seconds'] == pytest.approx(9.12 * 60)
    assert parsed['eta_seconds'] == pytest.approx(98.7 * 60)


def test_older_step_line_with_mfu_and_no_epoch_or_eta():
    parsed = sr.parse_step_line(OLD_LINE)
    assert (parsed['step'], parsed['total']) == (383, 21400)
    assert parsed['mfu'] == pytest.approx(48.21)
    assert 'epoch' not in parsed
    assert 'eta_seconds' not in parsed
    assert parsed['total_time_seconds'] == pytest.approx(2.81 * 60)


def test_final_line_is_100_percent():
    parsed = sr.parse_step_line(FINAL_LINE)
    assert parsed['final'] is True
    assert (parsed['step'], parsed['total'], parsed['percent']) == (21400, 21400, 100.0)
    assert parsed['fields']['early_stop'] == '0'


@pytest.mark.parametrize('line', [
    'Waiting for dataset download to complete...',
    'step function compiled in 3.2s',
    'Total training time: 98.12m',
    '',
])
def test_lines_that_are_not_step_lines(line):
    assert sr.parse_step_line(line) is None


def test_step_line_variants_fork_without_total_and_rank_prefix():
    fork = sr.parse_step_line('step 00383 (1.32%) | loss: 3.369286 | dt: 450.00ms | bf16_mfu: 45.00%')
    assert (fork['step'], fork['total'], fork['percent']) == (383, None, pytest.approx(1.32))
    prefixed = sr.parse_step_line('[rank0]: ' + HEAD_LINE)
    assert prefixed['step'] == 1200
    coloured = sr.parse_step_line('\x1b[32m' + OLD_LINE + '\x1b[0m')
    assert coloured['step'] == 383


def test_number_and_durations():
    assert sr.number('1,147,892') == 1147892
    assert sr.number('456.78ms') == pytest.approx(456.78)
    assert sr.number('n/a') is None
    assert sr.format_duration(12) == '12s'
    assert sr.format_duration(312) == '5m12s'
    assert sr.format_duration(3725) == '1h02m'
    assert sr.format_duration(None) is None


# --------------------------------------------------------------------------- state file
STATE = """version=1
run_id=20261124T194000Z-4242
launched_at=1000
boot_id=boot-a
nproc_per_node=2
pid=4243
started_at=1001
stage_start=1002 uv_sync
stage_end=1004 uv_sync 0
stage_start=1005 dataset
stage_end=1006 dataset 0
stage_start=1006 dataset background
stage_start=1007 tok_train
stage_end=1008 tok_train 0
stage_end=1009 dataset 0 background
stage_start=1010 base_train
garbage line without equals
"""


def test_state_file_pairs_stage_starts_and_ends():
    state = sr.parse_state(STATE)
    assert state['run_id'] == '20261124T194000Z-4242'
    assert state['pid'] == 4243 and state['nproc_per_node'] == 2
    names = [(s['name'], s['background'], s['ended_at'], s['exit_code']) for s in state['stages']]
    assert names == [('uv_sync', False, 1004, 0), ('dataset', False, 1006, 0), ('dataset', True, 1009, 0),
                     ('tok_train', False, 1008, 0), ('base_train', False, None, None)]


def test_later_lines_win():
    state = sr.parse_state('exit_code=1\nexit_code=0\n')
    assert state['exit_code'] == 0


# --------------------------------------------------------------------------- log
def test_log_counts_only_base_train_steps_and_keeps_a_tail():
    log = '\n'.join([
        marker('tok_train', 'started'), 'vocab_size: 32,768', marker('tok_train', 'finished', 0),
        marker('base_train', 'started'), step_line(1, 20, 0.0), step_line(2, 20, 0.0),
        marker('base_train', 'finished', 0),
        marker('chat_sft', 'started'), 'step 00003/00005 (60.00%) | loss: 1.200000 | lrm: 1.00 | dt: 5.00ms',
        marker('chat_sft', 'finished', 0),
    ])
    parsed = sr.parse_log(log, tail_lines=2)
    assert [s['step'] for s in parsed['steps']] == [1, 2]
    assert parsed['tail'] == [log.splitlines()[-2], log.splitlines()[-1]]


def test_truncated_log_and_carriage_returns():
    # the file starts in the middle of base_train (its start marker is gone)
    log = step_line(5, 20, 0.0) + '\r' + step_line(6, 20, 0.0) + '\n' + marker('base_train', 'finished', 0) + '\n'
    assert [s['step'] for s in sr.parse_log(log)['steps']] == [5, 6]
    # ...but lines before a marker that is not base_train's end are not base_train's
    other = step_line(5, 20, 0.0) + '\n' + marker('chat_eval', 'finished', 0) + '\n'
    assert sr.parse_log(other)['steps'] == []


def test_background_stage_markers_do_not_end_the_base_train_section():
    log = '\n'.join([marker('base_train', 'started'), step_line(1, 20, 0.0),
                     marker('dataset', 'finished', 0, background=True), step_line(2, 20, 0.0)])
    assert [s['step'] for s in sr.parse_log(log)['steps']] == [1, 2]


# --------------------------------------------------------------------------- ETA
def parsed_steps(*lines):
    return [sr.parse_step_line(line) for line in lines]


def test_eta_from_the_step_rate_in_total_time():
    # 100 steps took 0.5 min = 30 s -> 0.3 s/step; 21400 - 1200 = 20200 steps left
    steps = parsed_steps(step_line(1100, 21400, 9.0), step_line(1150, 21400, 9.25), step_line(1200, 21400, 9.5))
    eta, per_step, source = sr.estimate_eta(steps)
    assert source == 'step_rate'
    assert per_step == pytest.approx(0.3)
    assert eta == pytest.approx(20200 * 0.3)


def test_eta_takes_off_the_time_since_the_last_line():
    steps = parsed_steps(step_line(1100, 21400, 9.0), step_line(1200, 21400, 9.5))
    eta, _per_step, _source = sr.estimate_eta(steps, last_update=5000.0, now=5010.0)
    assert eta == pytest.approx(20200 * 0.3 - 10)


def test_eta_falls_back_to_dt_then_to_wall_clock():
    no_total_time = ['step %05d/00100 (%d.00%%) | loss: 3.0 | dt: 200.00ms' % (s, s) for s in (10, 11, 12)]
    eta, per_step, source = sr.estimate_eta(parsed_steps(*no_total_time))
    assert (source, per_step) == ('step_time', pytest.approx(0.2))
    assert eta == pytest.approx(88 * 0.2)
    bare = parsed_steps('step 00010/00100 (10.00%) | loss: 3.0')
    eta, per_step, source = sr.estimate_eta(bare, stage_started_at=1000, last_update=1050)
    assert (source, per_step, eta) == ('wall_clock', 5.0, 450.0)
    assert sr.estimate_eta(bare) == (None, None, None)


def test_eta_is_zero_once_final():
    assert sr.estimate_eta(parsed_steps(step_line(1200, 21400, 9.5), FINAL_LINE)) == (0.0, None, 'done')
    assert sr.estimate_eta([]) == (None, None, None)


# --------------------------------------------------------------------------- status
def running_log():
    return '\n'.join([marker('base_train', 'started'), step_line(1100, 21400, 9.0), step_line(1200, 21400, 9.5)]) + '\n'


def test_not_started_without_state_file():
    status = sr.build_status(None)
    assert status['state'] == 'not_started'
    assert 'no run launched yet' in ' '.join(sr.summary_lines(status))


def test_running_status_with_progress_eta_and_gpus():
    gpus = sr.parse_gpus('0, NVIDIA H100 80GB HBM3, 97, 75000, 81559, 570.124.06\n'
                         '1, NVIDIA H100 80GB HBM3, 95, 75000, 81559, 570.124.06\n')
    status = sr.build_status(STATE, log_text=running_log(), log_mtime=2000.0, alive=True, session_exists=True,
                             gpus=gpus, now=2000.0, boot_id='boot-a')
    assert status['state'] == 'running'
    assert status['current_stage'] == 'base_train'
    assert status['progress'] == 'step 1200/21400 (5.6%)'
    assert (status['step'], status['total_steps']) == (1200, 21400)
    assert status['eta_source'] == 'step_rate'
    assert status['eta_seconds'] == pytest.approx(20200 * 0.3)
    assert status['eta'] == '1h41m'
    assert status['elapsed_seconds'] == 999 and status['elapsed'] == '16m39s'
    assert status['gpu_utilization'] == 96.0
    text = '\n'.join(sr.summary_lines(status, host='gpu1'))
    assert 'gpu1: running' in text
    assert 'base_train step 1200/21400 (5.6%)' in text
    assert 'GPUs: 2 x NVIDIA H100 80GB HBM3, utilization 96% avg (97% 95%)' in text


def test_failed_run_names_the_stage_and_exit_code():
    text = STATE + 'stage_end=1100 base_train 1\nfinished_at=1101\nexit_code=1\n'
    status = sr.build_status(text, log_text=running_log(), alive=False, session_exists=False, now=5000.0)
    assert status['state'] == 'failed'
    assert status['exit_code'] == 1
    assert status['failed_stage'] == 'base_train'
    assert status['elapsed_seconds'] == 100
    assert status['eta'] is None  # not training any more
    lines = sr.summary_lines(status)
    assert 'failed in stage: base_train' in lines
    assert 'stages: uv_sync 2s, dataset 1s, tok_train 1s, base_train 1m30s (exit 1)' in lines


def test_a_dead_wrapper_without_an_end_is_interrupted():
    status = sr.build_status(STATE, alive=False, session_exists=False, boot_id='boot-a')
    assert status['state'] == 'interrupted'
    assert status['failed_stage'] == 'base_train'


def test_a_reboot_interrupts_even_if_the_pid_was_reused():
    status = sr.build_status(STATE, alive=True, session_exists=False, boot_id='boot-b')
    assert status['state'] == 'interrupted'


def test_stopped_on_request():
    text = STATE + 'stop_requested_at=1200\nfinished_at=1201\nexit_code=143\n'
    assert sr.build_status(text, alive=False)['state'] == 'stopped'


def test_finished_run():
    text = STATE + 'stage_end=1100 base_train 0\nfinished_at=1500\nexit_code=0\n'
    log = running_log() + FINAL_LINE + '\n' + marker('base_train', 'finished', 0) + '\n'
    status = sr.build_status(text, log_text=log, alive=False, now=9999.0)
    assert status['state'] == 'finished' and status['exit_code'] == 0
    assert status['progress'] == 'step 21400/21400 (100.0%)'
    assert status['eta_source'] == 'done' and status['eta_seconds'] == 0.0
    assert status['failed_stage'] is None


# --------------------------------------------------------------------------- the module
@pytest.fixture
def fake_gpu_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    shutil.copy(FAKE_SMI, str(bin_dir / 'nvidia-smi'))
    shutil.copy(FAKE_SMI_PY, str(bin_dir / 'fake_nvidia_smi.py'))
    (bin_dir / 'gpu.json').write_text(json.dumps(dict(count=2, utilization=88, name='NVIDIA A100-SXM4-80GB')))
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    return bin_dir


def test_module_reads_a_running_run(run_module, tmp_path, fake_gpu_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    log = run_dir / 'speedrun.log'
    log.write_text(running_log())
    boot_id = open('/proc/sys/kernel/random/boot_id').read().strip()
    (run_dir / 'state').write_text('run_id=r1\nboot_id=%s\nlog=%s\npid=%d\nstarted_at=1000\nstage_start=1001 base_train\n'
                                   % (boot_id, log, os.getpid()))
    result = run_module(speedrun_status, dict(run_dir=str(run_dir), session='no-such-session-here', log_lines=1),
                        check_mode=True)
    assert not result.failed and not result.changed
    status = result['speedrun']
    assert status['state'] == 'running'
    assert status['progress'] == 'step 1200/21400 (5.6%)'
    assert status['tmux_session'] is False
    assert [g['name'] for g in status['gpus']] == ['NVIDIA A100-SXM4-80GB'] * 2
    assert status['gpu_utilization'] == 88.0
    assert status['log_tail'] == [running_log().splitlines()[-1]]
    assert status['summary'][0].startswith('running, run r1')


def test_module_without_state_and_without_nvidia_smi(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    result = run_module(speedrun_status, dict(run_dir=str(tmp_path / 'nothing')))
    assert result['speedrun']['state'] == 'not_started'
    assert result['speedrun']['gpus'] == []


def test_module_rejects_negative_log_lines(run_module, tmp_path):
    result = run_module(speedrun_status, dict(run_dir=str(tmp_path), log_lines=-1))
    assert result.failed
    assert 'log_lines must be 0 or more' in result['msg']
