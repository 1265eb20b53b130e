# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RunPod fake is strict: it rejects what RunPod REST v2 rejects, with RunPod's status and body."""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess
import sys

import pytest
import requests

from tests.fakes.base import Fault
from tests.fakes.runpod import CAPACITY_DETAIL, FakeRunPod

H100 = 'NVIDIA H100 80GB HBM3'
UNLIMITED = {'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def make_key(comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + os.urandom(32)
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    server = FakeRunPod(boot_delay=10.0, clock=clock, rate_limits=UNLIMITED).start()
    yield server
    server.stop()
    assert server.internal_errors == []


class Api(object):
    def __init__(self, fake, key='test-key'):
        self.base = fake.url
        self.session = requests.Session()
        if key is not None:
            self.session.headers['Authorization'] = 'Bearer %s' % key

    def __getattr__(self, method):
        def call(path, **kwargs):
            return self.session.request(method.upper(), self.base + path, timeout=5, **kwargs)
        return call


@pytest.fixture
def api(fake):
    return Api(fake)


def pod_body(**overrides):
    body = {'name': 'speedrun', 'image': 'runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404',
            'gpu': {'id': H100, 'count': 8}, 'ports': ['22/tcp'], 'env': {'PUBLIC_KEY': make_key()}}
    body.update(overrides)
    return body


def assert_problem(response, status, detail=None, errors=None):
    assert response.status_code == status
    assert response.headers['Content-Type'] == 'application/problem+json'
    body = response.json()
    assert body['status'] == status and body['title'] and body['detail']
    if detail is not None:
        assert body['detail'] == detail
    if errors is not None:
        assert body['errors'] == errors
    return body


# --- auth ------------------------------------------------------------------------------------

def test_missing_or_wrong_bearer_token_is_401_problem_json(fake):
    assert_problem(Api(fake, key=None).get('/v2/pods'), 401, 'missing bearer token')
    assert_problem(Api(fake, key='nope').get('/v2/pods'), 401)
    assert Api(fake).get('/v2/pods').json() == {'pods': []}


# --- create validation -----------------------------------------------------------------------

def test_v1_field_names_are_a_closed_schema_422(api, fake):
    body = pod_body(gpuTypeIds=[H100], containerDiskInGb=50)
    body['gpu']['minRamPerGpu'] = 80
    assert_problem(api.post('/v2/pods', json=body), 422, 'Request validation failed.', [
        "$: additional properties 'containerDiskInGb', 'gpuTypeIds' not allowed",
        "$.gpu: additional properties 'minRamPerGpu' not allowed",
    ])
    assert fake.pods == {}


@pytest.mark.parametrize('change, error', [
    ({'name': ''}, '$.name: minLength: got 0, want 1'),
    ({'disk': '50'}, '$.disk: got string, want integer'),
    ({'disk': 0}, '$.disk: minimum: got 0, want 1'),
    ({'cloud': 'ALL'}, "$.cloud: value must be one of 'SECURE', 'COMMUNITY'"),
    ({'env': {'A': 1}}, '$.env.A: got integer, want string'),
    ({'ports': [22]}, '$.ports[0]: got integer, want string'),
    ({'mounts': {'persistent': {'size': 5, 'path': '/workspace'}}}, '$.mounts.persistent.size: minimum: got 5, want 10'),
    ({'mounts': {'persistent': {'size': 20}}}, "$.mounts.persistent: missing property 'path'"),
    ({'gpu': {'count': 8}}, "$.gpu: missing property 'id'"),
    ({'gpu': {'id': H100, 'minCudaVersion': '12'}}, "$.gpu.minCudaVersion: '12' does not match pattern '^\\d+\\.\\d+$'"),
])
def test_schema_violations_are_listed(api, change, error):
    body = assert_problem(api.post('/v2/pods', json=pod_body(**change)), 422, 'Request validation failed.')
    assert body['errors'] == [error]


def test_missing_name_and_image(api):
    body = pod_body()
    del body['name'], body['image']
    errors = assert_problem(api.post('/v2/pods', json=body), 422)['errors']
    assert errors == ["$: missing property 'name'"]
    body = pod_body()
    del body['image']
    assert assert_problem(api.post('/v2/pods', json=body), 422)['errors'] == ["$: missing property 'image'"]


@pytest.mark.parametrize('change', [
    {'cpu': {'id': 'cpu5c', 'vcpuCount': 4}},
    {'gpu': None},
])
def test_exactly_one_of_gpu_and_cpu_is_a_400(api, change):
    body = pod_body(**change)
    if body.get('gpu') is None:
        del body['gpu']
    assert_problem(api.post('/v2/pods', json=body), 400)


def test_cross_field_rules_are_400(api):
    both = {'persistent': {'size': 20, 'path': '/w'}, 'network': [{'volumeId': 'v', 'path': '/n'}]}
    assert_problem(api.post('/v2/pods', json=pod_body(mounts=both)), 400)
    gpu = {'id': H100, 'allowedCudaVersions': ['12.8'], 'minCudaVersion': '12.4'}
    assert_problem(api.post('/v2/pods', json=pod_body(gpu=gpu)), 400)


def test_not_json_is_400(api):
    response = api.post('/v2/pods', data='{nope', headers={'Content-Type': 'application/json'})
    assert_problem(response, 400)


# --- lifecycle ---------------------------------------------------------------------------------

def test_pod_goes_through_the_readiness_trap(api, fake, clock):
    key = make_key()
    created = api.post('/v2/pods', json=pod_body(env={'PUBLIC_KEY': key, 'EMPTY': ''}))
    assert created.status_code == 201
    pod = created.json()
    assert re.match(r'^[a-z0-9]{14}$', pod['id'])
    assert pod['status'] == 'PROVISIONING' and pod['actions'] == ['stop', 'terminate']
    assert pod['ssh']['direct'] is None and pod['runtime'] is None and pod['startedAt'] is None
    assert pod['cost'] == pytest.approx(2.69 * 8)
    assert pod['env'] == {'PUBLIC_KEY': key}, 'empty env values are dropped'
    assert pod['dataCenterId'] == 'US-KS-2', 'the scheduler picks the data center with most stock'
    seen = []
    for step in (1, 3, 5, 9.9, 10, 10):
        clock.now = 1000.0 + step
        current = api.get('/v2/pods/%s' % pod['id']).json()
        seen.append((current['status'], current['ssh']['direct'] is not None))
    assert seen == [('PROVISIONING', False), ('STARTING', False), ('RUNNING', False), ('RUNNING', False),
                    ('RUNNING', True), ('RUNNING', True)]
    current = api.get('/v2/pods/%s' % pod['id']).json()
    endpoint = fake.machines.booted[('runpod', pod['id'])]
    assert endpoint['public_keys'] == [key]
    assert current['ssh']['direct'] == {'host': endpoint['host'], 'port': endpoint['port'], 'username': 'root',
                                        'command': 'ssh root@%s -p %d' % (endpoint['host'], endpoint['port'])}
    assert {'ip': endpoint['host'], 'private': 22, 'public': endpoint['port'], 'type': 'tcp'} in current['runtime']['ports']
    assert current['ssh']['proxy']['host'] == 'ssh.runpod.io'
    assert current['actions'] == ['stop', 'restart', 'terminate']


def test_trap_lasts_for_at_least_one_read_even_without_delay(api, fake):
    fake.boot_delay = 0.0
    pod = api.post('/v2/pods', json=pod_body()).json()
    first = api.get('/v2/pods/%s' % pod['id']).json()
    second = api.get('/v2/pods/%s' % pod['id']).json()
    assert (first['status'], first['ssh']['direct']) == ('RUNNING', None)
    assert second['ssh']['direct'] is not None


@pytest.mark.parametrize('body', [
    pod_body(ports=['8888/http']),
    pod_body(env={}, startSsh=True),
])
def test_no_ssh_endpoint_without_port_22_or_keys(api, fake, clock, body):
    pod = api.post('/v2/pods', json=body).json()
    for step in (5, 20, 30):
        clock.now = 1000.0 + step
        current = api.get('/v2/pods/%s' % pod['id']).json()
    assert current['status'] == 'RUNNING' and current['ssh']['direct'] is None
    assert fake.machines.booted == {}


def test_start_ssh_injects_account_keys_at_creation_only(api, fake, clock):
    key, later = make_key('a'), make_key('b')
    assert api.put('/v2/account/ssh-keys', json={'keys': [key]}).json() == {'keys': [key]}
    pod = api.post('/v2/pods', json=pod_body(env={}, startSsh=True)).json()
    assert pod['env']['PUBLIC_KEY'] == key
    api.put('/v2/account/ssh-keys', json={'keys': [later]})
    clock.now += 20
    api.get('/v2/pods/%s' % pod['id'])
    current = api.get('/v2/pods/%s' % pod['id']).json()
    assert current['env']['PUBLIC_KEY'] == key
    assert fake.machines.booted[('runpod', pod['id'])]['public_keys'] == [key]


def test_explicit_public_key_wins_over_start_ssh(api):
    key = make_key('explicit')
    api.put('/v2/account/ssh-keys', json={'keys': [make_key('account')]})
    pod = api.post('/v2/pods', json=pod_body(env={'PUBLIC_KEY': key}, startSsh=True)).json()
    assert pod['env']['PUBLIC_KEY'] == key


def ready_pod(api, clock, **overrides):
    pod = api.post('/v2/pods', json=pod_body(**overrides)).json()
    clock.now += 20
    api.get('/v2/pods/%s' % pod['id'])
    pod = api.get('/v2/pods/%s' % pod['id']).json()
    assert pod['ssh']['direct'] is not None
    return pod


def test_stop_and_start_go_back_through_the_trap_with_a_new_endpoint(api, fake, clock):
    pod = ready_pod(api, clock)
    stopped = api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'stop'})
    assert stopped.status_code == 200
    stopped = stopped.json()
    assert stopped['status'] == 'EXITED' and stopped['cost'] == 0.0 and stopped['runtime'] is None
    assert stopped['ssh']['direct'] is None and stopped['actions'] == ['start', 'terminate']
    assert ('runpod', pod['id']) not in fake.machines.booted
    assert_problem(api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'stop'}), 409,
                   'Action not valid for current pod status')
    started = api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'start'}).json()
    assert started['status'] in ('STARTING', 'RUNNING') and started['ssh']['direct'] is None
    assert started['cost'] == pytest.approx(2.69 * 8)
    clock.now += 20
    assert api.get('/v2/pods/%s' % pod['id']).json()['ssh']['direct'] is None
    again = api.get('/v2/pods/%s' % pod['id']).json()
    assert again['ssh']['direct']['port'] != pod['ssh']['direct']['port']


def test_restart_only_when_running(api, clock):
    pod = api.post('/v2/pods', json=pod_body()).json()
    assert_problem(api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'restart'}), 409)
    clock.now += 20
    api.get('/v2/pods/%s' % pod['id'])
    restarted = api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'restart'})
    assert restarted.status_code == 200 and restarted.json()['ssh']['direct'] is None


def test_bad_action_is_the_recorded_422(api, clock):
    pod = api.post('/v2/pods', json=pod_body()).json()
    assert_problem(api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'reset'}), 422,
                   'Request validation failed.',
                   ["$.action: value must be one of 'start', 'stop', 'restart', 'terminate'"])
    assert_problem(api.post('/v2/pods/%s/action' % pod['id'], json={'action': 'stop', 'force': True}), 422,
                   errors=["$: additional properties 'force' not allowed"])


def test_terminate_and_delete_are_204_then_404(api, fake, clock):
    first = ready_pod(api, clock)
    second = api.post('/v2/pods', json=pod_body(name='other')).json()
    response = api.post('/v2/pods/%s/action' % first['id'], json={'action': 'terminate'})
    assert response.status_code == 204 and response.content == b''
    assert ('runpod', first['id']) not in fake.machines.booted
    assert api.delete('/v2/pods/%s' % second['id']).status_code == 204
    assert_problem(api.delete('/v2/pods/%s' % second['id']), 404, 'resource not found')
    assert_problem(api.get('/v2/pods/%s' % first['id']), 404)
    assert api.get('/v2/pods').json() == {'pods': []}


def test_created_but_500_fault_creates_the_pod(api, fake):
    fake.add_fault(Fault('POST', r'^/v2/pods$', status=500, mode='apply',
                         body={'title': 'Internal Server Error', 'status': 500, 'detail': 'upstream error'}))
    assert api.post('/v2/pods', json=pod_body()).status_code == 500
    assert [p['name'] for p in api.get('/v2/pods').json()['pods']] == ['speedrun']


# --- capacity, balance -------------------------------------------------------------------------

def test_no_capacity_is_the_recorded_400(api, fake):
    fake.set_availability(H100, 'NONE', 'US-KS-2')
    response = api.post('/v2/pods', json=pod_body(dataCenterIds=['US-KS-2']))
    assert response.json() == {'title': 'Bad Request', 'status': 400, 'detail': CAPACITY_DETAIL}
    placed = api.post('/v2/pods', json=pod_body(dataCenterIds=['US-KS-2', 'US-TX-3'])).json()
    assert placed['dataCenterId'] == 'US-TX-3'
    assert_problem(api.post('/v2/pods', json=pod_body(gpu={'id': H100, 'count': 16})), 400, CAPACITY_DETAIL)
    assert_problem(api.post('/v2/pods', json=pod_body(gpu={'id': 'NVIDIA B200', 'count': 1}, cloud='COMMUNITY')), 400)


def test_insufficient_balance_is_402(api, fake):
    fake.insufficient_balance = True
    assert_problem(api.post('/v2/pods', json=pod_body()), 402)
    assert fake.pods == {}


# --- catalog ---------------------------------------------------------------------------------

def test_catalog_query_rules(api):
    assert_problem(api.get('/v2/catalog/gpus', params={'count': 8}), 400)
    assert_problem(api.get('/v2/catalog/gpus', params={'product': 'POD'}), 400)
    assert_problem(api.get('/v2/catalog/gpus', params={'include': 'AVAILABILITY'}), 400)
    assert_problem(api.get('/v2/catalog/gpus', params={'include': 'AVAILABILITY', 'product': 'POD', 'cloud': 'ALL'}), 422)
    assert_problem(api.get('/v2/catalog/gpus', params={'include': 'AVAILABILITY', 'product': 'POD', 'count': 0}), 422)
    assert_problem(api.get('/v2/catalog/gpus', params={'include': 'AVAILABILITY', 'product': 'POD',
                                                       'cudaVersions': '12.8', 'minCudaVersion': '12'}), 400)
    plain = api.get('/v2/catalog/gpus').json()['gpus']
    assert 'availability' not in plain[0] and 'dataCenters' not in plain[0]
    assert set(plain[0]) == {'id', 'name', 'pool', 'manufacturer', 'memory', 'secure', 'community', 'price', 'maxCount'}


def test_catalog_availability_per_count_cloud_and_data_center(api, fake):
    params = {'include': 'AVAILABILITY', 'product': 'POD', 'count': 8, 'cloud': 'SECURE'}
    h100 = api.get('/v2/catalog/gpus/NVIDIA%20H100%2080GB%20HBM3', params=params).json()
    assert h100['availability'] == 'HIGH'
    assert [(dc['id'], dc['availability']) for dc in h100['dataCenters']] == [
        ('US-KS-2', 'HIGH'), ('US-TX-3', 'MEDIUM'), ('EU-RO-1', 'LOW')]
    fake.set_availability(H100, 'NONE')
    gone = api.get('/v2/catalog/gpus/%s' % H100, params=params).json()
    assert gone['availability'] == 'NONE' and 'dataCenters' not in gone
    too_many = api.get('/v2/catalog/gpus/%s' % 'NVIDIA H100 PCIe',
                       params=dict(params, count=8, cloud='COMMUNITY')).json()
    assert too_many['availability'] == 'NONE', 'community H100 PCIe hosts have at most 4 GPUs'
    assert_problem(api.get('/v2/catalog/gpus/NVIDIA%20H101'), 404)
    romania = api.get('/v2/catalog/gpus', params=dict(params, countryCodes='RO')).json()['gpus']
    assert H100 in [g['id'] for g in romania] and 'NVIDIA H100 PCIe' not in [g['id'] for g in romania]


def test_data_centers(api):
    plain = api.get('/v2/catalog/datacenters').json()['dataCenters']
    assert 'US-KS-2' in [dc['id'] for dc in plain] and 'gpuAvailability' not in plain[0]
    full = api.get('/v2/catalog/datacenters', params={'include': 'GPU_AVAILABILITY'}).json()['dataCenters']
    kansas = next(dc for dc in full if dc['id'] == 'US-KS-2')
    assert {'id': H100, 'name': 'H100 SXM', 'availability': 'HIGH'} in kansas['gpuAvailability']
    assert_problem(api.get('/v2/catalog/datacenters', params={'include': 'EVERYTHING'}), 422)


# --- SSH keys ----------------------------------------------------------------------------------

def test_ssh_keys_are_replaced_not_merged(api):
    first, second = make_key('a'), make_key('b')
    api.put('/v2/account/ssh-keys', json={'keys': [first]})
    assert api.put('/v2/account/ssh-keys', json={'keys': [second]}).json() == {'keys': [second]}
    assert api.get('/v2/account/ssh-keys').json() == {'keys': [second]}
    assert api.put('/v2/account/ssh-keys', json={'keys': []}).json() == {'keys': []}


def test_ssh_key_put_validation(api):
    errors = assert_problem(api.put('/v2/account/ssh-keys', json={'keys': ['not a key']}), 422)['errors']
    assert errors == ["$.keys[0]: 'not a key' does not match pattern '^(ssh|ecdsa|sk)-[^\\s]+ [^\\s]+([ \\t][^\\n\\r]*)?$'"]
    assert_problem(api.put('/v2/account/ssh-keys', json={'keys': [], 'merge': True}), 422,
                   errors=["$: additional properties 'merge' not allowed"])
    assert_problem(api.put('/v2/account/ssh-keys', json={}), 422, errors=["$: missing property 'keys'"])


# --- rate limits ---------------------------------------------------------------------------------

def test_minute_window_rate_limit_with_headers(clock):
    server = FakeRunPod(clock=clock, rate_limits={'minute': 3, 'hour': 100, 'day': 1000}).start()
    try:
        api = Api(server)
        for remaining in (2, 1, 0):
            response = api.get('/v2/pods')
            assert response.status_code == 200
            assert response.headers['RateLimit'].startswith('"minute";r=%d;t=60' % remaining)
            assert response.headers['RateLimit-Policy'] == '"minute";q=3;w=60, "hour";q=100;w=3600, "day";q=1000;w=86400'
        clock.now += 15
        limited = api.get('/v2/pods')
        assert_problem(limited, 429, 'rate limit exceeded for the minute window')
        assert limited.headers['Retry-After'] == '45'
        assert limited.headers['RateLimit'].startswith('"minute";r=0;t=45')
        assert Api(server, key='wrong').get('/v2/pods').status_code == 401, 'unauthenticated calls are not counted'
        clock.now += 45
        assert api.get('/v2/pods').status_code == 200
    finally:
        server.stop()
    assert server.internal_errors == []


def test_rate_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv('FAKE_RUNPOD_RATE_LIMITS', 'minute=600,hour=30000')
    server = FakeRunPod()
    assert server.rate_windows == [('minute', 600, 60), ('hour', 30000, 3600), ('day', 50000, 86400)]


def test_state_endpoint_and_method_not_allowed(api, fake):
    api.post('/v2/pods', json=pod_body())
    state = requests.get(fake.url + '/_fake/state', timeout=5).json()
    assert [p['name'] for p in state['pods']] == ['speedrun']
    response = api.put('/v2/pods', json={})
    assert_problem(response, 405)
    assert 'POST' in response.headers['Allow']


def test_runs_as_a_process():
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, '-m', 'tests.fakes', 'runpod', '--port', '0', '--boot-delay', '0.1'],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith('listening on http://127.0.0.1:')
        url = line.split()[-1]
        assert requests.get(url + '/v2/pods', headers={'Authorization': 'Bearer test-key'}, timeout=5).json() == {'pods': []}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
