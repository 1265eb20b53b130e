# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""runpod_gpu_info through its real main() against the strict RunPod fake."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import runpod_gpu_info
from tests.fakes.runpod import FakeRunPod

H100 = 'NVIDIA H100 80GB HBM3'
API_KEY = 'rp_gpu_key_never_printed_4d1e'


@pytest.fixture
def fake(fast_client):
    server = FakeRunPod(api_key=API_KEY, rate_limits={'minute': 10 ** 6, 'hour': 10 ** 6, 'day': 10 ** 6}).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, **args):
        params = dict(api_key=API_KEY, api_url=fake.url)
        params.update(args)
        result = run_module(runpod_gpu_info, params, check_mode=check_mode)
        assert API_KEY not in json.dumps(result)
        assert not result.changed
        return result
    return _run


def by_id(result):
    return dict((g['id'], g) for g in result['gpus'])


def test_catalog_with_prices_for_the_count_and_availability(run, fake):
    gpus = by_id(run(gpu_count=8, check_mode=True))
    h100 = gpus[H100]
    assert h100['name'] == 'H100 SXM' and h100['memory_gb'] == 80 and h100['manufacturer'] == 'NVIDIA'
    assert h100['price_per_gpu'] == 2.69 and h100['price_per_hour'] == pytest.approx(21.52)
    assert h100['availability'] == 'HIGH' and h100['max_count'] == 8 and h100['gpu_count'] == 8
    assert h100['data_centers'][0] == {'id': 'US-KS-2', 'name': 'US Kansas 2', 'availability': 'HIGH'}
    assert h100['available_data_centers'] == ['US-KS-2', 'US-TX-3', 'EU-RO-1']
    assert '13.0' in h100['cuda_versions']
    assert gpus['AMD Instinct MI300X OAM']['availability'] == 'NONE'
    assert gpus['AMD Instinct MI300X OAM']['cuda_versions'] == []
    assert fake.calls[0]['query'] == {'include': ['AVAILABILITY'], 'product': ['POD'], 'count': ['8'], 'cloud': ['SECURE']}
    assert len(fake.calls) == 1


def test_one_gpu_type_and_unknown_type(run, fake):
    result = run(gpu_type=H100, gpu_count=8, cloud_type='COMMUNITY')
    [gpu] = result['gpus']
    assert gpu['price_per_gpu'] == 2.29 and gpu['cloud_type'] == 'COMMUNITY'
    assert gpu['available_data_centers'] == ['US-GA-2']
    assert fake.calls[0]['path'] == '/v2/catalog/gpus/NVIDIA%20H100%2080GB%20HBM3'
    assert run(gpu_type='NVIDIA H100')['gpus'] == []


def test_available_only_follows_stock_the_tier_and_the_count(run, fake):
    names = set(by_id(run(gpu_count=8, available_only=True)))
    assert H100 in names and 'AMD Instinct MI300X OAM' not in names
    fake.set_availability(H100, 'NONE')
    assert H100 not in by_id(run(gpu_count=8, available_only=True))
    community = by_id(run(gpu_count=8, cloud_type='COMMUNITY', available_only=True))
    assert 'NVIDIA B200' not in community, 'not offered on the community cloud'
    assert 'NVIDIA H100 PCIe' not in community, 'community H100 PCIe pods have at most 4 GPUs'
    assert 'NVIDIA H100 PCIe' in by_id(run(gpu_count=4, cloud_type='COMMUNITY', available_only=True))


def test_country_codes(run, fake):
    gpus = by_id(run(country_codes=['ro'], available_only=True))
    assert set(gpus) == {H100, 'NVIDIA H200', 'NVIDIA L40S'}
    assert gpus[H100]['available_data_centers'] == ['EU-RO-1']
    assert fake.calls[0]['query']['countryCodes'] == ['RO']


def test_bad_input_sends_nothing(run, fake):
    assert 'country_codes' in run(country_codes=['Romania'])['msg']
    assert 'gpu_count' in run(gpu_count=0)['msg']
    assert fake.calls == []


def test_errors(run, fake):
    wrong = run(api_key='bad')
    assert wrong.failed and 'HTTP 401' in wrong['msg'] and 'RUNPOD_API_KEY' in wrong['msg']
