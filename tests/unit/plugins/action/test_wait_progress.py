# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The long waits print progress while they last: runpod_pod waiting for its SSH endpoint against
the strict RunPod fake (which withholds it for boot_delay seconds), and ssh_ready waiting for a port
nobody listens on, each run by ansible-playbook with progress_interval=1; the file the module
writes for its action (module_utils/_progress) through wait_for."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

from tests.conftest import COLLECTIONS_ROOT
from tests.fakes.runpod import FakeRunPod
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import WaitTimeout, wait_for
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._progress import read_progress
from ansible_collections.nanochat.remote_gpu.plugins.plugin_utils._wait_progress import progress_line

import pytest

BIN = os.path.dirname(sys.executable)
KEY = 'rp-progress-key-51c2'
PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8lZCIs9rSPJ9bsTvPKFtW6ek2UrrqsnBJLzWZx0vAV progress@test'


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_for_leaves_what_it_waits_for_the_last_status_and_the_time_in_the_progress_file(tmp_path):
    path = str(tmp_path / 'progress.json')
    clock = Clock()
    states = iter([{'status': 'pending', 'provider_status': 'PROVISIONING'}] * 3)
    with pytest.raises(WaitTimeout):
        wait_for(lambda: next(states), lambda i: False, 2, what='pod nanochat to get its SSH endpoint', interval=1,
                 clock=clock, sleep=clock.sleep, progress_file=path)
    progress = read_progress(path)
    assert progress['what'] == 'pod nanochat to get its SSH endpoint'
    assert 'PROVISIONING' in progress['status'] and progress['waited'] == 2.0 and progress['timeout'] == 2
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith('.tmp')]


def test_progress_line_before_and_after_the_first_observation():
    assert progress_line('localhost', 'runpod_pod', None, 31) == 'localhost: runpod_pod: working, 31s so far'
    line = progress_line('localhost', 'runpod_pod', dict(what='pod x to run', status='pending (PROVISIONING)', waited=95, timeout=900), 96)
    assert line == 'localhost: waiting for pod x to run: pending (PROVISIONING), 1m35s so far of at most 15m00s'


def play(tmp_path, task, env=None):
    playbook = tmp_path / 'wait.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
                                     'vars': {'ansible_python_interpreter': sys.executable}, 'tasks': [task]}]))
    run_env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RUNPOD_')))
    run_env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='0', HOME=str(tmp_path), **(env or {}))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', str(playbook)], env=run_env,
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


def test_a_create_that_waits_for_the_ssh_endpoint_prints_progress_while_it_waits(tmp_path):
    fake = FakeRunPod(api_key=KEY, boot_delay=4.0)
    fake.start()
    try:
        proc = play(tmp_path, {'nanochat.remote_gpu.runpod_pod': {
            'name': 'nanochat-progress', 'gpu_type': 'NVIDIA H100 80GB HBM3', 'gpu_count': 1, 'ssh_public_key': PUBLIC_KEY,
            'wait_timeout': 120, 'progress_interval': 1, 'api_key': KEY, 'api_url': fake.url}})
    finally:
        fake.stop()
    assert proc.returncode == 0, proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith('localhost: waiting for ')]
    assert lines, proc.stdout
    assert all(re.search(r'nanochat-progress.*: .+, \d+s so far of at most 2m00s$', line) for line in lines), lines
    assert 'FAILED - RETRYING' not in proc.stdout


def test_ssh_ready_prints_the_last_attempt_while_it_waits(tmp_path):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    key = tmp_path / 'id_ed25519'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(key)], check=True)
    proc = play(tmp_path, {'nanochat.remote_gpu.ssh_ready': {
        'host': '127.0.0.1', 'port': port, 'user': 'root', 'private_key_file': str(key), 'timeout': 4, 'delay': 0.5,
        'progress_interval': 1}, 'ignore_errors': True})
    lines = [line for line in proc.stdout.splitlines() if line.startswith('localhost: waiting for SSH to accept the key')]
    assert lines, proc.stdout
    assert re.search(r'at root@127\.0\.0\.1:%d: .+ \(attempt \d+\), \d+s so far of at most 4s$' % port, lines[-1]), lines
    assert 'timed out' in proc.stdout or 'nothing' in proc.stdout.lower() or 'refused' in proc.stdout.lower()
