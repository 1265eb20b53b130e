# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""speedrun.yml and status.yml on one 8-GPU machine, over real SSH: check, converge,
idempotence, exactly-once, SSH drops, a failing stage, stopping, and the secrets.

The tests share the machine and run in file order (each leaves it with a run that ended);
every run is synchronised on the run's own files (its log and state), never on sleeps.
"""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from tests.integration.conftest import (
    gate_path,
    launches,
    log_text,
    open_gate,
    pid_alive,
    read,
    run_dir,
    state_text,
    state_values,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.integration

PLAYBOOK = 'nanochat.remote_gpu.speedrun'
STATUS = 'nanochat.remote_gpu.status'
SECRET = 'wandb-key-%s' % uuid.uuid4().hex
STAGES = ['uv_sync', 'dataset', 'tok_train', 'tok_eval', 'base_train', 'base_eval', 'chat_sft', 'chat_eval']


@pytest.fixture(scope='module')
def gpu8(machines):
    return machines(gpus=8)


def host_vars(ansible, machine, **speedrun_env):
    """The inventory of these tests: data on a "volume", a W&B run name, fixture knobs."""
    return ansible.host_vars(machine, nanochat_base_dir='~/volume/nanochat', speedrun_wandb_run='fixture-run',
                             speedrun_env=dict((k, str(v)) for k, v in speedrun_env.items()))


def paused_vars(ansible, machine, gate):
    return host_vars(ansible, machine, NANOCHAT_FAKE_PAUSE_AT_STEP=5, NANOCHAT_FAKE_PAUSE_FILE=gate)


def wait_paused(machine, gate):
    wait_until(lambda: '(fixture) paused at step 5 until %s exists' % gate in log_text(machine), 120,
               'base_train of %s to reach its pause gate' % machine.name)


def stages_in_state(machine):
    return [line.split()[1] for line in state_values(machine, 'stage_start') if 'background' not in line]


def test_check_then_converge_then_nothing_changes(ansible, gpu8):
    machine = gpu8
    bashrc = read(machine.path('.bashrc'))
    gate = gate_path(machine, 'converge')
    inventory = paused_vars(ansible, machine, gate)

    # --check reports what it would do and changes nothing on the machine
    check = ansible.play(PLAYBOOK, machine, inventory, check=True, env=dict(WANDB_API_KEY=SECRET))
    assert check.rc == 0, check
    assert check.changed(machine.name) > 0, check
    assert 'Would launch runs/speedrun.sh in tmux session nanochat-speedrun with --nproc_per_node=8' in check.stdout
    for path in ('.local/bin/uv', 'nanochat', '.nanochat-speedrun', 'volume'):
        assert not os.path.exists(machine.path(path)), path
    assert read(machine.path('.bashrc')) == bashrc
    assert not os.path.exists('/tmp/tmux-%d/default' % machine.uid)  # no tmux server

    # converge: uv, the checkout, the environment, and the run launched in tmux
    converge = ansible.play(PLAYBOOK, machine, inventory, env=dict(WANDB_API_KEY=SECRET))
    assert converge.rc == 0, converge
    assert converge.changed(machine.name) > 0
    assert 'Launched run_id=' in converge.stdout
    wait_paused(machine, gate)

    # a second play while the run goes on changes nothing and starts nothing
    again = ansible.play(PLAYBOOK, machine, inventory, env=dict(WANDB_API_KEY=SECRET))
    assert again.rc == 0, again
    assert again.changed(machine.name) == 0, again
    assert len(launches(machine)) == 1

    open_gate(gate)
    assert wait_for_end(machine) == 0, log_text(machine)

    # ...nor once it has finished (the full no-op path: git, the sync stamp, the files)
    after = ansible.play(PLAYBOOK, machine, inventory, env=dict(WANDB_API_KEY=SECRET))
    assert after.rc == 0, after
    assert after.changed(machine.name) == 0, after

    # --check where a sync would be due (stamp gone) with another base dir: nothing is created
    os.unlink(machine.path('nanochat/.venv/.nanochat-remote-gpu-sync'))
    other = dict(inventory, nanochat_base_dir='~/other-base')
    checked = ansible.play(PLAYBOOK, machine, other, check=True, env=dict(WANDB_API_KEY=SECRET))
    assert checked.rc == 0, checked
    assert not os.path.exists(machine.path('other-base')), 'a --check run created the base directory'

    # started exactly once, as the run's own records say
    assert len(launches(machine)) == 1
    assert len(state_values(machine, 'run_id')) == 1
    assert len(state_values(machine, 'started_at')) == 1
    assert len(state_values(machine, 'pid')) == 1
    assert stages_in_state(machine) == STAGES
    assert all(line.split()[2] == '0' for line in state_values(machine, 'stage_end')), state_text(machine)

    # NANOCHAT_BASE_DIR is the one asked for, although speedrun.sh forces ~/.cache/nanochat
    assert os.path.isfile(machine.path('volume/nanochat/base_checkpoints/d24/model_000020.pt'))
    assert os.path.isfile(machine.path('volume/nanochat/chatsft_checkpoints/d24/model_000005.pt'))
    assert not os.path.exists(machine.path('.cache/nanochat/base_checkpoints'))
    assert machine.ssh('echo "$NANOCHAT_BASE_DIR"').stdout.strip() == machine.path('volume/nanochat')

    # uv on the PATH of a non-interactive SSH command (the container trap)
    assert machine.ssh('uv --version').stdout.startswith('uv ')

    # the checkout is clean (uv did not rewrite uv.lock; the generated script lives elsewhere)
    assert machine.ssh('git -C nanochat status --porcelain').stdout == ''

    # the W&B settings reached the run; the key never left the 0600 environment file
    log = log_text(machine)
    assert 'wandb: run fixture-run, WANDB_API_KEY is set' in log
    env_file = os.path.join(run_dir(machine), 'env')
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    assert SECRET in read(env_file)
    for result in (check, converge, again, after):
        assert SECRET not in result.output
        assert '[DEPRECATION WARNING]' not in result.output, result
    for name in ('speedrun.log', 'state', 'speedrun.sh', 'nanochat-speedrun.sh', 'launches'):
        assert SECRET not in read(os.path.join(run_dir(machine), name)), name


def test_status_reports_the_finished_run(ansible, gpu8):
    result = ansible.play(STATUS, gpu8, host_vars(ansible, gpu8))
    assert result.rc == 0, result
    assert result.changed(gpu8.name) == 0
    out = result.stdout
    assert 'finished (exit code 0), run %s' % state_values(gpu8, 'run_id')[-1] in out
    assert 'base_train step 20/20 (100.0%)' in out
    assert 'GPUs: 8 x NVIDIA H100 80GB HBM3' in out
    assert 'stages: uv_sync ' in out and 'chat_eval ' in out
    assert 'ChatCORE metric: 0.2100' in out  # the last log lines


def test_the_run_survives_the_ssh_connection_dropping(ansible, gpu8):
    machine = gpu8
    gate = gate_path(machine, 'drop')
    previous = state_values(machine, 'run_id')[-1]
    launched = ansible.play(PLAYBOOK, machine, paused_vars(ansible, machine, gate), extra_vars=dict(speedrun_restart=True))
    assert launched.rc == 0, launched
    assert launched.changed(machine.name) > 0
    wait_paused(machine, gate)
    pid = int(state_values(machine, 'pid')[-1])
    assert state_values(machine, 'run_id')[-1] != previous
    assert os.path.isfile(os.path.join(run_dir(machine), 'history', previous, 'state'))

    killed = machine.drop_connections()
    assert killed, 'the play should have left a ControlPersist session to cut'
    assert machine.session_pids() == []
    assert pid_alive(pid), 'the wrapper died with the SSH connection'
    assert state_values(machine, 'exit_code') == []

    # a new connection reads the live run
    machine.set_gpus(utilization=97)
    running = ansible.play(STATUS, machine, host_vars(ansible, machine))
    assert running.rc == 0, running
    assert 'running, run %s' % state_values(machine, 'run_id')[-1] in running.stdout
    assert 'stage: base_train' in running.stdout
    assert 'base_train step 4/20 (20.0%)' in running.stdout
    assert 'utilization 97% avg' in running.stdout

    open_gate(gate)
    assert wait_for_end(machine) == 0, log_text(machine)
    assert '(fixture) resumed at step 5' in log_text(machine)
    finished = ansible.play(STATUS, machine, host_vars(ansible, machine))
    assert finished.rc == 0, finished
    assert 'finished (exit code 0)' in finished.stdout
    assert 'base_train step 20/20 (100.0%)' in finished.stdout
    assert len(launches(machine)) == 2


def test_a_failing_stage_fails_the_run_and_is_not_retried(ansible, gpu8):
    machine = gpu8
    failing = host_vars(ansible, machine, NANOCHAT_FAKE_FAIL_STAGE='base_train')
    launched = ansible.play(PLAYBOOK, machine, failing, extra_vars=dict(speedrun_restart=True))
    assert launched.rc == 0, launched
    # torchrun reports a failed rank with exit code 1; set -e stops the run there
    assert wait_for_end(machine) == 1
    assert stages_in_state(machine) == STAGES[:5]
    assert 'stage_end=' in state_text(machine) and any(
        line.split()[1:3] == ['base_train', '1'] for line in state_values(machine, 'stage_end'))
    assert 'RuntimeError: base_train failed on purpose' in log_text(machine)
    run_id = state_values(machine, 'run_id')[-1]

    status = ansible.play(STATUS, machine, failing)
    assert status.rc != 0, status
    assert 'failed (exit code 1), run %s' % run_id in status.stdout
    assert 'failed in stage: base_train' in status.stdout
    assert 'The speedrun failed in stage base_train with exit code 1' in status.output

    again = ansible.play(PLAYBOOK, machine, failing)
    assert again.rc != 0, again
    assert 'failed in stage base_train with exit code 1' in again.output
    assert 'speedrun_restart=true' in again.output
    assert len(launches(machine)) == 3
    assert state_values(machine, 'run_id')[-1] == run_id


def test_stop_a_running_run(ansible, gpu8):
    machine = gpu8
    gate = gate_path(machine, 'stop')
    inventory = paused_vars(ansible, machine, gate)
    launched = ansible.play(PLAYBOOK, machine, inventory, extra_vars=dict(speedrun_restart=True))
    assert launched.rc == 0, launched
    wait_paused(machine, gate)
    pid = int(state_values(machine, 'pid')[-1])

    stopped = ansible.play(PLAYBOOK, machine, inventory, extra_vars=dict(speedrun_state='stopped'))
    assert stopped.rc == 0, stopped
    assert stopped.changed(machine.name) == 1, stopped
    assert state_values(machine, 'stop_requested_at')
    assert int(state_values(machine, 'exit_code')[-1]) == 143
    wait_until(lambda: not pid_alive(pid), 30, 'the wrapper to exit')

    status = ansible.play(STATUS, machine, inventory)
    assert status.rc == 0, status
    assert 'stopped (exit code 143)' in status.stdout
    # a stopped run is not relaunched on its own either
    again = ansible.play(PLAYBOOK, machine, inventory)
    assert again.rc == 0 and again.changed(machine.name) == 0, again
    assert len(launches(machine)) == 4


# --------------------------------------------------------------------------- bad inputs fail early
@pytest.fixture
def gpu_settings(gpu8):
    """Change the fake GPU of the shared machine for one test, then put it back."""
    saved = []

    def change(**settings):
        saved.append(gpu8.set_gpus(**settings))

    yield change
    if saved:
        gpu8.restore_gpus(saved[0])


def fresh(ansible, machine, **overrides):
    """Variables pointing at a checkout that does not exist yet (one per test)."""
    name = 'fresh-%s' % uuid.uuid4().hex[:8]
    return dict(host_vars(ansible, machine), nanochat_dir='~/' + name, **overrides)


@pytest.fixture
def no_launch(gpu8):
    """The test must not launch a run."""
    before = launches(gpu8)
    yield
    assert launches(gpu8) == before


def fails_early(machine, inventory, result, *messages):
    """The play failed with ``messages``, before cloning anything."""
    assert result.rc != 0, result
    for message in messages:
        assert message in result.output, (message, result)
    assert not os.path.exists(inventory['nanochat_dir'].replace('~', machine.home, 1))


def test_an_empty_repo_url_fails_early(ansible, gpu8, no_launch):
    inventory = fresh(ansible, gpu8, nanochat_repo_url='')
    result = ansible.play(PLAYBOOK, gpu8, inventory)
    fails_early(gpu8, inventory, result, 'nanochat_repo_url, nanochat_version', 'must not be empty',
                'https://github.com/karpathy/nanochat.git')


def test_a_repo_url_that_does_not_answer_fails_clearly(ansible, gpu8, git_server, no_launch):
    missing = git_server['url'].replace('nanochat.git', 'no-such-repo.git')
    result = ansible.play(PLAYBOOK, gpu8, fresh(ansible, gpu8, nanochat_repo_url=missing))
    assert result.rc != 0, result
    assert 'Could not clone or update %s' % missing in result.output
    assert 'Check nanochat_repo_url (the upstream is https://github.com/karpathy/nanochat.git)' in result.output


def test_an_unknown_version_fails_clearly(ansible, gpu8, no_launch):
    result = ansible.play(PLAYBOOK, gpu8, fresh(ansible, gpu8, nanochat_version='no-such-version'))
    assert result.rc != 0, result
    assert 'nanochat_version "no-such-version" is not a branch, tag or commit of' in result.output
    assert 'Known-good pins: 92d63d4e8bb4df75c3b71618f31ddde2378b2bcd' in result.output


def test_local_changes_are_not_clobbered(ansible, gpu8, git_server, no_launch):
    machine = gpu8
    head = machine.ssh('git -C nanochat rev-parse HEAD').stdout.strip()
    machine.ssh('echo "a local change" >> nanochat/README.md')
    try:
        # moving to the branch would update the checkout: refused, nothing touched
        result = ansible.play(PLAYBOOK, machine, dict(host_vars(ansible, machine), nanochat_version='master'))
        assert result.rc != 0, result
        assert 'has local changes to tracked files (M README.md)' in result.output
        assert 'set nanochat_force: true to discard them' in result.output
        assert 'a local change' in read(machine.path('nanochat/README.md'))
        assert machine.ssh('git -C nanochat rev-parse HEAD').stdout.strip() == head == git_server['tag_commit']
    finally:
        machine.ssh('git -C nanochat checkout -- README.md')


def test_no_nvidia_smi_fails_early(ansible, gpu8, gpu_settings, no_launch):
    gpu_settings(nvidia_smi=False)
    inventory = fresh(ansible, gpu8)
    result = ansible.play(PLAYBOOK, gpu8, inventory)
    fails_early(gpu8, inventory, result, 'No nvidia-smi on the PATH of this machine', 'nanochat_uv_extra: cpu')


def test_no_gpu_fails_early(ansible, gpu8, gpu_settings, no_launch):
    gpu_settings(count=0)
    inventory = fresh(ansible, gpu8)
    result = ansible.play(PLAYBOOK, gpu8, inventory)
    fails_early(gpu8, inventory, result, 'found no usable GPU (exit code 6: No devices were found)',
                'pick an offer with GPUs')


def test_an_old_driver_fails_early(ansible, gpu8, gpu_settings, no_launch):
    gpu_settings(driver='470.57.02')
    inventory = fresh(ansible, gpu8)
    result = ansible.play(PLAYBOOK, gpu8, inventory)
    fails_early(gpu8, inventory, result, 'NVIDIA driver 470.57.02 is older than 525.60.13',
                'Use a machine or image with a newer driver (570.26+ recommended)')


def test_too_little_disk_fails_early(ansible, gpu8, no_launch):
    inventory = fresh(ansible, gpu8, nanochat_min_free_gb=10 ** 7)
    result = ansible.play(PLAYBOOK, gpu8, inventory)
    fails_early(gpu8, inventory, result, 'needs 10000000 GB (about 17 GB of pretraining data plus checkpoints)',
                'Point nanochat_base_dir at a bigger disk (on RunPod the /workspace volume)')


# --------------------------------------------------------------------------- updates
def test_a_new_version_updates_the_checkout_and_syncs_only_when_the_lock_or_extra_change(
        ansible, gpu8, git_server, no_launch):
    machine = gpu8
    stamp = machine.path('nanochat/.venv/.nanochat-remote-gpu-sync')
    site = machine.path('nanochat/.venv/lib/python3.11/site-packages')
    synced = read(stamp)
    mtime = os.stat(stamp).st_mtime_ns

    # master only changes the README: the checkout moves, the environment is not synced again
    moved = ansible.play(PLAYBOOK, machine, dict(host_vars(ansible, machine), nanochat_version='master'))
    assert moved.rc == 0, moved
    assert moved.changed(machine.name) == 1, moved
    assert machine.ssh('git -C nanochat rev-parse HEAD').stdout.strip() == git_server['head_commit']
    assert read(stamp) == synced and os.stat(stamp).st_mtime_ns == mtime

    # another extra is another environment: synced again (uv removes what the gpu extra added)
    cpu = ansible.play(PLAYBOOK, machine, dict(host_vars(ansible, machine), nanochat_version='master',
                                               nanochat_uv_extra='cpu'))
    assert cpu.rc == 0, cpu
    assert read(stamp) != synced
    assert os.path.exists(os.path.join(site, 'six.py'))
    assert not os.path.exists(os.path.join(site, 'iniconfig'))

    # and back to the pin and the gpu extra
    back = ansible.play(PLAYBOOK, machine, host_vars(ansible, machine))
    assert back.rc == 0, back
    assert machine.ssh('git -C nanochat rev-parse HEAD').stdout.strip() == git_server['tag_commit']
    assert read(stamp) == synced
    assert os.path.exists(os.path.join(site, 'iniconfig'))
    assert machine.ssh('git -C nanochat status --porcelain').stdout == ''
