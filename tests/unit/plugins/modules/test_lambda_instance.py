# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lambda_instance through its real main() against the Lambda Cloud fake."""

from __future__ import annotations

import json
import threading
import time

import pytest


from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _common
from ansible_collections.nanochat.remote_gpu.plugins.modules import lambda_instance
from tests.fakes.lambda_cloud import FakeLambda, example_public_key

KEY = 'lambda-secret-key-7f3a9c'
H100 = 'gpu_8x_h100_sxm5'


@pytest.fixture
def fake(monkeypatch, fast_client):
    monkeypatch.setitem(_common.RATE_LIMITS, 'lambda', {})
    instance = FakeLambda(api_key=KEY, boot_delay=0.3, terminate_delay=0.1, gone_delay=0.3, rate_limits={}).start()
    instance.add_ssh_key('nanochat', example_public_key('me@laptop'))
    instance.set_capacity(H100, ['us-west-1', 'us-south-1'])
    monkeypatch.setenv('LAMBDA_API_KEY', KEY)
    monkeypatch.setenv('LAMBDA_API_URL', instance.url)
    yield instance
    instance.stop()
    assert instance.internal_errors == []


@pytest.fixture
def run(run_module):
    def _run(args=None, **kwargs):
        params = dict(name='speedrun', instance_type=H100, ssh_key_name='nanochat')
        params.update(args or {})
        params = dict((k, v) for k, v in params.items() if v is not None)
        result = run_module(lambda_instance, params, **kwargs)
        assert KEY not in json.dumps(result)
        return result
    return _run


def warning_texts(result):
    """Warnings as text (ansible-core 2.19 returns them as structured summaries)."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings') or []]


def launches(fake):
    return fake.calls_to('POST', '/instance-operations/launch$')


def test_launch_waits_until_active_with_ip_then_is_idempotent(fake, run):
    result = run(dict(tags={'project': 'nanochat'}))
    assert result.changed and not result.failed
    instance = result['instance']
    assert instance['status'] == 'running' and instance['provider_status'] == 'active'
    assert instance['ssh_host'] and instance['ssh_port'] == 22 and instance['ssh_user'] == 'ubuntu'
    assert instance['name'] == 'speedrun'
    assert instance['gpu_count'] == 8
    assert instance['price_per_hour'] == pytest.approx(23.92)
    assert instance['region'] == 'us-west-1'
    assert instance['raw']['jupyter_token'] == '********'
    assert [c['body'] for c in launches(fake)] == [{
        'instance_type_name': H100, 'ssh_key_names': ['nanochat'], 'name': 'speedrun', 'region_name': 'us-west-1',
        'tags': [{'key': 'project', 'value': 'nanochat'}]}]

    writes = len(fake.writes())
    again = run(dict(tags={'project': 'nanochat'}))
    assert not again.changed and warning_texts(again) == []
    assert again['instance']['id'] == instance['id']
    assert len(fake.writes()) == writes


def test_running_is_the_same_as_present(fake, run):
    first = run(dict(state='running'))
    assert first.changed and first['instance']['status'] == 'running'
    assert not run(dict(state='running')).changed


def test_check_mode_sends_no_write_and_predicts(fake, run):
    result = run(dict(region=['us-east-1', 'us-south-1']), check_mode=True, diff=True)
    assert result.changed
    predicted = result['instance']
    assert predicted['id'] is None
    assert predicted['region'] == 'us-south-1'
    assert predicted['price_per_hour'] == pytest.approx(23.92)
    assert predicted['status'] == 'pending'
    assert result['diff']['before'] == {'state': 'absent'}
    assert result['diff']['after']['state'] == 'present' and result['diff']['after']['gpu_count'] == 8
    assert fake.writes() == []
    assert fake.live_instances() == []


def test_diff_on_launch(fake, run):
    result = run(diff=True)
    assert result['diff']['before'] == {'state': 'absent'}
    assert result['diff']['after']['ssh_host'] == result['instance']['ssh_host']


def test_wait_false_returns_the_booting_instance(fake, run):
    result = run(dict(wait=False))
    assert result.changed
    assert result['instance']['status'] == 'pending' and result['instance']['provider_status'] == 'booting'
    assert result['instance']['id']


def test_existing_booting_instance_is_waited_for_without_a_launch(fake, run):
    run(dict(wait=False))
    result = run()
    assert not result.changed
    assert result['instance']['status'] == 'running'
    assert len(launches(fake)) == 1


def test_two_instances_with_the_name_fail_clearly(fake, run):
    a = run(dict(wait=False))['instance']['id']
    fake.add_ssh_key('other')
    b = run(dict(name='other-name', wait=False))['instance']['id']
    fake.instances[b]['name'] = 'speedrun'
    writes = len(fake.writes())
    result = run()
    assert result.failed
    assert '2 Lambda instances are named "speedrun"' in result['msg']
    assert a in result['msg'] and b in result['msg']
    assert len(fake.writes()) == writes


def test_created_but_500_leaves_exactly_one_instance(fake, run):
    fake.add_fault(method='POST', path='/instance-operations/launch$', status=500, mode='apply',
                   body={'error': {'code': 'global/internal-error', 'message': 'An internal server error occurred.'}})
    result = run()
    assert result.changed and not result.failed
    assert len(fake.live_instances('speedrun')) == 1
    assert result['instance']['id'] == fake.live_instances('speedrun')[0]['id']
    assert len(launches(fake)) == 1
    assert not run().changed
    assert len(fake.live_instances('speedrun')) == 1


def test_launch_with_an_unknown_outcome_is_never_sent_again(fake, run):
    fake.add_fault(method='POST', path='/instance-operations/launch$', status=503, mode='respond')
    result = run()
    assert result.failed and result['create_outcome'] == 'unknown'
    assert result['msg'].startswith('Lambda Cloud: the outcome of creating instance "speedrun" is UNKNOWN')
    assert [c['status'] for c in launches(fake)] == [503]
    assert fake.live_instances('speedrun') == []


def test_never_ready_within_wait_timeout_fails_with_last_status_and_cleanup_hint(fake, run):
    fake.boot_delay = 60
    result = run(dict(wait_timeout=1))
    assert result.failed
    assert "last status seen: pending (provider status 'booting')" in result['msg']
    assert 'state=absent' in result['msg'] and 'teardown.yml' in result['msg']
    assert result['instance']['id'] == fake.live_instances('speedrun')[0]['id']


def test_instance_preempted_while_waiting_stops_the_wait(fake, run):
    fake.boot_delay = 60

    def preempt_once_launched():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            live = fake.live_instances('speedrun')
            if live:
                fake.preempt(live[0]['id'])
                return
            time.sleep(0.01)
    watcher = threading.Thread(target=preempt_once_launched)
    watcher.start()
    try:
        result = run(dict(wait_timeout=10))
    finally:
        watcher.join()
    assert result.failed
    assert 'will not become ready: the instance is preempted' in result['msg']
    assert result['instance']['provider_status'] == 'preempted'


def test_absent_on_missing_is_no_change(fake, run):
    result = run(dict(state='absent'), diff=True)
    assert not result.changed and not result.failed
    assert result['instance'] is None
    assert fake.writes() == []


def test_absent_terminates_and_waits_until_terminated(fake, run):
    instance_id = run()['instance']['id']
    check = run(dict(state='absent'), check_mode=True, diff=True)
    assert check.changed and check['diff']['after'] == {'state': 'absent'}
    assert len(fake.calls_to('POST', 'terminate$')) == 0

    result = run(dict(state='absent'), diff=True)
    assert result.changed
    assert result['instance']['provider_status'] == 'terminated'
    assert result['diff']['before']['state'] == 'present' and result['diff']['after'] == {'state': 'absent'}
    assert [c['body'] for c in fake.calls_to('POST', 'terminate$')] == [{'instance_ids': [instance_id]}]
    assert fake.live_instances() == []
    assert not run(dict(state='absent')).changed


def test_absent_by_id(fake, run):
    instance_id = run(dict(wait=False))['instance']['id']
    result = run(dict(name=None, id=instance_id, state='absent', wait=False))
    assert result.changed and result['instance']['provider_status'] == 'terminating'


def test_absent_without_wait_returns_terminating(fake, run):
    run(dict(wait=False))
    result = run(dict(state='absent', wait=False))
    assert result.changed and result['instance']['status'] == 'terminated'
    assert result['instance']['provider_status'] == 'terminating'


def test_stopped_is_refused_with_a_clear_message(fake, run):
    result = run(dict(state='stopped'))
    assert result.failed
    assert 'Lambda Cloud cannot stop an instance' in result['msg']
    assert 'state=absent' in result['msg'] and 'billing' in result['msg']
    assert fake.calls == []


def test_restarted_restarts_an_active_instance(fake, run):
    instance_id = run()['instance']['id']
    assert run(dict(state='restarted'), check_mode=True).changed
    assert fake.calls_to('POST', 'restart$') == []
    result = run(dict(state='restarted'))
    assert result.changed and result['instance']['status'] == 'running'
    assert [c['body'] for c in fake.calls_to('POST', 'restart$')] == [{'instance_ids': [instance_id]}]


def test_restarted_on_a_booting_instance_explains_the_conflict(fake, run):
    fake.boot_delay = 60
    run(dict(wait=False))
    result = run(dict(state='restarted'))
    assert result.failed
    assert 'HTTP 409' in result['msg'] and 'global/conflict' in result['msg']
    assert 'only active instances' in result['msg']


def test_restarted_launches_a_missing_instance(fake, run):
    result = run(dict(state='restarted'))
    assert result.changed and result['instance']['status'] == 'running'
    assert len(launches(fake)) == 1 and fake.calls_to('POST', 'restart$') == []


def test_region_list_skips_sold_out_regions_and_falls_back_on_capacity_errors(fake, run):
    fake.set_capacity(H100, ['us-east-1', 'us-west-1', 'us-south-1'])
    fake.add_shortage('us-east-1', H100)
    result = run(dict(region=['asia-northeast-1', 'us-east-1', 'us-south-1']))
    assert result.changed and result['instance']['region'] == 'us-south-1'
    assert [c['body']['region_name'] for c in launches(fake)] == ['us-east-1', 'us-south-1']


def test_no_capacity_anywhere_fails_naming_type_regions_and_next_steps(fake, run):
    fake.set_capacity(H100, [])
    fake.set_capacity('gpu_8x_a100_80gb_sxm4', ['us-east-1'])
    result = run(dict(region=['us-west-1', 'us-south-1']))
    assert result.failed
    msg = result['msg']
    assert 'No capacity for Lambda Cloud instance type gpu_8x_h100_sxm5 (8x H100 (80 GB SXM5))' in msg
    assert 'us-west-1' in msg and 'us-south-1' in msg
    assert 'gpu_8x_a100_80gb_sxm4 (us-east-1)' in msg
    assert 'retry later' in msg
    assert fake.writes() == []


def test_capacity_refused_at_launch_in_every_region(fake, run):
    fake.add_shortage('us-west-1')
    fake.add_shortage('us-south-1')
    result = run()
    assert result.failed
    assert 'us-west-1 (insufficient capacity at launch)' in result['msg']
    assert 'us-south-1 (insufficient capacity at launch)' in result['msg']
    assert fake.live_instances() == []


def test_quota_exceeded_names_the_api_error_and_what_to_do(fake, run):
    fake.quota = 0
    result = run()
    assert result.failed
    assert 'HTTP 400 [global/quota-exceeded]: Quota exceeded.' in result['msg']
    assert 'lambda_instance_info' in result['msg']
    assert result['api_error']['code'] == 'global/quota-exceeded'


def test_wrong_key_gives_lambdas_401_message_and_the_env_var(fake, run, monkeypatch):
    monkeypatch.setenv('LAMBDA_API_KEY', 'not-the-key')
    result = run()
    assert result.failed
    assert 'HTTP 401' in result['msg'] and 'API key was invalid, expired, or deleted' in result['msg']
    assert 'LAMBDA_API_KEY' in result['msg']
    assert 'not-the-key' not in json.dumps(result)


def test_missing_key_fails_before_any_request(fake, run, monkeypatch):
    monkeypatch.delenv('LAMBDA_API_KEY')
    result = run()
    assert result.failed and 'LAMBDA_API_KEY' in result['msg']
    assert fake.calls == []


def test_api_key_and_url_as_options(fake, run, monkeypatch):
    monkeypatch.delenv('LAMBDA_API_KEY')
    monkeypatch.delenv('LAMBDA_API_URL')
    result = run(dict(api_key=KEY, api_url=fake.url, wait=False))
    assert result.changed


@pytest.mark.parametrize('args, fragment, any_call', [
    (dict(name='x' * 65), '64 characters', False),
    (dict(tags={'Bad Key': 'x'}), "tag key 'Bad Key'", False),
    (dict(tags={'project': 'x' * 129}), '128 characters', False),
    (dict(wait_timeout=-1), 'wait_timeout', False),
    (dict(instance_type='gpu_8x_h100'), 'did you mean', True),
    (dict(ssh_key_name='missing'), "SSH key 'missing' does not exist", True),
    (dict(region=['us-west-9']), 'unknown Lambda Cloud region(s): us-west-9', True),
    (dict(file_system_names=['nope']), 'unknown Lambda file system(s): nope', True),
    (dict(image={'family': 'no-such-image'}), "unknown Lambda Cloud image family 'no-such-image'", True),
    (dict(instance_type=None), 'launching one needs instance_type', True),
])
def test_bad_input_fails_before_any_write(fake, run, args, fragment, any_call):
    result = run(args)
    assert result.failed
    assert fragment in result['msg']
    assert fake.writes() == []
    if not any_call:
        assert fake.calls == []


def test_image_must_name_family_or_id(fake, run):
    result = run(dict(image={'family': 'ubuntu-lts', 'id': 'x'}))
    assert result.failed and 'mutually exclusive' in result['msg']
    assert fake.calls == []


def test_image_and_file_systems_are_sent(fake, run):
    fake.add_file_system('nanochat-data', region='us-south-1')
    result = run(dict(image={'family': 'lambda-stack-24-04'}, file_system_names=['nanochat-data']))
    assert result.changed and result['instance']['region'] == 'us-south-1'
    body = launches(fake)[0]['body']
    assert body['image'] == {'family': 'lambda-stack-24-04'}
    assert body['file_system_names'] == ['nanochat-data']


def test_existing_instance_with_other_settings_is_left_alone_with_a_warning(fake, run):
    run()
    writes = len(fake.writes())
    result = run(dict(instance_type='gpu_1x_a10', region=['us-east-1'], tags={'project': 'other'}))
    assert not result.changed and not result.failed
    warning = ' '.join(warning_texts(result))
    assert 'instance_type is gpu_8x_h100_sxm5, not gpu_1x_a10' in warning
    assert 'region is us-west-1' in warning and 'tags are' in warning
    assert len(fake.writes()) == writes


def test_present_by_id_needs_an_existing_instance(fake, run):
    result = run(dict(name=None, id='0' * 32))
    assert result.failed and 'launches by name only' in result['msg']
    assert fake.writes() == []


def test_name_and_id_that_disagree_fail(fake, run):
    instance_id = run(dict(wait=False))['instance']['id']
    result = run(dict(name='other', id=instance_id, state='absent'))
    assert result.failed and 'is named "speedrun", not "other"' in result['msg']
    assert fake.calls_to('POST', 'terminate$') == []


def test_get_429_with_and_without_retry_after_and_5xx_are_retried(fake, run):
    fake.add_fault(method='GET', path='/api/v1/instances$', status=429, headers={'Retry-After': '0'})
    fake.add_fault(method='GET', path='/api/v1/instance-types$', status=429)
    fake.add_fault(method='GET', path='/api/v1/ssh-keys$', status=502, times=2, body='Bad Gateway', content_type='text/plain')
    result = run(dict(wait=False))
    assert result.changed and not result.failed
    assert [c['status'] for c in fake.calls_to('GET', '/api/v1/instances$')] == [429, 200]
    assert [c['status'] for c in fake.calls_to('GET', '/api/v1/instance-types$')] == [429, 200]
    assert [c['status'] for c in fake.calls_to('GET', '/api/v1/ssh-keys$')] == [502, 502, 200]


def test_persistent_5xx_on_a_get_fails_clearly(fake, run):
    fake.add_fault(method='GET', path='/api/v1/instances$', status=503, times=50,
                   body={'error': {'code': 'provider/internal-unavailable', 'message': 'Provider unavailable',
                                   'suggestion': 'Try again shortly'}})
    result = run()
    assert result.failed
    assert 'Could not list Lambda instances to look up "speedrun"' in result['msg']
    assert 'HTTP 503 [provider/internal-unavailable]: Provider unavailable' in result['msg']
    assert len(fake.calls_to('GET', '/api/v1/instances$')) == 5
    assert fake.writes() == []


def test_default_pacing_against_default_limits_draws_no_429(monkeypatch, run):
    """Lambda's real limits on both sides (1 request/s, 1 launch/12 s): takes ~4 s."""
    assert _common.RATE_LIMITS['lambda'] == {'default': 1.0, 'launch': 12.0}
    fake = FakeLambda(api_key=KEY, boot_delay=0.1).start()
    try:
        fake.add_ssh_key('nanochat')
        fake.set_capacity(H100, ['us-west-1'])
        result = run(dict(api_key=KEY, api_url=fake.url))
        assert result.changed and result['instance']['status'] == 'running'
        assert [c['status'] for c in fake.calls] == [200] * len(fake.calls)
        assert len(fake.calls) == 5
    finally:
        fake.stop()
