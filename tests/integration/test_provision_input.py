# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""provision.yml with bad input: every case fails before any request that writes reaches the
provider's fake (key registration included), with a message that names the provider, what is
wrong and what to do, in its first line. Run as a user runs it (ansible-playbook, a throwaway
HOME), over the simulated cloud."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.test_cloud_e2e import NAME, Laptop, simcloud  # noqa: F401  pylint: disable=unused-import

LABELS = {'runpod': 'RunPod', 'lambda': 'Lambda Cloud', 'vastai': 'Vast.ai'}


def failure_line(result):
    """The first line of the play's (last) failure message; rescued errors are printed before it."""
    for line in reversed((result.stdout + result.stderr).splitlines()):
        if line.startswith('[ERROR]: '):
            text = line[len('[ERROR]: '):]
            for prefix in ('Task failed: Action failed: ', 'Task failed: Module failed: ', 'Task failed: '):
                if text.startswith(prefix):
                    return text[len(prefix):]
            return text
    return ''


def make_pair(ssh_dir, name='id_ed25519'):
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    path = os.path.join(ssh_dir, name)
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path], check=True)
    return path


CASES = [
    ('runpod', dict(instance_name='bad name; rm -rf ~'), 'instance_name='),
    ('runpod', dict(ssh_timeout=-1), 'ssh_timeout=-1'),
    ('runpod', dict(wait_timeout=-5), 'wait_timeout=-5'),
    ('runpod', dict(wait_timeout='soon'), 'wait_timeout=soon'),
    ('runpod', dict(runpod_container_disk_gb=-10), 'runpod_container_disk_gb=-10'),
    ('runpod', dict(runpod_volume_gb=5), 'runpod_volume_gb=5'),
    ('runpod', dict(gpu='H999:8'), "unknown GPU type 'H999'"),
    ('runpod', dict(runpod_data_center_ids=['XX-NOWHERE-1']), 'XX-NOWHERE-1'),
    ('lambda', dict(lambda_regions=['mars-north-1']), 'mars-north-1'),
    ('lambda', dict(gpu='H100:3'), 'H100'),
    ('vastai', dict(vastai_disk_gb=-1), 'vastai_disk_gb=-1'),
    ('vastai', dict(instance_name='x' * 80), 'instance_name='),
]


@pytest.mark.parametrize('provider, extra, fragment', CASES, ids=['%s-%s' % (c[0], '-'.join(c[1])) for c in CASES])
def test_bad_input_fails_before_any_write(provider, extra, fragment, simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud(provider)
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(**extra))
    assert result.rc != 0, result
    line = failure_line(result)
    assert LABELS[provider] in line.split('.')[0] or line.startswith(LABELS[provider]), line
    assert fragment in line and any(step in line.lower() for step in ('run again', 'set ', 'use ')), line
    assert cloud.fake.writes() == [], cloud.fake.writes()


@pytest.mark.parametrize('which', ['private', 'public', 'mismatch'])
def test_key_pair_problems_fail_before_any_write(which, simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    private = make_pair(laptop.ssh_dir)
    if which == 'private':
        os.remove(private)
    elif which == 'public':
        os.remove(private + '.pub')
    else:
        other = make_pair(laptop.ssh_dir, 'other')
        os.replace(other + '.pub', private + '.pub')
    result = laptop.play('provision.yml', laptop.provision_args())
    assert result.rc != 0, result
    line = failure_line(result)
    assert line.startswith('RunPod: the input of the provision play is not valid'), line
    assert {'private': 'the private key', 'public': 'the public key', 'mismatch': 'the keys do not match'}[which] in line
    assert cloud.fake.writes() == []


def test_a_31_year_wait_timeout_is_capped_with_a_note(simcloud, git_server, tmp_path):  # noqa: F811
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(wait_timeout=31 * 365 * 86400), check=True)
    assert result.rc == 0, result
    assert 'a timeout above 86400 s (24 hours) was asked for' in result.stdout
    assert cloud.fake.writes() == []
