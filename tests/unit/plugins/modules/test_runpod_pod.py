# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""runpod_pod through its real main() against the strict RunPod fake."""

from __future__ import annotations

import base64
import json
import os
import struct

import pytest


from ansible_collections.nanochat.remote_gpu.plugins.modules import runpod_pod
from tests.fakes.base import Fault
from tests.fakes.runpod import CAPACITY_DETAIL, FakeRunPod

H100 = 'NVIDIA H100 80GB HBM3'
API_KEY = 'rp_test_key_do_not_leak_7f3a'
UNLIMITED = {'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6}


def make_key(comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + os.urandom(32)
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


KEY = make_key()


@pytest.fixture
def fake(fast_client):
    server = FakeRunPod(api_key=API_KEY, boot_delay=0.2, rate_limits=UNLIMITED).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, diff=False, **args):
        params = dict(api_key=API_KEY, api_url=fake.url, name='speedrun', gpu_type=H100, gpu_count=8,
                      ssh_public_key=KEY, wait_timeout=10)
        params.update(args)
        params = dict((k, v) for k, v in params.items() if v is not None)
        result = run_module(runpod_pod, params, check_mode=check_mode, diff=diff)
        assert API_KEY not in json.dumps(result)
        return result
    return _run


def warnings_of(result):
    """Warning texts (ansible-core 2.19 returns warnings as structured summaries)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings') or []]


def creates(fake):
    return fake.calls_to('POST', r'^/v2/pods$')


def seed(fake, name='speedrun', ready=True, **body):
    pod = {'name': name, 'image': 'runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404', 'gpu': {'id': H100, 'count': 8},
           'ports': ['22/tcp'], 'env': {'PUBLIC_KEY': KEY}}
    pod.update(body)
    return fake.seed_pod(pod, ready=ready)


# --- create ------------------------------------------------------------------------------------

def test_create_waits_past_the_readiness_trap_then_is_idempotent(run, fake):
    result = run()
    assert result.changed and not result.failed
    inst = result['instance']
    booted = fake.machines.booted[('runpod', inst['id'])]
    assert inst['status'] == 'running' and inst['provider_status'] == 'RUNNING'
    assert (inst['ssh_host'], inst['ssh_port'], inst['ssh_user']) == (booted['host'], booted['port'], 'root')
    assert booted['public_keys'] == [KEY]
    assert inst['price_per_hour'] == pytest.approx(21.52) and inst['gpu_count'] == 8 and inst['region'] == 'US-KS-2'
    polls = [c for c in fake.calls_to('GET', r'^/v2/pods/') if c['status'] == 200]
    assert len(polls) >= 2, 'RUNNING without ssh.direct was seen and waited through'
    body = creates(fake)[0]['body']
    assert body == {'name': 'speedrun', 'image': 'runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404',
                    'gpu': {'id': H100, 'count': 8}, 'cloud': 'SECURE', 'ports': ['22/tcp'], 'startSsh': True,
                    'env': {'PUBLIC_KEY': KEY}}

    again = run()
    assert not again.changed and again['instance']['id'] == inst['id']
    assert again['instance']['ssh_port'] == inst['ssh_port']
    assert len(fake.writes()) == 1
    assert 'warnings' not in again


def test_options_map_to_v2_fields(run, fake):
    result = run(container_disk_gb=200, volume_gb=100, volume_mount_path='/data', ports=['8888/http'],
                 env={'WANDB_MODE': 'offline', 'DEPTH': 20, 'EMPTY': ''}, cloud_type='SECURE',
                 data_center_ids=['US-TX-3'], wait=False)
    assert result.changed and result['instance']['status'] == 'pending'
    assert result['instance']['region'] == 'US-TX-3'
    body = creates(fake)[0]['body']
    assert body['disk'] == 200 and body['mounts'] == {'persistent': {'size': 100, 'path': '/data'}}
    assert body['ports'] == ['22/tcp', '8888/http'] and body['dataCenterIds'] == ['US-TX-3']
    assert body['env'] == {'WANDB_MODE': 'offline', 'DEPTH': '20', 'EMPTY': '', 'PUBLIC_KEY': KEY}
    # RunPod drops the empty value and adds keys; the same task again sees no difference.
    again = run(container_disk_gb=200, volume_gb=100, volume_mount_path='/data', ports=['8888/http'],
                env={'WANDB_MODE': 'offline', 'DEPTH': 20, 'EMPTY': ''}, data_center_ids=['US-TX-3'])
    assert not again.changed and 'warnings' not in again
    assert again['instance']['status'] == 'running'


def test_account_keys_are_used_without_ssh_public_key(run, fake):
    fake.ssh_keys = [KEY]
    result = run(ssh_public_key=None)
    assert result['instance']['status'] == 'running'
    assert 'env' not in creates(fake)[0]['body'] and creates(fake)[0]['body']['startSsh'] is True
    assert fake.machines.booted[('runpod', result['instance']['id'])]['public_keys'] == [KEY]


def test_check_mode_sends_no_write_and_predicts(run, fake):
    result = run(check_mode=True, diff=True)
    assert result.changed and fake.writes() == []
    inst = result['instance']
    assert inst['id'] is None and inst['name'] == 'speedrun' and inst['gpu_type'] == H100 and inst['gpu_count'] == 8
    assert inst['price_per_hour'] == pytest.approx(21.52), 'list price x count from the catalog'
    assert result['diff']['before'] == {'state': 'absent'} and result['diff']['after']['state'] == 'present'
    assert fake.pods == {}


def test_more_than_one_pod_with_the_name_fails(run, fake):
    first, second = seed(fake), seed(fake)
    for state in ('present', 'stopped', 'restarted'):
        result = run(state=state)
        assert result.failed and 'Found 2 RunPod pods named "speedrun"' in result['msg']
        assert first['id'] in result['msg'] and second['id'] in result['msg']
    assert fake.writes() == []


def test_created_but_500_leaves_exactly_one_pod(run, fake):
    fake.add_fault(Fault('POST', r'^/v2/pods$', status=500, mode='apply',
                         body={'title': 'Internal Server Error', 'status': 500, 'detail': 'upstream timeout'}))
    result = run()
    assert not result.failed and result.changed
    assert len(creates(fake)) == 1
    assert [p['name'] for p in fake.state()['pods']] == ['speedrun']
    assert result['instance']['status'] == 'running'
    assert any('created no other' in w for w in warnings_of(result))
    assert not run().changed and len(fake.pods) == 1


def test_server_error_without_a_pod_fails_saying_unknown(run, fake):
    fake.add_fault(Fault('POST', r'^/v2/pods$', status=502, body={'title': 'Bad Gateway', 'status': 502, 'detail': 'bad gateway'}))
    result = run()
    assert result.failed and len(creates(fake)) == 1, 'a create is never repeated blindly'
    assert result['msg'].startswith('RunPod: the outcome of creating pod "speedrun" is UNKNOWN')
    assert 'HTTP 502' in result['msg'] and 'nothing was created' not in result['msg'].lower()
    assert 'ansible-playbook nanochat.remote_gpu.teardown -e provider=runpod -e instance_name=speedrun' in result['msg']
    assert result['create_outcome'] == 'unknown'
    assert len(fake.calls_to('GET', r'^/v2/pods$')) > 2, 'looked again for the whole settle window'
    assert fake.pods == {}


def test_never_ssh_ready_times_out_with_last_status_and_cleanup_hint(run, fake):
    fake.boot_delay = 60
    result = run(wait_timeout=1)
    assert result.failed
    msg = result['msg']
    assert 'timed out' in msg and 'PROVISIONING' in msg
    assert 'state=absent' in msg and 'teardown.yml' in msg
    assert result['instance']['id'] in fake.pods and result['instance']['id'] in msg


def test_pod_without_keys_times_out_with_a_key_hint(run, fake):
    seed(fake, env={})
    result = run(ssh_public_key=None, wait_timeout=1)
    assert result.failed and "provider status 'RUNNING'" in result['msg']
    assert 'carries no SSH public key' in result['msg'] and 'runpod_ssh_key' in result['msg']


def test_pod_without_port_22_fails_without_waiting_out(run, fake):
    seed(fake, ports=['8888/http'])
    result = run(wait_timeout=30, ports=['8888/http'])
    assert result.failed and 'does not expose 22/tcp' in result['msg']
    assert any('ports lack 22/tcp' in w for w in warnings_of(result))
    assert len(fake.calls_to('GET', r'^/v2/pods/')) == 1


def test_container_error_while_waiting_fails(run, fake):
    existing = seed(fake, ready=False)
    fake.add_fault(Fault('GET', r'^/v2/pods/%s$' % existing['id'], status=200, times=1,
                         body=dict(existing, status='ERROR', actions=['start', 'terminate'])))
    result = run()
    assert result.failed and 'status ERROR' in result['msg'] and 'state=absent' in result['msg']


def test_wait_false_returns_at_once(run, fake):
    result = run(wait=False)
    assert result['instance']['status'] == 'pending' and result['instance']['provider_status'] == 'PROVISIONING'
    assert fake.calls_to('GET', r'^/v2/pods/') == []


# --- absent ------------------------------------------------------------------------------------

def test_absent_on_missing_is_unchanged(run, fake):
    result = run(state='absent', diff=True)
    assert not result.changed and result['instance'] is None and fake.writes() == []


def test_absent_terminates_every_pod_with_the_name(run, fake):
    seed(fake)
    seed(fake)
    other = seed(fake, name='keep-me')
    check = run(state='absent', check_mode=True, diff=True)
    assert check.changed and fake.writes() == [] and len(fake.pods) == 3
    assert check['diff']['after'] == {'state': 'absent'} and check['diff']['before']['state'] == 'present'
    result = run(state='absent')
    assert result.changed and result['instance']['status'] == 'terminated'
    assert list(fake.pods) == [other['id']]
    assert len(fake.calls_to('DELETE')) == 2
    assert not run(state='absent').changed


def test_absent_when_the_pod_vanished_meanwhile(run, fake):
    existing = seed(fake)
    # Someone else terminates it between our list and our DELETE: RunPod answers 404.
    fake.add_fault(Fault('DELETE', r'^/v2/pods/', status=404, mode='apply',
                         body={'title': 'Not Found', 'status': 404, 'detail': 'resource not found'}))
    result = run(state='absent')
    assert not result.failed and not result.changed
    assert existing['id'] not in fake.pods


# --- stop / start / restart ------------------------------------------------------------------------

def test_stop_then_start_reads_the_new_endpoint(run, fake):
    first = run()['instance']
    check = run(state='stopped', check_mode=True, diff=True)
    assert check.changed and len(fake.writes()) == 1
    assert check['diff']['after']['status'] == 'stopped' and check['diff']['before']['status'] == 'running'
    stopped = run(state='stopped')
    assert stopped.changed and stopped['instance']['status'] == 'stopped'
    assert stopped['instance']['price_per_hour'] == 0.0 and stopped['instance']['ssh_host'] is None
    assert fake.calls_to('POST', r'/action$')[-1]['body'] == {'action': 'stop'}
    assert not run(state='stopped').changed
    started = run(state='running')
    assert started.changed and started['instance']['status'] == 'running'
    assert fake.calls_to('POST', r'/action$')[-1]['body'] == {'action': 'start'}
    assert started['instance']['ssh_port'] != first['ssh_port'], 'the endpoint is read again after start'
    booted = fake.machines.booted[('runpod', first['id'])]
    assert started['instance']['ssh_port'] == booted['port']


def test_stopped_on_missing_pod_fails(run, fake):
    result = run(state='stopped')
    assert result.failed and 'never creates a pod' in result['msg'] and fake.writes() == []


def test_restarted(run, fake):
    existing = seed(fake)
    result = run(state='restarted')
    assert result.changed and result['instance']['status'] == 'running'
    assert fake.calls_to('POST', r'/action$')[-1]['body'] == {'action': 'restart'}
    assert run(state='restarted', name='missing').failed
    assert fake.pods[existing['id']]


def test_start_without_free_gpus_on_the_host(run, fake):
    seed(fake)
    run(state='stopped')
    fake.add_fault(Fault('POST', r'/action$', status=400, body={
        'title': 'Bad Request', 'status': 400, 'detail': 'There are not enough free GPUs on the host machine to start this pod'}))
    result = run(state='present')
    assert result.failed and 'not enough free GPUs' in result['msg'] and 'Try again later' in result['msg']


def test_existing_pod_with_other_settings_is_left_alone_with_a_warning(run, fake):
    seed(fake, env={'PUBLIC_KEY': KEY, 'HF_TOKEN': 'hf_old_value'})
    result = run(gpu_count=4, image='my/image:1', env={'HF_TOKEN': 'hf_new_secret_value'})
    assert not result.changed and fake.writes() == []
    warning = ' '.join(warnings_of(result))
    assert 'gpu_count is 8, not 4' in warning and 'image' in warning and 'HF_TOKEN' in warning
    assert 'hf_new_secret_value' not in warning and 'hf_old_value' not in json.dumps(result)


# --- failures before any write ---------------------------------------------------------------------

def test_capacity_error_names_gpu_data_center_and_alternatives(run, fake):
    fake.set_availability(H100, 'NONE', 'US-KS-2')
    result = run(data_center_ids=['US-KS-2'])
    assert result.failed
    msg = result['msg']
    assert 'no capacity for 8x %s on SECURE cloud in data center(s) US-KS-2' % H100 in msg
    assert 'no longer any instances available' in msg and 'HTTP 400' in msg
    assert 'US-TX-3 (MEDIUM)' in msg and 'runpod_gpu_info' in msg
    assert fake.pods == {}


def test_capacity_error_from_the_recorded_body(run, fake):
    fake.add_fault(Fault('POST', r'^/v2/pods$', status=400,
                         body={'detail': CAPACITY_DETAIL, 'status': 400, 'title': 'Bad Request'}))
    result = run()
    assert result.failed and 'no capacity' in result['msg'] and len(creates(fake)) == 1


def test_insufficient_balance(run, fake):
    fake.insufficient_balance = True
    result = run()
    assert result.failed and 'HTTP 402' in result['msg'] and 'add funds' in result['msg']
    assert result['api_error']['status'] == 402


def test_wrong_key_names_the_env_var(run):
    result = run(api_key='wrong-key-value')
    assert result.failed and 'HTTP 401' in result['msg'] and 'RUNPOD_API_KEY' in result['msg']
    assert 'wrong-key-value' not in json.dumps(result)


def test_missing_key_fails_before_any_request(run_module, fake, monkeypatch):
    monkeypatch.delenv('RUNPOD_API_KEY', raising=False)
    result = run_module(runpod_pod, dict(api_url=fake.url, name='x', gpu_type=H100))
    assert result.failed and 'RUNPOD_API_KEY' in result['msg'] and fake.calls == []


@pytest.mark.parametrize('args, fragment', [
    (dict(gpu_type='NVIDIA H100 80GB'), 'did you mean "NVIDIA H100 80GB HBM3"'),
    (dict(gpu_type='H100 SXM'), 'did you mean "NVIDIA H100 80GB HBM3"'),
    (dict(gpu_type=None), 'gpu_type is required'),
    (dict(data_center_ids=['US-KS-9']), 'Unknown RunPod data center id(s): US-KS-9'),
    (dict(gpu_count=0), 'gpu_count must be at least 1'),
    (dict(gpu_count=16), 'at most 8'),
    (dict(gpu_type='NVIDIA B200', cloud_type='COMMUNITY'), 'try cloud_type=SECURE'),
    (dict(volume_gb=5), 'volume_gb must be at least 10'),
    (dict(container_disk_gb=0), 'container_disk_gb must be at least 1'),
    (dict(ports=['8888']), 'ports:'),
    (dict(ssh_public_key='ssh-ed25519 AAAA'), 'ssh_public_key:'),
    (dict(env={'PUBLIC_KEY': KEY}), 'not both'),
    (dict(ssh_public_key=None), 'No SSH key'),
    (dict(volume_mount_path='data'), 'absolute path'),
    (dict(wait_timeout=-1), 'wait_timeout'),
])
def test_bad_input_fails_before_any_write(run, fake, args, fragment):
    result = run(**args)
    assert result.failed and fragment in result['msg'], result['msg']
    assert fake.writes() == []


# --- retries ---------------------------------------------------------------------------------

def test_429_and_5xx_on_reads_are_retried(run, fake):
    limited = {'title': 'Too Many Requests', 'status': 429, 'detail': 'rate limit exceeded for the minute window'}
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=429, body=limited,
                         headers={'Retry-After': '0', 'RateLimit': '"minute";r=0;t=0'}))
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=429, body=limited))
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=503, body={'title': 'Service Unavailable', 'status': 503,
                                                                 'detail': 'upstream'}))
    result = run(wait=False)
    assert result.changed and not result.failed
    assert [c['status'] for c in fake.calls_to('GET', r'^/v2/pods$')] == [429, 429, 503, 200]


def test_429_on_create_is_repeated_once_answered(run, fake):
    fake.add_fault(Fault('POST', r'^/v2/pods$', status=429, headers={'Retry-After': '0'},
                         body={'title': 'Too Many Requests', 'status': 429, 'detail': 'rate limit exceeded for the minute window'}))
    result = run(wait=False)
    assert result.changed and [c['status'] for c in creates(fake)] == [429, 201]
    assert len(fake.pods) == 1


def test_reads_that_keep_failing_give_up_with_the_status(run, fake):
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=503, times=20,
                         body={'title': 'Service Unavailable', 'status': 503, 'detail': 'upstream down'}))
    result = run()
    assert result.failed and 'HTTP 503' in result['msg'] and 'upstream down' in result['msg']
    assert len(fake.calls_to('GET', r'^/v2/pods$')) == 5 and fake.writes() == []
