# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalized instance and the bounded wait loop."""

from __future__ import annotations

import pytest

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import (
    INSTANCE_KEYS,
    WaitFailed,
    WaitTimeout,
    make_instance,
    ssh_ready,
    wait_for,
)


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def inst(status='running', host='203.0.113.5', port=22):
    return make_instance('lambda', 'abc', 'n', status, status, ssh_host=host, ssh_port=port, ssh_user='ubuntu')


def test_make_instance_shape_and_types():
    value = make_instance('vastai', 123, 'n', 'pending', None, ssh_port='41201', gpu_count='8', price_per_hour='1.5')
    assert tuple(value) == INSTANCE_KEYS
    assert value['id'] == '123' and value['ssh_port'] == 41201 and value['gpu_count'] == 8
    assert value['price_per_hour'] == 1.5 and value['raw'] == {}


def test_make_instance_rejects_unknown_status():
    with pytest.raises(ValueError):
        make_instance('runpod', 'x', 'n', 'RUNNING', 'RUNNING')


def test_ssh_ready_needs_running_and_endpoint():
    assert ssh_ready(inst())
    assert not ssh_ready(inst(host=None))
    assert not ssh_ready(inst(port=None))
    assert not ssh_ready(inst(status='pending'))
    assert not ssh_ready(None)


def test_wait_returns_as_soon_as_ready():
    clock = Clock()
    answers = [inst('pending'), inst('running', host=None), inst()]
    result = wait_for(lambda: answers.pop(0), ssh_ready, 60, interval=1.0, clock=clock, sleep=clock.sleep)
    assert result['ssh_host'] == '203.0.113.5'
    assert clock.sleeps == [1.0, 1.0]


def test_wait_timeout_carries_last_status_and_never_oversleeps():
    clock = Clock()
    with pytest.raises(WaitTimeout) as info:
        wait_for(lambda: inst('running', host=None), ssh_ready, 2.5, interval=1.0, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(2.5)
    assert clock.sleeps[-1] == pytest.approx(0.5)
    assert 'last status seen: running' in str(info.value) and 'no SSH endpoint yet' in str(info.value)
    assert info.value.last['status'] == 'running'


def test_wait_failed_stops_early():
    clock = Clock()
    with pytest.raises(WaitFailed) as info:
        wait_for(lambda: inst('failed'), ssh_ready, 60, failed=lambda i: 'it failed' if i['status'] == 'failed' else None,
                 clock=clock, sleep=clock.sleep)
    assert str(info.value) == 'it failed'
    assert clock.sleeps == []


def test_diff_view_hides_raw_and_marks_absent():
    from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import diff_view
    assert diff_view(None) == {'state': 'absent'}
    view = diff_view(inst())
    assert 'raw' not in view and view['state'] == 'present' and view['ssh_port'] == 22


def test_raw_secrets_are_scrubbed():
    raw = {
        'env': {'PUBLIC_KEY': 'ssh-ed25519 AAAA me', 'WANDB_API_KEY': 'wk-123', 'HF_TOKEN': 'hf_x', 'NANOCHAT_BASE_DIR': '/v'},
        'extra_env': [['HF_TOKEN', 'hf_y'], ['-p 8000:8000', '1']],
        'jupyter_token': 'abc', 'instance_api_key': 'k', 'ssh_key_names': ['mine'],
        'jupyter_url': 'https://j.example/?token=03b7d30d&x=1',
        'cost': 0.5, 'ports': {'22/tcp': [{'HostPort': '41201'}]},
    }
    value = make_instance('vastai', 1, 'n', 'running', 'running', raw=raw)['raw']
    assert value['env'] == {'PUBLIC_KEY': 'ssh-ed25519 AAAA me', 'WANDB_API_KEY': '********', 'HF_TOKEN': '********',
                            'NANOCHAT_BASE_DIR': '/v'}
    assert value['extra_env'] == [['HF_TOKEN', '********'], ['-p 8000:8000', '1']]
    assert value['jupyter_token'] == '********' and value['instance_api_key'] == '********'
    assert value['jupyter_url'] == 'https://j.example/?token=********&x=1'
    assert value['ssh_key_names'] == ['mine'] and value['cost'] == 0.5 and value['ports'] == raw['ports']
    assert raw['env']['WANDB_API_KEY'] == 'wk-123', 'the original object is not modified'


def test_wait_starts_from_the_observation_in_hand():
    clock = Clock()
    fetched = []

    def fetch():
        fetched.append(clock.now)
        return inst()

    result = wait_for(fetch, ssh_ready, 60, interval=1.0, clock=clock, sleep=clock.sleep, first=inst('pending'))
    assert result['status'] == 'running'
    assert fetched == [1.0], 'no fetch right away: the first look is the object in hand, the next comes one interval later'
    assert wait_for(fetch, ssh_ready, 60, clock=clock, sleep=clock.sleep, first=inst()) is not None
    assert fetched == [1.0], 'a ready object in hand needs no fetch at all'
