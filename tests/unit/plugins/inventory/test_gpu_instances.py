# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gpu_instances inventory plugin, through the real ``ansible-inventory`` against the fakes.

Fixtures (conftest.py and helpers.py next to this file): ``clouds`` starts the strict RunPod, Lambda Cloud and
Vast.ai fakes in this process and seeds instances without HTTP; ``ansible`` runs the real Ansible
commands as subprocesses with the keys and URLs in their environment.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.inventory.gpu_instances import InventoryModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import make_client
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi
from tests.fakes.base import Fault
from tests.fakes.vastai import default_offers

from tests.unit.plugins.inventory.helpers import BIN, KEYS, PLUGIN, Clouds

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ALL = ['runpod', 'lambda', 'vastai']
SHORT = {'runpod': 'rp', 'lambda': 'la', 'vastai': 'va'}
FIELDS = ('provider', 'id', 'name', 'status', 'provider_status', 'ssh_host', 'ssh_port', 'ssh_user', 'gpu_type',
          'gpu_count', 'price_per_hour', 'region')
STATUS_GROUPS = ('status_pending', 'status_running', 'status_stopped', 'status_terminated', 'status_failed')


def stop_pod(clouds, pod_id):
    """Stop a pod through the API (RunPod has no other way to an EXITED pod), then forget the call."""
    RunPodApi(make_client('runpod', KEYS['runpod'], clouds.runpod.url)).pod_action(pod_id, 'stop')
    clouds.clear_calls()


def seed_mix(clouds):
    """Two ready instances per provider plus one per provider that cannot be connected to yet."""
    ids = dict(
        rp_a=clouds.pod('nanochat-rp-a'), rp_b=clouds.pod('nanochat-rp-b', gpu='NVIDIA H200', count=8),
        rp_booting=clouds.pod('nanochat-rp-booting', ready=False),
        rp_stopped=clouds.pod('nanochat-rp-stopped'),
        la_a=clouds.lambda_instance('nanochat-la-a'),
        la_b=clouds.lambda_instance('nanochat-la-b', instance_type='gpu_8x_h100_sxm5', region='us-west-1'),
        la_booting=clouds.lambda_instance('nanochat-la-booting', status='booting'),
        va_a=clouds.vast_instance('nanochat-va-a'), va_b=clouds.vast_instance('nanochat-va-b', offer_id=2003),
        va_loading=clouds.vast_instance('nanochat-va-loading', state='loading'),
        va_stopped=clouds.vast_instance('nanochat-va-stopped', state='stopped'),
    )
    stop_pod(clouds, ids['rp_stopped'])
    return ids


def endpoint(clouds, provider, instance_id):
    """Where the fake's machine for an instance answers: (host, port) as the API reports it."""
    booted = clouds.fakes[provider].machines.booted[(provider, instance_id)]
    # Lambda's API has no port field: SSH is on 22 there (the fake keeps the machine's real port aside).
    return booted['host'], 22 if provider == 'lambda' else booted['port']


# --- requests -----------------------------------------------------------------------------------

def test_one_list_request_per_provider_hosts_and_groups(clouds, ansible):
    ids = seed_mix(clouds)
    inv = ansible.inventory({'providers': ALL}, env=clouds.env())
    assert inv.rc == 0, inv.stderr

    # Exactly one list request per provider, and nothing else.
    for provider in ALL:
        calls = clouds.fakes[provider].calls
        assert [(c['method'], c['status']) for c in calls] == [('GET', 200)], (provider, calls)
        assert clouds.list_calls(provider) == calls

    ready = ['nanochat-la-a', 'nanochat-la-b', 'nanochat-rp-a', 'nanochat-rp-b', 'nanochat-va-a', 'nanochat-va-b']
    waiting = ['nanochat-la-booting', 'nanochat-rp-booting', 'nanochat-rp-stopped', 'nanochat-va-loading',
               'nanochat-va-stopped']
    assert inv.hosts == sorted(ready + waiting)
    assert inv.group('gpu_instances') == inv.hosts
    assert inv.group('runpod') == ['nanochat-rp-a', 'nanochat-rp-b', 'nanochat-rp-booting', 'nanochat-rp-stopped']
    assert inv.group('lambda') == ['nanochat-la-a', 'nanochat-la-b', 'nanochat-la-booting']
    assert inv.group('vastai') == ['nanochat-va-a', 'nanochat-va-b', 'nanochat-va-loading', 'nanochat-va-stopped']
    assert inv.group('nanochat') == ready
    assert inv.group('status_running') == ready
    assert inv.group('status_pending') == ['nanochat-la-booting', 'nanochat-rp-booting', 'nanochat-va-loading']
    assert inv.group('status_stopped') == ['nanochat-rp-stopped', 'nanochat-va-stopped']

    # Connection variables from the SSH endpoint each API reports.
    users = {'runpod': 'root', 'lambda': 'ubuntu', 'vastai': 'root'}
    for host, provider, key in [('nanochat-rp-a', 'runpod', 'rp_a'), ('nanochat-rp-b', 'runpod', 'rp_b'),
                                ('nanochat-la-a', 'lambda', 'la_a'), ('nanochat-la-b', 'lambda', 'la_b'),
                                ('nanochat-va-a', 'vastai', 'va_a'), ('nanochat-va-b', 'vastai', 'va_b')]:
        hv = inv.hostvars[host]
        assert (hv['ansible_host'], hv['ansible_port']) == endpoint(clouds, provider, ids[key]), host
        assert hv['ansible_user'] == users[provider]
        assert hv['instance_provider'] == provider and hv['instance_id'] == ids[key] and hv['instance_name'] == host
        assert (hv['instance_ssh_host'], hv['instance_ssh_port']) == (hv['ansible_host'], hv['ansible_port'])

    # Listed, but nothing to connect to.
    for host in waiting:
        hv = inv.hostvars[host]
        for name in ('ansible_host', 'ansible_port', 'ansible_user', 'ansible_ssh_common_args'):
            assert name not in hv, (host, name)
        assert hv['instance_ssh_host'] is None and hv['instance_status'] in ('pending', 'stopped')


def test_hostvars_hold_every_normalized_field(clouds, ansible):
    clouds.pod('rp-h200', gpu='NVIDIA H200', count=8)
    clouds.lambda_instance('la-8x', instance_type='gpu_8x_h100_sxm5', region='us-west-1')
    clouds.vast_instance('va-de', offer_id=2003)
    inv = ansible.inventory({'providers': ALL}, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    for host in inv.hosts:
        names = set(n for n in inv.hostvars[host] if n.startswith('instance_'))
        assert names == set('instance_' + f for f in FIELDS), host  # no instance_raw unless asked for
    rp, la, va = (inv.hostvars[h] for h in ('rp-h200', 'la-8x', 'va-de'))
    assert (rp['instance_gpu_type'], rp['instance_gpu_count'], rp['instance_provider_status']) == ('NVIDIA H200', 8, 'RUNNING')
    assert rp['instance_price_per_hour'] == pytest.approx(3.59 * 8)
    assert (la['instance_gpu_type'], la['instance_gpu_count'], la['instance_region']) == ('H100 (80 GB SXM5)', 8, 'us-west-1')
    assert la['instance_price_per_hour'] == pytest.approx(23.92) and la['instance_provider_status'] == 'active'
    assert (va['instance_gpu_type'], va['instance_gpu_count'], va['instance_region']) == ('H100 SXM', 8, 'Hesse, DE')
    assert va['instance_status'] == 'running' and isinstance(va['instance_price_per_hour'], float)
    # Strings from the APIs are data, not templates: ansible-inventory shows them marked unsafe.
    assert inv.raw_var('va-de', 'instance_name') == {'__ansible_unsafe': 'va-de'}
    assert inv.raw_var('va-de', 'ansible_host') == {'__ansible_unsafe': va['ansible_host']}


def test_vast_pagination_is_one_refresh(clouds, ansible):
    offers = default_offers()
    ids = [clouds.vast_instance('va-%02d' % i, offer_id=offers[i % len(offers)]['id']) for i in range(60)]
    inv = ansible.inventory({'providers': ['vastai']}, env=clouds.env(['vastai']))
    assert inv.rc == 0, inv.stderr
    assert sorted(inv.hostvars[h]['instance_id'] for h in inv.hosts) == sorted(ids)
    assert inv.group('nanochat') == ['va-%02d' % i for i in range(60)]
    pages = clouds.list_calls('vastai')
    # 60 instances, 25 a page: three pages following next_token, each answered (paced, no 429).
    assert [c['status'] for c in pages] == [200, 200, 200]
    assert 'after_token' not in pages[0]['query'] and all('after_token' in c['query'] for c in pages[1:])
    assert clouds.vastai.calls == pages


def test_provider_failure_fails_the_whole_inventory(clouds, ansible):
    clouds.pod('rp-a')
    clouds.vast_instance('va-a')
    clouds.vastai.add_fault(Fault('GET', r'^/api/v1/instances/?$', status=500, times=10,
                                  body={'success': False, 'error': 'server_error', 'msg': 'database unavailable'}))
    inv = ansible.inventory({'providers': ['runpod', 'vastai']}, env=clouds.env(['runpod', 'vastai']))
    assert inv.rc != 0
    assert 'listing Vast.ai instances failed' in inv.stderr and 'HTTP 500' in inv.stderr
    assert 'database unavailable' in inv.stderr
    # A 500 is not one of the statuses worth a retry (429, 502, 503, 504): reported at once, and
    # the RunPod hosts listed meanwhile are not published as a partial inventory.
    assert len(clouds.list_calls('vastai')) == 1 and len(clouds.list_calls('runpod')) == 1


def test_retryable_error_then_success(clouds, ansible):
    clouds.pod('rp-a')
    busy = {'title': 'Service Unavailable', 'status': 503, 'detail': 'busy'}
    clouds.runpod.add_fault(Fault('GET', r'^/v2/pods$', status=503, times=1, body=busy))
    inv = ansible.inventory({'providers': ['runpod']}, env=clouds.env(['runpod']))
    assert inv.rc == 0, inv.stderr
    assert inv.hosts == ['rp-a']
    assert [c['status'] for c in clouds.list_calls('runpod')] == [503, 200]


# --- cache --------------------------------------------------------------------------------------

def cache_config(ansible, **extra):
    config = {'providers': ALL, 'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile',
              'cache_connection': str(ansible.dir / 'cache'), 'cache_timeout': 3600}
    config.update(extra)
    return config


def test_cache_fresh_means_no_request_and_flush_refreshes(clouds, ansible):
    seed_mix(clouds)
    config = cache_config(ansible)
    first = ansible.inventory(config, env=clouds.env())
    assert first.rc == 0, first.stderr
    assert clouds.call_counts() == {'runpod': 1, 'lambda': 1, 'vastai': 1}
    assert glob.glob(str(ansible.dir / 'cache' / '*')), 'the cache was not written'

    second = ansible.inventory(config, env=clouds.env())
    assert second.rc == 0, second.stderr
    assert clouds.call_counts() == {'runpod': 1, 'lambda': 1, 'vastai': 1}  # nothing sent
    assert second.data == first.data

    # The cache is answered even when the world changed (that is what a cache is) ...
    clouds.pod('nanochat-rp-new')
    clouds.clear_calls()
    assert 'nanochat-rp-new' not in ansible.inventory(config, env=clouds.env()).hosts
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}

    # ... until --flush-cache: one list request per provider again, and the cache is rewritten.
    flushed = ansible.inventory(config, '--flush-cache', env=clouds.env())
    assert flushed.rc == 0, flushed.stderr
    assert 'nanochat-rp-new' in flushed.hosts
    assert clouds.call_counts() == {'runpod': 1, 'lambda': 1, 'vastai': 1}
    again = ansible.inventory(config, env=clouds.env())
    assert 'nanochat-rp-new' in again.hosts
    assert clouds.call_counts() == {'runpod': 1, 'lambda': 1, 'vastai': 1}


def test_cache_timeout_refreshes(clouds, ansible):
    clouds.pod('rp-a')
    # Expiry is made by ageing the cache file past cache_timeout (the jsonfile cache compares the
    # file's mtime with it), not by sleeping: a slow run can neither expire the cache early nor late.
    config = cache_config(ansible, providers=['runpod'], cache_timeout=600)
    env = clouds.env(['runpod'])
    assert ansible.inventory(config, env=env).hosts == ['rp-a']
    clouds.pod('rp-b')
    assert ansible.inventory(config, env=env).hosts == ['rp-a']
    assert len(clouds.list_calls('runpod')) == 1
    files = glob.glob(str(ansible.dir / 'cache' / '*'))
    assert len(files) == 1, files
    # 300 s old: still fresh (the 300 s margin covers any slow start of ansible-inventory).
    now = time.time()
    os.utime(files[0], (now - 300, now - 300))
    assert ansible.inventory(config, env=env).hosts == ['rp-a']
    assert len(clouds.list_calls('runpod')) == 1
    # 700 s old: expired, listed again.
    now = time.time()
    os.utime(files[0], (now - 700, now - 700))
    assert ansible.inventory(config, env=env).hosts == ['rp-a', 'rp-b']
    assert len(clouds.list_calls('runpod')) == 2


def test_cache_follows_the_providers_and_urls(clouds, ansible):
    clouds.pod('rp-a')
    clouds.vast_instance('va-a')
    config = cache_config(ansible, providers=['runpod'])
    env = clouds.env(['runpod', 'vastai'])
    assert ansible.inventory(config, env=env).hosts == ['rp-a']
    # Same file, one more provider: listed now rather than answered from the runpod-only cache.
    config['providers'] = ['runpod', 'vastai']
    assert ansible.inventory(config, env=env).hosts == ['rp-a', 'va-a']
    assert len(clouds.list_calls('vastai')) == 1
    # Another API URL (another account or endpoint) is another cache entry too.
    other = Clouds()
    try:
        other.pod('rp-other')
        env_other = dict(env, RUNPOD_API_URL=other.runpod.url)
        assert ansible.inventory(config, env=env_other).hosts == ['rp-other', 'va-a']
        assert len(other.list_calls('runpod')) == 1
    finally:
        other.stop()


def test_corrupt_cache_is_listed_again(clouds, ansible):
    clouds.pod('rp-a')
    config = cache_config(ansible, providers=['runpod'])
    env = clouds.env(['runpod'])
    assert ansible.inventory(config, env=env).hosts == ['rp-a']
    files = glob.glob(str(ansible.dir / 'cache' / '*'))
    assert len(files) == 1
    # Well-formed for the cache plugin (ansible-core 2.19 wraps each entry as {"__payload__": json}),
    # but not a list of instances (an older format, or someone else's data under that key).
    with open(files[0]) as handle:
        stored = json.load(handle)
    for bad in ({'not': 'a list of instances'}, [{'provider': 'runpod', 'id': 'x'}], ['rp-a']):
        if isinstance(stored, dict) and list(stored) == ['__payload__']:
            content = {'__payload__': json.dumps(bad)}
        else:
            content = bad
        with open(files[0], 'w') as handle:
            json.dump(content, handle)
        calls = len(clouds.list_calls('runpod'))
        inv = ansible.inventory(config, env=env)
        assert inv.rc == 0, inv.stderr
        assert inv.hosts == ['rp-a']
        assert len(clouds.list_calls('runpod')) == calls + 1


# --- naming, raw, secrets -----------------------------------------------------------------------

def test_duplicate_names_get_unique_hosts_and_a_warning(clouds, ansible):
    rp = clouds.pod('speedrun')
    la = clouds.lambda_instance('speedrun')
    va = clouds.vast_instance('speedrun')
    rp_twin = clouds.pod('speedrun')
    unnamed = clouds.lambda_instance(None)
    inv = ansible.inventory({'providers': ALL}, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    expected = ['speedrun', 'speedrun_runpod_%s' % rp_twin, 'speedrun_lambda_%s' % la, 'speedrun_vastai_%s' % va,
                'lambda_%s' % unnamed]
    assert inv.hosts == sorted(expected)
    # The first one listed (providers in order, then the API's order) keeps the name.
    assert inv.hostvars['speedrun']['instance_id'] == rp
    for host in expected:
        assert inv.hostvars[host]['instance_name'] == (None if host.startswith('lambda_') else 'speedrun')
    assert inv.group('nanochat') == sorted(expected)
    warnings = ' '.join(inv.stderr.split())
    for provider, instance_id in (('RunPod', rp_twin), ('Lambda Cloud', la), ('Vast.ai', va)):
        assert "more than one instance is named 'speedrun'; this one (%s %s)" % (provider, instance_id) in warnings
    # Pinned host keys are looked up under the host's own (unique) name.
    assert '-o HostKeyAlias=speedrun_vastai_%s ' % va in inv.hostvars['speedrun_vastai_%s' % va]['ansible_ssh_common_args']


def test_include_raw_scrubs_secrets_everywhere(clouds, ansible):
    hf_token, jupyter_password = 'hf_SECRETaaaa1111bbbb', 'jupyter-pass-SECRET-77'
    clouds.pod('rp-a', env={'HF_TOKEN': hf_token, 'JUPYTER_PASSWORD': jupyter_password, 'RUN_NAME': 'd20'})
    la = clouds.lambda_instance('la-a')
    va = clouds.vast_instance('va-a', env={'HF_TOKEN': hf_token, 'WANDB_RUN': 'speedrun'})
    lambda_token = [i for i in clouds.lambda_.state()['instances'] if i['id'] == la][0]['jupyter_token']
    vast_token = clouds.vastai.view(va)['jupyter_token']
    secrets = [hf_token, jupyter_password, lambda_token, vast_token] + list(KEYS.values())

    config = cache_config(ansible, include_raw=True)
    inv = ansible.inventory(config, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    rp_raw, la_raw, va_raw = (inv.hostvars[h]['instance_raw'] for h in ('rp-a', 'la-a', 'va-a'))
    assert rp_raw['env']['HF_TOKEN'] == '********' and rp_raw['env']['JUPYTER_PASSWORD'] == '********'
    assert rp_raw['env']['RUN_NAME'] == 'd20' and rp_raw['gpu']['id'] == 'NVIDIA H100 80GB HBM3'
    assert la_raw['jupyter_token'] == '********' and 'token=********' in la_raw['jupyter_url']
    assert la_raw['instance_type']['name'] == 'gpu_1x_h100_sxm5'
    assert va_raw['jupyter_token'] == '********' and ['HF_TOKEN', '********'] in va_raw['extra_env']
    assert ['WANDB_RUN', 'speedrun'] in va_raw['extra_env']

    cache_text = ''.join(open(f).read() for f in glob.glob(str(ansible.dir / 'cache' / '*')))
    assert 'instance_raw' not in cache_text and re.search(r'\\?"raw\\?": \{', cache_text)  # normalized instances
    for secret in secrets:
        assert secret not in inv.stdout and secret not in inv.stderr and secret not in cache_text

    # Answered from that cache: same scrubbed data, nothing sent.
    clouds.clear_calls()
    cached = ansible.inventory(config, env=clouds.env())
    assert cached.data == inv.data and clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}


def test_raw_left_out_of_hostvars_and_cache_by_default(clouds, ansible):
    clouds.pod('rp-a', env={'RUN_NAME': 'raw-marker-d20'})
    inv = ansible.inventory(cache_config(ansible, providers=['runpod']), env=clouds.env(['runpod']))
    assert inv.rc == 0, inv.stderr
    assert 'instance_raw' not in inv.hostvars['rp-a']
    cache_text = ''.join(open(f).read() for f in glob.glob(str(ansible.dir / 'cache' / '*')))
    assert 'raw-marker-d20' not in inv.stdout and 'raw-marker-d20' not in cache_text


def test_api_data_is_never_templated(tmp_path, ansible):
    marker = tmp_path / 'templated'
    evil = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker
    offers = default_offers()
    offers[0]['geolocation'] = evil
    clouds = Clouds(vast_offers=offers)
    try:
        clouds.pod(evil)
        clouds.vast_instance('va-evil-region', offer_id=offers[0]['id'])
        clouds.vast_instance("{% if true %}label-{{ 7 * 6 }}{% endif %}")
        config = {'providers': ['runpod', 'vastai'], 'host_key_checking': 'pinned',
                  'compose': {'shown_name': 'instance_name', 'shown_region': 'instance_region'},
                  'keyed_groups': [{'key': 'instance_region', 'prefix': 'region'}]}
        inv = ansible.inventory(config, env=clouds.env(['runpod', 'vastai']))
        assert inv.rc == 0, inv.stderr
        assert evil in inv.hosts
        assert inv.hostvars[evil]['instance_name'] == evil and inv.hostvars[evil]['shown_name'] == evil
        assert inv.hostvars['va-evil-region']['shown_region'] == evil
        assert inv.hostvars["{% if true %}label-{{ 7 * 6 }}{% endif %}"]['instance_name'] == \
            "{% if true %}label-{{ 7 * 6 }}{% endif %}"
        assert 'HostKeyAlias=' in inv.hostvars[evil]['ansible_ssh_common_args']
        assert not marker.exists()

        # A real play reading those variables prints them as they are.
        playbook = '\n'.join([
            '- hosts: gpu_instances',
            '  gather_facts: false',
            '  tasks:',
            '    - ansible.builtin.debug:',
            '        msg: "NAME=[{{ instance_name }}] REGION=[{{ instance_region }}] HOST=[{{ inventory_hostname }}]"',
            '    - ansible.builtin.debug:',
            '        msg: "ARGS=[{{ ansible_ssh_common_args | default(\'none\') }}]"',
            ''])
        result = ansible.playbook(playbook, ansible.dir / 'test.gpu_instances.yml', env=clouds.env(['runpod', 'vastai']))
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'NAME=[%s]' % evil in result.stdout and 'REGION=[%s]' % evil in result.stdout
        assert 'label-{{ 7 * 6 }}' in result.stdout and 'label-42' not in result.stdout
        assert not marker.exists()
    finally:
        clouds.stop()


# --- filters and constructed features -----------------------------------------------------------

def test_name_filter_and_filters(clouds, ansible):
    seed_mix(clouds)
    clouds.pod('other-rp')
    clouds.vast_instance('other-va')
    env = clouds.env()

    inv = ansible.inventory({'providers': ALL, 'name_filter': 'nanochat-*-a'}, env=env)
    assert inv.hosts == ['nanochat-la-a', 'nanochat-rp-a', 'nanochat-va-a']

    inv = ansible.inventory({'providers': ALL, 'filters': {'status': 'running', 'provider': ['runpod', 'vastai']}}, env=env)
    assert inv.hosts == ['nanochat-rp-a', 'nanochat-rp-b', 'nanochat-va-a', 'nanochat-va-b', 'other-rp', 'other-va']

    inv = ansible.inventory({'providers': ALL, 'name_filter': 'nanochat*',
                             'filters': {'status': ['pending', 'stopped'], 'gpu_count': 1}}, env=env)
    assert inv.hosts == ['nanochat-la-booting', 'nanochat-rp-booting', 'nanochat-rp-stopped']
    assert inv.group('nanochat') == []

    # Filters do not change what is asked: one list request per provider per run.
    assert dict((p, len(clouds.list_calls(p))) for p in ALL) == {'runpod': 3, 'lambda': 3, 'vastai': 3}


def test_unknown_filter_field_fails_before_any_request(clouds, ansible):
    clouds.pod('rp-a')
    inv = ansible.inventory({'providers': ALL, 'filters': {'status': 'running', 'colour': 'red'}}, env=clouds.env())
    assert inv.rc != 0
    assert "unknown filter field(s) colour; filters can use: provider, id, name, status" in inv.stderr
    assert 'raw' not in inv.stderr.split('filters can use:')[1].split('\n')[0]
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}


def test_compose_groups_keyed_groups(clouds, ansible):
    seed_mix(clouds)
    config = {
        'providers': ALL,
        'compose': {'hourly_cost': 'instance_price_per_hour', 'gpus': 'instance_gpu_count * 1',
                    'label': "'gpu-' ~ instance_gpu_type"},
        'groups': {'expensive': 'instance_price_per_hour > 20', 'eight_gpus': 'instance_gpu_count == 8'},
        'keyed_groups': [{'key': 'instance_gpu_type', 'prefix': 'gpu'},
                         {'key': 'instance_provider_status', 'prefix': 'provider_status'}],
    }
    inv = ansible.inventory(config, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    hv = inv.hostvars['nanochat-rp-b']
    assert hv['hourly_cost'] == hv['instance_price_per_hour'] and hv['gpus'] == 8 and hv['label'] == 'gpu-NVIDIA H200'
    assert inv.group('eight_gpus') == ['nanochat-la-b', 'nanochat-rp-b', 'nanochat-va-a', 'nanochat-va-b',
                                       'nanochat-va-loading', 'nanochat-va-stopped']
    assert set(inv.group('expensive')) == set(h for h in inv.hosts if inv.hostvars[h]['instance_price_per_hour'] > 20)
    assert 'nanochat-rp-b' in inv.group('expensive') and 'nanochat-rp-a' not in inv.group('expensive')
    # keyed group names are made safe ("H100 SXM" -> gpu_H100_SXM)
    assert inv.group('gpu_H100_SXM') == ['nanochat-va-a', 'nanochat-va-b', 'nanochat-va-loading', 'nanochat-va-stopped']
    assert inv.group('gpu_NVIDIA_H200') == ['nanochat-rp-b']
    assert inv.group('provider_status_EXITED') == ['nanochat-rp-stopped']
    assert inv.group('provider_status_booting') == ['nanochat-la-booting']


def test_strict(clouds, ansible):
    clouds.pod('rp-a')
    config = {'providers': ['runpod'], 'compose': {'broken': 'no_such_variable + 1', 'fine': 'instance_gpu_count'},
              'keyed_groups': [{'key': 'no_such_variable', 'prefix': 'x'}]}
    inv = ansible.inventory(dict(config, strict=False), env=clouds.env(['runpod']))
    assert inv.rc == 0, inv.stderr
    assert 'broken' not in inv.hostvars['rp-a'] and inv.hostvars['rp-a']['fine'] == 1

    inv = ansible.inventory(dict(config, strict=True), env=clouds.env(['runpod']))
    assert inv.rc != 0
    assert 'Could not set broken for host rp-a' in inv.stderr and 'no_such_variable' in inv.stderr


def test_prefix_and_ready_group_options(clouds, ansible):
    clouds.pod('rp-a')
    clouds.pod('rp-booting', ready=False)
    inv = ansible.inventory({'providers': ['runpod'], 'hostvar_prefix': 'gpu_', 'ready_group': 'connectable'},
                            env=clouds.env(['runpod']))
    assert inv.rc == 0, inv.stderr
    assert inv.hostvars['rp-a']['gpu_status'] == 'running' and 'instance_status' not in inv.hostvars['rp-a']
    assert inv.group('connectable') == ['rp-a'] and inv.group('nanochat') == []


# --- connection options -------------------------------------------------------------------------

def test_ssh_options_and_pinned_host_keys(clouds, ansible, tmp_path):
    seed_mix(clouds)
    known_hosts = str(tmp_path / 'my keys' / 'known_hosts')
    inv = ansible.inventory({'providers': ALL, 'ssh_user': 'admin', 'ssh_private_key_file': '~/.ssh/gpu_ed25519',
                             'known_hosts_file': known_hosts}, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    for host in inv.group('nanochat'):
        hv = inv.hostvars[host]
        assert hv['ansible_user'] == 'admin'
        assert hv['instance_ssh_user'] in ('root', 'ubuntu')  # the provider's user stays visible
        assert hv['ansible_ssh_private_key_file'] == str(ansible.home / '.ssh' / 'gpu_ed25519')
        assert hv['ansible_ssh_common_args'] == ("-o UserKnownHostsFile='%s' -o HostKeyAlias=%s "
                                                 "-o StrictHostKeyChecking=yes" % (known_hosts, host))

    # Defaults: the provider's user, SSH's own key choice, known_hosts in ~/.ssh, pinned.
    inv = ansible.inventory({'providers': ALL}, env=clouds.env())
    hv = inv.hostvars['nanochat-la-a']
    assert hv['ansible_user'] == 'ubuntu' and 'ansible_ssh_private_key_file' not in hv
    assert hv['ansible_ssh_common_args'] == ('-o UserKnownHostsFile=%s -o HostKeyAlias=nanochat-la-a '
                                             '-o StrictHostKeyChecking=yes'
                                             % (ansible.home / '.ssh' / 'nanochat_remote_gpu_known_hosts'))

    # host_key_checking=default leaves SSH settings alone.
    inv = ansible.inventory({'providers': ALL, 'host_key_checking': 'default'}, env=clouds.env())
    assert inv.group('nanochat')
    assert not any('ansible_ssh_common_args' in inv.hostvars[h] for h in inv.hosts)


# --- errors -------------------------------------------------------------------------------------

def test_missing_key_names_the_variable_and_sends_nothing(clouds, ansible):
    seed_mix(clouds)
    env = clouds.env()
    del env['LAMBDA_API_KEY']
    del env['VAST_API_KEY']
    inv = ansible.inventory({'providers': ALL}, env=env)
    assert inv.rc != 0
    text = ' '.join(inv.stderr.split())
    assert 'no API key for Lambda Cloud, Vast.ai: set LAMBDA_API_KEY / VAST_API_KEY' in text
    assert 'Nothing was sent to any provider' in text
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}

    # Without any_unparsed_is_failed, Ansible reports the same message as a warning and goes on
    # with an empty inventory (standard inventory behaviour, documented in the plugin's notes).
    inv = ansible.inventory({'providers': ALL}, env=env, fatal=False)
    assert inv.rc == 0 and inv.hosts == []
    assert 'no API key for Lambda Cloud, Vast.ai' in ' '.join(inv.stderr.split())
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}


def test_key_in_the_inventory_file(clouds, ansible):
    clouds.lambda_instance('la-a')
    env = clouds.env(['lambda'])
    del env['LAMBDA_API_KEY']
    inv = ansible.inventory({'providers': ['lambda'], 'lambda_api_key': KEYS['lambda']}, env=env)
    assert inv.rc == 0, inv.stderr
    assert inv.hosts == ['la-a']


def test_options_are_templated_lookups_work(clouds, ansible):
    """runpod_api_key/url from a lookup are sent as their values, not as the template text."""
    clouds.pod('rp-a')
    env = clouds.env(['runpod'])
    env['MY_RUNPOD_KEY'] = env.pop('RUNPOD_API_KEY')
    env['MY_RUNPOD_URL'] = env.pop('RUNPOD_API_URL')
    config = {'providers': ['runpod'],
              'runpod_api_key': "{{ lookup('ansible.builtin.env', 'MY_RUNPOD_KEY') }}",
              'runpod_api_url': "{{ lookup('ansible.builtin.env', 'MY_RUNPOD_URL') }}",
              'ssh_user': "{{ 'admin' }}"}
    inv = ansible.inventory(config, env=env)
    assert inv.rc == 0, inv.stderr
    assert inv.hosts == ['rp-a']
    assert inv.hostvars['rp-a']['ansible_user'] == 'admin'
    assert [c['status'] for c in clouds.list_calls('runpod')] == [200]


def test_a_template_naming_an_inventory_variable_fails_saying_which_option(clouds, ansible):
    env = clouds.env(['runpod'])
    del env['RUNPOD_API_KEY']
    inv = ansible.inventory({'providers': ['runpod'], 'runpod_api_key': '{{ vault_runpod_key }}'}, env=env)
    assert inv.rc != 0
    text = ' '.join(inv.stderr.split())
    assert 'could not template the option runpod_api_key' in text
    assert 'vault_runpod_key' in text and 'sees no inventory variables' in text
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}  # nothing sent, no 401


@pytest.mark.parametrize('provider, env_name, status, code', [
    ('runpod', 'RUNPOD_API_KEY', 'HTTP 401', 'invalid bearer token'),
    ('lambda', 'LAMBDA_API_KEY', 'HTTP 401', 'global/invalid-api-key'),
    ('vastai', 'VAST_API_KEY', 'HTTP 401', 'auth_error'),
])
def test_refused_key(clouds, ansible, provider, env_name, status, code):
    wrong = 'wrong-%s-key-0042deadbeef' % provider
    inv = ansible.inventory({'providers': [provider]}, env=clouds.env([provider], keys={provider: wrong}))
    assert inv.rc != 0
    text = ' '.join(inv.stderr.split())
    assert status in text and code in text
    assert 'Check the key in %s (or %s_api_key in the inventory file)' % (env_name, provider) in text
    assert wrong not in inv.stderr and wrong not in inv.stdout
    assert len(clouds.fakes[provider].calls) == 1  # a refused key is not retried


def test_vast_auth_error_as_404_is_a_refused_key(ansible):
    clouds = Clouds()
    clouds.vastai.auth_error_status = 404
    try:
        inv = ansible.inventory({'providers': ['vastai']}, env=clouds.env(['vastai'], keys={'vastai': 'nope-nope-nope'}))
        assert inv.rc != 0
        text = ' '.join(inv.stderr.split())
        assert 'HTTP 404 [auth_error]' in text and 'Check the key in VAST_API_KEY' in text
    finally:
        clouds.stop()


def test_unreachable_api(clouds, ansible):
    env = clouds.env(['runpod'])
    clouds.runpod.stop()
    inv = ansible.inventory({'providers': ['runpod']}, env=env)
    assert inv.rc != 0
    assert 'listing RunPod instances failed: RunPod API GET /v2/pods failed: ConnectionError' in ' '.join(inv.stderr.split())


def test_empty_providers_is_an_error(clouds, ansible):
    inv = ansible.inventory({'providers': []}, env=clouds.env())
    assert inv.rc != 0 and 'providers must name at least one of runpod, lambda, vastai' in inv.stderr


def test_unknown_provider_is_an_error(clouds, ansible):
    inv = ansible.inventory({'providers': ['runpod', 'aws']}, env=clouds.env())
    assert inv.rc != 0 and 'aws' in inv.stderr
    assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}


def test_empty_accounts(clouds, ansible):
    inv = ansible.inventory({'providers': ALL}, env=clouds.env())
    assert inv.rc == 0, inv.stderr
    assert inv.hosts == [] and clouds.call_counts() == {'runpod': 1, 'lambda': 1, 'vastai': 1}


# --- file names, examples, docs -----------------------------------------------------------------

@pytest.mark.parametrize('name, accepted', [
    ('prod.gpu_instances.yml', True),
    ('prod.gpu_instances.yaml', True),
    ('a.b.gpu_instances.yml', True),
    ('gpu_instances.yml', False),
    ('prod_gpu_instances.yml', False),
    ('prod.gpu_instances.json', False),
    ('prod.gpu_instances.yml.bak', False),
    ('prod.yml', False),
])
def test_verify_file(tmp_path, name, accepted):
    path = tmp_path / name
    path.write_text('plugin: %s\nproviders: [runpod]\n' % PLUGIN)
    assert InventoryModule().verify_file(str(path)) is accepted
    assert InventoryModule().verify_file(str(tmp_path / ('missing-' + name))) is False


def test_other_file_names_are_refused_by_ansible(clouds, ansible):
    clouds.pod('rp-a')
    inv = ansible.inventory({'providers': ['runpod']}, env=clouds.env(['runpod']), name='runpod.yml')
    assert inv.rc != 0
    assert "could not be verified by inventory plugin '%s'" % PLUGIN in ' '.join(inv.stderr.split())
    assert clouds.call_counts()['runpod'] == 0


@pytest.mark.parametrize('example, providers', [
    ('runpod.gpu_instances.yml', ['runpod']),
    ('lambda.gpu_instances.yml', ['lambda']),
    ('vastai.gpu_instances.yml', ['vastai']),
    ('all.gpu_instances.yml', ALL),
])
def test_example_inventories(clouds, ansible, example, providers):
    seed_mix(clouds)
    clouds.pod('someone-elses-pod')
    shutil.copy(os.path.join(REPO, 'inventory', example), str(ansible.dir / example))
    inv = ansible.inventory(None, env=clouds.env(providers), name=example)
    assert inv.rc == 0, inv.stderr
    expected = [h for h in ('nanochat-la-a', 'nanochat-la-b', 'nanochat-rp-a', 'nanochat-rp-b', 'nanochat-va-a',
                            'nanochat-va-b') if any(h.startswith('nanochat-%s-' % SHORT[p]) for p in providers)]
    assert inv.group('nanochat') == expected
    assert 'someone-elses-pod' not in inv.hosts  # every example keeps to the nanochat* instances
    for provider in ALL:
        assert len(clouds.list_calls(provider)) == (1 if provider in providers else 0)
    if example == 'all.gpu_instances.yml':
        hv = inv.hostvars['nanochat-rp-b']
        assert hv['hourly_cost'] == hv['instance_price_per_hour']
        assert 'nanochat-rp-b' in inv.group('gpu_NVIDIA_H200')
        # cached under ~/.cache (HOME is the test's): the next run sends nothing
        assert glob.glob(str(ansible.home / '.cache' / 'nanochat_remote_gpu_inventory' / '*'))
        clouds.clear_calls()
        assert ansible.inventory(None, env=clouds.env(providers), name=example).data == inv.data
        assert clouds.call_counts() == {'runpod': 0, 'lambda': 0, 'vastai': 0}


def test_localhost_inventory_still_works_beside_the_examples(clouds, ansible):
    clouds.pod('nanochat-rp-a')
    shutil.copy(os.path.join(REPO, 'inventory', 'localhost.yml'), str(ansible.dir / 'localhost.yml'))
    shutil.copy(os.path.join(REPO, 'inventory', 'runpod.gpu_instances.yml'), str(ansible.dir / 'runpod.gpu_instances.yml'))
    result = ansible.run([os.path.join(BIN, 'ansible-inventory'), '-i', str(ansible.dir / 'localhost.yml'),
                          '-i', str(ansible.dir / 'runpod.gpu_instances.yml'), '--list'], env=clouds.env(['runpod']))
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)['_meta']['hostvars']
    assert sorted(hosts) == ['localhost', 'nanochat-rp-a']


def test_documentation_renders_with_env_entries(ansible):
    result = ansible.run([os.path.join(BIN, 'ansible-doc'), '-t', 'inventory', '--json', PLUGIN])
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)[PLUGIN]['doc']
    options = doc['options']
    for option, env_name in (('runpod_api_key', 'RUNPOD_API_KEY'), ('runpod_api_url', 'RUNPOD_API_URL'),
                             ('lambda_api_key', 'LAMBDA_API_KEY'), ('lambda_api_url', 'LAMBDA_API_URL'),
                             ('vastai_api_key', 'VAST_API_KEY'), ('vastai_api_url', 'VAST_API_URL')):
        assert options[option]['env'] == [{'name': env_name}], option
    for option in ('providers', 'name_filter', 'filters', 'compose', 'groups', 'keyed_groups', 'strict', 'cache',
                   'cache_plugin', 'cache_timeout', 'cache_connection', 'include_raw', 'hostvar_prefix',
                   'ready_group', 'ssh_user', 'ssh_private_key_file', 'host_key_checking', 'known_hosts_file'):
        assert option in options, option
    text = ansible.run([os.path.join(BIN, 'ansible-doc'), '-t', 'inventory', PLUGIN])
    assert text.returncode == 0 and 'gpu_instances' in text.stdout
