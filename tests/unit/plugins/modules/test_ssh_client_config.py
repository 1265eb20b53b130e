# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ssh_client_config: managed Host blocks, pinned keys, the Include line; locking; check and diff."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import ssh_client_config
from tests.conftest import COLLECTIONS_ROOT, REPO_ROOT

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK'


@pytest.fixture
def ssh(tmp_path):
    path = tmp_path / '.ssh'
    path.mkdir(mode=0o700)
    return path


def args(ssh, hosts, **extra):
    base = dict(hosts=hosts, config_file=str(ssh / 'managed.conf'), known_hosts_file=str(ssh / 'known'),
                main_config_file=str(ssh / 'config'), identity_file=str(ssh / 'id_ed25519'))
    base.update(extra)
    return base


def host(alias='gpu1', **extra):
    item = dict(alias=alias, hostname='203.0.113.7', port=41201, user='root', host_key=KEY + ' host-comment')
    item.update(extra)
    return item


def test_writes_block_key_and_include_then_is_idempotent(run_module, ssh):
    first = run_module(ssh_client_config, args(ssh, [host()]))
    assert first.changed and first['aliases'] == ['gpu1']
    managed = (ssh / 'managed.conf').read_text()
    assert '# BEGIN nanochat.remote_gpu host gpu1\nHost gpu1\n    HostName 203.0.113.7\n    Port 41201\n' in managed
    for line in ('HostKeyAlias gpu1', 'StrictHostKeyChecking yes', 'IdentitiesOnly yes', 'ServerAliveInterval 60',
                 'ServerAliveCountMax 3', 'LocalForward 8000 127.0.0.1:8000', 'UserKnownHostsFile %s' % (ssh / 'known')):
        assert '    %s\n' % line in managed
    assert (ssh / 'known').read_text() == 'gpu1 %s\n' % KEY
    assert (ssh / 'config').read_text() == 'Include %s\n' % (ssh / 'managed.conf')
    for name in ('managed.conf', 'known', 'config'):
        assert stat.S_IMODE((ssh / name).stat().st_mode) == 0o600
    again = run_module(ssh_client_config, args(ssh, [host()]))
    assert not again.changed and again['aliases'] == [] and again['files'] == []


def test_other_hosts_and_the_users_entries_are_kept(run_module, ssh):
    (ssh / 'config').write_text('Host mine\n    HostName example.org\n')
    os.chmod(str(ssh / 'config'), 0o644)
    run_module(ssh_client_config, args(ssh, [host('gpu1')]))
    run_module(ssh_client_config, args(ssh, [host('gpu2', port=22, user='ubuntu', local_forwards=['8080:8000', 6006])]))
    managed = (ssh / 'managed.conf').read_text()
    assert 'Host gpu1\n' in managed and 'Host gpu2\n' in managed
    assert '    LocalForward 8080 127.0.0.1:8000\n    LocalForward 6006 127.0.0.1:6006\n' in managed
    config = (ssh / 'config').read_text()
    assert config == 'Include %s\nHost mine\n    HostName example.org\n' % (ssh / 'managed.conf')
    assert stat.S_IMODE((ssh / 'config').stat().st_mode) == 0o644, 'an existing config keeps its mode'


def test_changed_endpoint_rewrites_only_that_block(run_module, ssh):
    run_module(ssh_client_config, args(ssh, [host('gpu1'), host('gpu2')]))
    moved = run_module(ssh_client_config, args(ssh, [host('gpu1', hostname='198.51.100.4', port=40111)]))
    assert moved.changed and moved['aliases'] == ['gpu1']
    managed = (ssh / 'managed.conf').read_text()
    assert 'HostName 198.51.100.4\n    Port 40111' in managed and managed.count('Host gpu2\n') == 1


def test_absent_removes_the_block_and_the_key_only(run_module, ssh):
    run_module(ssh_client_config, args(ssh, [host('gpu1'), host('gpu2')]))
    (ssh / 'known').write_text((ssh / 'known').read_text() + 'unrelated ssh-rsa AAAAB3Nza\n')
    gone = run_module(ssh_client_config, args(ssh, [dict(alias='gpu1')], state='absent'))
    assert gone.changed and gone['aliases'] == ['gpu1']
    assert 'Host gpu1\n' not in (ssh / 'managed.conf').read_text()
    assert (ssh / 'known').read_text() == 'gpu2 %s\nunrelated ssh-rsa AAAAB3Nza\n' % KEY
    assert not run_module(ssh_client_config, args(ssh, [dict(alias='gpu1')], state='absent')).changed


def test_absent_with_nothing_written_changes_nothing(run_module, ssh):
    result = run_module(ssh_client_config, args(ssh, [dict(alias='gpu1')], state='absent'))
    assert not result.changed and os.listdir(str(ssh)) == []


def test_check_mode_writes_nothing_and_diff_shows_the_change(run_module, ssh):
    result = run_module(ssh_client_config, args(ssh, [host()]), check_mode=True, diff=True)
    assert result.changed and os.listdir(str(ssh)) == []
    diffs = dict((d['after_header'], d) for d in result['diff'])
    assert 'Host gpu1' in diffs[str(ssh / 'managed.conf')]['after']
    assert diffs[str(ssh / 'known')]['after'] == 'gpu1 %s\n' % KEY


@pytest.mark.parametrize('bad, message', [
    (dict(alias='two words'), "alias 'two words' must be letters"),
    (dict(hostname=None), 'needs hostname'),
    (dict(host_key='AAAA'), 'must be "type base64"'),
    (dict(port=70000), 'must be 1-65535'),
    (dict(user='a b'), 'must not contain spaces'),
])
def test_bad_hosts_fail_before_writing(run_module, ssh, bad, message):
    result = run_module(ssh_client_config, args(ssh, [host(**bad)]))
    assert result.failed and message in result['msg']
    assert os.listdir(str(ssh)) == []


def test_parallel_writers_lose_nothing(tmp_path, ssh):
    """Eight module processes at once (the hosts of a fleet): every block and key is there after."""
    script = tmp_path / 'one.py'
    script.write_text('\n'.join([
        'import json, sys',
        'sys.path[:0] = [%r, %r]' % (COLLECTIONS_ROOT, REPO_ROOT),
        'from ansible.module_utils.testing import patch_module_args',
        'from ansible_collections.nanochat.remote_gpu.plugins.modules import ssh_client_config',
        'with patch_module_args(json.loads(sys.argv[1])):',
        '    ssh_client_config.main()',
    ]))
    procs = [subprocess.Popen([sys.executable, str(script), json.dumps(args(ssh, [host('gpu%d' % i, port=40000 + i)]))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    managed = (ssh / 'managed.conf').read_text()
    assert sorted(line for line in managed.splitlines() if line.startswith('Host ')) == sorted('Host gpu%d' % i for i in range(8))
    assert len((ssh / 'known').read_text().splitlines()) == 8
    assert (ssh / 'config').read_text().count('Include ') == 1
