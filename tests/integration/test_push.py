# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nanochat_src over real SSH: a local working copy pushed with rsync through the SSH alias the
ssh_config role wrote (instead of a clone), the speedrun run from it, a local edit reaching the
machine on the rerun, the environment synced only when the lock changed, nothing of .venv sent.
The tests share one machine and run in file order."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.integration.conftest import log_text, read, state_values, wait_for_end
from tests.integration.test_chat import Client, free_port

pytestmark = pytest.mark.integration

SPEEDRUN = 'nanochat.remote_gpu.speedrun'


@pytest.fixture(scope='module')
def machine(machines):
    return machines(gpus=8)


@pytest.fixture(scope='module')
def client(ansible, machine, tmp_path_factory):
    client = Client(str(tmp_path_factory.mktemp('push-client')), machine, free_port(), free_port())
    client.write_ssh_config(ansible)
    return client


@pytest.fixture(scope='module')
def src(git_server, tmp_path_factory):
    """The user's working copy: a clone with a local .venv, build outputs and an ignored folder."""
    path = str(tmp_path_factory.mktemp('src') / 'nanochat')
    subprocess.run(['git', 'clone', '-q', git_server['path'], path], check=True)
    with open(os.path.join(path, '.gitignore'), 'a') as handle:
        handle.write('scratch/\n')
    for rel in ('.venv/bin/python', '.venv/lib/local-only.txt', 'scratch/big.bin', 'scripts/__pycache__/x.cpython-311.pyc',
                'build/lib/out.txt'):
        os.makedirs(os.path.dirname(os.path.join(path, rel)), exist_ok=True)
        with open(os.path.join(path, rel), 'w') as handle:
            handle.write('local only\n')
    return path


def push_vars(ansible, machine, client, src, **extra):
    return ansible.host_vars(machine, nanochat_src=src, nanochat_src_ssh_config=client.config, **extra)


def remote(machine, rel):
    return machine.path('nanochat', rel)


def test_pushed_instead_of_cloned_and_the_run_starts_from_it(ansible, machine, client, src):
    inventory = push_vars(ansible, machine, client, src)
    checked = ansible.play(SPEEDRUN, machine, inventory, check=True)
    assert checked.rc == 0, checked
    assert 'Check mode: would push' in checked.stdout
    assert not os.path.exists(machine.path('nanochat'))

    result = ansible.play(SPEEDRUN, machine, inventory)
    assert result.rc == 0, result
    assert 'Pushed ' in result.stdout and 'Launched run_id=' in result.stdout
    assert wait_for_end(machine) == 0, log_text(machine)
    # the copy is the working copy (with its history), not a clone of nanochat_repo_url
    assert os.path.isfile(remote(machine, 'scripts/base_train.py'))
    assert read(remote(machine, '.gitignore')).endswith('scratch/\n')
    assert os.path.exists(remote(machine, '.nanochat-remote-gpu-push'))
    head = subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'], stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    assert state_values(machine, 'repo')[-1] == machine.path('nanochat')
    assert 'commit %s' % head in read(machine.path('.nanochat-speedrun', 'speedrun.sh'))
    # nothing of .venv travelled (the machine built its own), nor build outputs or ignored files
    assert not os.path.exists(remote(machine, '.venv/lib/local-only.txt'))
    assert os.path.isfile(remote(machine, '.venv/.nanochat-remote-gpu-sync'))
    with open(remote(machine, '.venv/bin/python'), 'rb') as handle:
        assert handle.read(64) != b'local only\n'
    for rel in ('scratch', 'build', 'scripts/__pycache__/x.cpython-311.pyc'):
        assert not os.path.exists(remote(machine, rel)), rel
    assert os.path.isfile(machine.path('volume/nanochat/chatsft_checkpoints/d24/model_000005.pt')) or \
        os.path.isfile(machine.path('.cache/nanochat/chatsft_checkpoints/d24/model_000005.pt'))

    again = ansible.play(SPEEDRUN, machine, inventory)
    assert again.rc == 0, again
    assert again.changed(machine.name) == 0, again


def test_an_edit_is_pushed_by_the_rerun_and_reaches_the_run(ansible, machine, client, src):
    inventory = push_vars(ansible, machine, client, src)
    stamp = remote(machine, '.venv/.nanochat-remote-gpu-sync')
    synced, mtime = read(stamp), os.stat(stamp).st_mtime_ns
    path = os.path.join(src, 'scripts', 'chat_eval.py')
    text = read(path).replace("    print0('ChatCORE metric: 0.2100')", "    print0('ChatCORE metric: 0.2100')\n    print0('edited locally')")
    with open(path, 'w') as handle:
        handle.write(text)
    os.unlink(os.path.join(src, 'scripts', 'tok_eval.py'))
    shutil.copy(os.path.join(src, 'scripts', 'chat_sft.py'), os.path.join(src, 'scripts', 'tok_eval.py'))

    result = ansible.play(SPEEDRUN, machine, inventory, extra_vars=dict(speedrun_restart=True))
    assert result.rc == 0, result
    assert 'Pushed ' in result.stdout and 'scripts/chat_eval.py' in result.stdout
    assert wait_for_end(machine) == 0, log_text(machine)
    assert 'edited locally' in log_text(machine)
    assert read(remote(machine, 'scripts/chat_eval.py')) == text
    # the lock did not change: no second sync
    assert read(stamp) == synced and os.stat(stamp).st_mtime_ns == mtime


def test_a_changed_lock_syncs_and_a_deleted_file_goes(ansible, machine, client, src):
    inventory = push_vars(ansible, machine, client, src)
    stamp = remote(machine, '.venv/.nanochat-remote-gpu-sync')
    synced = read(stamp)
    with open(os.path.join(src, 'uv.lock'), 'a') as handle:
        handle.write('\n# edited locally\n')
    os.unlink(os.path.join(src, 'README.md'))
    result = ansible.play(SPEEDRUN, machine, inventory)
    assert result.rc == 0, result
    assert not os.path.exists(remote(machine, 'README.md'))
    assert read(remote(machine, 'uv.lock')).endswith('# edited locally\n')
    assert read(stamp) != synced, 'uv.lock changed: the environment is synced again'
    assert os.path.exists(remote(machine, '.nanochat-remote-gpu-push'))
    again = ansible.play(SPEEDRUN, machine, inventory)
    assert again.rc == 0 and again.changed(machine.name) == 0, again


def test_a_directory_not_pushed_by_the_role_is_not_replaced(ansible, machine, client, src):
    os.makedirs(machine.path('precious'))
    with open(machine.path('precious', 'results.txt'), 'w') as handle:
        handle.write('mine\n')
    shutil.chown(machine.path('precious'), machine.user, machine.user)
    result = ansible.play(SPEEDRUN, machine, push_vars(ansible, machine, client, src, nanochat_dir='~/precious'))
    assert result.rc != 0, result
    assert 'exists and was not pushed by nanochat_src' in result.output
    assert os.listdir(machine.path('precious')) == ['results.txt']


def test_status_and_chat_work_on_the_pushed_copy(ansible, machine, client, src):
    inventory = push_vars(ansible, machine, client, src, chat_port=client.remote_port, chat_ssh_config=client.config)
    status = ansible.play('nanochat.remote_gpu.status', machine, inventory)
    assert status.rc == 0 and 'finished (exit code 0)' in status.stdout, status
    chat = ansible.play('nanochat.remote_gpu.chat', machine, inventory)
    assert chat.rc == 0, chat
    assert 'Chat server started on 127.0.0.1:%d' % client.remote_port in chat.stdout
    with client.tunnel():
        assert client.chat('pushed?') == 'fixture sft model d24 step 5 answers: pushed?'
    stopped = ansible.play('nanochat.remote_gpu.chat', machine, dict(inventory, chat_state='stopped'))
    assert stopped.rc == 0, stopped
