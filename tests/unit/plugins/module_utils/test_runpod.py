# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RunPod adapter: normalization, SSH endpoint rules, prices, errors, request bodies, calls."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _runpod
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
from tests.fakes.runpod import FakeRunPod

H100 = 'NVIDIA H100 80GB HBM3'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILXGDN/SclOozk1xsDztpmhGiKkkrfQB9SKoO8dSIQQZ me@example.com'

# The recorded pod of provider-apis.md §1.4 (RP-REC V2_POD), and the same pod moments after
# creation (V2_POD_NOT_READY): RUNNING without ssh.direct.
V2_POD = {
    "id": "5xpma5eg46tqjq", "name": "imgtbx-v2-probe", "status": "RUNNING",
    "actions": ["stop", "restart", "terminate"],
    "image": "runpod/pytorch:1.0.7-cu1281-torch291-ubuntu2204", "args": "", "disk": 30,
    "ports": ["22/tcp"], "env": {"PUBLIC_KEY": "ssh-ed25519 SCRUBBED"},
    "gpu": {"count": 1, "id": "NVIDIA RTX PRO 4500 Blackwell"},
    "cloud": "SECURE", "dataCenterId": "EU-RO-1", "cudaVersion": "13.0", "cost": 0.72, "locked": False,
    "registry": None, "template": None, "globalNetworking": {"enabled": False},
    "runtime": {"uptime": 3, "cpu": {"util": 0}, "memory": {"util": 0},
                "gpus": [{"util": 0, "memoryUtil": 0}],
                "ports": [{"ip": "213.173.104.74", "private": 22, "public": 35558, "type": "tcp"},
                          {"ip": "100.65.14.155", "private": 19123, "public": 60821, "type": "http"}]},
    "ssh": {"direct": {"host": "213.173.104.74", "port": 35558, "username": "root",
                       "command": "ssh root@213.173.104.74 -p 35558"},
            "proxy": {"host": "ssh.runpod.io", "port": 22, "username": "5xpma5eg46tqjq-SCRUBBED",
                      "command": "ssh 5xpma5eg46tqjq-SCRUBBED@ssh.runpod.io"}},
    "createdAt": "2026-08-20T06:16:19.436Z", "startedAt": "2026-08-20T06:16:19.43Z",
}
V2_POD_NOT_READY = {
    "id": "5xpma5eg46tqjq", "name": "imgtbx-v2-probe", "status": "RUNNING", "cost": 0.72,
    "dataCenterId": "EU-RO-1", "gpu": {"count": 1, "id": "NVIDIA RTX PRO 4500 Blackwell"},
    "runtime": None,
    "ssh": {"direct": None, "proxy": {"host": "ssh.runpod.io", "port": 22, "username": "5xpma5eg46tqjq-SCRUBBED"}},
}


def pod(**changes):
    result = copy.deepcopy(V2_POD)
    result.update(changes)
    return result


# --- normalization -----------------------------------------------------------------------------

def test_recorded_running_pod():
    inst = _runpod.normalize(V2_POD)
    assert {k: v for k, v in inst.items() if k != 'raw'} == dict(
        provider='runpod', id='5xpma5eg46tqjq', name='imgtbx-v2-probe', status='running', provider_status='RUNNING',
        ssh_host='213.173.104.74', ssh_port=35558, ssh_user='root', gpu_type='NVIDIA RTX PRO 4500 Blackwell',
        gpu_count=1, price_per_hour=0.72, region='EU-RO-1')
    assert inst['raw']['id'] == '5xpma5eg46tqjq'


def test_running_without_ssh_direct_is_pending():
    inst = _runpod.normalize(V2_POD_NOT_READY)
    assert (inst['status'], inst['provider_status'], inst['ssh_host'], inst['ssh_port']) == ('pending', 'RUNNING', None, None)


def test_proxy_is_never_an_endpoint():
    inst = _runpod.normalize(pod(ssh={'direct': None, 'proxy': V2_POD['ssh']['proxy']}, runtime=None))
    assert inst['status'] == 'pending' and inst['ssh_host'] is None


def test_runtime_port_22_is_the_fallback_endpoint():
    inst = _runpod.normalize(pod(ssh={'direct': None, 'proxy': None}))
    assert (inst['status'], inst['ssh_host'], inst['ssh_port'], inst['ssh_user']) == ('running', '213.173.104.74', 35558, 'root')


@pytest.mark.parametrize('port', [
    {'ip': '100.65.14.155', 'private': 19123, 'public': 60821, 'type': 'http'},
    {'ip': '213.173.104.74', 'private': 22, 'public': None, 'type': 'tcp'},
    {'ip': None, 'private': 22, 'public': 35558, 'type': 'tcp'},
    {'ip': '100.65.14.155', 'private': 22, 'public': 60821, 'type': 'http'},
])
def test_runtime_ports_that_are_not_ssh(port):
    inst = _runpod.normalize(pod(ssh={'direct': None, 'proxy': None}, runtime={'ports': [port]}))
    assert inst['status'] == 'pending' and inst['ssh_host'] is None


@pytest.mark.parametrize('status, normalized', [
    ('PROVISIONING', 'pending'), ('STARTING', 'pending'), ('EXITED', 'stopped'), ('ERROR', 'failed'),
    ('TERMINATED', 'terminated'), ('SOMETHING_NEW', 'pending'),
])
def test_status_map(status, normalized):
    inst = _runpod.normalize(pod(status=status))
    assert inst['status'] == normalized and inst['provider_status'] == status
    assert inst['ssh_host'] is None, 'an endpoint only counts while RUNNING'


def test_price_is_the_whole_pod_cost_and_stopped_costs_nothing():
    assert _runpod.normalize(pod(cost=21.52, gpu={'id': H100, 'count': 8}))['price_per_hour'] == 21.52
    assert _runpod.normalize(pod(status='EXITED', cost=0.0))['price_per_hour'] == 0.0


def test_secret_env_values_do_not_reach_raw():
    inst = _runpod.normalize(pod(env={'PUBLIC_KEY': KEY, 'HF_TOKEN': 'hf_secret_value'}))
    assert 'hf_secret_value' not in repr(inst)
    assert inst['raw']['env']['PUBLIC_KEY'] == KEY


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize('detail', [
    'There are no longer any instances available with the requested specifications. Please refresh and try again.',
    'create pod: There are no instances currently available',
    'There are not enough free GPUs on the host machine to start this pod',
    'This machine does not have the resources to deploy your pod. Please try a different machine',
])
def test_capacity_details(detail):
    assert _runpod.is_capacity_error(ApiError('runpod', 'POST', '/v2/pods', status=400, message=detail))


def test_other_400s_and_other_statuses_are_not_capacity():
    assert not _runpod.is_capacity_error(ApiError('runpod', 'POST', '/v2/pods', status=400,
                                                  message='request could not be processed'))
    assert not _runpod.is_capacity_error(ApiError('runpod', 'POST', '/v2/pods', status=422, message='no longer any instances available'))
    assert not _runpod.is_capacity_error(ValueError('no longer any instances available'))


# --- request bodies ------------------------------------------------------------------------------

def test_create_body_uses_only_v2_fields():
    body = _runpod.create_pod_body('speedrun', H100, 8, cloud_type='SECURE', data_center_ids=['US-KS-2'],
                                   container_disk_gb=200, volume_gb=100, ports=['8888/http', '22/tcp'],
                                   env={'WANDB_MODE': 'offline', 'DEPTH': 20, 'FLAG': True, 'NONE': None},
                                   ssh_public_key=KEY + '\n')
    assert body == {
        'name': 'speedrun', 'image': _runpod.DEFAULT_IMAGE, 'gpu': {'id': H100, 'count': 8}, 'cloud': 'SECURE',
        'dataCenterIds': ['US-KS-2'], 'disk': 200, 'mounts': {'persistent': {'size': 100, 'path': '/workspace'}},
        'ports': ['22/tcp', '8888/http'], 'startSsh': True,
        'env': {'WANDB_MODE': 'offline', 'DEPTH': '20', 'FLAG': 'true', 'PUBLIC_KEY': KEY},
    }


def test_minimal_create_body_is_accepted_by_the_strict_fake():
    fake = FakeRunPod(boot_delay=0.1, ssh_keys=[KEY]).start()
    try:
        api = _runpod.RunPodApi(make_client('runpod', 'test-key', fake.url))
        created = api.create_pod(_runpod.create_pod_body('minimal', H100))
        assert created['status'] == 'PROVISIONING' and created['env']['PUBLIC_KEY'] == KEY
    finally:
        fake.stop()
    assert fake.internal_errors == []


@pytest.mark.parametrize('ports, ok', [
    (['22/tcp', '8888/http'], True), (['22'], False), (['22/udp'], False), (['0/tcp'], False), (['70000/tcp'], False),
])
def test_validate_ports(ports, ok):
    assert (_runpod.validate_ports(ports) is None) is ok


def test_pod_differences_compare_only_what_was_asked():
    current = pod(env={'PUBLIC_KEY': KEY, 'A': '1', 'SECRET_TOKEN': 's3cret'})
    assert _runpod.pod_differences(current) == []
    assert _runpod.pod_differences(current, gpu_type='NVIDIA RTX PRO 4500 Blackwell', gpu_count=1, ports=['22/tcp'],
                                   env={'A': 1, 'EMPTY': ''}, data_center_ids=['EU-RO-1', 'US-KS-2']) == []
    diffs = _runpod.pod_differences(current, gpu_type=H100, gpu_count=8, image='other', cloud_type='COMMUNITY',
                                    data_center_ids=['US-KS-2'], container_disk_gb=200, volume_gb=50,
                                    ports=['8888/http'], env={'SECRET_TOKEN': 'changed'},
                                    ssh_public_key=KEY.replace('AAAAC3', 'BBBBC3'))
    text = '; '.join(diffs)
    for fragment in ('gpu_type', 'gpu_count is 1, not 8', 'image', 'cloud_type', 'EU-RO-1', 'container_disk_gb',
                     'volume_gb', 'ports lack 8888/http', 'env differs for SECRET_TOKEN', 'ssh_public_key'):
        assert fragment in text
    assert 'changed' not in text and 's3cret' not in text, 'env values never appear'


def test_same_key_with_another_comment_is_not_a_difference():
    current = pod(env={'PUBLIC_KEY': 'ssh-rsa AAAAB3 other\n' + KEY})
    assert _runpod.pod_differences(current, ssh_public_key=KEY.rsplit(' ', 1)[0] + ' relabelled') == []


# --- catalog helpers -----------------------------------------------------------------------------

def test_gpu_offer_prices_for_the_count_and_tier():
    gpu = {'id': H100, 'name': 'H100 SXM', 'manufacturer': 'NVIDIA', 'memory': 80, 'secure': True, 'community': False,
           'price': {'secure': 2.69, 'community': 0.0}, 'maxCount': {'secure': 8, 'community': 0},
           'availability': 'MEDIUM',
           'dataCenters': [{'id': 'US-KS-2', 'name': 'US Kansas 2', 'availability': 'MEDIUM'},
                           {'id': 'EU-RO-1', 'name': 'EU Romania 1', 'availability': 'NONE'}],
           'cudaVersions': [{'version': '12.8', 'available': True}, {'version': '12.4', 'available': False}]}
    offer = _runpod.gpu_offer(gpu, 8, 'SECURE')
    assert offer['price_per_gpu'] == 2.69 and offer['price_per_hour'] == 21.52 and offer['max_count'] == 8
    assert offer['available_data_centers'] == ['US-KS-2'] and offer['cuda_versions'] == ['12.8']
    assert offer['offered'] is True and offer['memory_gb'] == 80
    assert 'US-KS-2 (MEDIUM)' in _runpod.describe_availability(offer)
    community = _runpod.gpu_offer(gpu, 1, 'COMMUNITY')
    assert community['offered'] is False and community['max_count'] == 0
    bare = _runpod.gpu_offer({'id': 'x', 'price': {}}, 2)
    assert bare['availability'] == 'NONE' and bare['price_per_hour'] is None and bare['data_centers'] == []
    assert 'no data center' in _runpod.describe_availability(bare)


def test_suggest_close_gpu_ids():
    assert _runpod.suggest('NVIDIA H100 80GB', [H100, 'NVIDIA H200', 'NVIDIA L4'])[0] == H100


# --- calls against the fake ------------------------------------------------------------------------

@pytest.fixture
def fake():
    server = FakeRunPod(boot_delay=0.2, ssh_keys=[KEY], rate_limits={'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6})
    server.start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def api(fake):
    return _runpod.RunPodApi(make_client('runpod', 'test-key', fake.url))


def test_list_instances_is_exactly_one_request(api, fake):
    for name in ('a', 'b', 'a'):
        fake.seed_pod({'name': name, 'image': 'i', 'gpu': {'id': H100, 'count': 1}, 'ports': ['22/tcp'],
                       'env': {'PUBLIC_KEY': KEY}}, ready=True)
    instances = api.list_instances()
    assert sorted(i['name'] for i in instances) == ['a', 'a', 'b']
    assert all(i['status'] == 'running' and i['ssh_host'] for i in instances)
    assert len(fake.calls) == 1 and fake.calls[0]['path'] == '/v2/pods'
    assert [i['name'] for i in api.find_by_name('a')] == ['a', 'a']
    assert api.find_by_name('nope') == []


def test_get_instance_and_delete_of_a_missing_pod(api, fake):
    assert api.get_instance('doesnotexist00') is None
    assert api.delete_pod('doesnotexist00') is False
    seeded = fake.seed_pod({'name': 'x', 'image': 'i', 'gpu': {'id': H100, 'count': 1}})
    assert api.get_instance(seeded['id'])['id'] == seeded['id']
    assert api.delete_pod(seeded['id']) is True
    assert api.get_instance(seeded['id']) is None


def test_gpu_type_ids_are_url_encoded(api, fake):
    gpu = api.get_gpu_type(H100, count=8, cloud_type='SECURE')
    assert gpu['id'] == H100 and gpu['availability'] == 'HIGH'
    call = fake.calls[-1]
    assert call['path'] == '/v2/catalog/gpus/NVIDIA%20H100%2080GB%20HBM3'
    assert call['query'] == {'include': ['AVAILABILITY'], 'product': ['POD'], 'count': ['8'], 'cloud': ['SECURE']}
    assert api.get_gpu_type('NVIDIA H100 80GB') is None


def test_pod_actions_and_errors(api, fake):
    seeded = fake.seed_pod({'name': 'x', 'image': 'i', 'gpu': {'id': H100, 'count': 1}, 'ports': ['22/tcp']}, ready=True)
    assert api.pod_action(seeded['id'], 'stop')['status'] == 'EXITED'
    with pytest.raises(ApiError) as err:
        api.pod_action(seeded['id'], 'stop')
    assert err.value.status == 409 and 'Action not valid' in str(err.value)
    assert api.pod_action(seeded['id'], 'terminate') is None


def test_ssh_keys_round_trip(api, fake):
    other = KEY.replace('me@example.com', 'other')
    assert api.get_ssh_keys() == [KEY]
    assert api.put_ssh_keys([KEY, other]) == [KEY, other]
    assert fake.ssh_keys == [KEY, other]


class PagedClient(object):
    """Answers GET /v2/pods in two pages, as SkyPilot's client expects RunPod might."""

    def __init__(self):
        self.calls = []

    def get(self, path, params=None, **kwargs):
        self.calls.append((path, params))
        if not params:
            return {'pods': [pod(id='a')], 'pagination': {'hasNextPage': True, 'nextCursor': 'c1'}}
        return {'pods': [pod(id='b')], 'pagination': {'hasNextPage': False, 'nextCursor': None}}


def test_list_follows_pagination_when_present():
    client = PagedClient()
    assert [p['id'] for p in _runpod.RunPodApi(client).list_pods()] == ['a', 'b']
    assert client.calls == [('/v2/pods', None), ('/v2/pods', {'cursor': 'c1'})]
