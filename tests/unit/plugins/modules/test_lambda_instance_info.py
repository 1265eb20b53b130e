# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lambda_instance_info through its real main() against the Lambda Cloud fake."""

from __future__ import annotations

import json
import time

import pytest
import requests

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.modules import lambda_instance_info
from tests.fakes.lambda_cloud import FakeLambda

KEY = 'lambda-info-secret-31337'


@pytest.fixture
def fake(monkeypatch, fast_client):
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', {})
    instance = FakeLambda(api_key=KEY, boot_delay=0.05, rate_limits={}).start()
    instance.add_ssh_key('nanochat')
    monkeypatch.setenv('LAMBDA_API_KEY', KEY)
    monkeypatch.setenv('LAMBDA_API_URL', instance.url)
    yield instance
    instance.stop()
    assert instance.internal_errors == []


@pytest.fixture
def run(run_module):
    def _run(args=None, **kwargs):
        result = run_module(lambda_instance_info, dict(args or {}), **kwargs)
        assert KEY not in json.dumps(result)
        return result
    return _run


def launch(fake, name, instance_type='gpu_1x_a10', region='us-east-1'):
    response = requests.post(fake.url + '/api/v1/instance-operations/launch', headers={'Authorization': 'Bearer %s' % KEY},
                             json=dict(region_name=region, instance_type_name=instance_type, ssh_key_names=['nanochat'],
                                       name=name))
    assert response.status_code == 200
    return response.json()['data']['instance_ids'][0]


def test_empty_account(fake, run):
    result = run()
    assert not result.changed and not result.failed
    assert result['instances'] == []


def test_all_by_name_and_by_id(fake, run):
    a = launch(fake, 'speedrun')
    b = launch(fake, 'other')
    everything = run()
    assert sorted(i['id'] for i in everything['instances']) == sorted([a, b])
    assert len(fake.calls_to('GET', '/api/v1/instances$')) == 1

    by_name = run(dict(name='speedrun'))['instances']
    assert [i['id'] for i in by_name] == [a]
    instance = by_name[0]
    assert instance['provider'] == 'lambda' and instance['region'] == 'us-east-1'
    assert instance['price_per_hour'] == pytest.approx(0.75) and instance['gpu_count'] == 1

    by_id = run(dict(id=b))['instances']
    assert [i['name'] for i in by_id] == ['other']
    assert run(dict(name='nothing'))['instances'] == []
    assert run(dict(id='0' * 32))['instances'] == []


def test_running_instances_show_their_ssh_endpoint(fake, run):
    launch(fake, 'speedrun')
    time.sleep(0.1)
    instance = run(dict(name='speedrun'))['instances'][0]
    assert instance['status'] == 'running'
    assert (instance['ssh_port'], instance['ssh_user']) == (22, 'ubuntu') and instance['ssh_host']
    assert instance['raw']['jupyter_token'] == '********'


def test_works_in_check_mode(fake, run):
    launch(fake, 'speedrun')
    writes = len(fake.writes())
    result = run(dict(name='speedrun'), check_mode=True)
    assert len(result['instances']) == 1
    assert len(fake.writes()) == writes


def test_name_and_id_are_mutually_exclusive(fake, run):
    result = run(dict(name='a', id='b'))
    assert result.failed and 'mutually exclusive' in result['msg']
    assert fake.calls == []


def test_wrong_key(fake, run, monkeypatch):
    monkeypatch.setenv('LAMBDA_API_KEY', 'bad-key')
    result = run()
    assert result.failed
    assert 'HTTP 401' in result['msg'] and 'LAMBDA_API_KEY' in result['msg']
    assert 'bad-key' not in json.dumps(result)


def test_server_errors_are_retried_then_reported(fake, run):
    fake.add_fault(method='GET', path='/api/v1/instances$', status=502, body='bad gateway', content_type='text/plain')
    assert run()['instances'] == []
    fake.add_fault(method='GET', path='/api/v1/instances$', status=500, times=10,
                   body={'error': {'code': 'global/internal-error', 'message': 'An internal server error occurred.'}})
    result = run()
    assert result.failed
    assert 'Could not list Lambda instances' in result['msg'] and 'HTTP 500' in result['msg']
