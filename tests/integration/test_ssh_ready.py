# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssh_ready against a real sshd on 127.0.0.1: readiness means "accepts our key", not "port open"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nanochat.remote_gpu.plugins.modules import ssh_ready
from tests.support.sshd import Machine

pytestmark = pytest.mark.integration


def run(args, capsys):
    capsys.readouterr()
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            ssh_ready.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope='module')
def machine(tmp_path_factory):
    m = Machine.start(str(tmp_path_factory.mktemp('ready')))
    yield m
    m.destroy()


@pytest.fixture
def keyless_machine(tmp_path):
    """A machine whose account trusts no key yet (the key arrives later, as on RunPod/Vast)."""
    m = Machine.start(str(tmp_path), authorized_keys=[], client_key=False)
    yield m
    m.destroy()


@pytest.fixture(scope='module')
def client_key(tmp_path_factory):
    path = tmp_path_factory.mktemp('key') / 'id_ed25519'
    subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(path)])
    return path


def authorize(m, public_key):
    """Install a key the way a provider's start script does: append it to authorized_keys."""
    with open(os.path.join(m.home, '.ssh', 'authorized_keys'), 'a') as handle:
        handle.write(public_key.strip() + '\n')


def base_args(m, key, **extra):
    args = dict(host=m.host, port=m.port, user=m.user, private_key_file=str(key), timeout=20, delay=0.2)
    args.update(extra)
    return args


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_ready_returns_the_servers_host_key(machine, capsys, tmp_path):
    result = run(base_args(machine, machine.key_path), capsys)
    assert not result.get('failed'), result
    assert result['changed'] is False and result['attempts'] == 1
    key = result['host_key']
    assert '%s %s' % (key['type'], key['base64']) == machine.host_key
    assert key['known_hosts_line'] == '[127.0.0.1]:%d %s' % (machine.port, machine.host_key)
    pub = tmp_path / 'host.pub'
    pub.write_text(machine.host_key + '\n')
    printed = subprocess.check_output(['ssh-keygen', '-l', '-E', 'sha256', '-f', str(pub)], text=True)
    assert printed.split()[1] == key['fingerprint_sha256']


def test_waits_until_the_key_is_installed(keyless_machine, client_key, capsys):
    """sshd answers and completes the handshake from the start; only later is our key accepted."""
    public = client_key.with_suffix('.pub').read_text().strip()

    def install_later():
        time.sleep(1.5)
        authorize(keyless_machine, public)

    thread = threading.Thread(target=install_later)
    thread.start()
    try:
        result = run(base_args(keyless_machine, client_key), capsys)
    finally:
        thread.join()
    assert not result.get('failed'), result
    assert result['attempts'] > 1
    assert result['elapsed'] >= 1.0


def test_refused_key_times_out_with_its_own_message(keyless_machine, client_key, capsys):
    result = run(base_args(keyless_machine, client_key, timeout=2, probe_users=[]), capsys)
    assert result['failed']
    assert result['msg'].startswith('the SSH server never accepted our key within')
    assert keyless_machine.user in result['msg'] and str(client_key) in result['msg']
    assert result['attempts'] > 1
    assert result['host_key']['base64'] in keyless_machine.host_key


def test_wrong_user_is_told_apart(machine, capsys):
    result = run(base_args(machine, machine.key_path, user='nosuchuser', timeout=1, probe_users=['root', machine.user]),
                 capsys)
    assert result['failed']
    assert result['msg'].startswith('wrong user:')
    assert "for %r, not for 'nosuchuser'" % machine.user in result['msg']


def test_missing_key_file(machine, capsys, tmp_path):
    result = run(base_args(machine, tmp_path / 'nope'), capsys)
    assert result['failed'] and result['attempts'] == 0
    assert result['msg'] == 'private key file %s does not exist' % (tmp_path / 'nope')


def test_public_key_passed_instead_of_private(machine, capsys):
    result = run(base_args(machine, machine.key_path + '.pub'), capsys)
    assert result['failed'] and result['attempts'] == 0
    assert result['msg'].startswith('private key file') and 'looks like a public key' in result['msg']


def test_encrypted_key_needs_its_passphrase(machine, capsys, tmp_path):
    key = tmp_path / 'enc'
    subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', 'sesame', '-f', str(key)])
    result = run(base_args(machine, key), capsys)
    assert result['failed'] and 'is encrypted' in result['msg']
    authorize(machine, key.with_suffix('.pub').read_text())
    result = run(base_args(machine, key, passphrase='sesame'), capsys)
    assert not result.get('failed'), result
    assert 'sesame' not in json.dumps(result)


def test_nothing_listening(capsys, tmp_path, machine):
    port = free_port()
    result = run(dict(host='127.0.0.1', port=port, user='x', private_key_file=machine.key_path, timeout=1, delay=0.2), capsys)
    assert result['failed']
    assert result['msg'].startswith('no SSH server answered at 127.0.0.1:%d' % port)
    assert 'refused' in result['msg'].lower()


def test_open_port_that_is_not_ssh(capsys, machine):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(5)
    stop = threading.Event()

    def answer_garbage():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except socket.timeout:
                continue
            conn.sendall(b'HTTP/1.1 400 Bad Request\r\n\r\n')
            conn.close()

    thread = threading.Thread(target=answer_garbage)
    thread.start()
    try:
        result = run(dict(host='127.0.0.1', port=server.getsockname()[1], user='x', private_key_file=machine.key_path,
                          timeout=1, delay=0.2, connect_timeout=2), capsys)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result['failed']
    assert result['msg'].startswith('no SSH server answered') and 'no SSH handshake completed' in result['msg']


def test_expected_host_key(machine, capsys, tmp_path):
    good = run(base_args(machine, machine.key_path, expected_host_key=machine.host_key), capsys)
    assert not good.get('failed'), good
    by_fingerprint = run(base_args(machine, machine.key_path, expected_host_key=good['host_key']['fingerprint_sha256']), capsys)
    assert not by_fingerprint.get('failed'), by_fingerprint
    other = tmp_path / 'other'
    subprocess.check_call(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(other)])
    wrong = other.with_suffix('.pub').read_text().split()
    bad = run(base_args(machine, machine.key_path, expected_host_key=' '.join(wrong[:2])), capsys)
    assert bad['failed'] and bad['msg'].startswith('host key mismatch') and bad['attempts'] == 1


def test_command_must_succeed(machine, capsys):
    result = run(base_args(machine, machine.key_path, command='exit 3', timeout=1), capsys)
    assert result['failed']
    assert result['msg'].startswith('the command check never passed') and 'exited 3' in result['msg']
