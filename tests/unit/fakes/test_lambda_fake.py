# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Lambda Cloud fake is strict: it answers like the real API, with its statuses and bodies."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.fakes import fake_class
from tests.fakes.lambda_cloud import FakeLambda, example_public_key

KEY = 'lambda-test-key-0123'
API = '/api/v1'
UNAUTHORIZED = {'error': {'code': 'global/invalid-api-key', 'message': 'API key was invalid, expired, or deleted.',
                          'suggestion': 'Check your API key or create a new one, then try again.'}}
INSTANCE_NOT_FOUND = {'error': {'code': 'global/object-does-not-exist', 'message': 'Specified instance does not exist.'}}


class RecordingMachines(object):
    def __init__(self, port=22):
        self.port = port
        self.booted = []
        self.destroyed = []

    def boot(self, provider, instance_id, public_keys, ssh_user, name=None):  # pylint: disable=unused-argument
        self.booted.append((provider, instance_id, list(public_keys), ssh_user))
        return dict(host='192.0.2.%d' % (10 + len(self.booted)), port=self.port, user=ssh_user)

    def stop(self, provider, instance_id):
        raise AssertionError('Lambda instances never stop')

    def destroy(self, provider, instance_id):
        self.destroyed.append((provider, instance_id))


@pytest.fixture
def fake():
    instance = FakeLambda(api_key=KEY, boot_delay=0.2, terminate_delay=0.1, gone_delay=0.2, rate_limits={},
                          machines=RecordingMachines()).start()
    instance.key = instance.add_ssh_key('nanochat', example_public_key('me@laptop'))
    yield instance
    instance.stop()
    assert instance.internal_errors == []


@pytest.fixture
def http():
    session = requests.Session()
    session.headers['Authorization'] = 'Bearer %s' % KEY
    return session


def launch_body(**overrides):
    body = dict(region_name='us-west-1', instance_type_name='gpu_8x_h100_sxm5', ssh_key_names=['nanochat'],
                name='speedrun')
    body.update(overrides)
    return dict((k, v) for k, v in body.items() if v is not None)


def launch(fake, http, **overrides):
    return http.post(fake.url + API + '/instance-operations/launch', json=launch_body(**overrides))


def wait_status(fake, http, instance_id, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(fake.url + API + '/instances/' + instance_id)
        if response.status_code == 200 and response.json()['data']['status'] == wanted:
            return response.json()['data']
        if wanted == 404 and response.status_code == 404:
            return response.json()
        time.sleep(0.05)
    raise AssertionError('instance %s never reached %s' % (instance_id, wanted))


# --- auth and envelopes ------------------------------------------------------------------------

@pytest.mark.parametrize('header', [
    'Bearer %s' % KEY,
    'Basic %s' % base64.b64encode(('%s:' % KEY).encode()).decode(),
    'Basic %s' % KEY,
])
def test_bearer_and_both_basic_forms_are_accepted(fake, header):
    response = requests.get(fake.url + API + '/instances', headers={'Authorization': header})
    assert response.status_code == 200
    assert response.json() == {'data': []}


@pytest.mark.parametrize('headers', [
    {},
    {'Authorization': 'Bearer wrong'},
    {'Authorization': 'Basic %s' % base64.b64encode(b'wrong:').decode()},
    {'Authorization': 'Basic %s' % base64.b64encode(('%s:password' % KEY).encode()).decode()},
    {'Authorization': 'Token %s' % KEY},
])
def test_bad_or_missing_key_is_401_with_the_documented_body(fake, headers):
    response = requests.get(fake.url + API + '/instances', headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_unknown_path_is_an_error_envelope(fake, http):
    response = http.get(fake.url + API + '/nothing-here')
    assert response.status_code == 404
    assert set(response.json()) == {'error'}
    assert response.json()['error']['code'] == 'global/not-found'


# --- instance lifecycle ----------------------------------------------------------------------

def test_launch_boots_then_becomes_active_with_addresses(fake, http):
    response = launch(fake, http, tags=[{'key': 'project', 'value': 'nanochat'}])
    assert response.status_code == 200
    ids = response.json()['data']['instance_ids']
    assert len(ids) == 1 and re.match(r'^[0-9a-f]{32}$', ids[0])

    booting = http.get(fake.url + API + '/instances/' + ids[0]).json()['data']
    assert booting['status'] == 'booting'
    assert 'ip' not in booting and 'hostname' not in booting
    assert booting['actions']['restart']['available'] is False
    for field in ('id', 'status', 'ssh_key_names', 'file_system_names', 'region', 'instance_type', 'actions'):
        assert field in booting
    assert booting['instance_type']['specs']['gpus'] == 8
    assert booting['tags'] == [{'key': 'project', 'value': 'nanochat'}]

    active = wait_status(fake, http, ids[0], 'active')
    assert active['ip'] == '192.0.2.11'
    assert active['hostname'] == active['ip']
    assert active['private_ip'].startswith('10.')
    assert active['jupyter_token'] and active['jupyter_token'] in active['jupyter_url']
    assert fake.machines.booted == [('lambda', ids[0], [fake.key['public_key']], 'ubuntu')]
    assert http.get(fake.url + API + '/instances').json()['data'][0]['id'] == ids[0]


def test_requested_hostname_is_kept(fake, http):
    instance_id = launch(fake, http, hostname='headnode1').json()['data']['instance_ids'][0]
    assert wait_status(fake, http, instance_id, 'active')['hostname'] == 'headnode1'


def test_a_port_other_than_22_is_kept_in_the_fake_state(fake, http):
    fake.machines.port = 2222
    instance_id = launch(fake, http).json()['data']['instance_ids'][0]
    active = wait_status(fake, http, instance_id, 'active')
    assert 'port' not in active and 'ssh_port' not in active  # the real API has no such field
    assert fake.ssh_endpoint(instance_id) == {'host': active['ip'], 'port': 2222, 'user': 'ubuntu'}
    state = requests.get(fake.url + '/_fake/state').json()
    assert state['instances'][0]['ssh'] == {'host': active['ip'], 'port': 2222, 'user': 'ubuntu'}


def test_terminate_goes_terminating_then_terminated_then_404(fake, http):
    instance_id = launch(fake, http).json()['data']['instance_ids'][0]
    wait_status(fake, http, instance_id, 'active')
    response = http.post(fake.url + API + '/instance-operations/terminate', json={'instance_ids': [instance_id]})
    assert response.status_code == 200
    assert [i['status'] for i in response.json()['data']['terminated_instances']] == ['terminating']
    assert http.get(fake.url + API + '/instances').json()['data'][0]['status'] == 'terminating'
    wait_status(fake, http, instance_id, 'terminated')
    assert http.get(fake.url + API + '/instances').json()['data'] == []
    assert fake.machines.destroyed == [('lambda', instance_id)]
    gone = wait_status(fake, http, instance_id, 404)
    assert gone == INSTANCE_NOT_FOUND


def test_terminate_or_restart_of_an_unknown_id_is_404(fake, http):
    for operation in ('terminate', 'restart'):
        response = http.post(fake.url + API + '/instance-operations/' + operation, json={'instance_ids': ['0' * 32]})
        assert response.status_code == 404
        assert response.json() == INSTANCE_NOT_FOUND


def test_restart_needs_an_active_instance(fake, http):
    instance_id = launch(fake, http).json()['data']['instance_ids'][0]
    response = http.post(fake.url + API + '/instance-operations/restart', json={'instance_ids': [instance_id]})
    assert response.status_code == 409
    assert response.json()['error']['code'] == 'global/conflict'
    wait_status(fake, http, instance_id, 'active')
    response = http.post(fake.url + API + '/instance-operations/restart', json={'instance_ids': [instance_id]})
    assert response.status_code == 200
    assert [i['status'] for i in response.json()['data']['restarted_instances']] == ['active']


def test_preempted_instances_leave_the_list(fake, http):
    instance_id = launch(fake, http).json()['data']['instance_ids'][0]
    fake.preempt(instance_id)
    assert http.get(fake.url + API + '/instances').json()['data'] == []
    assert http.get(fake.url + API + '/instances/' + instance_id).json()['data']['status'] == 'preempted'


def test_rename(fake, http):
    instance_id = launch(fake, http).json()['data']['instance_ids'][0]
    response = http.post(fake.url + API + '/instances/' + instance_id, json={'name': 'renamed'})
    assert response.json()['data']['name'] == 'renamed'
    assert http.post(fake.url + API + '/instances/' + instance_id, json={'name': 'x' * 65}).status_code == 400


def test_quantity_is_accepted(fake, http):
    response = launch(fake, http, quantity=2)
    assert response.status_code == 200
    assert len(response.json()['data']['instance_ids']) == 2
    assert launch(fake, http, quantity=0).status_code == 400


def test_cluster_filter_is_accepted(fake, http):
    launch(fake, http)
    assert http.get(fake.url + API + '/instances', params={'cluster_id': 'a' * 32}).json() == {'data': []}


# --- launch validation -----------------------------------------------------------------------

@pytest.mark.parametrize('overrides, fragment', [
    (dict(region_name=None), 'region_name'),
    (dict(instance_type_name=None), 'instance_type_name'),
    (dict(ssh_key_names=None), 'ssh_key_names'),
    (dict(ssh_key_names=['nanochat', 'other']), 'exactly one'),
    (dict(ssh_key_names='nanochat'), 'list of strings'),
    (dict(name='x' * 65), '64 characters'),
    (dict(name=7), 'string'),
    (dict(hostname='Bad_Host'), 'hostname'),
    (dict(tags=[{'key': 'Project', 'value': 'x'}]), 'tag key'),
    (dict(tags=[{'key': 'a' * 56, 'value': 'x'}]), 'tag key'),
    (dict(tags=[{'key': 'project', 'value': 'x' * 129}]), '128'),
    (dict(tags={'project': 'x'}), 'tags'),
    (dict(image={'family': 'ubuntu-lts', 'id': 'x'}), 'image'),
    (dict(image='ubuntu-lts'), 'image'),
    (dict(file_system_mounts=[{'mount_point': '/etc', 'file_system_id': 'x'}]), 'mount_point'),
    (dict(bogus=1), 'unknown field(s) bogus'),
    (dict(gpu_count=8), 'unknown field(s) gpu_count'),
])
def test_invalid_launch_requests_are_400_invalid_parameters(fake, http, overrides, fragment):
    response = launch(fake, http, **overrides)
    assert response.status_code == 400
    error = response.json()['error']
    assert error['code'] == 'global/invalid-parameters'
    assert fragment in error['message']
    assert fake.live_instances() == []


def test_body_that_is_not_a_json_object_is_400(fake, http):
    response = http.post(fake.url + API + '/instance-operations/launch', data='[1]',
                         headers={'Content-Type': 'application/json'})
    assert response.status_code == 400
    assert response.json()['error']['code'] == 'global/invalid-parameters'


@pytest.mark.parametrize('overrides, what', [
    (dict(instance_type_name='gpu_9x_nothing'), 'Instance type'),
    (dict(region_name='mars-north-1'), 'Region'),
    (dict(ssh_key_names=['missing-key']), 'SSH key'),
    (dict(file_system_names=['missing-fs']), 'File system'),
    (dict(image={'family': 'no-such-family'}), 'Image'),
])
def test_unknown_launch_resources_are_object_does_not_exist(fake, http, overrides, what):
    response = launch(fake, http, **overrides)
    assert response.status_code == 404
    error = response.json()['error']
    assert error['code'] == 'global/object-does-not-exist'
    assert error['message'].startswith(what)
    assert error['suggestion']


def test_known_image_and_file_system_in_the_region_launch(fake, http):
    fake.add_file_system('data', region='us-west-1')
    response = launch(fake, http, image={'family': 'lambda-stack-24-04'}, file_system_names=['data'])
    assert response.status_code == 200
    instance = http.get(fake.url + API + '/instances').json()['data'][0]
    assert instance['file_system_names'] == ['data']
    assert instance['file_system_mounts'][0]['mount_point'] == '/lambda/nfs/data'


def test_file_system_in_another_region(fake, http):
    fake.add_file_system('data', region='us-east-1')
    response = launch(fake, http, file_system_names=['data'])
    assert response.status_code == 400
    assert response.json()['error']['code'] == 'instance-operations/launch/file-system-in-wrong-region'


def test_insufficient_capacity_follows_the_catalog_and_shortages(fake, http):
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1'])
    types = http.get(fake.url + API + '/instance-types').json()['data']
    assert types['gpu_8x_h100_sxm5']['regions_with_capacity_available'] == [{'name': 'us-west-1', 'description': 'California, USA'}]
    assert set(types['gpu_8x_h100_sxm5']) == {'instance_type', 'regions_with_capacity_available'}

    response = launch(fake, http, region_name='us-east-1')
    assert response.status_code == 400
    assert response.json() == {'error': {
        'code': 'instance-operations/launch/insufficient-capacity',
        'message': 'Not enough capacity to fulfill launch request.',
        'suggestion': 'Choose an instance type with more availability, or try again later.'}}

    fake.add_shortage('us-west-1', 'gpu_8x_h100_sxm5')
    assert launch(fake, http).json()['error']['code'] == 'instance-operations/launch/insufficient-capacity'
    assert launch(fake, http, instance_type_name='gpu_1x_h100_pcie').status_code == 200


def test_quota_exceeded(fake, http):
    fake.quota = 1
    assert launch(fake, http).status_code == 200
    response = launch(fake, http)
    assert response.status_code == 400
    assert response.json() == {'error': {'code': 'global/quota-exceeded', 'message': 'Quota exceeded.',
                                         'suggestion': 'Contact Support to increase your quota.'}}


# --- catalog -----------------------------------------------------------------------------------

def test_regions_images_file_systems(fake, http):
    regions = http.get(fake.url + API + '/regions').json()['data']
    assert {'name': 'us-west-1', 'description': 'California, USA'} in regions
    images = http.get(fake.url + API + '/images').json()['data']
    assert {'lambda-stack-24-04', 'ubuntu-lts'} <= set(i['family'] for i in images)
    for field in ('id', 'created_time', 'updated_time', 'name', 'description', 'family', 'version', 'architecture', 'region'):
        assert field in images[0]
    fake.add_file_system('data')
    file_system = http.get(fake.url + API + '/file-systems').json()['data'][0]
    for field in ('id', 'name', 'mount_point', 'created', 'created_by', 'is_in_use', 'region'):
        assert field in file_system


# --- SSH keys ------------------------------------------------------------------------------

def test_ssh_keys_add_list_delete(fake, http):
    public_key = example_public_key('other@host')
    response = http.post(fake.url + API + '/ssh-keys', json={'name': 'other', 'public_key': public_key})
    assert response.status_code == 200
    added = response.json()['data']
    assert set(added) == {'id', 'name', 'public_key'} and re.match(r'^[0-9a-f]{32}$', added['id'])
    listed = http.get(fake.url + API + '/ssh-keys').json()['data']
    assert [k['name'] for k in listed] == ['nanochat', 'other']
    assert http.delete(fake.url + API + '/ssh-keys/' + added['id']).json() == {'data': {}}
    response = http.delete(fake.url + API + '/ssh-keys/' + added['id'])
    assert response.status_code == 404
    assert response.json()['error']['code'] == 'global/not-found'


def test_ssh_key_generated_when_public_key_is_omitted(fake, http):
    response = http.post(fake.url + API + '/ssh-keys', json={'name': 'generated'})
    assert response.status_code == 200
    data = response.json()['data']
    assert data['public_key'].startswith('ssh-ed25519 ')
    assert 'PRIVATE KEY' in data['private_key']
    assert 'private_key' not in http.get(fake.url + API + '/ssh-keys').json()['data'][-1]


@pytest.mark.parametrize('body, fragment', [
    ({'public_key': example_public_key()}, 'name'),
    ({'name': '', 'public_key': example_public_key()}, 'name'),
    ({'name': 'x' * 65, 'public_key': example_public_key()}, 'name'),
    ({'name': 'bad', 'public_key': 'ssh-ed25519 not-base64'}, 'public_key'),
    ({'name': 'bad', 'public_key': example_public_key(), 'extra': 1}, 'unknown field'),
    ({'name': 'nanochat', 'public_key': example_public_key()}, 'already exists'),
])
def test_invalid_ssh_key_requests(fake, http, body, fragment):
    response = http.post(fake.url + API + '/ssh-keys', json=body)
    assert response.status_code == 400
    assert response.json()['error']['code'] == 'global/invalid-parameters'
    assert fragment in response.json()['error']['message']
    assert len(fake.ssh_keys) == 1


# --- rate limits ------------------------------------------------------------------------------

def test_default_rate_limits_are_the_documented_ones():
    assert FakeLambda().rate_limits == {'default': 1.0, 'launch': 12.0}


def test_requests_faster_than_the_limit_get_429(http):
    fake = FakeLambda(api_key=KEY, rate_limits={'default': 0.5, 'launch': 3.0}).start()
    try:
        fake.add_ssh_key('nanochat')
        assert http.get(fake.url + API + '/instances').status_code == 200
        limited = http.get(fake.url + API + '/instances')
        assert limited.status_code == 429
        assert limited.json()['error']['code'] == 'global/rate-limited'
        time.sleep(0.55)
        assert launch(fake, http).status_code == 200
        time.sleep(0.55)
        # the general interval has passed, the launch interval has not
        assert http.get(fake.url + API + '/instances').status_code == 200
        time.sleep(0.55)
        assert launch(fake, http).status_code == 429
        assert len(fake.live_instances()) == 1
    finally:
        fake.stop()


def test_rate_limits_can_be_turned_off(fake, http):
    statuses = [http.get(fake.url + API + '/instances').status_code for _attempt in range(5)]
    assert statuses == [200] * 5


# --- faults, process mode ------------------------------------------------------------------------

def test_created_but_500_fault(fake, http):
    fake.add_fault(method='POST', path='/instance-operations/launch$', status=500, mode='apply',
                   body={'error': {'code': 'global/internal-error', 'message': 'An internal server error occurred.'}})
    assert launch(fake, http).status_code == 500
    assert len(fake.live_instances('speedrun')) == 1


def test_registered_and_runs_as_a_process(tmp_path):
    assert fake_class('lambda') is FakeLambda
    env = dict(os.environ, FAKE_API_KEY=KEY, PYTHONPATH=os.getcwd())
    process = subprocess.Popen([sys.executable, '-m', 'tests.fakes', 'lambda', '--port', '0', '--boot-delay', '0.1'],
                               stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r'listening on (http://\S+)', line).group(1)
        response = requests.get(url + API + '/instance-types', headers={'Authorization': 'Bearer %s' % KEY}, timeout=5)
        assert response.status_code == 200
        assert 'gpu_8x_h100_sxm5' in response.json()['data']
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()
