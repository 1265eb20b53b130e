# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""runpod_pod_info through its real main() against the strict RunPod fake."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import runpod_pod_info
from tests.fakes.base import Fault
from tests.fakes.runpod import FakeRunPod

H100 = 'NVIDIA H100 80GB HBM3'
API_KEY = 'rp_info_key_never_printed_91c2'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILXGDN/SclOozk1xsDztpmhGiKkkrfQB9SKoO8dSIQQZ me@example.com'


@pytest.fixture
def fake(fast_client):
    server = FakeRunPod(api_key=API_KEY, boot_delay=0.2, rate_limits={'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6})
    server.start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, **args):
        params = dict(api_key=API_KEY, api_url=fake.url)
        params.update(args)
        result = run_module(runpod_pod_info, params, check_mode=check_mode)
        assert API_KEY not in json.dumps(result)
        assert not result.changed
        return result
    return _run


def seed(fake, name, ready=True, **body):
    pod = {'name': name, 'image': 'img', 'gpu': {'id': H100, 'count': 8}, 'ports': ['22/tcp'],
           'env': {'PUBLIC_KEY': KEY, 'HF_TOKEN': 'hf_should_be_masked'}}
    pod.update(body)
    return fake.seed_pod(pod, ready=ready)


def test_empty_account(run, fake):
    assert run()['instances'] == []
    assert run(name='speedrun')['instances'] == []


def test_all_pods_with_one_list_call(run, fake):
    ready = seed(fake, 'speedrun')
    booting = seed(fake, 'other', ready=False)
    result = run(check_mode=True)
    by_id = dict((i['id'], i) for i in result['instances'])
    assert set(by_id) == {ready['id'], booting['id']}
    assert by_id[ready['id']]['status'] == 'running' and by_id[ready['id']]['ssh_port']
    assert by_id[booting['id']]['status'] == 'pending' and by_id[booting['id']]['ssh_host'] is None
    assert by_id[ready['id']]['price_per_hour'] == pytest.approx(21.52)
    assert 'hf_should_be_masked' not in json.dumps(result)
    assert [c['path'] for c in fake.calls] == ['/v2/pods']


def test_by_name_returns_every_match(run, fake):
    first, second = seed(fake, 'speedrun'), seed(fake, 'speedrun')
    seed(fake, 'other')
    instances = run(name='speedrun')['instances']
    assert sorted(i['id'] for i in instances) == sorted([first['id'], second['id']])


def test_by_id(run, fake):
    pod = seed(fake, 'speedrun')
    seed(fake, 'other')
    assert [i['id'] for i in run(id=pod['id'])['instances']] == [pod['id']]
    assert run(id='zzzzzzzzzzzzzz')['instances'] == []
    assert [c['path'] for c in fake.calls] == ['/v2/pods/' + pod['id'], '/v2/pods/zzzzzzzzzzzzzz']


def test_name_and_id_are_exclusive(run, fake):
    result = run(name='a', id='b')
    assert result.failed and 'mutually exclusive' in result['msg'] and fake.calls == []


def test_errors_name_the_call_status_and_message(run, fake):
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=403, body={'title': 'Forbidden', 'status': 403, 'detail': 'access denied'}))
    result = run()
    assert result.failed and 'GET /v2/pods' in result['msg'] and 'HTTP 403' in result['msg'] and 'access denied' in result['msg']
    wrong = run(api_key='not-the-key')
    assert wrong.failed and 'HTTP 401' in wrong['msg'] and 'RUNPOD_API_KEY' in wrong['msg']
    assert 'not-the-key' not in json.dumps(wrong)


def test_5xx_is_retried(run, fake):
    seed(fake, 'speedrun')
    fake.add_fault(Fault('GET', r'^/v2/pods$', status=502, times=2, body={'title': 'Bad Gateway', 'status': 502, 'detail': 'x'}))
    assert len(run()['instances']) == 1
    assert [c['status'] for c in fake.calls] == [502, 502, 200]
