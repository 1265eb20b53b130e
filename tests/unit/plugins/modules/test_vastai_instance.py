# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vastai_instance through its real main() against the fake Vast.ai API."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.modules import vastai_instance
from tests.fakes.base import Fault
from tests.fakes.vastai import FakeVast

KEY = 'vast-test-key-0123456789abcdef'


def public_key(seed, comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + hashlib.sha256(seed.encode()).digest()
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


@pytest.fixture
def fake(fast_client):
    server = FakeVast(api_key=KEY, boot_delay=0.2, rate_limits={}).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, diff=False, **kwargs):
        args = dict(api_key=KEY, api_url=fake.url, name='speedrun', gpu_name='H100 SXM', num_gpus=8, wait_timeout=10)
        args.update(kwargs)
        args = dict((k, v) for k, v in args.items() if v is not None)
        return run_module(vastai_instance, args, check_mode=check_mode, diff=diff)
    return _run


def warnings(result):
    """Warning texts (ansible-core 2.19 returns them as WarningSummary objects)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


def creates(fake):
    return fake.calls_to('PUT', r'^/api/v0/asks/')


def test_create_rents_the_cheapest_verified_offer_then_is_idempotent(run, fake):
    result = run()
    assert result.changed and not result.failed, result
    inst = result['instance']
    assert inst['status'] == 'running' and inst['provider'] == 'vastai' and inst['name'] == 'speedrun'
    # 2004 (13.90) is rented, 2002 and 2007 are unverified: 2001 (15.20 + storage) is the cheapest left.
    assert [c['path'] for c in creates(fake)] == ['/api/v0/asks/2001/']
    body = creates(fake)[0]['body']
    assert body['client_id'] == 'me' and body['label'] == 'speedrun' and body['disk'] == 100.0
    assert body['runtype'] == 'ssh_direc ssh_proxy' and body['image'] == 'vastai/base-image:@vastai-automatic-tag'
    booted = fake.machines.booted[('vastai', inst['id'])]
    assert (inst['ssh_host'], inst['ssh_port'], inst['ssh_user']) == (booted['host'], booted['port'], 'root')
    assert inst['gpu_type'] == 'H100 SXM' and inst['gpu_count'] == 8 and inst['region'] == 'Texas, US'
    assert inst['price_per_hour'] == pytest.approx(15.20 + 0.15 * 100 / 720.0, abs=1e-4)
    assert inst['raw']['jupyter_token'] == '********'

    writes_before = len(fake.writes())
    again = run()
    assert not again.changed and not again.failed
    assert again['instance']['id'] == inst['id'] and again['instance']['status'] == 'running'
    assert len(fake.writes()) == writes_before
    assert len(fake.instances) == 1
    # Instances are listed only through the paginated v1 endpoint, never the retired v0 list.
    assert fake.calls_to('GET', r'^/api/v1/instances/?$')
    assert not fake.calls_to('GET', r'^/api/v0/instances/?$')
    assert KEY not in json.dumps(result) and KEY not in json.dumps(again)


def test_env_onstart_image_disk_are_sent(run, fake):
    result = run(image='pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel', disk_gb=200,
                 env={'WANDB_MODE': 'disabled', 'NPROC': 8, 'DEBUG': True}, secret_env={'HF_TOKEN': 'hf_secret_value'},
                 onstart='echo hello')
    assert result.changed and not result.failed, result
    body = creates(fake)[0]['body']
    assert body['env'] == {'WANDB_MODE': 'disabled', 'NPROC': '8', 'DEBUG': 'true', 'HF_TOKEN': 'hf_secret_value'}
    assert body['onstart'] == 'echo hello' and body['disk'] == 200.0
    assert result['instance']['raw']['image_uuid'] == 'pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel'
    assert 'hf_secret_value' not in json.dumps(result)


def test_check_mode_sends_no_write_and_predicts(run, fake):
    result = run(check_mode=True, diff=True, disk_gb=100)
    assert result.changed and not result.failed, result
    assert fake.writes() == [c for c in fake.calls if c['method'] == 'POST' and c['path'].startswith('/api/v0/bundles')]
    assert not creates(fake) and not fake.instances
    inst = result['instance']
    assert inst['id'] is None and inst['name'] == 'speedrun' and inst['status'] == 'pending'
    assert inst['gpu_type'] == 'H100 SXM' and inst['gpu_count'] == 8
    assert inst['price_per_hour'] == pytest.approx(15.20 + 0.15 * 100 / 720.0, abs=1e-4)
    assert result['diff']['before'] == {'state': 'absent'}
    assert result['diff']['after']['state'] == 'present' and result['diff']['after']['gpu_type'] == 'H100 SXM'


def test_search_is_a_read_and_check_mode_leaves_the_key_alone(run, fake):
    result = run(check_mode=True, ssh_public_key=public_key('a'))
    assert result.changed
    # The only non-GET call is the offer search (a POST that changes nothing).
    assert set((c['method'], c['path']) for c in fake.writes()) == {('POST', '/api/v0/bundles/')}
    assert fake.ssh_keys == []


def test_diff_shows_before_and_after(run, fake):
    result = run(diff=True)
    assert result['diff']['before'] == {'state': 'absent'}
    assert result['diff']['after']['status'] == 'running'
    stopped = run(diff=True, state='stopped')
    assert stopped['diff']['before']['status'] == 'running' and stopped['diff']['after']['status'] == 'stopped'


def test_more_than_one_instance_with_the_label_fails_clearly(run, fake):
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import VastApi
    api = VastApi(make_client('vastai', KEY, fake.url))
    first = api.create_instance(2001, 'img', 'speedrun', 50)
    second = api.create_instance(2003, 'img', 'speedrun', 50)
    writes = len(fake.writes())
    for state in ('present', 'stopped', 'absent'):
        result = run(state=state)
        assert result.failed
        assert 'Found 2 Vast.ai instances labelled "speedrun"' in result['msg']
        assert str(first) in result['msg'] and str(second) in result['msg']
    assert len(fake.writes()) == writes


def test_created_but_500_adopts_the_instance_and_never_rents_a_second(run, fake):
    fake.add_fault(Fault(method='PUT', path=r'^/api/v0/asks/', status=500, mode='apply',
                         body={'success': False, 'error': 'server_error', 'msg': 'Internal Server Error'}))
    result = run()
    assert not result.failed and result.changed, result
    assert len(creates(fake)) == 1
    assert len(fake.named('speedrun')) == 1
    assert result['instance']['status'] == 'running'
    assert any('was created' in w for w in warnings(result))
    assert not run().changed
    assert len(fake.instances) == 1


def test_500_without_creating_fails_saying_unknown_and_rents_nothing_else(run, fake):
    fake.add_fault(Fault(method='PUT', path=r'^/api/v0/asks/', status=500, mode='respond',
                         body={'success': False, 'error': 'server_error', 'msg': 'Internal Server Error'}))
    result = run()
    assert result.failed and result['create_outcome'] == 'unknown'
    assert result['msg'].startswith('Vast.ai: the outcome of creating instance "speedrun" is UNKNOWN')
    assert 'HTTP 500' in result['msg'] and 'teardown -e provider=vastai -e instance_name=speedrun' in result['msg']
    assert len(creates(fake)) == 1 and not fake.instances


def test_wait_timeout_fails_with_last_status_and_cleanup_hint(run, fake):
    fake.boot_delay = 60
    result = run(wait_timeout=1)
    assert result.failed
    assert 'timed out' in result['msg'] and 'pending' in result['msg']
    assert 'state=absent' in result['msg'] and 'teardown.yml' in result['msg']
    assert result['instance']['id'] == str(next(iter(fake.instances)))
    assert len(fake.instances) == 1


def test_exited_while_provisioning_fails_early_with_destroy_hint(run, fake):
    fake.fail_provisioning(2001, 'exited')
    result = run(wait_timeout=30)
    assert result.failed
    assert "'exited'" in result['msg'] and 'never reach' in result['msg'] and 'state=absent' in result['msg']
    assert result['instance']['provider_status'] == 'exited'
    # Re-running does not wait for it either, and does not rent another one.
    again = run(wait_timeout=30)
    assert again.failed and "'exited'" in again['msg']
    assert len(fake.instances) == 1


def test_offline_host_fails_existing_instance(run, fake):
    first = run()
    fake.force_status(int(first['instance']['id']), 'offline')
    result = run()
    assert result.failed and "'offline'" in result['msg'] and 'state=absent' in result['msg']


def test_taken_offer_moves_to_the_next_cheapest(run, fake):
    fake.snatch(2001)
    result = run()
    assert not result.failed and result.changed, result
    assert [c['path'] for c in creates(fake)] == ['/api/v0/asks/2001/', '/api/v0/asks/2006/']
    assert creates(fake)[0]['status'] == 404
    assert result['instance']['region'] == 'Oregon, US'
    assert any('2001' in w and 'no_such_ask' in w for w in warnings(result))


def test_offer_gone_410_moves_on(run, fake):
    fake.make_unavailable(2001)
    result = run()
    assert not result.failed
    assert [c['status'] for c in creates(fake)] == [410, 200]


def test_every_offer_taken_fails_after_max_attempts(run, fake):
    for offer_id in (2001, 2006, 2003):
        fake.snatch(offer_id)
    result = run(max_offer_attempts=3)
    assert result.failed
    assert 'taken before it could be rented' in result['msg'] and 'Nothing was created' in result['msg']
    assert len(creates(fake)) == 3 and not fake.instances


def test_no_matching_offer_is_a_capacity_message(run, fake):
    result = run(countries=['fr'], max_price_per_hour=30)
    assert result.failed
    msg = result['msg']
    assert 'No rentable Vast.ai offer matches 8x H100 SXM' in msg and 'in FR' in msg and 'at most 30' in msg
    assert 'vastai_offer_info' in msg
    assert not creates(fake)
    search = fake.calls_to('POST', r'^/api/v0/bundles/')[0]['body']
    assert search['geolocation'] == {'in': ['FR']} and search['order'] == [['dph_total', 'asc']]
    assert search['verified'] == {'eq': True} and search['rented'] == {'eq': False}


def test_gpu_name_with_underscores_is_corrected_with_a_warning(run, fake):
    result = run(gpu_name='H100_SXM')
    assert not result.failed and result.changed
    assert any("'H100 SXM'" in w for w in warnings(result))
    assert fake.calls_to('POST', r'^/api/v0/bundles/')[0]['body']['gpu_name'] == {'eq': 'H100 SXM'}


def test_criteria_countries_reliability_cuda_and_extra_filters(run, fake):
    result = run(countries=['US', 'CA'], min_reliability=0.993, min_cuda_version=12.8, verified_only=False,
                 extra_filters={'inet_down': {'gte': 1000}, 'dph': {'lte': 16.0}})
    assert not result.failed, result
    query = fake.calls_to('POST', r'^/api/v0/bundles/')[0]['body']
    assert query['reliability'] == {'gte': 0.993} and query['cuda_max_good'] == {'gte': 12.8}
    assert query['dph_total'] == {'lte': 16.0} and query['inet_down'] == {'gte': 1000}
    assert 'verified' not in query
    # 2001 (US, 0.995) is the cheapest above 0.993 reliability.
    assert result['instance']['id'] and creates(fake)[0]['path'] == '/api/v0/asks/2001/'


def test_offer_id_rents_that_offer(run, fake):
    result = run(offer_id=2003, gpu_name=None, num_gpus=None)
    assert not result.failed, result
    assert [c['path'] for c in creates(fake)] == ['/api/v0/asks/2003/']
    assert result['instance']['region'] == 'Hesse, DE'


def test_offer_id_already_rented_fails_before_any_write(run, fake):
    result = run(offer_id=2004, gpu_name=None, num_gpus=None)
    assert result.failed and 'offer 2004 cannot be rented' in result['msg']
    assert not creates(fake) and not fake.instances


def test_offer_id_and_criteria_are_mutually_exclusive(run, fake):
    result = run(offer_id=2003)
    assert result.failed and 'mutually exclusive' in result['msg']
    assert fake.calls == []


@pytest.mark.parametrize('options, text', [
    (dict(num_gpus=0), 'num_gpus must be at least 1'),
    (dict(disk_gb=0), 'disk_gb must be at least 1'),
    (dict(min_reliability=1.5), 'min_reliability must be between 0 and 1'),
    (dict(max_price_per_hour=0), 'max_price_per_hour must be positive'),
    (dict(countries=['USA']), "'USA' is not a two-letter country code"),
    (dict(extra_filters={'gpu_colour': {'eq': 'red'}}), "unknown offer field 'gpu_colour'"),
    (dict(extra_filters={'inet_down': {'like': 5}}), "unknown operator 'like'"),
    (dict(extra_filters={'geolocation': {'in': 'US'}}), 'needs a list'),
    (dict(extra_filters={'inet_down': 5}), 'must be a dictionary'),
    (dict(ssh_public_key='ssh-ed25519 notbase64!'), 'ssh_public_key'),
    (dict(ssh_public_key='-----BEGIN OPENSSH PRIVATE KEY-----'), 'private key'),
    (dict(onstart='x' * 5000), 'at most 4048'),
    (dict(max_offer_attempts=0), 'max_offer_attempts'),
    (dict(env={'A': {'nested': 1}}), 'env.A must be a string'),
    (dict(name=' '), 'name must not be empty'),
])
def test_bad_input_fails_before_any_request(run, fake, options, text):
    result = run(**options)
    assert result.failed and text in result['msg'], result['msg']
    assert 'Nothing was sent' in result['msg']
    assert fake.calls == []


def test_creating_without_criteria_fails_before_any_write(run, fake):
    result = run(gpu_name=None, num_gpus=None)
    assert result.failed and 'give offer_id, or gpu_name' in result['msg']
    assert fake.writes() == []


def test_wrong_key_gives_the_api_message_and_the_env_var(run, fake):
    result = run(api_key='wrong-key')
    assert result.failed
    assert 'HTTP 401' in result['msg'] and 'Invalid user key' in result['msg'] and 'VAST_API_KEY' in result['msg']
    assert 'wrong-key' not in json.dumps(result)


def test_wrong_key_answered_with_404_is_still_an_auth_error(run_module, fast_client):
    with FakeVast(api_key=KEY, rate_limits={}, auth_error_status=404) as server:
        result = run_module(vastai_instance, dict(api_key='bad', api_url=server.url, name='x', state='absent'))
    assert result.failed and 'auth_error' in result['msg'] and 'VAST_API_KEY' in result['msg']


def test_missing_key_names_the_env_var(run_module, fake, monkeypatch):
    monkeypatch.delenv('VAST_API_KEY', raising=False)
    result = run_module(vastai_instance, dict(api_url=fake.url, name='x'))
    assert result.failed and 'VAST_API_KEY' in result['msg']
    assert fake.calls == []


def test_key_from_the_environment(run_module, fake, monkeypatch):
    monkeypatch.setenv('VAST_API_KEY', KEY)
    monkeypatch.setenv('VAST_API_URL', fake.url)
    result = run_module(vastai_instance, dict(name='nothing-here', state='absent'))
    assert not result.failed and not result.changed and result['instance'] is None


def test_absent_on_missing_is_unchanged(run, fake):
    result = run(state='absent')
    assert not result.failed and not result.changed and result['instance'] is None
    assert fake.writes() == []


def test_absent_destroys_and_check_mode_does_not(run, fake):
    created = run()['instance']
    check = run(state='absent', check_mode=True, diff=True)
    assert check.changed and len(fake.instances) == 1
    assert check['diff']['after'] == {'state': 'absent'}
    assert not fake.calls_to('DELETE')
    result = run(state='absent')
    assert result.changed and not result.failed
    assert result['instance']['status'] == 'terminated' and result['instance']['id'] == created['id']
    assert not fake.instances and int(created['id']) in fake.destroyed
    assert ('vastai', created['id']) not in fake.machines.booted
    assert not run(state='absent').changed


def test_stop_and_start(run, fake):
    created = run()['instance']
    stopped = run(state='stopped')
    assert stopped.changed and stopped['instance']['status'] == 'stopped'
    assert stopped['instance']['ssh_host'] is None
    assert fake.calls_to('PUT', r'^/api/v0/instances/\d+/$')[-1]['body'] == {'state': 'stopped'}
    assert not run(state='stopped').changed
    started = run(state='running')
    assert started.changed and started['instance']['status'] == 'running'
    assert started['instance']['id'] == created['id']
    assert fake.calls_to('PUT', r'^/api/v0/instances/\d+/$')[-1]['body'] == {'state': 'running'}
    assert not run(state='present').changed


def test_stop_in_check_mode_sends_nothing(run, fake):
    run()
    writes = len(fake.writes())
    result = run(state='stopped', check_mode=True)
    assert result.changed and result['instance']['status'] == 'stopped'
    assert len(fake.writes()) == writes


def test_stopped_on_missing_fails_without_writing(run, fake):
    result = run(state='stopped')
    assert result.failed and 'nothing to stop' in result['msg']
    assert fake.writes() == []


def test_existing_instance_with_other_settings_is_left_alone_with_a_warning(run, fake):
    run()
    writes = len(fake.writes())
    result = run(gpu_name='H200', image='other/image:1', disk_gb=500)
    assert not result.failed and not result.changed
    warning = ' '.join(warnings(result))
    assert 'GPU H100 SXM instead of H200' in warning and 'image' in warning and 'disk' in warning
    assert len(fake.writes()) == writes and len(fake.instances) == 1


def test_ssh_key_is_registered_before_renting_and_reaches_the_machine(run, fake):
    key = public_key('laptop')
    result = run(ssh_public_key=key)
    assert result.changed and not result.failed, result
    paths = [(c['method'], c['path']) for c in fake.writes()]
    assert paths.index(('POST', '/api/v0/ssh/')) < paths.index(('PUT', '/api/v0/asks/2001/'))
    assert [k['key'] for k in fake.ssh_keys] == [key]
    booted = fake.machines.booted[('vastai', result['instance']['id'])]
    assert booted['public_keys'] == [key]
    writes = len(fake.writes())
    again = run(ssh_public_key=key.rsplit(' ', 1)[0] + ' other-comment')
    assert not again.changed and len(fake.writes()) == writes


def test_key_missing_on_an_existing_instance_is_attached(run, fake):
    key = public_key('laptop')
    created = run(ssh_public_key=key)['instance']
    # Someone detached the key from the instance (it stays on the account).
    import requests
    response = requests.delete('%s/api/v0/instances/%s/ssh/%s/' % (fake.url, created['id'], fake.ssh_keys[0]['id']),
                               headers={'Authorization': 'Bearer %s' % KEY})
    assert response.status_code == 200
    result = run(ssh_public_key=key)
    assert result.changed and not result.failed
    attach = fake.calls_to('POST', r'^/api/v0/instances/\d+/ssh/$')
    assert len(attach) == 1 and attach[0]['body'] == {'ssh_key': key}
    assert len(fake.ssh_keys) == 1


def test_new_key_for_an_existing_instance_goes_to_the_account_and_the_instance(run, fake):
    created = run()['instance']
    key = public_key('second')
    result = run(ssh_public_key=key)
    assert result.changed
    assert [k['key'] for k in fake.ssh_keys] == [key]
    assert key in fake.instances[int(created['id'])]['_keys']


def test_429_and_5xx_on_reads_are_retried(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=429, body='API requests too frequent',
                         content_type='text/plain', times=2))
    fake.add_fault(Fault(method='GET', path=r'^/api/v0/instances/\d+', status=429,
                         body={'detail': 'API requests too frequent endpoint threshold=2.0'}, headers={'Retry-After': '0'}))
    fake.add_fault(Fault(method='GET', path=r'^/api/v0/instances/\d+', status=502, body='Bad Gateway',
                         content_type='text/plain'))
    result = run()
    assert not result.failed, result
    lists = fake.calls_to('GET', r'^/api/v1/instances')
    assert [c['status'] for c in lists[:3]] == [429, 429, 200]
    gets = fake.calls_to('GET', r'^/api/v0/instances/\d+/$')
    assert [c['status'] for c in gets[:3]] == [429, 502, 200]


def test_search_quota_with_long_retry_after_fails_fast(run_module, fast_client):
    with FakeVast(api_key=KEY, rate_limits={}, search_quota=0, search_quota_retry_after=7200) as server:
        result = run_module(vastai_instance, dict(api_key=KEY, api_url=server.url, name='x', gpu_name='H100 SXM'))
        searches = server.calls_to('POST', r'^/api/v0/bundles/')
    assert result.failed
    assert 'search_quota_exceeded' in result['msg'] and 'midnight UTC' in result['msg'] and '7200' in result['msg']
    assert len(searches) == 1


def test_instance_destroyed_while_waiting_fails_clearly(run, fake):
    fake.boot_delay = 60
    # The wait reads the instance through the v1 list filtered by its id: an empty page means it is gone.
    empty_page = {'success': True, 'instances_found': 0, 'total_instances': 0, 'label_counts': {}, 'next_token': None,
                  'instances': []}
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/?$', status=200, body=empty_page, times=50))
    result = run(wait_timeout=5)
    assert result.failed and 'disappeared' in result['msg']


def test_list_body_that_is_not_a_list_is_an_error_not_zero_instances(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=200,
                         body={'success': True, 'instances': None}))
    result = run()
    assert result.failed and 'unexpected_response' in result['msg']
    assert fake.writes() == []


def test_deprecated_endpoint_410_on_list_fails(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=410,
                         body={'success': False, 'error': 'deprecated_endpoint', 'msg': 'gone'}))
    result = run()
    assert result.failed and 'deprecated_endpoint' in result['msg'] and 'HTTP 410' in result['msg']
    assert fake.writes() == []


def test_default_pacing_against_default_limits_draws_no_429(run_module, monkeypatch):
    """Vast.ai's per-endpoint minimum intervals on both sides (the client's pacing and the fake's
    limits at their defaults): renting, attaching the key, waiting and destroying draw no 429."""
    monkeypatch.setattr(_common, 'CLIENT_OPTIONS', dict(backoff_base=5.0, backoff_cap=5.0))  # a 429 would cost seconds
    assert _common.RATE_LIMITS['vastai']['create'] == 4.5 and _common.RATE_LIMITS['vastai']['instance_list'] == 1.0
    server = FakeVast(api_key=KEY, boot_delay=1.5).start()
    try:
        args = dict(api_key=KEY, api_url=server.url, name='paced', gpu_name='H100 SXM', num_gpus=8,
                    ssh_public_key=public_key('paced'), wait_timeout=30)
        created = run_module(vastai_instance, args)
        assert created.changed and created['instance']['status'] == 'running', created
        removed = run_module(vastai_instance, dict(args, state='absent'))
        assert removed.changed
        assert [c for c in server.calls if c['status'] == 429] == []
        assert server.internal_errors == []
    finally:
        server.stop()
