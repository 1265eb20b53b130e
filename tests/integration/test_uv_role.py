# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The uv role alone: an unreachable installer fails with what to do; an uv older than
uv_min_version is replaced; uv ends up on the PATH of non-interactive SSH commands."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration

PLAY = """---
- name: Install uv
  hosts: nanochat
  gather_facts: false
  roles:
    - role: nanochat.remote_gpu.uv
  tasks:
    - name: Show where uv is
      ansible.builtin.debug:
        msg: "uv_executable={{ uv_executable }}"
"""


@pytest.fixture(scope='module')
def uv_playbook(ansible):
    path = os.path.join(ansible.work_dir, 'uv.yml')
    with open(path, 'w') as handle:
        handle.write(PLAY)
    return path


def test_an_unreachable_installer_fails_with_what_to_do(ansible, machines, uv_playbook):
    machine = machines(nvidia_smi=False)
    inventory = ansible.host_vars(machine, uv_install_method='installer',
                                  uv_installer_url='http://127.0.0.1:9/uv/install.sh')
    result = ansible.play(uv_playbook, machine, inventory)
    assert result.rc != 0, result
    assert 'Could not install uv with the official installer (http://127.0.0.1:9/uv/install.sh)' in result.output
    assert 'set uv_install_method: pip' in result.output
    assert not os.path.exists(machine.path('.local/bin/uv'))


def test_an_old_uv_is_upgraded_and_on_the_path(ansible, machines, uv_playbook):
    machine = machines(nvidia_smi=False)
    old = ansible.play(uv_playbook, machine, ansible.host_vars(machine, uv_version='0.9.0'))
    assert old.rc == 0, old
    assert machine.ssh('uv --version').stdout.startswith('uv 0.9.0')

    newer = ansible.host_vars(machine, uv_min_version='0.10.0')
    upgraded = ansible.play(uv_playbook, machine, newer)
    assert upgraded.rc == 0, upgraded
    assert upgraded.changed(machine.name) > 0
    version = machine.ssh('uv --version').stdout.split()[1]
    assert tuple(int(p) for p in version.split('.')[:2]) >= (0, 10), version
    assert 'uv_executable=%s' % machine.path('.local/bin/uv') in upgraded.stdout

    again = ansible.play(uv_playbook, machine, newer)
    assert again.rc == 0 and again.changed(machine.name) == 0, again


def test_pip_method_without_pip_brings_pip_through_venv(ansible, machines, uv_playbook):
    """A Python without pip (a venv made --without-pip stands in for Debian's python3 without
    python3-pip): the pip method makes a throwaway venv for pip, and installs nothing into either."""
    machine = machines(nvidia_smi=False)
    made = machine.ssh('/usr/bin/python3 -m venv --without-pip ~/nopip && ~/nopip/bin/python -m pip --version', check=False)
    assert made.returncode != 0 and 'No module named pip' in made.stderr, 'the stand-in Python really has no pip'
    inventory = ansible.host_vars(machine, uv_pip_python=machine.path('nopip/bin/python'))
    result = ansible.play(uv_playbook, machine, inventory)
    assert result.rc == 0, result
    assert machine.ssh('uv --version').stdout.startswith('uv ')
    assert machine.ssh('~/nopip/bin/python -m pip --version', check=False).returncode != 0, 'nothing installed into it'


def test_pip_method_with_an_unreachable_index_fails_with_what_to_do(ansible, machines, uv_playbook):
    machine = machines(nvidia_smi=False)
    inventory = ansible.host_vars(machine, uv_install_method='pip', uv_pip_index_url='http://127.0.0.1:9/simple',
                                  uv_version='0.9.0')
    result = ansible.play(uv_playbook, machine, inventory)
    assert result.rc != 0, result
    assert 'Could not install uv from the Python package index' in result.output
    assert 'set uv_pip_index_url for a' in result.output
    assert not os.path.exists(machine.path('.local/bin/uv'))
