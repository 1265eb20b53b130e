# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ssh_config role for real: the generated config is used by OpenSSH against a real sshd."""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.support.sshd import Machine

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAYBOOK = """
- name: ssh_config role
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - nanochat.remote_gpu.ssh_config
"""


@pytest.fixture(scope='module')
def machine(tmp_path_factory):
    m = Machine.start(str(tmp_path_factory.mktemp('cfg')))
    yield m
    m.destroy()


@pytest.fixture
def home(tmp_path):
    path = tmp_path / 'home'
    (path / '.ssh').mkdir(parents=True)
    return path


def play(home, variables, check=True):
    book = home.parent / 'play.yml'
    book.write_text(PLAYBOOK)
    env = dict(os.environ, HOME=str(home), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([ANSIBLE_PLAYBOOK, str(book), '-e', json.dumps(variables)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def changed(proc):
    line = [x for x in proc.stdout.splitlines() if x.startswith('localhost')][-1]
    return int(line.split('changed=')[1].split()[0])


def entry(machine, alias='gpu1', **extra):
    item = dict(alias=alias, hostname=machine.host, port=machine.port, user=machine.user, host_key=machine.host_key,
                identity_file=machine.key_path)
    item.update(extra)
    return item


def ssh(home, alias, *args, timeout=30):
    config = home / '.ssh' / 'nanochat_remote_gpu.conf'
    return subprocess.run(['ssh', '-F', str(config), '-o', 'BatchMode=yes'] + list(args) + [alias, 'echo', 'hello-from-$USER'],
                          capture_output=True, text=True, timeout=timeout, check=False)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_generated_config_connects_with_strict_host_checking(machine, home):
    play(home, dict(ssh_config_hosts=[entry(machine)]))
    conf = (home / '.ssh' / 'nanochat_remote_gpu.conf').read_text()
    assert 'StrictHostKeyChecking yes' in conf and 'HostKeyAlias gpu1' in conf
    assert 'ServerAliveInterval 60' in conf and 'ServerAliveCountMax 3' in conf
    assert 'LocalForward 8000 127.0.0.1:8000' in conf and '6006' not in conf
    known = (home / '.ssh' / 'nanochat_remote_gpu_known_hosts').read_text().split('\n')
    assert 'gpu1 ' + machine.host_key in known
    result = ssh(home, 'gpu1')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'hello-from-%s' % machine.user


def test_wrong_pinned_key_is_refused(machine, home, tmp_path):
    other = tmp_path / 'other'
    subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(other)])
    wrong = ' '.join(other.with_suffix('.pub').read_text().split()[:2])
    play(home, dict(ssh_config_hosts=[entry(machine, host_key=wrong)]))
    result = ssh(home, 'gpu1')
    assert result.returncode != 0
    assert 'Host key verification failed' in result.stderr
    assert 'REMOTE HOST IDENTIFICATION HAS CHANGED' in result.stderr


def test_local_forward_carries_http_to_the_remote_side(machine, home):
    remote_port, local_port = free_port(), free_port()

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'nanochat says hi'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(('127.0.0.1', remote_port), Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05))
    thread.start()
    tunnel = None
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen('http://127.0.0.1:%d/' % local_port, timeout=2)
        play(home, dict(ssh_config_hosts=[entry(machine, local_forwards=['%d:%d' % (local_port, remote_port)])]))
        config = home / '.ssh' / 'nanochat_remote_gpu.conf'
        tunnel = subprocess.Popen(['ssh', '-F', str(config), '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-N', 'gpu1'],
                                  stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        body = None
        while time.monotonic() < deadline and tunnel.poll() is None:
            try:
                body = urllib.request.urlopen('http://127.0.0.1:%d/' % local_port, timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert tunnel.poll() is None, tunnel.stderr.read()
        assert body == b'nanochat says hi'
    finally:
        if tunnel is not None:
            tunnel.terminate()
            tunnel.wait(timeout=10)
        server.shutdown()
        server.server_close()
        thread.join()


def test_include_added_once_at_top_and_user_entries_kept(machine, home):
    user_config = home / '.ssh' / 'config'
    mine = 'Host mybox\n    HostName example.org\n    User me\n'
    user_config.write_text(mine)
    os.chmod(str(user_config), 0o644)
    first = play(home, dict(ssh_config_hosts=[entry(machine)]))
    assert changed(first) > 0
    second = play(home, dict(ssh_config_hosts=[entry(machine)]))
    assert changed(second) == 0
    text = user_config.read_text()
    include = 'Include %s' % (home / '.ssh' / 'nanochat_remote_gpu.conf')
    assert text.splitlines()[0] == include
    assert text.count('Include ') == 1
    assert text.endswith(mine)
    assert stat.S_IMODE(user_config.stat().st_mode) == 0o644, 'an existing config keeps its mode'
    managed = home / '.ssh' / 'nanochat_remote_gpu.conf'
    assert stat.S_IMODE(managed.stat().st_mode) == 0o600


def test_missing_user_config_is_created_private(machine, home):
    play(home, dict(ssh_config_hosts=[entry(machine)]))
    user_config = home / '.ssh' / 'config'
    assert stat.S_IMODE(user_config.stat().st_mode) == 0o600
    assert user_config.read_text().startswith('Include ')


def test_teardown_removes_only_that_host(machine, home):
    play(home, dict(ssh_config_hosts=[entry(machine, 'gpu1'), entry(machine, 'gpu2')]))
    removed = play(home, dict(ssh_config_state='absent', ssh_config_hosts=[dict(alias='gpu1')]))
    assert changed(removed) == 1
    conf = (home / '.ssh' / 'nanochat_remote_gpu.conf').read_text()
    assert 'Host gpu1\n' not in conf and 'Host gpu2\n' in conf
    known = (home / '.ssh' / 'nanochat_remote_gpu_known_hosts').read_text()
    assert not any(line.startswith('gpu1 ') for line in known.splitlines())
    assert any(line.startswith('gpu2 ') for line in known.splitlines())
    assert ssh(home, 'gpu2').returncode == 0
    again = play(home, dict(ssh_config_state='absent', ssh_config_hosts=[dict(alias='gpu1')]))
    assert changed(again) == 0


def test_bad_host_entry_fails_with_a_clear_message(home):
    proc = play(home, dict(ssh_config_hosts=[dict(alias='x y', hostname='h', port=22, user='u', host_key='ssh-ed25519 AAAA')]),
                check=False)
    assert proc.returncode != 0
    assert "alias 'x y' must be letters, digits" in proc.stdout
