# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vastai_instance_info through its real main() against the fake Vast.ai API."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import VastApi
from ansible_collections.nanochat.remote_gpu.plugins.modules import vastai_instance_info
from tests.fakes.base import Fault
from tests.fakes.vastai import FakeVast, _offer

KEY = 'vast-test-key-info-0123456789'


@pytest.fixture
def fake(fast_client):
    offers = [_offer(3000 + i, 'RTX 4090', 1, 0.30 + i / 100.0, 'Ontario, CA') for i in range(40)]
    server = FakeVast(api_key=KEY, boot_delay=0.05, rate_limits={}, offers=offers).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def api(fake):
    return VastApi(make_client('vastai', KEY, fake.url))


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, **kwargs):
        args = dict(api_key=KEY, api_url=fake.url)
        args.update(kwargs)
        return run_module(vastai_instance_info, args, check_mode=check_mode)
    return _run


def test_empty_account(run, fake):
    result = run()
    assert not result.failed and not result.changed and result['instances'] == []
    assert not fake.calls_to('GET', r'^/api/v0/instances/?$')


def test_all_instances_follow_pagination(run, fake, api):
    ids = [api.create_instance(3000 + i, 'img', 'run-%d' % (i % 3), 20) for i in range(30)]
    result = run()
    assert not result.failed
    assert [i['id'] for i in result['instances']] == [str(i) for i in ids]
    pages = fake.calls_to('GET', r'^/api/v1/instances/$')
    assert len(pages) == 2 and 'after_token' in pages[1]['query']
    assert fake.writes() == [c for c in fake.calls if c['method'] == 'PUT']  # only the creates above


def test_by_name_returns_every_match(run, fake, api):
    api.create_instance(3000, 'img', 'speedrun', 20)
    api.create_instance(3001, 'img', 'other', 20)
    api.create_instance(3002, 'img', 'speedrun', 20)
    result = run(name='speedrun')
    assert [i['name'] for i in result['instances']] == ['speedrun', 'speedrun']
    assert json.loads(fake.calls_to('GET', r'^/api/v1/instances/$')[-1]['query']['select_filters'][0]) == \
        {'label': {'eq': 'speedrun'}}
    assert run(name='nothing')['instances'] == []


def test_by_id_and_gone_id(run, fake, api):
    new_id = api.create_instance(3000, 'img', 'speedrun', 20)
    result = run(id=new_id, check_mode=True)
    assert len(result['instances']) == 1 and result['instances'][0]['id'] == str(new_id)
    assert result['instances'][0]['provider'] == 'vastai'
    api.destroy_instance(new_id)
    assert run(id=new_id)['instances'] == []


def test_bad_id_fails_before_any_request(run, fake):
    result = run(id=0)
    assert result.failed and 'positive' in result['msg'] and fake.calls == []


def test_name_and_id_are_exclusive(run, fake):
    result = run(name='a', id=1)
    assert result.failed and 'mutually exclusive' in result['msg']


def test_wrong_key(run, fake):
    result = run(api_key='nope')
    assert result.failed and 'Invalid user key' in result['msg'] and 'VAST_API_KEY' in result['msg']


def test_errors_name_the_call_and_status(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=400,
                         body={'error': 'invalid_request', 'msg': 'Error in query parameters: nope'}))
    result = run()
    assert result.failed
    assert 'list instances' in result['msg'] and 'HTTP 400' in result['msg'] and 'nope' in result['msg']


def test_5xx_is_retried(run, fake, api):
    api.create_instance(3000, 'img', 'speedrun', 20)
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=503, body='busy', content_type='text/plain'))
    result = run(name='speedrun')
    assert not result.failed and len(result['instances']) == 1
    assert [c['status'] for c in fake.calls_to('GET', r'^/api/v1/instances')] == [503, 200]


def test_non_list_answer_is_an_error(run, fake):
    fake.add_fault(Fault(method='GET', path=r'^/api/v1/instances', status=200, body=[]))
    result = run()
    assert result.failed and 'unexpected_response' in result['msg']
