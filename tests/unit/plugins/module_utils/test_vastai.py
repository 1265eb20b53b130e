# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vast.ai adapter: normalization, SSH endpoint rules, status map, queries, pagination, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _vastai
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import (
    VastApi,
    build_offer_query,
    check_countries,
    check_filters,
    country_code,
    fix_gpu_name,
    is_not_found,
    key_text,
    normalize,
    offer_taken,
    parse_order,
    provisioning_failure,
    ssh_endpoint,
)
from tests.fakes.base import Fault
from tests.fakes.vastai import FakeVast, _offer

KEY = 'vast-adapter-key-0123456789'

RUNNING = {
    'id': 1234568, 'label': 'ansible-test', 'actual_status': 'running', 'intended_status': 'running',
    'image_runtype': 'ssh ssh_direc ssh_proxy', 'gpu_name': 'RTX 4090', 'num_gpus': 1, 'dph_total': 0.4021,
    'ssh_host': 'ssh5.vast.ai', 'ssh_port': 20568, 'public_ipaddr': '63.135.50.11\n',
    'ports': {'22/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '41201'}], '8080/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '41202'}]},
    'geolocation': 'Washington, US', 'jupyter_token': '53fc-secret', 'extra_env': [['HF_TOKEN', 'x'], ['MODE', 'y']],
}


def public_key(seed, comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + hashlib.sha256(seed.encode()).digest()
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


@pytest.fixture
def fake(fast_client):
    offers = [_offer(3000 + i, 'RTX 4090', 1, 0.30 + i / 100.0, 'Ontario, CA') for i in range(60)]
    server = FakeVast(api_key=KEY, boot_delay=0.05, rate_limits={}, offers=offers).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def api(fake):
    return VastApi(make_client('vastai', KEY, fake.url))


# --- normalization ---------------------------------------------------------------------------

def test_normalize_running_direct_endpoint():
    inst = normalize(RUNNING)
    assert inst['provider'] == 'vastai' and inst['id'] == '1234568' and inst['name'] == 'ansible-test'
    assert inst['status'] == 'running' and inst['provider_status'] == 'running'
    assert (inst['ssh_host'], inst['ssh_port'], inst['ssh_user']) == ('63.135.50.11', 41201, 'root')
    assert inst['gpu_type'] == 'RTX 4090' and inst['gpu_count'] == 1
    assert inst['price_per_hour'] == 0.4021 and inst['region'] == 'Washington, US'
    assert inst['raw']['jupyter_token'] == '********' and inst['raw']['extra_env'][0] == ['HF_TOKEN', '********']
    assert inst['raw']['extra_env'][1] == ['MODE', 'y']


def test_proxy_endpoint_when_no_direct_mapping():
    obj = dict(RUNNING, ports={'8080/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '41202'}]})
    assert ssh_endpoint(obj) == ('ssh5.vast.ai', 20568)
    assert ssh_endpoint(dict(RUNNING, ports=None)) == ('ssh5.vast.ai', 20568)
    assert ssh_endpoint(dict(RUNNING, public_ipaddr=None)) == ('ssh5.vast.ai', 20568)
    assert ssh_endpoint(dict(RUNNING, ports={'22/tcp': [{'HostPort': 'x'}]})) == ('ssh5.vast.ai', 20568)
    # Jupyter runtypes put Jupyter on the proxy's first port and SSH on the next.
    assert ssh_endpoint(dict(RUNNING, ports=None, image_runtype='jupyter jupyter_proxy')) == ('ssh5.vast.ai', 20569)


def test_running_without_any_endpoint_is_pending():
    obj = dict(RUNNING, ports=None, ssh_host=None, ssh_port=None)
    inst = normalize(obj)
    assert inst['status'] == 'pending' and inst['ssh_host'] is None and inst['ssh_user'] is None


@pytest.mark.parametrize('actual, status', [
    (None, 'pending'), ('created', 'pending'), ('loading', 'pending'), ('rebooting', 'pending'),
    ('restarting', 'pending'), ('stopped', 'stopped'), ('exited', 'stopped'), ('frozen', 'stopped'),
    ('unknown', 'failed'), ('offline', 'failed'), ('something_new', 'pending'),
])
def test_status_map(actual, status):
    inst = normalize(dict(RUNNING, actual_status=actual))
    assert inst['status'] == status and inst['provider_status'] == actual
    # No endpoint unless running (stale proxy fields of a stopped instance are not an endpoint).
    assert inst['ssh_host'] is None and inst['ssh_port'] is None


def test_provisioning_failure_detection():
    assert provisioning_failure(normalize(dict(RUNNING, actual_status='loading'))) is None
    for actual in ('exited', 'unknown', 'offline'):
        message = provisioning_failure(normalize(dict(RUNNING, actual_status=actual, status_msg='boom')))
        assert repr(actual) in message and 'boom' in message
    assert 'disappeared' in provisioning_failure(None)


def test_country_code():
    assert country_code('Texas, US') == 'US' and country_code('Quebec,ca') == 'CA'
    assert country_code('Atlantis') is None and country_code(None) is None


# --- queries ---------------------------------------------------------------------------------

def test_build_offer_query_defaults_and_criteria():
    query = build_offer_query(gpu_name='H100 SXM', num_gpus=8, max_price_per_hour=20, min_reliability=0.98,
                              disk_gb=200, countries=['US', 'CA'], min_cuda_version=12.8,
                              extra_filters={'inet_down': {'gte': 1000}, 'dph_total': {'gte': 1}}, limit=10)
    assert query == {
        'rentable': {'eq': True}, 'rented': {'eq': False}, 'external': {'eq': False}, 'verified': {'eq': True},
        'gpu_name': {'eq': 'H100 SXM'}, 'num_gpus': {'eq': 8}, 'dph_total': {'lte': 20.0, 'gte': 1},
        'reliability': {'gte': 0.98}, 'disk_space': {'gte': 200.0}, 'allocated_storage': 200.0,
        'geolocation': {'in': ['US', 'CA']}, 'cuda_max_good': {'gte': 12.8}, 'inet_down': {'gte': 1000},
        'order': [['dph_total', 'asc']], 'type': 'on-demand', 'limit': 10,
    }
    by_id = build_offer_query(offer_id=42, disk_gb=50)
    assert by_id['id'] == {'eq': 42} and 'verified' not in by_id and by_id['rented'] == {'eq': False}
    assert build_offer_query(verified_only=False, offer_type='interruptible')['type'] == 'bid'
    assert 'verified' not in build_offer_query(verified_only=False)


def test_gpu_names_use_spaces():
    assert fix_gpu_name('H100_SXM')[0] == 'H100 SXM' and 'spaces' in fix_gpu_name('H100_SXM')[1]
    assert fix_gpu_name('RTX 4090') == ('RTX 4090', None)


def test_check_filters():
    clean, errors, warnings = check_filters({'dph': {'lte': 2}, 'gpu_name': {'in': ['RTX_4090']}})
    assert clean == {'dph_total': {'lte': 2}, 'gpu_name': {'in': ['RTX 4090']}} and not errors and warnings
    _clean, errors, _w = check_filters({'nope': {'eq': 1}, 'num_gpus': {'like': 1}, 'reliability': 0.9,
                                        'geolocation': {'in': 'US'}, 'cpu_ram': {'gte': [1]}})
    assert len(errors) == 5
    assert check_filters('x')[1]


def test_parse_order_and_countries():
    assert parse_order(['dph', 'reliability desc', 'score DESC']) == (
        [['dph_total', 'asc'], ['reliability', 'desc'], ['score', 'desc']], [])
    assert parse_order(['price'])[1] and parse_order(['a b c'])[1]
    assert check_countries(['us', 'US', 'de']) == (['US', 'DE'], [])
    assert check_countries(['USA'])[1]


# --- error classification --------------------------------------------------------------------

def err(status, code=None, message=None):
    return ApiError('vastai', 'PUT', '/api/v0/asks/1/', status=status, code=code, message=message)


def test_offer_taken_and_not_found_classification():
    assert offer_taken(err(404, 'invalid_args', 'error 404/3603: no_such_ask Instance type by id 1 is not available.'))
    assert offer_taken(err(410, 'no_such_ask', 'error 410/3907: no_such_ask ...'))
    assert not offer_taken(err(404, 'auth_error', 'Invalid user key'))
    assert not offer_taken(err(400, 'invalid_args', 'bad image'))
    assert is_not_found(err(404, 'not_found')) and is_not_found(err(404))
    assert not is_not_found(err(404, 'auth_error')) and not is_not_found(err(401, 'auth_error'))


def test_key_text_precedence():
    assert key_text({'key': 'a', 'public_key': 'b', 'ssh_key': 'c'}) == 'a'
    assert key_text({'key': '', 'public_key': 'b', 'ssh_key': 'c'}) == 'b'
    assert key_text({'ssh_key': 'c '}) == 'c'
    assert key_text({}) is None and key_text('x') is None


# --- through the fake ------------------------------------------------------------------------

def test_list_paginates_with_json_encoded_params_and_one_list_call_per_page(api, fake):
    ids = [api.create_instance(3000 + i, 'img', 'n%d' % i, 10) for i in range(55)]
    listed = api.list_instances()
    assert [i['id'] for i in listed] == [str(i) for i in ids]
    pages = fake.calls_to('GET', r'^/api/v1/instances/$')
    assert len(pages) == 3
    first = pages[0]['query']
    assert json.loads(first['order_by'][0]) == [{'col': 'id', 'dir': 'asc'}]
    assert json.loads(first['select_cols'][0]) == ['*'] and first['limit'] == ['25']
    assert 'after_token' not in first and 'after_token' in pages[1]['query']
    assert not fake.calls_to('GET', r'^/api/v0/instances/?$')


def test_find_by_name_filters_server_side_and_checks_again(api, fake):
    api.create_instance(3000, 'img', 'speedrun', 10)
    api.create_instance(3001, 'img', 'speedrun-2', 10)
    found = api.find_by_name('speedrun')
    assert [i['name'] for i in found] == ['speedrun']
    assert json.loads(fake.calls_to('GET', r'^/api/v1/instances/$')[-1]['query']['select_filters'][0]) == \
        {'label': {'eq': 'speedrun'}}
    # A server that ignored the filter must not make another label match.
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/', status=200,
                         body={'success': True, 'instances': [dict(RUNNING, label='speedrun-2')], 'next_token': None}))
    assert api.find_by_name('speedrun') == []


@pytest.mark.parametrize('body', [
    {'success': True, 'instances': None}, {'success': True}, [], 'API requests too frequent', {'instances': {'id': 1}},
])
def test_list_body_that_is_not_a_list_raises(api, fake, body):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/', status=200, body=body,
                         content_type='application/json' if not isinstance(body, str) else 'text/plain'))
    with pytest.raises(ApiError) as info:
        api.list_instances()
    assert info.value.code == 'unexpected_response' and 'never read as "no instances"' in str(info.value)


def test_list_success_false_and_410_raise(api, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/', status=200,
                         body={'success': False, 'error': 'invalid_request', 'msg': 'nope'}))
    with pytest.raises(ApiError):
        api.list_instances()
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/', status=410,
                         body={'success': False, 'error': 'deprecated_endpoint', 'msg': 'gone'}))
    with pytest.raises(ApiError) as info:
        api.list_instances()
    assert info.value.status == 410 and info.value.code == 'deprecated_endpoint'


def test_repeated_next_token_stops(api, fake):
    page = {'success': True, 'instances': [], 'next_token': 'abc'}
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances/', status=200, body=page, times=2))
    with pytest.raises(ApiError) as info:
        api.list_instances()
    assert 'next_token' in str(info.value)
    assert len(fake.calls_to('GET', r'^/api/v1/instances/')) == 2


def test_get_instance_gone_null_or_404(api, fake):
    new_id = api.create_instance(3000, 'img', 'a', 10)
    assert api.get_instance(new_id)['id'] == str(new_id)
    assert api.destroy_instance(new_id) is True
    assert api.get_instance(new_id) is None
    assert api.destroy_instance(new_id) is False
    fake.missing_instance = '404'
    assert api.get_instance(new_id) is None


def test_get_instance_auth_error_404_is_not_gone(fake):
    fake.auth_error_status = 404
    api = VastApi(make_client('vastai', 'wrong', fake.url))
    with pytest.raises(ApiError) as info:
        api.get_instance(5)
    assert info.value.status == 404 and info.value.code == 'auth_error'
    with pytest.raises(ApiError):
        api.destroy_instance(5)


def test_create_returns_new_contract_and_errors(api, fake):
    new_id = api.create_instance(3000, 'img', 'a', 10, env={'A': 1}, onstart='echo hi')
    assert isinstance(new_id, int)
    body = fake.calls_to('PUT', r'^/api/v0/asks/3000/$')[0]['body']
    assert body == {'client_id': 'me', 'image': 'img', 'label': 'a', 'disk': 10.0, 'runtype': 'ssh_direc ssh_proxy',
                    'env': {'A': '1'}, 'onstart': 'echo hi'}
    with pytest.raises(ApiError) as info:
        api.create_instance(3000, 'img', 'b', 10)
    assert info.value.status == 404 and offer_taken(info.value) and not info.value.ambiguous
    fake.add_fault(Fault(method='PUT', path=r'^/api/v0/asks/', status=200, body={'success': True}))
    with pytest.raises(ApiError) as info:
        api.create_instance(3001, 'img', 'b', 10)
    assert info.value.code == 'unexpected_response'


def test_create_500_is_ambiguous_and_not_retried(api, fake):
    fake.add_fault(Fault(method='PUT', path=r'^/api/v0/asks/', status=500, mode='apply',
                         body={'success': False, 'error': 'server_error', 'msg': 'oops'}))
    with pytest.raises(ApiError) as info:
        api.create_instance(3000, 'img', 'a', 10)
    assert info.value.ambiguous
    assert len(fake.calls_to('PUT', r'^/api/v0/asks/')) == 1 and len(fake.instances) == 1


def test_create_429_is_retried(api, fake):
    fake.add_fault(Fault(method='PUT', path=r'^/api/v0/asks/', status=429,
                         body={'detail': 'API requests too frequent endpoint threshold=4.5'}))
    assert api.create_instance(3000, 'img', 'a', 10)
    assert [c['status'] for c in fake.calls_to('PUT', r'^/api/v0/asks/')] == [429, 200]


def test_search_offers_and_quota(api, fake):
    offers = api.search_offers(build_offer_query(gpu_name='RTX 4090', limit=3, verified_only=True))
    assert [o['id'] for o in offers] == [3000, 3001, 3002]
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/bundles/', status=200, body={'offers': None}))
    with pytest.raises(ApiError):
        api.search_offers({})
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/bundles/', status=429, headers={'Retry-After': '30000'},
                         body={'success': False, 'error': 'search_quota_exceeded', 'msg': 'Daily search quota exceeded'}))
    with pytest.raises(ApiError) as info:
        api.search_offers({})
    assert 'midnight UTC' in str(info.value) and '30000' in str(info.value)


def test_search_5xx_is_retried_because_it_is_a_read(api, fake):
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/bundles/', status=503, body='busy', content_type='text/plain'))
    assert api.search_offers(build_offer_query(gpu_name='RTX 4090', limit=1))
    assert [c['status'] for c in fake.calls_to('POST', r'^/api/v0/bundles/')] == [503, 200]


def test_ssh_keys_account_and_instance(api, fake):
    key = public_key('k1')
    assert api.list_ssh_keys() == []
    changed, added = api.ensure_account_key(key)
    assert changed and added['public_key'] == key and added['id']
    assert api.ensure_account_key(key.rsplit(' ', 1)[0] + ' other') == (False, api.list_ssh_keys()[0])
    new_id = api.create_instance(3000, 'img', 'a', 10)
    assert api.instance_ssh_keys(new_id) == [key]
    assert api.ensure_instance_key(new_id, key) is False
    other = public_key('k2')
    assert api.ensure_instance_key(new_id, other, check_mode=True) is True
    assert api.instance_ssh_keys(new_id) == [key]
    assert api.ensure_instance_key(new_id, other) is True
    assert api.instance_ssh_keys(new_id) == [key, other]
    assert api.delete_ssh_key(added['id']) is True and api.delete_ssh_key(added['id']) is False


def test_instance_ssh_keys_accepts_a_real_list_too(api, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v0/instances/\d+/ssh/', status=200,
                         body={'success': True, 'ssh_keys': [{'id': 1, 'public_key': 'ssh-ed25519 AAAA x'}]}))
    assert api.instance_ssh_keys(7) == ['ssh-ed25519 AAAA x']


def test_list_ssh_keys_non_list_raises(api, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v0/ssh/', status=200, body={'success': True}))
    with pytest.raises(ApiError):
        api.list_ssh_keys()


def test_fake_rate_limits_are_waited_out_with_backoff():
    """Virtual time: the client's sleeps advance the fake's clock, so the test is exact and instant."""
    class Clock(object):
        now = 0.0

        def __call__(self):
            return self.now

        def sleep(self, seconds):
            self.now += seconds

    clock = Clock()
    with FakeVast(api_key=KEY, clock=clock, boot_delay=0.0) as server:
        api = VastApi(make_client('vastai', KEY, server.url, sleep=clock.sleep))
        new_id = api.create_instance(2001, 'img', 'a', 10)
        for _read in range(3):
            assert api.get_instance(new_id)['id'] == str(new_id)
        statuses = [c['status'] for c in server.calls_to('GET', r'^/api/v0/instances/\d+/$')]
        assert statuses.count(200) == 3 and 429 in statuses
        refused = [c for c in server.calls if c['status'] == 429][0]
        assert refused['path'] == '/api/v0/instances/%d/' % new_id
        assert clock.now >= 2 * 2.0  # two refused reads each waited out the 2 s interval
        assert server.internal_errors == []


def test_module_constants_match_the_reference():
    assert _vastai.RUNTYPE_SSH == 'ssh_direc ssh_proxy'
    assert _vastai.PAGE_SIZE == 25 and _vastai.SSH_USER == 'root'


def test_offer_criteria_checks_name_every_impossible_criterion():
    params = dict(num_gpus=0, disk_gb=None, offer_id=-3, max_price_per_hour=0, min_reliability=1.5, min_cuda_version=0)
    assert _vastai.check_offer_criteria(params, counts=('num_gpus', 'disk_gb', 'offer_id')) == [
        'num_gpus must be at least 1 (got 0)',
        'offer_id must be at least 1 (got -3)',
        'max_price_per_hour must be positive',
        'min_reliability must be between 0 and 1 (got 1.5)',
        'min_cuda_version must be positive, for example 12.8',
    ]
    sane = dict(num_gpus=8, disk_gb=200, max_price_per_hour=30.0, min_reliability=0.98, min_cuda_version=12.8)
    assert _vastai.check_offer_criteria(sane) == []
