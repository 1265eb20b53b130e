# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""train.yml from nothing to a verified model at home and 0 instances, against each provider's
fake with real sshd machines; teardown's refusal before a fetch and its force path."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.integration.conftest import wait_until
from tests.integration.test_cloud_e2e import BIN, NAME, REPO_ROOT, Laptop, live, simcloud  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.integration


def sha256sum_check(dest):
    return subprocess.run(['sha256sum', '--check', '--strict', 'MANIFEST.sha256'], cwd=dest, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)


def train_vars(laptop, dest, **extra):
    values = laptop.provision_args()
    values.update(laptop.speedrun_vars(), fetch_dest=dest, fetch_reserve_mb=0, train_poll_delay=1)
    values.update(extra)
    return values


# RunPod's run also goes on the newest ansible-core line: the whole lifecycle over real SSH there
@pytest.mark.parametrize('provider', [pytest.param('runpod', marks=pytest.mark.newest_line), 'lambda', 'vastai'])
def test_train_end_to_end_leaves_a_verified_model_and_nothing_billing(provider, simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud(provider)
    laptop = Laptop(tmp_path, cloud, git_server)
    dest = os.path.join(laptop.work, 'model')
    done = laptop.play('train.yml', train_vars(laptop, dest))
    assert done.rc == 0, done
    assert live(cloud) == [], 'nothing left billing'
    assert sha256sum_check(dest).returncode == 0
    assert os.path.exists(os.path.join(dest, 'chatsft_checkpoints', 'd24', 'model_000005.pt'))
    assert 'exit_code=0' in open(os.path.join(dest, 'run', 'state')).read()
    assert 'Billing ended for %s' % NAME in ' '.join(done.stdout.split())
    assert 'Done: the model of run' in ' '.join(done.stdout.split())


def test_train_killed_during_the_wait_converges_on_one_instance_and_one_run(simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    dest = os.path.join(laptop.work, 'model')
    gate = os.path.join(cloud.work_dir, 'gate')
    values = train_vars(laptop, dest, speedrun_env=dict(NANOCHAT_FAKE_PAUSE_AT_STEP='5', NANOCHAT_FAKE_PAUSE_FILE=gate))
    path = os.path.join(laptop.work, 'train-vars.json')
    with open(path, 'w') as handle:
        json.dump(values, handle)
    command = [os.path.join(BIN, 'ansible-playbook'), os.path.join(REPO_ROOT, 'playbooks', 'train.yml'), '-e', '@' + path]
    log_path = os.path.join(laptop.work, 'first.log')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=laptop.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        wait_until(lambda: 'TASK [Progress]' in open(log_path).read() or proc.poll() is not None, 400, 'train.yml to wait')
        assert proc.poll() is None, open(log_path).read()[-4000:]
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C during the wait
        proc.wait(timeout=60)
    assert len(live(cloud)) == 1
    machine = cloud.machine(NAME)
    state_path = os.path.join(machine.home, '.nanochat-speedrun', 'state')
    assert 'exit_code=' not in open(state_path).read(), 'the run goes on without the laptop'
    with open(gate, 'w') as handle:
        handle.write('go\n')
    os.chmod(gate, 0o644)
    again = laptop.play('train.yml', values)
    assert again.rc == 0, again
    assert 'not launching another one' in ' '.join(again.stdout.split())
    state = open(os.path.join(dest, 'run', 'state')).read()  # the run's state file, fetched home
    assert state.count('run_id=') == 1 and 'exit_code=0' in state, 'one run, finished'
    assert len(cloud.fake.calls_to('POST', r'^/v2/pods$')) == 1, 'one instance created, over both runs'
    assert live(cloud) == []
    assert sha256sum_check(dest).returncode == 0


@pytest.mark.parametrize('keep', [False, True], ids=['torn_down', 'keep_on_failure'])
def test_train_with_a_failed_run_fetches_its_log_and_state_and_fails_naming_the_stage(keep, simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    dest = os.path.join(laptop.work, 'model')
    extra = dict(speedrun_env=dict(NANOCHAT_FAKE_FAIL_STAGE='base_train'))
    if keep:
        extra['keep_on_failure'] = True
    done = laptop.play('train.yml', train_vars(laptop, dest, **extra))
    text = flat(done)
    assert done.rc == 2, done
    codes = [line.split('=', 1)[1] for line in open(os.path.join(dest, 'run', 'state')).read().splitlines()
             if line.startswith('exit_code=')]
    assert len(codes) == 1 and codes[0] not in ('', '0'), codes
    assert 'The speedrun failed in stage base_train with exit code %s' % codes[0] in text, text[-3000:]
    assert 'base_train failed on purpose' in open(os.path.join(dest, 'run', 'speedrun.log')).read()
    assert sha256sum_check(dest).returncode == 0, 'what was fetched is verified, failed run or not'
    assert not os.path.exists(os.path.join(dest, 'chatsft_checkpoints')), 'no chat model: the run never got there'
    if keep:
        assert [i['name'] for i in live(cloud)] == [NAME], 'kept, as asked'
        assert 'was KEPT and is billing' in text and '-e force=true' in text
    else:
        assert live(cloud) == [], 'a failed run does not keep billing'
        assert 'The instance was terminated.' in text
        assert 'Billing ended for %s' % NAME in text


def flat(result):
    """The play's output with YAML's line wrapping undone (callback_result_format = yaml)."""
    return ' '.join(result.stdout.replace("'", ' ').split()).replace('  ', ' ')


def _fake_run(laptop, alias):
    """What a speedrun leaves (the wrapper's state file, a model in NANOCHAT_BASE_DIR), as the machine's user."""
    script = ('mkdir -p ~/.nanochat-speedrun ~/.cache/nanochat/chatsft_checkpoints/d24 && '
              'printf "version=1\\nrun_id=r1\\nlaunched_at=1\\nstarted_at=1\\nfinished_at=2\\nexit_code=0\\n" > ~/.nanochat-speedrun/state && '
              'head -c 5000 /dev/urandom > ~/.cache/nanochat/chatsft_checkpoints/d24/model_000005.pt && '
              'echo {} > ~/.cache/nanochat/chatsft_checkpoints/d24/meta_000005.json')
    done = laptop.ssh(alias, script)
    assert done.returncode == 0, done.stderr


def test_teardown_force_terminates_unfetched_and_unreachable_instances_saying_so(simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('vastai')
    laptop = Laptop(tmp_path, cloud, git_server)
    assert laptop.play('provision.yml', laptop.provision_args()).rc == 0
    assert laptop.play('provision.yml', laptop.provision_args(name=NAME + '-b')).rc == 0
    _fake_run(laptop, NAME)
    cloud.machine(NAME + '-b').stop()  # powered off: sshd gone

    refused = laptop.play('teardown.yml', laptop.provision_args())
    assert refused.rc != 0 and 'were never fetched' in flat(refused), refused.stdout[-3000:]
    assert 'chatsft_checkpoints/d24/model_000005.pt 4.88 KB' in flat(refused), refused.stdout[-3000:]
    unreachable = laptop.play('teardown.yml', laptop.provision_args(name=NAME + '-b'))
    assert unreachable.rc != 0 and 'cannot be reached over SSH' in flat(unreachable), unreachable.stdout[unreachable.stdout.find('Check that no'):][:5000]
    assert len(live(cloud)) == 2

    forced = laptop.play('teardown.yml', laptop.provision_args(force=True))
    assert forced.rc == 0, forced
    assert 'force is set: terminating anyway' in flat(forced) and NAME + ' (4.9' in flat(forced), forced.stdout[-3000:]
    forced_b = laptop.play('teardown.yml', laptop.provision_args(name=NAME + '-b', force=True))
    assert forced_b.rc == 0 and 'not checked (unreachable)' in flat(forced_b), forced_b
    assert live(cloud) == []


def test_provision_shows_the_speedrun_estimate_and_max_cost_refuses_before_any_write(simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('vastai')
    laptop = Laptop(tmp_path, cloud, git_server)
    checked = laptop.play('provision.yml', laptop.provision_args(), check=True)
    assert checked.rc == 0 and 'a speedrun takes about 2.0 h' in flat(checked), checked
    refused = laptop.play('provision.yml', laptop.provision_args(max_cost_usd=5))
    assert refused.rc != 0 and 'above max_cost_usd 5' in flat(refused), refused
    assert 'nothing was created' in flat(refused)
    # The offer search is a POST that only reads; nothing else may have been sent (no key registered).
    writes = [c for c in cloud.fake.writes() if c['path'] != '/api/v0/bundles/']
    assert writes == [] and live(cloud) == [], writes
