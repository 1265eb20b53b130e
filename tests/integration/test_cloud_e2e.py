# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From nothing to a running speedrun and back to nothing billed, against each provider's fake.

The provider is a strict fake API (tests/fakes) whose instances are real sshd machines
(tests/support/simcloud.py). Everything else is the real thing: provision.yml, the
gpu_instances inventory, OpenSSH with the generated config, speedrun.yml, status.yml and
teardown.yml, run with ansible-playbook as a user runs them, with a throwaway HOME as the
user's laptop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import COLLECTIONS_ROOT, REPO_ROOT
from tests.fakes.base import Fault
from tests.integration.conftest import PlayResult, wait_until
from tests.support.simcloud import SimCloud

pytestmark = pytest.mark.integration

BIN = os.path.dirname(sys.executable)
NAME = 'nanochat-e2e'


class Laptop(object):
    """The user's side: a HOME with ~/.ssh, and the playbooks run from the checkout."""

    def __init__(self, tmp_path, cloud, git_server):
        self.home = str(tmp_path / 'home')
        os.makedirs(self.home, mode=0o700)
        self.work = str(tmp_path)
        self.cloud = cloud
        self.git_server = git_server
        self.env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'RUNPOD_', 'LAMBDA_', 'VAST_')))
        self.env.update(cloud.env, HOME=self.home, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1',
                        ANSIBLE_HOME=os.path.join(self.home, '.ansible'), ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg'))

    @property
    def ssh_dir(self):
        return os.path.join(self.home, '.ssh')

    def provision_args(self, name=NAME, **extra):
        # A short SSH wait: these machines answer at once, and a failing test should not hang.
        args = dict(provider=self.cloud.provider, instance_name=name, ssh_timeout=60)
        if self.cloud.ssh_user(name):
            args['ssh_user'] = self.cloud.ssh_user(name)
        args.update(extra)
        return args

    def play(self, playbook, extra_vars=None, inventory=None, env=None, check=False, timeout=600):
        """ansible-playbook playbooks/<playbook>; ``env`` values of None unset a variable."""
        command = [os.path.join(BIN, 'ansible-playbook'), os.path.join(REPO_ROOT, 'playbooks', playbook)]
        if inventory:
            command += ['-i', inventory]
        if check:
            command.append('--check')
        if extra_vars:
            path = os.path.join(self.work, 'vars-%s.json' % playbook)
            with open(path, 'w') as handle:
                json.dump(extra_vars, handle)
            command += ['-e', '@' + path]
        run_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        proc = subprocess.run(command, cwd=REPO_ROOT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, check=False)
        return PlayResult(proc, command)

    def inventory_file(self, name=NAME):
        path = os.path.join(self.work, '%s.gpu_instances.yml' % self.cloud.provider)
        lines = ['plugin: nanochat.remote_gpu.gpu_instances', 'providers: [%s]' % self.cloud.provider,
                 'ssh_private_key_file: %s' % os.path.join(self.ssh_dir, 'id_ed25519')]
        if self.cloud.ssh_user(name):
            lines.append('ssh_user: %s' % self.cloud.ssh_user(name))
        with open(path, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        return path

    def inventory(self, path):
        proc = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', path, '--list'], cwd=self.work, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, check=True)
        return json.loads(proc.stdout)

    def ssh(self, alias, command='true'):
        return subprocess.run(['ssh', '-F', os.path.join(self.ssh_dir, 'config'), '-o', 'BatchMode=yes', alias, command],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)

    def rsync(self, alias, remote_path, local_dir):
        ssh = 'ssh -F %s -o BatchMode=yes' % os.path.join(self.ssh_dir, 'config')
        return subprocess.run(['rsync', '-a', '-e', ssh, '%s:%s' % (alias, remote_path), local_dir + '/'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, check=False)

    def ssh_files_mention(self, alias):
        for name, prefix in (('nanochat_remote_gpu.conf', 'Host %s' % alias), ('nanochat_remote_gpu_known_hosts', alias + ' ')):
            path = os.path.join(self.ssh_dir, name)
            if os.path.exists(path) and any(line.startswith(prefix) for line in open(path).read().splitlines()):
                return True
        return False

    def speedrun_vars(self):
        return dict(uv_install_method='pip', nanochat_uv_python_downloads='never',
                    nanochat_repo_url=self.git_server['url'], nanochat_version=self.git_server['tag_commit'])


def plain(value):
    """ansible-inventory exports API data marked unsafe as {"__ansible_unsafe": value}."""
    return value['__ansible_unsafe'] if isinstance(value, dict) and '__ansible_unsafe' in value else value


def live(cloud):
    """The instances the fake still lists, read through the collection's own adapter."""
    from ansible_collections.nanochat.remote_gpu.plugins.inventory.gpu_instances import adapter_for
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
    client = make_client(cloud.provider, cloud.api_key, cloud.url, pace_state_path=None)
    return [i for i in adapter_for(cloud.provider, client).list_instances() if i['status'] != 'terminated']


@pytest.fixture
def simcloud():
    """simcloud(provider, **SimCloud options) -> a started SimCloud; closed (machines destroyed) at the end.

    Its folder is a 0755 temporary directory: the machines' users must reach their homes in it.
    """
    clouds = []
    root = tempfile.mkdtemp(prefix='nrg-e2e-')
    os.chmod(root, 0o755)

    def start(provider, **options):
        cloud = SimCloud(provider, os.path.join(root, provider), boot_delay=1.0, **options).start()
        clouds.append(cloud)
        return cloud

    yield start
    for cloud in clouds:
        cloud.close()
        assert cloud.fake.internal_errors == []
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize('provider', ['runpod', 'lambda', 'vastai'])
def test_provision_connect_speedrun_status_teardown(provider, simcloud, git_server, tmp_path):
    cloud = simcloud(provider)
    laptop = Laptop(tmp_path, cloud, git_server)

    created = laptop.play('provision.yml', laptop.provision_args())
    assert created.rc == 0, created
    assert 'Connect:     ssh %s' % NAME in created.stdout
    assert 'Editor:      code --remote ssh-remote+%s /' % NAME in created.stdout
    assert len(live(cloud)) == 1

    inventory = laptop.inventory_file()
    listed = laptop.inventory(inventory)
    assert listed['nanochat']['hosts'] == [NAME]
    hostvars = listed['_meta']['hostvars'][NAME]
    machine = cloud.machine(NAME)
    assert (plain(hostvars['ansible_host']), hostvars['ansible_port']) == (machine.host, machine.port)
    assert plain(hostvars['instance_provider']) == provider and plain(hostvars['instance_status']) == 'running'

    login = laptop.ssh(NAME, 'id -un')
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == machine.user

    started = laptop.play('speedrun.yml', laptop.speedrun_vars(), inventory=inventory)
    assert started.rc == 0, started
    again = laptop.play('speedrun.yml', laptop.speedrun_vars(), inventory=inventory)
    assert again.rc == 0 and again.changed(NAME) == 0, again
    state_path = os.path.join(machine.home, '.nanochat-speedrun', 'state')
    wait_until(lambda: os.path.exists(state_path) and 'exit_code=' in open(state_path).read(), 300, 'the run to end')
    state = open(state_path).read()
    launches = open(os.path.join(machine.home, '.nanochat-speedrun', 'launches')).read().splitlines()
    assert len(launches) == 1 and state.count('run_id=') == 1, 'the run was started exactly once'
    assert 'exit_code=0' in state

    status = laptop.play('status.yml', inventory=inventory)
    assert status.rc == 0, status
    assert 'finished' in status.stdout

    # Teardown before the fetch: refused, the instance still listed, what would be lost said.
    refused = laptop.play('teardown.yml', laptop.provision_args())
    assert refused.rc != 0, refused
    text = ' '.join(refused.stdout.replace("'", ' ').split())  # YAML's line wrapping undone
    assert 'were never fetched' in text and 'chatsft_checkpoints/d24/model_000005.pt' in text, refused
    assert 'ansible-playbook nanochat.remote_gpu.fetch' in text
    assert len(live(cloud)) == 1
    checked = laptop.play('teardown.yml', laptop.provision_args(), check=True)
    assert checked.rc != 0 and 'were never fetched' in ' '.join(checked.stdout.split()) and len(live(cloud)) == 1, checked

    # Home with fetch.yml through the SSH alias (pinned host key), verified.
    results = os.path.join(laptop.work, 'results')
    fetched = laptop.play('fetch.yml', dict(fetch_dest=results, fetch_reserve_mb=0), inventory=inventory)
    assert fetched.rc == 0, fetched
    assert os.listdir(os.path.join(results, 'chatsft_checkpoints', 'd24')) != []
    assert subprocess.run(['sha256sum', '-c', 'MANIFEST.sha256'], cwd=results, check=False).returncode == 0

    removed = laptop.play('teardown.yml', laptop.provision_args())
    assert removed.rc == 0, removed
    assert 'Terminated 1 %s instance(s): %s' % (provider, NAME) in removed.stdout
    assert 'Billing ended for %s' % NAME in ' '.join(removed.stdout.split())
    assert live(cloud) == []
    assert cloud.machine(NAME) is None, 'the machine behind the instance is gone'
    assert not laptop.ssh_files_mention(NAME)

    again = laptop.play('teardown.yml', laptop.provision_args())
    assert again.rc == 0 and again.changed('localhost') == 0, again
    assert 'Nothing to terminate' in again.stdout


def test_check_mode_shows_the_price_and_creates_nothing(simcloud, git_server, tmp_path):
    cloud = simcloud('vastai')
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(), check=True)
    assert result.rc == 0, result
    assert 'cheapest offer' in result.stdout and 'USD/hour' in result.stdout
    assert 'Check mode: would create vastai instance %s' % NAME in result.stdout
    searches = [c for c in cloud.fake.writes() if c['path'] == '/api/v0/bundles/']
    assert searches, 'the price comes from an offer search (a POST that only reads)'
    assert [c for c in cloud.fake.writes() if c not in searches] == [], 'no key registered, nothing rented'
    assert not os.path.exists(os.path.join(laptop.ssh_dir, 'id_ed25519')), 'check mode generates no key'


def test_ssh_never_ready_terminates_the_instance_and_says_why(simcloud, git_server, tmp_path):
    cloud = simcloud('runpod', keyless=True)
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(ssh_timeout=3))
    assert result.rc != 0
    assert 'RunPod: provisioning %s failed at "Wait until SSH accepts the key' % NAME in result.stdout
    assert 'never accepted our key' in result.stdout
    assert 'created by this run' in result.stdout and 'was terminated, so it does not keep billing' in result.stdout
    assert live(cloud) == []
    assert len(cloud.fake.calls_to('DELETE', r'^/v2/pods/')) == 1
    assert not laptop.ssh_files_mention(NAME)


def test_keep_on_failure_keeps_the_instance_and_says_it_bills(simcloud, git_server, tmp_path):
    cloud = simcloud('vastai', keyless=True)
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(ssh_timeout=2, keep_on_failure=True))
    assert result.rc != 0
    assert 'was KEPT and is billing' in result.stdout and 'nanochat.remote_gpu.teardown' in result.stdout
    assert [i['name'] for i in live(cloud)] == [NAME]
    # Its SSH never accepted the key, so teardown cannot check for results: it refuses without force.
    refused = laptop.play('teardown.yml', laptop.provision_args())
    assert refused.rc != 0 and 'cannot be reached over SSH' in ' '.join(refused.stdout.split()), refused
    assert [i['name'] for i in live(cloud)] == [NAME]
    removed = laptop.play('teardown.yml', laptop.provision_args(force=True))
    assert removed.rc == 0, removed
    assert live(cloud) == []


def test_an_instance_that_existed_before_is_never_terminated_by_a_failed_run(simcloud, git_server, tmp_path):
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    assert laptop.play('provision.yml', laptop.provision_args()).rc == 0
    pod_id = live(cloud)[0]['id']
    cloud.machine(NAME).stop()  # the machine stops answering SSH; the provider still reports it
    again = laptop.play('provision.yml', laptop.provision_args(ssh_timeout=2))
    assert again.rc != 0
    assert 'existed before this run and was left as it is' in again.stdout
    assert [i['id'] for i in live(cloud)] == [pod_id]


def test_lambda_capacity_error_in_the_first_region_moves_to_the_next(simcloud, git_server, tmp_path):
    cloud = simcloud('lambda')
    cloud.fake.add_shortage('us-east-1', 'gpu_8x_h100_sxm5')  # listed with capacity, sold out at launch
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(lambda_regions=['us-east-1', 'us-west-1']))
    assert result.rc == 0, result
    launches = cloud.fake.calls_to('POST', r'/instance-operations/launch$')
    assert [c['body']['region_name'] for c in launches] == ['us-east-1', 'us-west-1']
    assert [c['status'] for c in launches] == [400, 200]
    instances = live(cloud)
    assert len(instances) == 1 and instances[0]['region'] == 'us-west-1'
    assert laptop.ssh(NAME).returncode == 0


def test_created_but_500_does_not_create_a_second_instance(simcloud, git_server, tmp_path):
    cloud = simcloud('runpod')
    cloud.fake.add_fault(Fault(method='POST', path=r'^/v2/pods$', status=500, mode='apply',
                               body={'title': 'Internal Server Error', 'status': 500, 'detail': 'upstream timeout'},
                               content_type='application/problem+json'))
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args())
    assert result.rc == 0, result
    assert len(cloud.fake.calls_to('POST', r'^/v2/pods$')) == 1
    assert [i['name'] for i in live(cloud)] == [NAME]
    assert laptop.ssh(NAME).returncode == 0


def test_missing_api_key_fails_before_anything_is_sent_or_created(simcloud, git_server, tmp_path):
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(), env={'RUNPOD_API_KEY': None})
    assert result.rc != 0
    # The module says it (the role does not assert: module_defaults may bring the key).
    assert 'No RunPod API key: set the environment variable RUNPOD_API_KEY' in result.stdout
    assert 'Nothing was sent to the provider' in result.stdout
    assert cloud.fake.calls == []
    assert not os.path.exists(os.path.join(laptop.ssh_dir, 'id_ed25519'))


def test_unknown_gpu_type_lists_the_valid_ones_before_anything_is_created(simcloud, git_server, tmp_path):
    cloud = simcloud('lambda')
    laptop = Laptop(tmp_path, cloud, git_server)
    result = laptop.play('provision.yml', laptop.provision_args(gpu='H200:8'))
    assert result.rc != 0
    assert 'Lambda Cloud does not offer H200; types it offers:' in result.stdout and 'H100' in result.stdout
    assert cloud.fake.writes() == []


def test_teardown_all_lists_then_terminates_only_the_prefixed_instances(simcloud, git_server, tmp_path):
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi, create_pod_body
    cloud = simcloud('runpod')
    api = RunPodApi(make_client('runpod', cloud.api_key, cloud.url, pace_state_path=None))
    for name in ('nanochat-a', 'nanochat-b', 'other-project'):  # pods without keys: they never get SSH, but bill
        api.create_pod(create_pod_body(name, 'NVIDIA H100 80GB HBM3', gpu_count=1))
    laptop = Laptop(tmp_path, cloud, git_server)
    # Pods never reachable over SSH (no alias, no key): teardown cannot check them for results, so
    # it refuses them without force, and with force terminates only the prefixed ones.
    refused = laptop.play('teardown.yml', dict(provider='runpod', all_instances=True))
    assert refused.rc != 0 and 'cannot be reached over SSH' in ' '.join(refused.stdout.split()), refused
    assert len(live(cloud)) == 3
    checked = laptop.play('teardown.yml', dict(provider='runpod', all_instances=True, force=True), check=True)
    assert checked.rc == 0, checked
    assert 'Would terminate 2 runpod instance(s): nanochat-a' in checked.stdout and 'nanochat-b' in checked.stdout
    assert len(live(cloud)) == 3
    removed = laptop.play('teardown.yml', dict(provider='runpod', all_instances=True, force=True))
    assert removed.rc == 0, removed
    assert 'Terminating 2 runpod instance(s)' in removed.stdout
    assert sorted(i['name'] for i in live(cloud)) == ['other-project']


def test_a_fleet_is_provisioned_in_one_parallel_play(simcloud, git_server, tmp_path):
    """provision.yml on inventory hosts named after the instances: one key pair, one key
    registration and one listing for the play; every instance created once and reachable by its
    alias; the SSH config written by parallel hosts keeps every entry."""
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    names = ['nanochat-fleet-%d' % i for i in range(1, 4)]
    fleet = os.path.join(laptop.work, 'fleet.json')
    with open(fleet, 'w') as handle:
        json.dump({'fleet': {'hosts': dict((n, {}) for n in names),
                             'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}, handle)
    args = dict(provider='runpod', provision_hosts='fleet', ssh_timeout=60)
    created = laptop.play('provision.yml', args, inventory=fleet, env=dict(ANSIBLE_FORKS='3'))
    assert created.rc == 0, created
    # The play lists the pods once for the whole fleet; each runpod_pod call looks its name up once more
    # (its own idempotency check, right before creating).
    assert len(cloud.fake.calls_to('GET', r'^/v2/pods$')) == 1 + len(names)
    assert len(cloud.fake.calls_to('POST', r'^/v2/pods$')) == len(names)
    assert len(cloud.fake.calls_to('PUT', r'^/v2/account/ssh-keys')) == 1, 'the key is registered once for the fleet'
    assert sorted(i['name'] for i in live(cloud)) == names
    assert created.stdout.count('Generated a new ed25519 key pair') == 1
    for name in names:
        login = laptop.ssh(name, 'id -un')
        assert login.returncode == 0, (name, login.stderr)
        assert laptop.ssh_files_mention(name)

    again = laptop.play('provision.yml', args, inventory=fleet, env=dict(ANSIBLE_FORKS='3'))
    assert again.rc == 0, again
    assert sorted(i['name'] for i in live(cloud)) == names, 'a second run creates nothing'

    removed = laptop.play('teardown.yml', dict(provider='runpod', all_instances=True, name_prefix='nanochat-fleet-'))
    assert removed.rc == 0, removed
    assert live(cloud) == []
    assert not any(laptop.ssh_files_mention(name) for name in names)


def test_the_printed_next_steps_work_for_a_name_outside_the_example_filters(simcloud, git_server, tmp_path):
    """provision.yml prints commands that work wherever the collection is installed: an inventory
    file of the instance it wrote (not the checkout's inventory/), and says when the name falls
    outside the example inventories' name_filter."""
    cloud = simcloud('runpod')
    laptop = Laptop(tmp_path, cloud, git_server)
    name = 'gpu-box'
    created = laptop.play('provision.yml', laptop.provision_args(name=name))
    assert created.rc == 0, created
    text = ' '.join(created.stdout.split())
    inventory = os.path.join(laptop.home, '.config', 'nanochat_remote_gpu', 'inventory', name + '.yml')
    assert 'Status: ansible-playbook nanochat.remote_gpu.status -i %s' % inventory in text
    assert 'Speedrun: ansible-playbook nanochat.remote_gpu.speedrun -i %s' % inventory in text
    assert 'inventory/runpod.gpu_instances.yml' not in text
    assert 'gpu-box does not start with "nanochat"' in text and 'name_filter' in text
    assert oct(os.stat(inventory).st_mode & 0o777) == '0o600'

    status = laptop.play('status.yml', inventory=inventory)
    assert status.rc == 0, status
    assert status.recap.get(name, {}).get('ok', 0) > 0, status  # it ran on the instance, over SSH

    removed = laptop.play('teardown.yml', dict(provider='runpod', instance_name=name))
    assert removed.rc == 0, removed
    assert not os.path.exists(inventory), 'teardown removes the inventory file'
