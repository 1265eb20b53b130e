# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lambda_instance_type_info through its real main() against the Lambda Cloud fake."""

from __future__ import annotations

import json

import pytest


from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.modules import lambda_instance_type_info
from tests.fakes.lambda_cloud import INSTANCE_TYPES, FakeLambda

KEY = 'lambda-types-secret-2718'


@pytest.fixture
def fake(monkeypatch, fast_client):
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', {})
    instance = FakeLambda(api_key=KEY, rate_limits={}).start()
    instance.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    instance.set_capacity('gpu_8x_a100_80gb_sxm4', ['us-east-1'])
    monkeypatch.setenv('LAMBDA_API_KEY', KEY)
    monkeypatch.setenv('LAMBDA_API_URL', instance.url)
    yield instance
    instance.stop()
    assert instance.internal_errors == []


@pytest.fixture
def run(run_module):
    def _run(args=None, **kwargs):
        result = run_module(lambda_instance_type_info, dict(args or {}), **kwargs)
        assert KEY not in json.dumps(result)
        return result
    return _run


def names(result):
    return [t['name'] for t in result['instance_types']]


def warning_texts(result):
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings') or []]


def test_all_types_cheapest_first_with_prices_in_dollars(fake, run):
    result = run()
    assert not result.changed and not result.failed
    assert sorted(names(result)) == sorted(INSTANCE_TYPES)
    prices = [t['price_per_hour'] for t in result['instance_types']]
    assert prices == sorted(prices)
    h100 = [t for t in result['instance_types'] if t['name'] == 'gpu_8x_h100_sxm5'][0]
    assert h100 == {
        'name': 'gpu_8x_h100_sxm5', 'description': '8x H100 (80 GB SXM5)', 'gpu_description': 'H100 (80 GB SXM5)',
        'gpu_count': 8, 'price_per_hour': 23.92, 'price_per_gpu_hour': 2.99, 'vcpus': 208, 'memory_gib': 1800,
        'storage_gib': 24780, 'regions_with_capacity': ['us-west-1', 'us-south-1'],
        'region_descriptions': {'us-west-1': 'California, USA', 'us-south-1': 'Texas, USA'}, 'available': True}
    assert len(fake.calls) == 1


def test_filters_by_name_pattern_gpu_count_and_availability(fake, run):
    assert names(run(dict(name=['gpu_8x_*']))) == ['gpu_8x_a100_80gb_sxm4', 'gpu_8x_h100_sxm5']
    assert names(run(dict(name=['gpu_1x_a10', 'gpu_8x_h100_sxm5']))) == ['gpu_1x_a10', 'gpu_8x_h100_sxm5']
    assert set(names(run(dict(gpu_count=8)))) == {'gpu_8x_a100_80gb_sxm4', 'gpu_8x_h100_sxm5'}
    fake.set_capacity('gpu_8x_h100_sxm5', [])
    assert names(run(dict(gpu_count=8, available_only=True))) == ['gpu_8x_a100_80gb_sxm4']


def test_region_filter_limits_capacity_to_those_regions(fake, run):
    result = run(dict(name=['gpu_8x_*'], region=['us-south-1']))
    by_name = dict((t['name'], t) for t in result['instance_types'])
    assert by_name['gpu_8x_h100_sxm5']['regions_with_capacity'] == ['us-south-1']
    assert by_name['gpu_8x_h100_sxm5']['available'] is True
    assert by_name['gpu_8x_a100_80gb_sxm4']['available'] is False
    assert names(run(dict(gpu_count=8, region=['us-south-1'], available_only=True))) == ['gpu_8x_h100_sxm5']


def test_nothing_available_is_an_empty_list(fake, run):
    for name in INSTANCE_TYPES:
        fake.set_capacity(name, [])
    result = run(dict(available_only=True))
    assert not result.failed and result['instance_types'] == []


def test_unknown_region_fails_and_unknown_name_warns(fake, run):
    result = run(dict(region=['us-wset-1']))
    assert result.failed and 'Unknown Lambda Cloud region(s): us-wset-1' in result['msg']
    result = run(dict(name=['gpu_8x_h100']))
    assert not result.failed and result['instance_types'] == []
    assert "no instance type 'gpu_8x_h100' (did you mean gpu_8x_h100_sxm5?)" in ' '.join(warning_texts(result))


def test_bad_gpu_count_fails_before_any_request(fake, run):
    result = run(dict(gpu_count=0))
    assert result.failed and 'gpu_count' in result['msg']
    assert fake.calls == []


def test_check_mode_and_errors(fake, run, monkeypatch):
    assert run(check_mode=True)['instance_types']
    fake.add_fault(method='GET', path='/instance-types$', status=429, headers={'Retry-After': '0'})
    assert run()['instance_types']
    assert [c['status'] for c in fake.calls_to('GET', '/instance-types$')][-2:] == [429, 200]
    monkeypatch.setenv('LAMBDA_API_KEY', 'wrong')
    result = run()
    assert result.failed and 'HTTP 401' in result['msg'] and 'LAMBDA_API_KEY' in result['msg']
