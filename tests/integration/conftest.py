# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the integration tests: real playbooks, real SSH, real tmux/git/uv.

- ``git_server``: the nanochat fixture as a git repository served on 127.0.0.1 (git://);
- ``machines``: a factory of throwaway machines (tests/support/sshd.py), destroyed at the end;
- ``ansible``: runs ``ansible-playbook`` as a user would (by FQCN, from a directory without an
  ansible.cfg, so only the collection's own connection defaults apply) against one machine.

Synchronisation is on real conditions (a line in the run's log, a key in its state file), never
on sleeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import COLLECTIONS_ROOT
from tests.support.fixture_repo import GitServer, build_fixture_repo
from tests.support.sshd import Machine

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
RECAP_RE = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+'
                      r'rescued=(\d+)\s+ignored=(\d+)', re.M)


class PlayResult(object):
    def __init__(self, proc, command):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.command = command
        self.recap = {}
        for match in RECAP_RE.finditer(proc.stdout):
            keys = ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored')
            self.recap[match.group(1)] = dict(zip(keys, (int(g) for g in match.groups()[1:])))

    @property
    def output(self):
        return self.stdout + self.stderr

    def changed(self, host):
        return self.recap[host]['changed']

    def __repr__(self):
        return '<PlayResult rc=%s recap=%s>\n%s\n%s' % (self.rc, self.recap, self.stdout[-6000:], self.stderr[-3000:])


class Ansible(object):
    """ansible-playbook against machines, with the collection found by FQCN."""

    def __init__(self, work_dir, git_url, pin):
        self.work_dir = work_dir
        self.git_url = git_url
        self.pin = pin  # a commit: pinned like the collection's default
        self.env = dict(os.environ)
        for name in list(self.env):
            if name.startswith('ANSIBLE_') or name == 'WANDB_API_KEY':
                del self.env[name]
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
            ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work_dir, 'cp'),
            ANSIBLE_LOCAL_TEMP=os.path.join(work_dir, 'tmp'),
            ANSIBLE_HOME=os.path.join(work_dir, 'home'),
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_FORCE_COLOR='0',
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default',
        )

    def host_vars(self, machine, **overrides):
        """Inventory variables for ``machine``: how to reach it, plus what this test host needs
        (uv from the package index, no Python downloads, the fixture repository)."""
        host_vars = machine.inventory_vars()
        host_vars.update(
            uv_install_method='pip',
            nanochat_uv_python_downloads='never',
            nanochat_repo_url=self.git_url,
            nanochat_version=self.pin,
        )
        host_vars.update(overrides)
        return host_vars

    def inventory(self, machine, host_vars):
        path = os.path.join(self.work_dir, 'inventory-%s.json' % machine.name)
        with open(path, 'w') as handle:
            json.dump({'nanochat': {'hosts': {machine.name: host_vars}}}, handle)
        return path

    def play(self, playbook, machine, host_vars=None, extra_vars=None, check=False, env=None, timeout=300):
        """Run ``playbook`` (FQCN or path) against ``machine``; returns a PlayResult."""
        inventory = self.inventory(machine, host_vars if host_vars is not None else self.host_vars(machine))
        command = [ANSIBLE_PLAYBOOK, '-i', inventory, playbook]
        if extra_vars:
            vars_path = os.path.join(self.work_dir, 'extra-vars-%s.json' % machine.name)
            with open(vars_path, 'w') as handle:
                json.dump(extra_vars, handle)
            command += ['-e', '@' + vars_path]
        if check:
            command.append('--check')
        proc = subprocess.run(command, cwd=self.work_dir, env=dict(self.env, **(env or {})), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)
        return PlayResult(proc, command)


@pytest.fixture(scope='session')
def git_server():
    root = tempfile.mkdtemp(prefix='nrg-git-')
    os.chmod(root, 0o755)
    info = build_fixture_repo(root)
    server = GitServer(root).start()
    info['url'] = server.url()
    yield info
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def ansible(git_server, tmp_path_factory):
    return Ansible(str(tmp_path_factory.mktemp('ansible')), git_server['url'], git_server['tag_commit'])


@pytest.fixture(scope='session')
def machines(tmp_path_factory):
    """machines(**Machine.start options) -> a started Machine; all are destroyed at the end."""
    base_dir = str(tmp_path_factory.mktemp('machines'))
    started = []

    def start(**options):
        machine = Machine.start(base_dir, **options)
        started.append(machine)
        return machine

    yield start
    for machine in started:
        machine.destroy()


# --------------------------------------------------------------------------- reading a run
def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def run_dir(machine):
    return machine.path('.nanochat-speedrun')


def state_text(machine):
    return read(os.path.join(run_dir(machine), 'state')) or ''


def state_values(machine, key):
    return [line.split('=', 1)[1] for line in state_text(machine).splitlines() if line.startswith(key + '=')]


def log_text(machine):
    return read(os.path.join(run_dir(machine), 'speedrun.log')) or ''


def launches(machine):
    return (read(os.path.join(run_dir(machine), 'launches')) or '').splitlines()


def wait_until(condition, timeout=120.0, what='condition'):
    """Poll ``condition()`` (a real condition: a file's content, a process) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.0fs waiting for %s' % (timeout, what))
        time.sleep(0.05)


def wait_for_end(machine, timeout=180.0):
    """Until the run records its exit code; returns it."""
    wait_until(lambda: state_values(machine, 'exit_code'), timeout, 'the run of %s to end' % machine.name)
    return int(state_values(machine, 'exit_code')[-1])


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open('/proc/%d/status' % pid) as handle:
        return '\nState:\tZ' not in handle.read()


def gate_path(machine, name):
    """A file the fixture's base_train waits for (NANOCHAT_FAKE_PAUSE_FILE); readable by the user."""
    return os.path.join(machine.system_dir, 'gate-%s' % name)


def open_gate(path):
    with open(path, 'w') as handle:
        handle.write('go\n')
    os.chmod(path, 0o644)


def pytest_collection_modifyitems(config, items):
    """``NRG_TEST_NEWEST_LINE=1``: of the integration tests, only those marked ``newest_line`` run
    (the others are deselected, and pytest's summary counts them); the unit tests all run. ``make
    test`` sets it on the newest ansible-core line, which the 2.19 line's full run would otherwise
    repeat at twice the time (see the README's Testing section)."""
    if os.environ.get('NRG_TEST_NEWEST_LINE') != '1':
        return
    here = os.path.dirname(os.path.abspath(__file__))
    keep, drop = [], []
    for item in items:
        inside = os.path.abspath(str(item.fspath)).startswith(here + os.sep)
        (drop if inside and item.get_closest_marker('newest_line') is None else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
