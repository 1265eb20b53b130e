# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fetch.yml over a real sshd machine: the files of a finished run (laid out as the speedrun role's
wrapper and nanochat write them), rsync over an SSH alias with a pinned host key, local verify."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import ANSIBLE_PLAYBOOK, wait_until

pytestmark = pytest.mark.integration

FETCH = 'nanochat.remote_gpu.fetch'


def put(machine, rel, data, mode=0o644):
    """Write a file in the machine user's home, owned by that user."""
    path = machine.path(rel)
    parts = rel.split('/')
    for i in range(1, len(parts)):
        directory = machine.path(*parts[:i])
        if not os.path.isdir(directory):
            os.mkdir(directory)
            os.chown(directory, machine.uid, machine.gid)
    with open(path, 'wb') as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    os.chown(path, machine.uid, machine.gid)
    return path


def finished_run(machine, state='finished', model_bytes=64 * 1024):
    """A run as the wrapper records it, and nanochat's outputs in NANOCHAT_BASE_DIR."""
    base = machine.path('.cache', 'nanochat')
    now = int(time.time())
    lines = ['version=1', 'run_id=20261202T190000Z-4242', 'launched_at=%d' % (now - 100), 'boot_id=%s' % open('/proc/sys/kernel/random/boot_id').read().strip(),
             'base_dir=%s' % base, 'log=%s' % machine.path('.nanochat-speedrun', 'speedrun.log'), 'pid=999999',
             'started_at=%d' % (now - 99), 'stage_start=%d base_train' % (now - 90)]
    if state == 'finished':
        lines += ['stage_end=%d base_train 0' % (now - 10), 'finished_at=%d' % (now - 5), 'exit_code=0']
    put(machine, '.nanochat-speedrun/state', '\n'.join(lines) + '\n', 0o600)
    put(machine, '.nanochat-speedrun/speedrun.log', '[nanochat.remote_gpu] run started\nstep 00020/00020 (final) | loss: 1.0\n')
    put(machine, '.cache/nanochat/chatsft_checkpoints/d24/model_000003.pt', b'old step\n')
    put(machine, '.cache/nanochat/chatsft_checkpoints/d24/meta_000003.json', '{"step": 3}\n')
    put(machine, '.cache/nanochat/chatsft_checkpoints/d24/model_000005.pt', os.urandom(model_bytes))
    put(machine, '.cache/nanochat/chatsft_checkpoints/d24/meta_000005.json', '{"step": 5}\n')
    put(machine, '.cache/nanochat/tokenizer/tokenizer.pkl', 'tok\n')
    put(machine, '.cache/nanochat/base_eval/base_model_000020.csv', 'Task,Accuracy\nCORE,0.26\n')
    put(machine, '.cache/nanochat/base_checkpoints/d24/model_000020.pt', 'base\n')
    put(machine, '.cache/nanochat/base_checkpoints/d24/meta_000020.json', '{}\n')
    put(machine, '.cache/nanochat/base_checkpoints/d24/optim_000020_rank0.pt', 'opt\n')
    return base


def ssh_config(ansible, machine):
    path = os.path.join(ansible.work_dir, 'ssh-config-%s' % machine.name)
    with open(path, 'w') as handle:
        handle.write('Host %s\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n'
                     '  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n'
                     % (machine.name, machine.host, machine.port, machine.user, machine.key_path, machine.known_hosts_path))
    return path


def fetch_vars(ansible, machine, dest, **extra):
    values = dict(fetch_dest=dest, fetch_ssh_config_file=ssh_config(ansible, machine), fetch_reserve_mb=0)
    values.update(extra)
    return values


def flat(result):
    """The play's output with YAML's line wrapping undone (callback_result_format = yaml)."""
    return ' '.join(result.stdout.replace("'", ' ').split())


def sha256sum_check(dest):
    return subprocess.run(['sha256sum', '--check', '--strict', 'MANIFEST.sha256'], cwd=dest, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)


@pytest.fixture
def run_machine(machines):
    return machines(gpus=1)


def test_fetch_copies_verifies_marks_then_copies_nothing(ansible, run_machine, tmp_path):
    machine = run_machine
    finished_run(machine)
    dest = str(tmp_path / 'results')
    first = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest))
    assert first.rc == 0, first
    assert first.changed(machine.name) > 0
    names = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _dirs, fs in os.walk(dest) for f in fs)
    assert names == ['.nanochat-fetch.json', '.nanochat-fetch.log', 'MANIFEST.sha256', 'base_eval/base_model_000020.csv',
                     'chatsft_checkpoints/d24/meta_000005.json', 'chatsft_checkpoints/d24/model_000005.pt',
                     'run/speedrun.log', 'run/state', 'tokenizer/tokenizer.pkl'], 'the last step only, no base checkpoints'
    check = sha256sum_check(dest)
    assert check.returncode == 0, check.stdout  # the manifest is plain sha256sum format with relative paths
    marker = json.load(open(machine.path('.nanochat-speedrun', 'fetched.json')))
    manifest = open(os.path.join(dest, 'MANIFEST.sha256')).read()
    import hashlib
    assert marker['manifest_sha256'] == hashlib.sha256(manifest.encode()).hexdigest()
    assert marker['dest_path'] == dest and marker['dest_host'] and marker['fetched_at'].endswith('Z')
    assert sorted(f['path'] for f in marker['files']) == sorted(line.split('  ', 1)[1] for line in manifest.splitlines())

    second = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest))
    assert second.rc == 0, second
    assert second.changed(machine.name) == 0, second
    assert 'Nothing to copy' in flat(second)


def test_a_corrupted_local_file_is_found_and_copied_again(ansible, run_machine, tmp_path):
    machine = run_machine
    finished_run(machine)
    dest = str(tmp_path / 'results')
    assert ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest)).rc == 0
    model = os.path.join(dest, 'chatsft_checkpoints', 'd24', 'model_000005.pt')
    data = bytearray(open(model, 'rb').read())
    data[100] ^= 0xFF
    stat = os.stat(model)
    with open(model, 'wb') as handle:
        handle.write(data)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time: only a hash finds it
    repaired = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest, fetch_rehash=True))
    assert repaired.rc == 0, repaired
    assert 'Copying 1 file(s)' in flat(repaired)
    assert sha256sum_check(dest).returncode == 0


def test_an_interrupted_copy_resumes(ansible, run_machine, tmp_path):
    machine = run_machine
    finished_run(machine, model_bytes=24 * 1024 * 1024)
    dest = str(tmp_path / 'results')
    inventory = ansible.inventory(machine, ansible.host_vars(machine))
    vars_path = os.path.join(ansible.work_dir, 'slow-vars.json')
    with open(vars_path, 'w') as handle:
        json.dump(fetch_vars(ansible, machine, dest, fetch_rsync_options=['--bwlimit=2m'], fetch_progress_interval=1), handle)
    proc = subprocess.Popen([ANSIBLE_PLAYBOOK, '-i', inventory, FETCH, '-e', '@' + vars_path], cwd=ansible.work_dir,
                            env=ansible.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    model = os.path.join(dest, 'chatsft_checkpoints', 'd24', 'model_000005.pt')
    partial_dir = os.path.join(dest, 'chatsft_checkpoints', 'd24')

    def partly_copied():
        if not os.path.isdir(partial_dir):
            return False
        return any(os.path.getsize(os.path.join(partial_dir, n)) > 4 * 1024 * 1024 for n in os.listdir(partial_dir)
                   if n.startswith('.model_000005.pt') or n == 'model_000005.pt')
    wait_until(partly_copied, 120, 'rsync to copy part of the model')
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: ansible-playbook and rsync alike
    interrupted = proc.communicate(timeout=60)[0].decode()
    # while rsync copied, the play printed where it stood (live: the action prints, not a module)
    progress = [line for line in interrupted.splitlines() if ': copying from %s: ' % machine.name in line]
    assert progress and any(re.search(r' of 2\d\.\d MiB \(\d+%\), .* so far$', line) for line in progress), interrupted[-3000:]
    wait_until(lambda: os.path.exists(model), 30, 'rsync --partial to keep the part copied')
    kept = os.path.getsize(model)
    assert 0 < kept < 24 * 1024 * 1024
    resumed = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest))
    assert resumed.rc == 0, resumed
    log = open(os.path.join(dest, '.nanochat-fetch.log')).read()
    matched = [line for line in log.splitlines() if line.startswith('Matched data')]
    assert matched and matched[0].split(':')[1].strip() not in ('0', '0 bytes'), log  # the kept part was reused
    assert sha256sum_check(dest).returncode == 0


def test_not_enough_local_space_is_refused_before_copying(ansible, run_machine, tmp_path):
    machine = run_machine
    finished_run(machine, model_bytes=4 * 1024 * 1024)
    small = str(tmp_path / 'small')
    os.makedirs(small)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small], check=True)
    try:
        dest = os.path.join(small, 'results')
        refused = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest))
        assert refused.rc != 0, refused
        assert 'Not enough space at %s' % dest in flat(refused)
        assert not os.path.exists(os.path.join(dest, 'chatsft_checkpoints'))
        assert not os.path.exists(machine.path('.nanochat-speedrun', 'fetched.json'))
    finally:
        subprocess.run(['umount', small], check=True)


def test_a_running_run_is_not_fetched_without_partial(ansible, run_machine, tmp_path):
    machine = run_machine
    finished_run(machine, state='running')
    sleeper = subprocess.Popen(['sleep', '300'])  # a live PID stands for the wrapper
    try:
        state = machine.path('.nanochat-speedrun', 'state')
        with open(state, 'a') as handle:
            handle.write('pid=%d\n' % sleeper.pid)
        dest = str(tmp_path / 'results')
        refused = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest))
        assert refused.rc != 0 and 'is still running' in flat(refused), flat(refused)[-1500:]
        partial = ansible.play(FETCH, machine, extra_vars=fetch_vars(ansible, machine, dest, fetch_partial=True))
        assert partial.rc == 0 and 'A partial fetch' in flat(partial), partial
    finally:
        sleeper.kill()
        sleeper.wait()
