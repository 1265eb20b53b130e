# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vastai_offer_info through its real main() against the fake Vast.ai API."""

from __future__ import annotations

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.modules import vastai_offer_info
from tests.fakes.base import Fault
from tests.fakes.vastai import FakeVast

KEY = 'vast-test-key-offers-0123456789'


@pytest.fixture
def fake(fast_client):
    server = FakeVast(api_key=KEY, rate_limits={}).start()
    yield server
    server.stop()
    assert server.internal_errors == []


@pytest.fixture
def run(run_module, fake):
    def _run(check_mode=False, **kwargs):
        args = dict(api_key=KEY, api_url=fake.url)
        args.update(kwargs)
        return run_module(vastai_offer_info, args, check_mode=check_mode)
    return _run


def search_bodies(fake):
    return [c['body'] for c in fake.calls_to('POST', r'^/api/v0/bundles/')]


def test_eight_h100_sxm_cheapest_first(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8)
    assert not result.failed and not result.changed
    offers = result['offers']
    assert [o['id'] for o in offers] == [2001, 2006, 2003, 2005, 2008]
    assert all(o['verification'] == 'verified' and o['num_gpus'] == 8 for o in offers)
    prices = [o['dph_total'] for o in offers]
    assert prices == sorted(prices)
    body = search_bodies(fake)[0]
    assert body['gpu_name'] == {'eq': 'H100 SXM'} and body['order'] == [['dph_total', 'asc']]
    assert body['type'] == 'on-demand' and body['limit'] == 20


def test_unverified_included_on_request(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8, verified_only=False)
    assert [o['id'] for o in result['offers']][:2] == [2007, 2002]


def test_include_unavailable_shows_rented_offers(run, fake):
    ids = [o['id'] for o in run(gpu_name='H100 SXM', num_gpus=8, include_unavailable=True)['offers']]
    assert 2004 in ids
    assert 'rented' not in search_bodies(fake)[0]


def test_countries_price_disk_reliability_cuda(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8, countries=['us', 'ca'], max_price_per_hour=16,
                 min_reliability=0.99, disk_gb=500, min_cuda_version=12.8)
    assert [o['id'] for o in result['offers']] == [2001, 2006]
    body = search_bodies(fake)[0]
    assert body['geolocation'] == {'in': ['US', 'CA']} and body['allocated_storage'] == 500.0
    assert body['disk_space'] == {'gte': 500.0} and body['dph_total'] == {'lte': 16.0}
    # Storage at 500 GB is priced in.
    assert result['offers'][0]['dph_total'] == pytest.approx(15.20 + 0.15 * 500 / 720.0, abs=1e-4)


def test_raw_filters_with_every_operator(run, fake):
    result = run(verified_only=False, filters={
        'gpu_name': {'in': ['H100 SXM', 'H200']}, 'num_gpus': {'gte': 4, 'neq': 1},
        'geolocation': {'notin': ['JP', 'SE']}, 'reliability': {'gt': 0.99}, 'cuda_vers': {'gte': 12.8},
        'dph_total': {'lt': 17.0}, 'cpu_ram': {'lte': 2048000}, 'verification': {'eq': 'verified'}})
    assert not result.failed, result
    assert [o['id'] for o in result['offers']] == [2012, 2001, 2006, 2003]
    assert search_bodies(fake)[0]['cuda_max_good'] == {'gte': 12.8}


def test_order_and_limit(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8, order=['reliability desc', 'dph_total'], limit=2)
    assert [o['id'] for o in result['offers']] == [2003, 2005]
    assert search_bodies(fake)[0]['order'] == [['reliability', 'desc'], ['dph_total', 'asc']]


def test_bid_type_prices_at_the_minimum_bid(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8, type='interruptible', limit=1)
    assert search_bodies(fake)[0]['type'] == 'bid'
    assert result['offers'][0]['is_bid'] is True
    assert result['offers'][0]['dph_total'] < 10


def test_jmespath_query_filters_sorts_and_reshapes(run, fake):
    result = run(gpu_name='H100 SXM', num_gpus=8, query="sort_by([?reliability > `0.998`], &dph_total)[].{id: id, where: geolocation}")
    assert result['offers'] == [{'id': 2003, 'where': 'Hesse, DE'}, {'id': 2005, 'where': 'Quebec, CA'},
                                {'id': 2008, 'where': 'Tokyo, JP'}]
    scalar = run(gpu_name='H100 SXM', num_gpus=8, query='[0].id')
    assert scalar['offers'] == [2001]
    assert run(gpu_name='H100 SXM', num_gpus=8, query='[?num_gpus > `8`] | [0]')['offers'] == []


def test_invalid_jmespath_fails_before_any_request(run, fake):
    result = run(query='[?')
    assert result.failed and 'JMESPath' in result['msg'] and fake.calls == []


def test_missing_jmespath_is_reported(run, fake, monkeypatch):
    monkeypatch.setattr(vastai_offer_info, 'HAS_JMESPATH', False)
    result = run(query='[0]')
    assert result.failed and 'jmespath' in result['msg'] and fake.calls == []
    assert not run(gpu_name='H200').failed


def test_underscored_gpu_name_is_corrected(run, fake):
    result = run(gpu_name='H100_SXM', num_gpus=8)
    assert len(result['offers']) == 5
    assert any('H100 SXM' in (w['event']['msg'] if isinstance(w, dict) else w) for w in result['warnings'])


def test_underscores_in_raw_filters_are_corrected_too(run, fake):
    result = run(filters={'gpu_name': {'in': ['H100_SXM']}, 'num_gpus': {'eq': 8}})
    assert search_bodies(fake)[0]['gpu_name'] == {'in': ['H100 SXM']}
    assert len(result['offers']) == 5


@pytest.mark.parametrize('options, text', [
    (dict(filters={'colour': {'eq': 1}}), "unknown offer field 'colour'"),
    (dict(filters={'num_gpus': {'about': 8}}), "unknown operator 'about'"),
    (dict(filters={'num_gpus': {'in': 8}}), 'needs a list'),
    (dict(filters={'num_gpus': {'eq': [8]}}), 'needs a single value'),
    (dict(order=['price']), "unknown offer field 'price'"),
    (dict(order=['dph_total sideways']), 'FIELD desc'),
    (dict(countries=['United States']), 'two-letter'),
    (dict(limit=0), 'limit must be at least 1'),
    (dict(min_reliability=-0.1), 'between 0 and 1'),
])
def test_bad_input_fails_before_any_request(run, fake, options, text):
    result = run(**options)
    assert result.failed and text in result['msg'], result['msg']
    assert fake.calls == []


def test_no_match_is_an_empty_list(run, fake):
    result = run(gpu_name='B300', num_gpus=8)
    assert not result.failed and result['offers'] == []


def test_search_quota_fails_fast(run_module, fast_client):
    with FakeVast(api_key=KEY, rate_limits={}, search_quota=1, search_quota_retry_after=36000) as server:
        args = dict(api_key=KEY, api_url=server.url, gpu_name='H100 SXM')
        assert not run_module(vastai_offer_info, args).failed
        result = run_module(vastai_offer_info, args)
        assert result.failed
        assert 'HTTP 429' in result['msg'] and 'search_quota_exceeded' in result['msg'] and 'midnight UTC' in result['msg']
        assert len(server.calls_to('POST', r'^/api/v0/bundles/')) == 2


def test_short_429_and_502_are_retried(run, fake):
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/bundles', status=429, body='API requests too frequent',
                         content_type='text/plain'))
    fake.add_fault(Fault(method='POST', path=r'^/api/v0/bundles', status=502, body='bad gateway', content_type='text/plain'))
    result = run(gpu_name='H200')
    assert not result.failed and [o['id'] for o in result['offers']] == [2041]
    assert [c['status'] for c in fake.calls_to('POST', r'^/api/v0/bundles')] == [429, 502, 200]


def test_wrong_key_answered_with_404(run, fake):
    result = run(api_key='bad-key', gpu_name='H200')
    assert result.failed
    assert 'HTTP 404' in result['msg'] and 'auth_error' in result['msg'] and 'VAST_API_KEY' in result['msg']
