# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Lambda Cloud adapter: normalization, SSH endpoint, prices, errors, launch planning and pacing."""

from __future__ import annotations

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import INSTANCE_KEYS, ssh_ready
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import (
    LambdaApi,
    LambdaError,
    is_finished,
    is_live,
    normalize,
    normalize_instance_type,
    tags_from_api,
    tags_to_api,
)
from tests.fakes.base import Fault
from tests.fakes.lambda_cloud import FakeLambda, example_public_key

KEY = 'lambda-adapter-key-4242'

# The spec's example instance (from the terminate response), status changed to active.
SPEC_INSTANCE = {
    'id': '0920582c7ff041399e34823a0be62549', 'name': 'My Instance', 'ip': '198.51.100.2', 'private_ip': '10.0.2.100',
    'status': 'active', 'ssh_key_names': ['My SSH key'], 'file_system_names': ['my-filesystem'],
    'region': {'name': 'us-west-1', 'description': 'California, USA'},
    'instance_type': {'name': 'gpu_8x_example', 'description': '8x Example GPU (40 GB SXM4)',
                      'gpu_description': 'Example GPU (40 GB SXM4)', 'price_cents_per_hour': 1592,
                      'specs': {'vcpus': 124, 'memory_gib': 1800, 'storage_gib': 6144, 'gpus': 8}},
    'hostname': '198.51.100.2', 'jupyter_token': '03b7d30d9d3e4d8fa41657bc0d478c1b',
    'jupyter_url': 'https://jupyter-249e1ccff1894822af39ac822637f881.lambdaspaces.com/?token=03b7d30d9d3e4d8fa41657bc0d478c1b',
    'actions': {'restart': {'available': True}, 'terminate': {'available': True}},
    'tags': [{'key': 'key1', 'value': 'value1'}],
}


def with_status(status, **changes):
    obj = dict(SPEC_INSTANCE, status=status, **changes)
    return dict((k, v) for k, v in obj.items() if v is not None)


# --- normalization ---------------------------------------------------------------------------

def test_active_instance_with_ip_is_running_on_port_22_as_ubuntu():
    inst = normalize(SPEC_INSTANCE)
    assert set(inst) == set(INSTANCE_KEYS)
    assert inst['provider'] == 'lambda'
    assert inst['id'] == '0920582c7ff041399e34823a0be62549'
    assert inst['name'] == 'My Instance'
    assert (inst['status'], inst['provider_status']) == ('running', 'active')
    assert (inst['ssh_host'], inst['ssh_port'], inst['ssh_user']) == ('198.51.100.2', 22, 'ubuntu')
    assert inst['gpu_type'] == 'Example GPU (40 GB SXM4)'
    assert inst['gpu_count'] == 8
    assert inst['price_per_hour'] == pytest.approx(15.92)
    assert inst['region'] == 'us-west-1'
    assert ssh_ready(inst)


def test_jupyter_token_never_reaches_the_normalized_instance():
    text = repr(normalize(SPEC_INSTANCE))
    assert '03b7d30d9d3e4d8fa41657bc0d478c1b' not in text
    assert normalize(SPEC_INSTANCE)['raw']['jupyter_token'] == '********'


@pytest.mark.parametrize('status, ip, expected', [
    ('booting', None, 'pending'),
    ('unhealthy', '198.51.100.2', 'pending'),
    ('active', None, 'pending'),
    ('active', '198.51.100.2', 'running'),
    ('terminating', '198.51.100.2', 'terminated'),
    ('terminated', None, 'terminated'),
    ('preempted', '198.51.100.2', 'terminated'),
    ('some-new-status', None, 'pending'),
])
def test_status_map(status, ip, expected):
    inst = normalize(with_status(status, ip=ip))
    assert inst['status'] == expected
    assert inst['provider_status'] == status
    assert ssh_ready(inst) == (expected == 'running')
    if expected == 'terminated':
        assert inst['ssh_host'] is None and inst['ssh_port'] is None


def test_booting_instance_without_optional_fields():
    obj = {'id': 'a' * 32, 'status': 'booting', 'ssh_key_names': ['k'], 'file_system_names': [],
           'region': {'name': 'us-east-1', 'description': 'Virginia, USA'},
           'instance_type': {'name': 'gpu_1x_a10', 'description': '1x A10', 'gpu_description': 'A10 (24 GB PCIe)',
                             'price_cents_per_hour': 75, 'specs': {'gpus': 1}}, 'actions': {}}
    inst = normalize(obj)
    assert inst['name'] is None
    assert inst['ssh_host'] is None and inst['ssh_port'] is None
    assert inst['price_per_hour'] == pytest.approx(0.75)


def test_live_and_finished():
    assert is_live(normalize(with_status('booting', ip=None)))
    assert is_live(normalize(with_status('unhealthy')))
    assert not is_live(normalize(with_status('terminating')))
    assert is_finished(None)
    assert is_finished(normalize(with_status('preempted')))
    assert not is_finished(normalize(with_status('terminating')))


def test_instance_type_prices_in_dollars_per_instance_and_per_gpu():
    item = {'instance_type': {'name': 'gpu_8x_h100_sxm5', 'description': '8x H100 (80 GB SXM5)',
                              'gpu_description': 'H100 (80 GB SXM5)', 'price_cents_per_hour': 2392,
                              'specs': {'vcpus': 208, 'memory_gib': 1800, 'storage_gib': 24780, 'gpus': 8}},
            'regions_with_capacity_available': [{'name': 'us-west-1', 'description': 'California, USA'}]}
    entry = normalize_instance_type('gpu_8x_h100_sxm5', item)
    assert entry['price_per_hour'] == pytest.approx(23.92)
    assert entry['price_per_gpu_hour'] == pytest.approx(2.99)
    assert entry['gpu_count'] == 8
    assert entry['regions_with_capacity'] == ['us-west-1']
    assert entry['region_descriptions'] == {'us-west-1': 'California, USA'}
    assert entry['available'] is True
    sold_out = normalize_instance_type('gpu_8x_h100_sxm5', dict(item, regions_with_capacity_available=[]))
    assert sold_out['available'] is False and sold_out['regions_with_capacity'] == []


def test_tags_round_trip_and_validation():
    assert tags_to_api({'project': 'nanochat', 'run-id': 7, 'team:ml': True}) == [
        {'key': 'project', 'value': 'nanochat'}, {'key': 'run-id', 'value': '7'}, {'key': 'team:ml', 'value': 'true'}]
    assert tags_from_api([{'key': 'a1', 'value': 'b'}]) == {'a1': 'b'}
    for bad in ({'Project': 'x'}, {'p': 'x'}, {'1abc': 'x'}, {'a_b': 'x'}, {'a' * 56: 'x'}, {'ok': 'x' * 129}, {'ok': ['x']}):
        with pytest.raises(LambdaError):
            tags_to_api(bad)


# --- against the fake ------------------------------------------------------------------------

@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', {})
    monkeypatch.setattr(_common, 'CLIENT_OPTIONS', dict(backoff_base=0.01, backoff_cap=0.02))
    instance = FakeLambda(api_key=KEY, boot_delay=0.2, rate_limits={}).start()
    instance.add_ssh_key('nanochat', example_public_key('me@laptop'))
    yield instance
    instance.stop()
    assert instance.internal_errors == []


def make_api(fake, key=KEY):
    return LambdaApi(_common.make_client('lambda', key, fake.url))


def test_list_is_one_request_and_find_by_name_filters_it(fake):
    api = make_api(fake)
    plan = api.plan_launch('a', 'gpu_1x_a10', 'nanochat')
    api.launch_planned(plan)
    api.launch_planned(api.plan_launch('b', 'gpu_1x_a10', 'nanochat'))
    del fake.calls[:]
    assert [i['name'] for i in api.find_by_name('b')] == ['b']
    assert len(fake.calls) == 1 and fake.calls[0]['path'] == '/api/v1/instances'


def test_get_instance_is_none_once_gone_and_terminate_of_gone_is_empty(fake):
    api = make_api(fake)
    assert api.get_instance('f' * 32) is None
    assert api.terminate(['f' * 32]) == []


def test_errors_carry_lambda_code_message_and_suggestion(fake):
    api = make_api(fake, key='wrong-key')
    with pytest.raises(ApiError) as caught:
        api.list_instances()
    err = caught.value
    assert (err.status, err.code) == (401, 'global/invalid-api-key')
    assert 'API key was invalid, expired, or deleted' in str(err)
    assert 'wrong-key' not in str(err)


def test_missing_data_envelope_is_an_error(fake):
    fake.add_fault(method='GET', path='/api/v1/instances$', status=200, body={'instances': []})
    with pytest.raises(ApiError) as caught:
        make_api(fake).list_instances()
    assert 'no "data" envelope' in str(caught.value)


def test_ssh_keys_never_return_a_private_key(fake):
    api = make_api(fake)
    fake.add_fault(method='POST', path='/ssh-keys$', status=200, mode='respond',
                   body={'data': {'id': 'b' * 32, 'name': 'x', 'public_key': 'ssh-ed25519 AAAA', 'private_key': 'SECRET'}})
    assert api.add_ssh_key('x', example_public_key()) == {'id': 'b' * 32, 'name': 'x', 'public_key': 'ssh-ed25519 AAAA'}
    with pytest.raises(LambdaError):
        api.add_ssh_key('x', '')
    assert api.delete_ssh_key('c' * 32) is False


# --- launch planning -----------------------------------------------------------------------------

def test_plan_checks_type_key_region_and_skips_regions_without_capacity(fake):
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    api = make_api(fake)
    plan = api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', regions=['us-east-1', 'us-south-1', 'us-west-1'],
                           tags={'project': 'nanochat'}, image={'family': 'lambda-stack-24-04', 'id': None})
    assert plan.regions == ['us-south-1', 'us-west-1']
    assert plan.skipped == {'us-east-1': 'no capacity listed by GET /instance-types'}
    assert plan.request == {'instance_type_name': 'gpu_8x_h100_sxm5', 'ssh_key_names': ['nanochat'], 'name': 'run',
                            'tags': [{'key': 'project', 'value': 'nanochat'}], 'image': {'family': 'lambda-stack-24-04'}}
    predicted = plan.predicted()
    assert predicted['id'] is None and predicted['region'] == 'us-south-1'
    assert predicted['price_per_hour'] == pytest.approx(23.92) and predicted['gpu_count'] == 8
    assert fake.writes() == []


@pytest.mark.parametrize('kwargs, fragment', [
    (dict(instance_type='gpu_8x_h100_sxm'), "did you mean gpu_8x_h100_sxm5"),
    (dict(ssh_key_name='nope'), "SSH key 'nope' does not exist"),
    (dict(regions=['us-wset-1']), 'unknown Lambda Cloud region(s): us-wset-1'),
    (dict(file_system_names=['nope']), 'unknown Lambda file system(s): nope'),
    (dict(image={'family': 'lambda-stack-24-4'}), "did you mean lambda-stack-24-04"),
])
def test_plan_refuses_bad_input_before_any_write(fake, kwargs, fragment):
    args = dict(instance_type='gpu_8x_h100_sxm5', ssh_key_name='nanochat')
    args.update(kwargs)
    with pytest.raises(LambdaError) as caught:
        make_api(fake).plan_launch('run', **args)
    assert fragment in str(caught.value)
    assert caught.value.kind == 'input'
    assert fake.writes() == []


def test_plan_without_capacity_names_type_regions_and_alternatives(fake):
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-south-1'])
    fake.set_capacity('gpu_8x_a100_80gb_sxm4', ['us-east-1'])
    with pytest.raises(LambdaError) as caught:
        make_api(fake).plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', regions=['us-west-1'])
    text = str(caught.value)
    assert caught.value.kind == 'capacity'
    assert 'gpu_8x_h100_sxm5 (8x H100 (80 GB SXM5)) in us-west-1' in text
    assert 'Regions with capacity for gpu_8x_h100_sxm5 right now: us-south-1' in text
    assert 'gpu_8x_a100_80gb_sxm4 (us-east-1)' in text
    assert 'Nothing was launched' in text


def test_plan_restricts_regions_to_the_file_systems_region(fake):
    fake.add_file_system('data', region='us-south-1')
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    api = make_api(fake)
    plan = api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', file_system_names=['data'])
    assert plan.regions == ['us-south-1']
    assert plan.request['file_system_names'] == ['data']
    with pytest.raises(LambdaError) as caught:
        api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', regions=['us-west-1'], file_system_names=['data'])
    assert 'us-south-1, which is not in region' in str(caught.value)


def test_launch_moves_to_the_next_region_on_insufficient_capacity(fake):
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    fake.add_shortage('us-west-1')
    api = make_api(fake)
    instance_id, region, attempts = api.launch_planned(api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat'))
    assert region == 'us-south-1'
    assert attempts == [('us-west-1', 'insufficient capacity at launch')]
    assert [c['body']['region_name'] for c in fake.calls_to('POST', 'launch$')] == ['us-west-1', 'us-south-1']
    assert [i['id'] for i in fake.live_instances()] == [instance_id]


def test_launch_fails_with_capacity_message_when_every_region_refuses(fake):
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    fake.add_shortage('us-west-1')
    fake.add_shortage('us-south-1')
    api = make_api(fake)
    with pytest.raises(LambdaError) as caught:
        api.launch_planned(api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', regions=['us-east-1', 'us-west-1', 'us-south-1']))
    text = str(caught.value)
    assert caught.value.kind == 'capacity'
    for part in ('us-east-1 (no capacity listed', 'us-west-1 (insufficient capacity at launch)',
                 'us-south-1 (insufficient capacity at launch)'):
        assert part in text
    assert fake.live_instances() == []


def test_unknown_launch_outcome_that_landed_is_found_by_name(fake):
    fake.add_fault(Fault(method='POST', path='launch$', status=502, mode='apply', body='Bad Gateway', content_type='text/plain'))
    api = make_api(fake)
    instance_id, region, _attempts = api.launch_planned(api.plan_launch('run', 'gpu_1x_a10', 'nanochat'))
    assert region == 'us-east-1'
    assert [i['id'] for i in fake.live_instances('run')] == [instance_id]
    assert len(fake.calls_to('POST', 'launch$')) == 1
    assert len(fake.calls_to('GET', '/api/v1/instances$')) == 1


@pytest.mark.parametrize('status', [429, 500, 502])
def test_unknown_launch_outcome_is_never_sent_again(fake, status):
    """A 429 or 5xx on a launch may have launched (Lambda acts before answering): no second launch,
    in that region or another; the outcome is reported as unknown."""
    fake.add_fault(method='POST', path='launch$', status=status, mode='respond', times=10)
    api = make_api(fake)
    with pytest.raises(LambdaError) as caught:
        api.launch_planned(api.plan_launch('run', 'gpu_1x_a10', 'nanochat'))
    assert caught.value.kind == 'unknown'
    assert str(caught.value).startswith('Lambda Cloud: the outcome of creating instance "run" is UNKNOWN')
    assert 'teardown -e provider=lambda -e instance_name=run' in str(caught.value)
    assert len(fake.calls_to('POST', 'launch$')) == 1
    assert len(fake.calls_to('GET', '/api/v1/instances$')) > 2
    assert fake.live_instances() == []


def test_other_launch_refusals_are_raised_as_api_errors(fake):
    fake.quota = 0
    api = make_api(fake)
    with pytest.raises(ApiError) as caught:
        api.launch_planned(api.plan_launch('run', 'gpu_1x_a10', 'nanochat'))
    assert caught.value.code == 'global/quota-exceeded'
    assert len(fake.calls_to('POST', 'launch$')) == 1


# --- pacing ------------------------------------------------------------------------------------

def test_real_default_intervals_draw_no_429_from_the_documented_limits():
    """Client pacing at Lambda's documented limits against a fake enforcing them (takes ~4 s)."""
    assert _common.RATE_LIMITS['lambda'] == {'default': 1.0, 'launch': 12.0}
    fake = FakeLambda(api_key=KEY, boot_delay=0.1).start()
    try:
        assert fake.rate_limits == {'default': 1.0, 'launch': 12.0}
        fake.add_ssh_key('nanochat')
        api = make_api(fake)
        assert api.find_by_name('run') == []
        plan = api.plan_launch('run', 'gpu_1x_a10', 'nanochat')
        instance_id, _region, _attempts = api.launch_planned(plan)
        assert api.get_instance(instance_id)['id'] == instance_id
        assert len(fake.calls) == 5
        assert [c['status'] for c in fake.calls] == [200] * 5
    finally:
        fake.stop()


def test_launches_are_paced_apart_by_the_launch_interval(monkeypatch):
    """Scaled-down limits (same ratio as Lambda's): a region fallback needs a second launch, which
    must wait for the launch interval although the general one has passed."""
    limits = {'default': 0.05, 'launch': 0.6}
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', dict(limits))
    fake = FakeLambda(api_key=KEY, boot_delay=0.1, rate_limits=limits, rate_limit_slack=0.01).start()
    try:
        fake.add_ssh_key('nanochat')
        fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
        fake.add_shortage('us-west-1')
        api = make_api(fake)
        _id, region, _attempts = api.launch_planned(api.plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat'))
        assert region == 'us-south-1'
        assert [c['status'] for c in fake.calls_to('POST', 'launch$')] == [400, 200]
        assert 429 not in [c['status'] for c in fake.calls]
    finally:
        fake.stop()


def test_plan_skips_regions_where_the_image_is_missing(fake):
    fake.images = [i for i in fake.images if not (i['family'] == 'lambda-stack-24-04' and i['region']['name'] == 'us-west-1')]
    fake.set_capacity('gpu_8x_h100_sxm5', ['us-west-1', 'us-south-1'])
    plan = make_api(fake).plan_launch('run', 'gpu_8x_h100_sxm5', 'nanochat', image={'family': 'lambda-stack-24-04'})
    assert plan.regions == ['us-south-1']
    assert plan.skipped == {'us-west-1': 'the image is not available there'}
