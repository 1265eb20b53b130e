# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake Vast.ai API is strict: it answers what the real API answers, with the real status and body."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys

import pytest
import requests

from tests.fakes import fake_class
from tests.fakes.vastai import DEFAULT_RATE_LIMITS, FakeVast

KEY = 'fake-vast-key-0123456789'
AUTH = {'Authorization': 'Bearer %s' % KEY}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def public_key(seed, comment='me@laptop'):
    blob = struct.pack('>I', 11) + b'ssh-ed25519' + struct.pack('>I', 32) + hashlib.sha256(seed.encode()).digest()
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment)


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RecordingMachines(object):
    """A machines backend that records what the fake asks of it."""

    def __init__(self):
        self.events = []
        self.count = 0

    def boot(self, provider, instance_id, public_keys, ssh_user, name=None):  # pylint: disable=unused-argument
        self.count += 1
        self.events.append(('boot', provider, instance_id, list(public_keys), ssh_user))
        return dict(host='127.0.0.%d' % (self.count + 1), port=22000 + self.count, user=ssh_user)

    def stop(self, provider, instance_id):
        self.events.append(('stop', provider, instance_id))

    def destroy(self, provider, instance_id):
        self.events.append(('destroy', provider, instance_id))

    def authorize(self, provider, instance_id, public_keys):
        self.events.append(('authorize', provider, instance_id, list(public_keys)))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def machines():
    return RecordingMachines()


@pytest.fixture
def fake(clock, machines):
    server = FakeVast(api_key=KEY, boot_delay=30.0, rate_limits={}, clock=clock, machines=machines).start()
    yield server
    server.stop()
    assert server.internal_errors == []


def call(fake, method, path, body=None, headers=None, **params):
    return requests.request(method, fake.url + path, json=body, params=params or None,
                            headers=AUTH if headers is None else headers, timeout=10)


def create(fake, offer_id=2001, **body):
    payload = dict(client_id='me', image='pytorch/pytorch:2.7.1-cuda12.8-cudnn9-devel', label='speedrun', disk=100,
                   runtype='ssh_direc ssh_proxy')
    payload.update(body)
    return call(fake, 'PUT', '/api/v0/asks/%d/' % offer_id, payload)


def instance(fake, instance_id):
    return call(fake, 'GET', '/api/v0/instances/%s/' % instance_id).json()['instances']


# --- auth ------------------------------------------------------------------------------------

def test_auth_bearer_query_key_and_errors(fake):
    none = call(fake, 'GET', '/api/v0/ssh/', headers={})
    assert none.status_code == 401
    assert none.json() == {'success': False, 'error': 'auth_error', 'msg': 'Invalid user key'}
    wrong = call(fake, 'GET', '/api/v1/instances/', headers={'Authorization': 'Bearer nope'})
    assert wrong.status_code == 401 and wrong.json()['error'] == 'auth_error'
    legacy = requests.get(fake.url + '/api/v0/ssh/?api_key=%s' % KEY, timeout=10)
    assert legacy.status_code == 200 and legacy.json() == []
    assert all('api_key' not in c['query'] for c in fake.calls)
    # /bundles documents a 404 for a bad key.
    bundles = call(fake, 'POST', '/api/v0/bundles/', {}, headers={'Authorization': 'Bearer nope'})
    assert bundles.status_code == 404 and bundles.json()['error'] == 'auth_error'


def test_auth_error_status_can_be_404_everywhere(clock):
    with FakeVast(api_key=KEY, rate_limits={}, clock=clock, auth_error_status=404) as server:
        response = call(server, 'GET', '/api/v1/instances/', headers={'Authorization': 'Bearer x'})
    assert response.status_code == 404 and response.json()['error'] == 'auth_error'


@pytest.mark.parametrize('method, path, body', [
    ('POST', '/api/v0/bundles', {}), ('PUT', '/api/v0/search/asks', {'q': {}}), ('GET', '/api/v1/instances', None),
    ('GET', '/api/v0/ssh', None), ('GET', '/api/v0/users/current', None),
])
def test_trailing_slash_is_optional(fake, method, path, body):
    assert call(fake, method, path, body).status_code == 200
    assert call(fake, method, path + '/', body).status_code == 200


def test_unknown_path_and_method(fake):
    assert call(fake, 'GET', '/api/v0/nothing/').status_code == 404
    response = call(fake, 'PATCH', '/api/v0/ssh/')
    assert response.status_code == 405 and response.json()['success'] is False


# --- offers ----------------------------------------------------------------------------------

def search(fake, **query):
    response = call(fake, 'POST', '/api/v0/bundles/', query)
    assert response.status_code == 200, response.text
    return response.json()['offers']


def test_offer_search_operators(fake):
    h100 = {'gpu_name': {'eq': 'H100 SXM'}, 'num_gpus': {'eq': 8}}
    assert len(search(fake, **h100)) == 8
    assert search(fake, gpu_name={'eq': 'H100_SXM'}) == []
    assert {o['id'] for o in search(fake, verified={'eq': False}, **h100)} == {2002, 2007}
    assert {o['id'] for o in search(fake, verification={'neq': 'verified'}, **h100)} == {2002, 2007}
    assert {o['id'] for o in search(fake, geolocation={'in': ['DE', 'CA']}, **h100)} == {2003, 2005}
    assert 2001 not in {o['id'] for o in search(fake, geolocation={'notin': ['US']}, **h100)}
    assert {o['id'] for o in search(fake, reliability={'gt': 0.998}, **h100)} == {2003, 2005, 2008}
    assert {o['id'] for o in search(fake, reliability={'gte': 0.998}, **h100)} == {2003, 2004, 2005, 2008}
    assert {o['id'] for o in search(fake, dph_total={'lt': 14.0}, **h100)} == {2004, 2007}
    assert {o['id'] for o in search(fake, num_gpus={'lte': 4}, gpu_name={'in': ['H100 SXM']})} == {2011, 2012}
    assert 2004 not in {o['id'] for o in search(fake, rented={'eq': False}, **h100)}


def test_offer_order_limit_type_and_storage(fake):
    cheap = search(fake, gpu_name={'eq': 'H100 SXM'}, num_gpus={'eq': 8}, order=[['dph_total', 'asc']], limit=3)
    assert [o['id'] for o in cheap] == [2007, 2004, 2002]
    assert cheap[0]['dph_total'] == pytest.approx(12.80 + 0.15 * 5 / 720.0)
    priced = search(fake, id={'eq': 2001}, allocated_storage=720)
    assert priced[0]['dph_total'] == pytest.approx(15.20 + 0.15)
    desc = search(fake, gpu_name={'eq': 'H100 SXM'}, order=[['reliability', 'desc'], ['dph_total', 'asc']], limit=2)
    assert [o['id'] for o in desc] == [2003, 2005]
    bid = search(fake, id={'eq': 2001}, type='bid')
    assert bid[0]['is_bid'] and bid[0]['dph_total'] < 9
    assert search(fake, id={'eq': 2001}, type='ondemand')[0]['is_bid'] is False
    default_order = search(fake, gpu_name={'eq': 'RTX 4090'})
    assert [o['score'] for o in default_order] == sorted([o['score'] for o in default_order], reverse=True)


@pytest.mark.parametrize('query, text', [
    ({'gpu_colour': {'eq': 'red'}}, 'gpu_colour is not a valid search key'),
    ({'num_gpus': {'like': 8}}, "unknown operator 'like'"),
    ({'num_gpus': 8}, 'needs an object of operators'),
    ({'geolocation': {'in': 'US'}}, 'needs a list'),
    ({'dph_total': {'lt': 'cheap'}}, 'needs a number'),
    ({'num_gpus': {'eq': [8]}}, 'needs a single value'),
    ({'type': 'spot'}, 'invalid type'),
    ({'order': [['price', 'asc']]}, 'order must be'),
    ({'order': 'dph_total'}, 'order must be'),
    ({'limit': 0}, 'limit must be'),
])
def test_offer_search_rejects_bad_queries(fake, query, text):
    response = call(fake, 'POST', '/api/v0/bundles/', query)
    assert response.status_code == 400
    body = response.json()
    assert body['error'] == 'invalid_request' and text in body['msg']


def test_non_object_bodies_are_rejected(fake):
    response = requests.post(fake.url + '/api/v0/bundles/', data='not json', headers=AUTH, timeout=10)
    assert response.status_code == 400 and response.json()['msg'] == 'Invalid json body'
    assert call(fake, 'POST', '/api/v0/bundles/', [1, 2]).status_code == 400


def test_new_search_and_old_get_search(fake):
    query = {'gpu_name': {'eq': 'H200'}}
    new = call(fake, 'PUT', '/api/v0/search/asks/', {'select_cols': ['*'], 'q': query})
    assert [o['id'] for o in new.json()['offers']] == [2041]
    assert call(fake, 'PUT', '/api/v0/search/asks/', query).status_code == 400
    old = call(fake, 'GET', '/api/v0/bundles/', q=json.dumps(query))
    assert [o['id'] for o in old.json()['offers']] == [2041]


def test_search_quota(clock):
    with FakeVast(api_key=KEY, rate_limits={}, clock=clock, search_quota=1, search_quota_retry_after=3600) as server:
        assert call(server, 'POST', '/api/v0/bundles/', {}).status_code == 200
        response = call(server, 'POST', '/api/v0/bundles/', {})
    assert response.status_code == 429 and response.headers['Retry-After'] == '3600'
    assert response.json()['error'] == 'search_quota_exceeded'


# --- create ----------------------------------------------------------------------------------

def test_create_rents_the_offer_and_a_second_create_is_no_such_ask(fake):
    response = create(fake)
    assert response.status_code == 200
    body = response.json()
    assert body['success'] is True and isinstance(body['new_contract'], int)
    assert search(fake, id={'eq': 2001}, rented={'eq': False}) == []
    again = create(fake)
    assert again.status_code == 404
    assert again.json() == {'success': False, 'error': 'invalid_args', 'ask_id': 2001,
                            'msg': 'error 404/3603: no_such_ask Instance type by id 2001 is not available.'}
    assert create(fake, offer_id=999999).status_code == 404


def test_snatched_and_unavailable_offers(fake):
    fake.snatch(2006)
    assert [o['id'] for o in search(fake, id={'eq': 2006}, rented={'eq': False})] == [2006]  # stale
    assert create(fake, offer_id=2006).status_code == 404
    assert search(fake, id={'eq': 2006}, rented={'eq': False}) == []
    fake.make_unavailable(2003)
    gone = create(fake, offer_id=2003)
    assert gone.status_code == 410 and gone.json()['error'] == 'no_such_ask'
    assert 'error 410/3907' in gone.json()['msg']


@pytest.mark.parametrize('body, text', [
    (dict(image=None), "'image' is required"),
    (dict(bogus=1), "unknown field(s) bogus"),
    (dict(disk=-5), "'disk' must be a positive number"),
    (dict(disk='100'), "'disk' must be a positive number"),
    (dict(label=5), "'label' must be a string"),
    (dict(env=['A=1']), "'env' must be an object"),
    (dict(env={'A': 1}), "'env' values must be strings"),
    (dict(onstart='x' * 4049), "longer than 4048"),
    (dict(runtype='ssh_tunnel'), "'runtype'"),
    (dict(target_state='paused'), "'target_state'"),
    (dict(client_id='you'), "'client_id'"),
    (dict(price=500), "'price'"),
])
def test_create_rejects_bad_bodies(fake, body, text):
    response = create(fake, **body)
    assert response.status_code == 400
    answer = response.json()
    assert answer['error'] == 'invalid_args' and answer['msg'].startswith('error 400/3467: Invalid args: ')
    assert text in answer['msg'] and answer['ask_id'] == 2001
    assert fake.instances == {}


def test_create_bad_offer_id(fake):
    response = call(fake, 'PUT', '/api/v0/asks/abc/', {'image': 'x'})
    assert response.status_code == 400 and response.json()['error'] == 'invalid_args'


def test_env_string_form_and_port_mappings(fake, clock):
    new_id = create(fake, env='-e HF_TOKEN=abc -p 8080:8080').json()['new_contract']
    inst = instance(fake, new_id)
    assert inst['extra_env'] == [['HF_TOKEN', 'abc'], ['-p 8080:8080', '1']]
    clock.now += 31
    assert '8080/tcp' in instance(fake, new_id)['ports']


# --- lifecycle -------------------------------------------------------------------------------

def test_lifecycle_null_loading_running_with_endpoint_only_when_running(fake, clock, machines):
    key = public_key('acct')
    assert call(fake, 'POST', '/api/v0/ssh/', {'ssh_key': key}).status_code == 200
    new_id = create(fake).json()['new_contract']
    inst = instance(fake, new_id)
    assert inst['actual_status'] is None and inst['intended_status'] == 'running'
    for field in ('ssh_host', 'ssh_port', 'public_ipaddr', 'ports'):
        assert inst[field] is None
    clock.now += 15
    inst = instance(fake, new_id)
    assert inst['actual_status'] == 'loading' and inst['ports'] is None and inst['public_ipaddr'] is None
    assert not machines.events
    clock.now += 16
    inst = instance(fake, new_id)
    assert inst['actual_status'] == 'running'
    assert machines.events == [('boot', 'vastai', str(new_id), [key], 'root')]
    assert inst['public_ipaddr'] == '127.0.0.2'
    assert inst['ports']['22/tcp'] == [{'HostIp': '0.0.0.0', 'HostPort': '22001'}]
    assert inst['ssh_host'] != inst['public_ipaddr'] and inst['ssh_port'] != 22001
    assert inst['ssh_host'].endswith('.vast.ai') and isinstance(inst['ssh_port'], int)
    assert inst['image_runtype'] == 'ssh ssh_direc ssh_proxy' and inst['label'] == 'speedrun'
    assert inst['gpu_name'] == 'H100 SXM' and inst['num_gpus'] == 8 and inst['geolocation'] == 'Texas, US'
    assert inst['dph_total'] == pytest.approx(15.20 + 0.15 * 100 / 720.0)
    assert len(instance(fake, new_id)) and len(machines.events) == 1  # booted once


def test_proxy_only_runtype_publishes_the_machine_on_the_proxy_fields(fake, clock):
    new_id = create(fake, runtype='ssh_proxy').json()['new_contract']
    clock.now += 31
    inst = instance(fake, new_id)
    assert inst['ports'] == {} and (inst['ssh_host'], inst['ssh_port']) == ('127.0.0.2', 22001)
    assert inst['image_runtype'] == 'ssh ssh_proxy'


def test_stop_start_destroy(fake, clock, machines):
    new_id = create(fake).json()['new_contract']
    clock.now += 31
    assert instance(fake, new_id)['actual_status'] == 'running'
    assert call(fake, 'PUT', '/api/v0/instances/%d/' % new_id, {'state': 'stopped'}).json() == {'success': True}
    inst = instance(fake, new_id)
    assert inst['actual_status'] == 'stopped' and inst['intended_status'] == 'stopped' and inst['ports'] is None
    assert machines.events[-1] == ('stop', 'vastai', str(new_id))
    assert call(fake, 'PUT', '/api/v0/instances/%d' % new_id, {'state': 'running'}).status_code == 200
    assert instance(fake, new_id)['actual_status'] == 'loading'
    clock.now += 31
    assert instance(fake, new_id)['actual_status'] == 'running'
    assert [e[0] for e in machines.events] == ['boot', 'stop', 'boot']
    assert call(fake, 'PUT', '/api/v0/instances/%d/' % new_id, {'label': 'renamed'}).status_code == 200
    assert instance(fake, new_id)['label'] == 'renamed'
    gone = call(fake, 'DELETE', '/api/v0/instances/%d/' % new_id, {})
    assert gone.status_code == 200 and gone.json()['success'] is True
    assert machines.events[-1] == ('destroy', 'vastai', str(new_id))
    assert call(fake, 'GET', '/api/v0/instances/%d/' % new_id).json() == {'instances': None}
    again = call(fake, 'DELETE', '/api/v0/instances/%d/' % new_id, {})
    assert again.status_code == 404
    assert again.json() == {'success': False, 'error': 'not_found', 'msg': 'Instance not found'}
    assert call(fake, 'PUT', '/api/v0/instances/%d/' % new_id, {'state': 'running'}).status_code == 404
    # The offer can be rented again.
    assert create(fake).status_code == 200


def test_missing_instance_can_answer_404(clock):
    with FakeVast(api_key=KEY, rate_limits={}, clock=clock, missing_instance='404') as server:
        response = call(server, 'GET', '/api/v0/instances/5/')
    assert response.status_code == 404 and response.json()['error'] == 'not_found'


@pytest.mark.parametrize('body', [{}, {'state': 'paused'}, {'label': 3}, {'state': 'stopped', 'force': True}])
def test_manage_instance_rejects_bad_bodies(fake, body):
    new_id = create(fake).json()['new_contract']
    response = call(fake, 'PUT', '/api/v0/instances/%d/' % new_id, body)
    assert response.status_code == 400 and response.json()['error'] == 'invalid_args'


def test_bad_instance_id_is_400(fake):
    response = call(fake, 'GET', '/api/v0/instances/abc/')
    assert response.status_code == 400
    assert response.json() == {'success': False, 'error': 'invalid_args', 'msg': 'invalid instance_id'}


def test_provisioning_failures(fake, clock, machines):
    fake.fail_provisioning(2001, 'exited')
    new_id = create(fake).json()['new_contract']
    clock.now += 31
    inst = instance(fake, new_id)
    assert inst['actual_status'] == 'exited' and inst['ports'] is None and not machines.events
    other = create(fake, offer_id=2003).json()['new_contract']
    fake.force_status(other, 'offline')
    assert instance(fake, other)['actual_status'] == 'offline'


# --- lists -----------------------------------------------------------------------------------

def test_legacy_list_is_410_deprecated(fake):
    response = call(fake, 'GET', '/api/v0/instances/', owner='me')
    assert response.status_code == 410
    assert response.json() == {'success': False, 'error': 'deprecated_endpoint',
                               'msg': '/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.'}


def test_v1_list_pagination_filters_order_and_columns(clock):
    from tests.fakes.vastai import _offer
    offers = [_offer(3000 + i, 'RTX 4090', 1, 0.3, 'Ontario, CA') for i in range(30)]
    with FakeVast(api_key=KEY, rate_limits={}, clock=clock, offers=offers) as server:
        ids = [create(server, offer_id=3000 + i, label='odd' if i % 2 else 'even').json()['new_contract']
               for i in range(30)]
        first = call(server, 'GET', '/api/v1/instances/', limit=100).json()
        assert first['success'] and first['instances_found'] == 25 and first['total_instances'] == 30
        assert [i['id'] for i in first['instances']] == ids[:25] and first['next_token']
        assert first['label_counts'] == {'odd': 15, 'even': 15}
        second = call(server, 'GET', '/api/v1/instances/', after_token=first['next_token']).json()
        assert [i['id'] for i in second['instances']] == ids[25:] and second['next_token'] is None
        small = call(server, 'GET', '/api/v1/instances/', limit=0).json()
        assert small['instances_found'] == 5
        odd = call(server, 'GET', '/api/v1/instances/', select_filters=json.dumps({'label': {'eq': 'odd'}}),
                   order_by=json.dumps([{'col': 'id', 'dir': 'desc'}])).json()
        assert [i['id'] for i in odd['instances']] == [i for n, i in enumerate(ids) if n % 2][::-1]
        cols = call(server, 'GET', '/api/v1/instances/', select_cols=json.dumps(['id', 'label', 'nope']), limit=1).json()
        assert cols['instances'] == [{'id': ids[0], 'label': 'even', 'nope': None}]
        bad = [
            call(server, 'GET', '/api/v1/instances/', select_filters="{'label': {'eq': 'odd'}}"),
            call(server, 'GET', '/api/v1/instances/', select_filters=json.dumps({'dph_total': {'lt': 1}})),
            call(server, 'GET', '/api/v1/instances/', select_filters=json.dumps({'label': {'like': 'o'}})),
            call(server, 'GET', '/api/v1/instances/', order_by=json.dumps([{'col': 'bogus'}])),
            call(server, 'GET', '/api/v1/instances/', order_by='id'),
            call(server, 'GET', '/api/v1/instances/', limit='many'),
        ]
        assert [r.status_code for r in bad] == [400] * 6
        assert all(r.json()['error'] == 'invalid_request' for r in bad)
        assert 'dph_total is not a valid search key' in bad[1].json()['msg']
        token = call(server, 'GET', '/api/v1/instances/', after_token='garbage!')
        assert token.status_code == 400 and token.json()['error'] == 'invalid_token'


# --- SSH keys --------------------------------------------------------------------------------

def test_account_keys_list_create_update_delete(fake, clock, machines):
    running = create(fake).json()['new_contract']
    clock.now += 31
    instance(fake, running)
    key = public_key('one')
    created = call(fake, 'POST', '/api/v0/ssh/', {'ssh_key': key}).json()
    assert created['success'] is True and created['key']['public_key'] == key and 'key' not in created['key']
    listed = call(fake, 'GET', '/api/v0/ssh/').json()
    assert isinstance(listed, list) and listed[0]['key'] == key and 'public_key' not in listed[0]
    assert listed[0]['deleted_at'] is None and listed[0]['user_id'] == 456
    # Added to current instances, and to a running instance's machine.
    keys = json.loads(call(fake, 'GET', '/api/v0/instances/%d/ssh/' % running).json()['ssh_keys'])
    assert [k['public_key'] for k in keys] == [key] and keys[0]['id'] == created['key']['id']
    assert machines.events[-1] == ('authorize', 'vastai', str(running), [key])
    other = public_key('two')
    assert call(fake, 'PUT', '/api/v0/ssh/%d/' % created['key']['id'], {'ssh_key': other}).status_code == 200
    assert call(fake, 'GET', '/api/v0/ssh/').json()[0]['key'] == other
    assert call(fake, 'DELETE', '/api/v0/ssh/%d/' % created['key']['id']).json() == {'success': True}
    missing = call(fake, 'DELETE', '/api/v0/ssh/%d/' % created['key']['id'])
    assert missing.status_code == 400 and missing.json() == {'success': False, 'error': 'no_ssh_key',
                                                             'msg': 'No ssh key provided'}


@pytest.mark.parametrize('body, status, code', [
    ({}, 400, 'no_ssh_key'), ({'ssh_key': ''}, 400, 'no_ssh_key'), ({'ssh_key': 'hello'}, 400, 'invalid_args'),
])
def test_create_key_rejections(fake, body, status, code):
    response = call(fake, 'POST', '/api/v0/ssh/', body)
    assert response.status_code == status and response.json()['error'] == code


def test_instance_key_attach_and_detach(fake, clock, machines):
    new_id = create(fake).json()['new_contract']
    key = public_key('attached')
    attached = call(fake, 'POST', '/api/v0/instances/%d/ssh/' % new_id, {'ssh_key': key})
    assert attached.json() == {'success': True, 'msg': 'SSH key attached successfully'}
    clock.now += 31
    instance(fake, new_id)
    assert machines.events == [('boot', 'vastai', str(new_id), [key], 'root')]
    keys = json.loads(call(fake, 'GET', '/api/v0/instances/%d/ssh' % new_id).json()['ssh_keys'])
    detached = call(fake, 'DELETE', '/api/v0/instances/%d/ssh/%d/' % (new_id, keys[0]['id']))
    assert detached.status_code == 200
    assert json.loads(call(fake, 'GET', '/api/v0/instances/%d/ssh/' % new_id).json()['ssh_keys']) == []
    assert call(fake, 'DELETE', '/api/v0/instances/%d/ssh/%d/' % (new_id, keys[0]['id'])).json()['error'] == \
        'no_such_ssh_key'
    nobody = call(fake, 'POST', '/api/v0/instances/999/ssh/', {'ssh_key': key})
    assert nobody.status_code == 404 and nobody.json()['error'] == 'no_such_instance'


# --- rate limits -----------------------------------------------------------------------------

def test_rate_limits_are_minimum_intervals_with_plain_text_429(clock):
    with FakeVast(api_key=KEY, clock=clock) as server:
        assert server.rate_limits == DEFAULT_RATE_LIMITS
        assert call(server, 'GET', '/api/v1/instances/').status_code == 200
        limited = call(server, 'GET', '/api/v1/instances')
        assert limited.status_code == 429 and limited.text == 'API requests too frequent endpoint threshold=1.0'
        assert limited.headers['Content-Type'].startswith('text/plain') and 'Retry-After' not in limited.headers
        # Another endpoint, and another identity, have their own budget.
        assert call(server, 'GET', '/api/v0/ssh/').status_code == 200
        assert requests.get(server.url + '/api/v1/instances/?api_key=' + KEY, timeout=10).status_code == 200
        clock.now += 1.0
        assert call(server, 'GET', '/api/v1/instances/').status_code == 200


def test_rate_limit_json_bodies(clock):
    with FakeVast(api_key=KEY, clock=clock, rate_limit_body='json',
                  rate_limits={'DELETE /api/v0/instances/{id}/': 3.0, 'PUT /api/v0/instances/{id}/': 1.0}) as server:
        call(server, 'DELETE', '/api/v0/instances/5/')
        second = call(server, 'DELETE', '/api/v0/instances/6/')
        assert second.status_code == 429 and second.json() == {
            'success': False, 'error': 'rate_limit_exceeded', 'msg': 'API requests too frequent endpoint threshold=3.0'}
        call(server, 'PUT', '/api/v0/instances/5/', {'state': 'stopped'})
        put = call(server, 'PUT', '/api/v0/instances/5/', {'state': 'stopped'})
        assert put.json() == {'detail': 'API requests too frequent endpoint threshold=1.0'}


# --- process mode and state ------------------------------------------------------------------

def test_state_view(fake, clock):
    new_id = create(fake).json()['new_contract']
    state = fake.state()
    assert state['instances'][str(new_id)]['label'] == 'speedrun'
    assert [o for o in state['offers'] if o['id'] == 2001][0]['rented'] is True
    control = requests.get(fake.url + '/_fake/state', timeout=10).json()
    assert str(new_id) in control['instances']
    assert not any(k.startswith('_') for k in control['instances'][str(new_id)])


def test_runs_as_a_process():
    assert fake_class('vastai') is FakeVast
    proc = subprocess.Popen([sys.executable, '-m', 'tests.fakes', 'vastai', '--port', '0', '--boot-delay', '0.1',
                             '--api-key', KEY], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith('listening on http://127.0.0.1:')
        url = line.split('listening on ', 1)[1]
        response = requests.post(url + '/api/v0/bundles/', json={'gpu_name': {'eq': 'H200'}}, headers=AUTH, timeout=10)
        assert [o['id'] for o in response.json()['offers']] == [2041]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
