# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks and roles as a user meets them outside the checkout: ansible-playbook by FQCN
from an empty folder (no ansible.cfg), a HOME of its own, the strict RunPod fake in this process.

No SSH machine is needed here: the plays run on the control node (provision/teardown in check
mode, the SSH config role) or fail before connecting (no host matched). The seeded pods never
answer SSH, so teardown cannot check them for unfetched results: these plays pass force=true
(teardown_force), which is not what they test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import COLLECTIONS_ROOT, REPO_ROOT
from tests.fakes.runpod import FakeRunPod
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi, create_pod_body

BIN = os.path.dirname(sys.executable)
KEY = 'rp-interface-key-3b1f0c'
ROLES = ('provision', 'teardown', 'ssh_config', 'uv', 'nanochat', 'speedrun', 'fetch', 'chat')
PREFIX = {'provision': 'provision_', 'teardown': 'teardown_', 'ssh_config': 'ssh_config_', 'uv': 'uv_',
          'nanochat': 'nanochat_', 'speedrun': 'speedrun_', 'fetch': 'fetch_', 'chat': 'chat_'}
# Names a default may use besides the role's own variables: magic variables and Jinja globals.
ALLOWED_NAMES = {'inventory_hostname', 'lookup', 'query', 'q', 'omit'}


class User(object):
    """ansible-playbook / ansible-inventory as a user runs them: from a folder of their own."""

    def __init__(self, tmp_path, fake):
        self.dir = tmp_path / 'work'
        self.dir.mkdir()
        self.home = tmp_path / 'home'
        self.home.mkdir()
        self.fake = fake
        self.env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RUNPOD_', 'LAMBDA_', 'VAST_')))
        # The system Python (no requests) comes first on the PATH, as on a laptop where
        # ansible-playbook lives in a venv: interpreter discovery would pick it.
        self.env.update(HOME=str(self.home), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
                        ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), RUNPOD_API_KEY=KEY, RUNPOD_API_URL=fake.url,
                        PATH='/usr/bin:/bin:' + os.environ.get('PATH', ''))

    def play(self, playbook, *args, env=None):
        command = [os.path.join(BIN, 'ansible-playbook'), playbook] + list(args)
        run_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        proc = subprocess.run(command, cwd=str(self.dir), env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=300, check=False)
        proc.output = proc.stdout + proc.stderr
        proc.text = ' '.join(proc.output.split())
        return proc

    def write(self, name, data):
        path = self.dir / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)


@pytest.fixture
def fake():
    fake = FakeRunPod(api_key=KEY, boot_delay=3600.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def user(tmp_path, fake):
    return User(tmp_path, fake)


def seed(fake, *names):
    api = RunPodApi(make_client('runpod', KEY, fake.url, pace_state_path=None))
    for name in names:
        api.create_pod(create_pod_body(name, 'NVIDIA H100 80GB HBM3', gpu_count=1))
    del fake.calls[:]


# --- 1: a play that matches no host fails, saying how to select one -------------------------------

@pytest.mark.parametrize('playbook', ['speedrun', 'status', 'fetch', 'chat'])
def test_a_play_that_matches_no_host_fails_saying_how_to_select_one(user, playbook):
    inventory = user.write('hosts.yml', {'nanochat': {'hosts': {}}, 'other': {'hosts': {'box1': {}}}})
    result = user.play('nanochat.remote_gpu.' + playbook, '-i', inventory)
    assert result.returncode != 0, result.output
    assert 'No host matched "nanochat", so the %s playbook would do nothing' % playbook in result.text
    assert '-e nanochat_hosts=PATTERN' in result.text and 'name_filter' in result.text
    assert 'This inventory has 1 host(s): box1; groups: ' in result.text


@pytest.mark.parametrize('playbook', ['speedrun', 'status', 'fetch', 'chat'])
def test_an_address_given_with_dash_i_is_the_host_without_more_variables(user, playbook):
    listed = user.play('nanochat.remote_gpu.' + playbook, '-i', '203.0.113.7,', '--list-hosts')
    assert listed.returncode == 0, listed.output
    play = listed.stdout.split('play #2')[1]
    assert re.search(r'hosts \(1\):\s+203\.0\.113\.7', play), listed.stdout


def test_an_inventory_with_groups_is_not_targeted_outside_the_nanochat_group(user):
    inventory = user.write('hosts.ini', '[nanochat]\ngpu1 ansible_host=203.0.113.8\n\n[db]\ndb1\n\nloose1\n')
    listed = user.play('nanochat.remote_gpu.speedrun', '-i', inventory, '--list-hosts')
    assert listed.returncode == 0, listed.output
    play = listed.stdout.split('play #2')[1]
    assert 'gpu1' in play and 'db1' not in play and 'loose1' not in play


# --- 3: -i localhost, runs the modules with ansible-playbook's Python ------------------------------

def test_local_plays_use_the_python_that_runs_ansible_playbook(user, fake):
    seed(fake, 'nanochat')
    result = user.play('nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'force=true', '--check')
    assert result.returncode == 0, result.output
    assert 'Would terminate 1 runpod instance(s): nanochat' in result.text
    assert 'discovered Python interpreter' not in result.text
    assert '[WARNING]' not in result.output, result.output
    check = user.play('nanochat.remote_gpu.provision', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'gpu=H100:1',
                      '--check')
    assert check.returncode == 0, check.output
    assert 'Check mode: would create runpod instance nanochat' not in check.text  # it exists already
    assert 'exists already; it would be used as it is' in check.text
    assert '[WARNING]' not in check.output, check.output


# --- 4: module_defaults bring the API key ---------------------------------------------------------

def test_module_defaults_supply_the_api_key_to_the_roles(user, fake):
    seed(fake, 'nanochat-md')
    playbook = user.write('md.yml', yaml.safe_dump([{
        'name': 'Provision and tear down with the key from module_defaults',
        'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'vars': {'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
        'module_defaults': {'group/nanochat.remote_gpu.runpod': {'api_key': KEY}},
        'tasks': [
            {'name': 'Provision (check mode)', 'ansible.builtin.include_role': {'name': 'nanochat.remote_gpu.provision'},
             'vars': {'provision_provider': 'runpod', 'provision_instance_name': 'nanochat-new', 'provision_gpu': 'H100:1'}},
            {'name': 'Tear down (check mode)', 'ansible.builtin.include_role': {'name': 'nanochat.remote_gpu.teardown'},
             'vars': {'teardown_provider': 'runpod', 'teardown_instance_name': 'nanochat-md', 'teardown_force': True}},
        ]}]))
    result = user.play(playbook, '-i', 'localhost,', '--check', env={'RUNPOD_API_KEY': None})
    assert result.returncode == 0, result.output
    assert 'Check mode: would create runpod instance nanochat-new' in result.text
    assert 'Would terminate 1 runpod instance(s): nanochat-md' in result.text
    assert fake.writes() == []
    # The key given to the role (here as the playbook's api_key) is used too, and never shown.
    given = user.play('nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'force=true', '-e', 'api_key=' + KEY,
                      '-e', 'instance_name=nanochat-md', '--check', '-v', env={'RUNPOD_API_KEY': None})
    assert given.returncode == 0, given.output
    assert 'Would terminate 1 runpod instance(s): nanochat-md' in given.text
    assert KEY not in given.output
    # Without any key the module says so, before anything is sent or the key pair generated.
    bare = user.play('nanochat.remote_gpu.provision', '-i', 'localhost,', '-e', 'provider=runpod',
                     env={'RUNPOD_API_KEY': None})
    assert bare.returncode != 0
    assert 'No RunPod API key: set the environment variable RUNPOD_API_KEY' in bare.text
    assert not os.path.exists(str(user.home / '.ssh' / 'id_ed25519'))


# --- 6: roles read only their prefixed variables; the playbooks map the short names -------------

def _names(template):
    from jinja2 import Environment, meta
    return meta.find_undeclared_variables(Environment().parse(template))


@pytest.mark.parametrize('role', ROLES)
def test_role_defaults_use_only_the_roles_own_variables_and_mirror_the_argument_specs(role):
    with open(os.path.join(REPO_ROOT, 'roles', role, 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle) or {}
    with open(os.path.join(REPO_ROOT, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert sorted(defaults) == sorted(options), 'defaults/main.yml and meta/argument_specs.yml list other variables'
    for name, value in defaults.items():
        assert name.startswith(PREFIX[role])
        text = value if isinstance(value, str) else json.dumps(value)
        if '{{' in text:
            foreign = set(n for n in _names(text) if not n.startswith(PREFIX[role])) - ALLOWED_NAMES
            assert not foreign, '%s reads %s' % (name, ', '.join(sorted(foreign)))
        elif options[name].get('default') is not None or value not in ('', [], {}):
            assert options[name].get('default') == value, name


def test_unrelated_inventory_variables_do_not_steer_a_reused_role(user, fake):
    seed(fake, 'nanochat', 'nanochat-keep', 'other')
    inventory = user.write('hosts.yml', {'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        # variables of some other project, with the short names
        'provider': 'lambda', 'instance_name': 'other', 'all': True, 'ssh_config': False, 'api_key': 'not-this-one',
        'teardown_instance_name': 'nanochat-keep'}}}})
    playbook = user.write('reuse.yml', yaml.safe_dump([{
        'name': 'Reuse the teardown role', 'hosts': 'localhost', 'gather_facts': False,
        'roles': [{'role': 'nanochat.remote_gpu.teardown', 'vars': {'teardown_provider': 'runpod', 'teardown_force': True}}]}]))
    result = user.play(playbook, '-i', inventory, '--check')
    assert result.returncode == 0, result.output
    assert 'Would terminate 1 runpod instance(s): nanochat-keep' in result.text


def test_short_names_and_prefixed_names_precedence_in_the_playbook(user, fake):
    seed(fake, 'nanochat', 'nanochat-inv', 'nanochat-short', 'nanochat-extra')
    inventory = user.write('hosts.yml', {'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'teardown_instance_name': 'nanochat-inv'}}}})
    run = user.play('nanochat.remote_gpu.teardown', '-i', inventory, '-e', 'provider=runpod', '-e', 'force=true', '--check')
    assert 'Would terminate 1 runpod instance(s): nanochat-inv' in run.text, run.output  # inventory beats the default
    run = user.play('nanochat.remote_gpu.teardown', '-i', inventory, '-e', 'provider=runpod', '-e', 'force=true', '-e',
                    'instance_name=nanochat-short', '--check')
    assert 'Would terminate 1 runpod instance(s): nanochat-short' in run.text, run.output  # the short name given
    run = user.play('nanochat.remote_gpu.teardown', '-i', inventory, '-e', 'provider=runpod', '-e', 'force=true', '-e',
                    'instance_name=nanochat-short', '-e', 'teardown_instance_name=nanochat-extra', '--check')
    assert 'Would terminate 1 runpod instance(s): nanochat-extra' in run.text, run.output  # -e role_x wins
    run = user.play('nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'force=true', '-e',
                    'all_instances=true', '--check')
    assert 'Would terminate 4 runpod instance(s)' in run.text, run.output


def test_all_true_is_refused_with_the_new_name(user, fake):
    seed(fake, 'nanochat-a')
    run = user.play('nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'force=true', '-e', 'all=true')
    assert run.returncode != 0
    assert 'use -e all_instances=true' in run.text and 'Nothing was terminated' in run.text
    assert fake.calls == []


# --- 9: teardown --check --diff shows the SSH config removal ---------------------------------------

def test_teardown_check_diff_shows_the_ssh_config_removal_and_keeps_it(user, fake):
    seed(fake, 'nanochat')
    host_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE8lZCIs9rSPJ9bsTvPKFtW6ek2UrrqsnBJLzWZx0vAV'
    writer = user.write('write.yml', yaml.safe_dump([{
        'name': 'Write an SSH config entry', 'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'vars': {'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
        'roles': [{'role': 'nanochat.remote_gpu.ssh_config', 'vars': {'ssh_config_hosts': [
            {'alias': 'nanochat', 'hostname': '203.0.113.9', 'port': 2222, 'user': 'root', 'host_key': host_key}]}}]}]))
    written = user.play(writer, '-i', 'localhost,')
    assert written.returncode == 0, written.output
    conf = user.home / '.ssh' / 'nanochat_remote_gpu.conf'
    before = conf.read_text()
    assert 'Host nanochat' in before
    result = user.play('nanochat.remote_gpu.teardown', '-i', 'localhost,', '-e', 'provider=runpod', '-e', 'force=true', '--check', '--diff')
    assert result.returncode == 0, result.output
    assert re.search(r'^-Host nanochat$', result.stdout, re.M), result.stdout
    assert conf.read_text() == before, 'check mode changed the SSH config'
